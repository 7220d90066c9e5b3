"""The ports' contract: the same assertions on the local, AWS (moto) and Azure (Azurite + fake Key
Vault) adapters."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx
import pytest

from shared.errors import PlatformError
from shared.platform import Conflict, InvalidName, NotFound
from tests.platform.conftest import MAX_ATTEMPTS, Harness

# --- state ---------------------------------------------------------------------------------------


async def test_put_if_absent_has_exactly_one_winner_among_20_concurrent_writers(harness: Harness) -> None:
    state = harness.platform.state
    results = await asyncio.gather(*(state.put_if_absent("event-1", {"writer": n}, 60) for n in range(20)))
    assert sum(results) == 1
    winner = results.index(True)
    assert await state.get("event-1") == {"writer": winner}


async def test_put_if_absent_is_new_again_once_the_entry_expired(harness: Harness) -> None:
    state = harness.platform.state
    assert await state.put_if_absent("dedup/key#1?", "first", 10)
    assert not await state.put_if_absent("dedup/key#1?", "second", 10)
    harness.clock.advance(12)
    assert await state.get("dedup/key#1?") is None
    assert await state.put_if_absent("dedup/key#1?", "third", 10)
    assert await state.get("dedup/key#1?") == "third"


async def test_state_values_round_trip_and_delete_removes_them(harness: Harness) -> None:
    state = harness.platform.state
    assert await state.get("missing") is None
    await state.put_if_absent("doc", {"a": [1, 2], "b": "ü"}, 60)
    assert await state.get("doc") == {"a": [1, 2], "b": "ü"}
    await state.delete("doc")
    await state.delete("doc")  # deleting twice is fine
    assert await state.get("doc") is None
    assert await state.put_if_absent("doc", "again", 60)


async def test_high_water_mark_never_goes_backwards(harness: Harness) -> None:
    state = harness.platform.state
    assert await state.get_high_water_mark("fs-1") is None
    assert await state.advance_high_water_mark("fs-1", 5)
    assert not await state.advance_high_water_mark("fs-1", 3)
    assert not await state.advance_high_water_mark("fs-1", 5)
    assert await state.advance_high_water_mark("fs-1", 2**40)  # sequence numbers can be large
    assert await state.get_high_water_mark("fs-1") == 2**40


async def test_concurrent_high_water_mark_updates_end_at_the_maximum(harness: Harness) -> None:
    state = harness.platform.state
    values = list(range(1, 31))
    random.Random(7).shuffle(values)
    results = await asyncio.gather(*(state.advance_high_water_mark("fs-2", value) for value in values))
    assert await state.get_high_water_mark("fs-2") == 30
    # The write of the maximum always wins; anything else that won was greater than what it replaced.
    assert results[values.index(30)] is True
    assert not await state.advance_high_water_mark("fs-2", 29)


async def test_a_lock_is_exclusive_until_it_expires(harness: Harness) -> None:
    state = harness.platform.state
    assert await state.acquire_lock("nightly-sync", "a", 30)
    assert not await state.acquire_lock("nightly-sync", "b", 30)
    assert await state.acquire_lock("nightly-sync", "a", 30)  # the owner may extend it
    harness.clock.advance(20)
    assert not await state.acquire_lock("nightly-sync", "b", 30)
    harness.clock.advance(12)
    assert await state.acquire_lock("nightly-sync", "b", 30)
    assert not await state.acquire_lock("nightly-sync", "a", 30)
    await state.release_lock("nightly-sync", "a")  # not the owner: no effect
    assert not await state.acquire_lock("nightly-sync", "c", 30)
    await state.release_lock("nightly-sync", "b")
    assert await state.acquire_lock("nightly-sync", "c", 30)


# --- queue ---------------------------------------------------------------------------------------


async def test_a_message_failing_max_attempts_times_lands_in_the_dead_letter_queue(harness: Harness) -> None:
    queue = harness.platform.queue
    body = json.dumps({"id": "evt-1", "text": "Grüße, 😀 & <xml/>"})
    await queue.send(harness.queue, [body])
    for attempt in range(1, MAX_ATTEMPTS + 1):
        messages = await queue.receive(harness.queue, 10, 30)
        assert [message.body for message in messages] == [body]
        assert messages[0].attempts == attempt
        await queue.release(harness.queue, messages[0])  # processing failed
    assert await queue.receive(harness.queue, 10, 30) == []
    assert await queue.dead_letters(harness.queue) == [body]
    assert await queue.dead_letters(harness.queue) == [body]  # reading does not consume


async def test_every_sent_message_is_received_once_and_delete_removes_it(harness: Harness) -> None:
    queue = harness.platform.queue
    bodies = [f"message-{n}" for n in range(15)]
    await queue.send(harness.queue, bodies)
    received = []
    for _ in range(10):
        batch = await queue.receive(harness.queue, 20, 60)
        if not batch:
            break
        received.extend(batch)
    assert sorted(message.body for message in received) == sorted(bodies)
    for message in received:
        await queue.delete(harness.queue, message)
    await queue.delete(harness.queue, received[0])  # deleting twice is fine
    assert await queue.receive(harness.queue, 20, 0) == []
    assert await queue.dead_letters(harness.queue) == []


async def test_one_receive_returns_a_message_once_even_with_no_visibility_timeout(harness: Harness) -> None:
    queue = harness.platform.queue
    await queue.send(harness.queue, ["only-once"])
    messages = await queue.receive(harness.queue, 10, 0)
    assert [(message.body, message.attempts) for message in messages] == [("only-once", 1)]
    assert await queue.dead_letters(harness.queue) == []


async def test_queue_names_are_checked_the_same_everywhere(harness: Harness) -> None:
    with pytest.raises(InvalidName, match="lowercase"):
        await harness.platform.queue.send("Bad_Name", ["x"])
    for taken in ("events-deadletter", "events-dlq", "events-poison"):  # some platform's dead letters
        with pytest.raises(InvalidName, match="dead-letter"):
            await harness.platform.queue.send(taken, ["x"])


# --- blobs ---------------------------------------------------------------------------------------


async def test_blobs_round_trip_list_by_prefix_and_read_by_url(harness: Harness) -> None:
    blobs = harness.platform.blobs
    await blobs.put("reports/2024/run-1.json", b'{"ok": true}', content_type="application/json")
    await blobs.put("reports/2024/run-2.json", b"\x00\xff binary")
    await blobs.put("archive/run-1.ldif", b"ldif")
    await blobs.put("reports/2024/run-1.json", b'{"ok": false}')  # overwrite
    assert await blobs.get("reports/2024/run-1.json") == b'{"ok": false}'
    assert await blobs.list("reports/") == ["reports/2024/run-1.json", "reports/2024/run-2.json"]
    assert await blobs.list() == ["archive/run-1.ldif", "reports/2024/run-1.json", "reports/2024/run-2.json"]
    url = await blobs.read_url("reports/2024/run-2.json", 300)
    assert url is not None
    if url.startswith("file://"):
        content = await asyncio.to_thread(Path(url2pathname(urlsplit(url).path)).read_bytes)
    else:
        async with httpx.AsyncClient() as client:  # no credentials: the URL alone grants the read
            response = await client.get(url)
        assert response.status_code == 200
        content = response.content
    assert content == b"\x00\xff binary"


async def test_a_missing_blob_raises_not_found(harness: Harness) -> None:
    with pytest.raises(NotFound, match=r"nope\.json"):
        await harness.platform.blobs.get("nope.json")
    assert issubclass(NotFound, PlatformError)


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/./b", ""])
async def test_unsafe_blob_keys_are_rejected(harness: Harness, key: str) -> None:
    with pytest.raises(InvalidName):
        await harness.platform.blobs.put(key, b"x")


# --- secrets ---

V1, V2, V3, V4 = (f"00000000-0000-4000-8000-00000000000{n}" for n in range(1, 5))
NOPE = "ffffffff-0000-4000-8000-000000000000"

# -------------------------------------------------------------------------------------


def _stages(versions: list[object]) -> dict[str, set[str]]:
    return {version.version_id: set(version.stages) for version in versions}  # type: ignore[attr-defined]


async def test_secret_promotion_leaves_exactly_one_current(harness: Harness) -> None:
    secrets, name = harness.platform.secrets, harness.secret
    await secrets.put_version(name, V1, "token-one", stage="current")
    assert await secrets.get_current(name) == "token-one"
    await secrets.put_version(name, V2, "token-two")  # pending by default
    assert await secrets.get_current(name) == "token-one"
    assert await secrets.get_stage(name, "pending") == (V2, "token-two")

    await secrets.promote(name, V2)
    stages = _stages(await secrets.list_versions(name))
    assert [vid for vid, tags in stages.items() if "current" in tags] == [V2]
    assert stages[V1] == {"previous"}
    assert await secrets.get_stage(name, "pending") is None
    assert await secrets.get_current(name) == "token-two"

    await secrets.promote(name, V2)  # promoting the current version is a no-op
    assert _stages(await secrets.list_versions(name)) == stages

    await secrets.put_version(name, V3, "token-three")
    await secrets.promote(name, V3)
    stages = _stages(await secrets.list_versions(name))
    assert [vid for vid, tags in stages.items() if "current" in tags] == [V3]
    assert [vid for vid, tags in stages.items() if "previous" in tags] == [V2]
    assert await secrets.get_version(name, V1) == "token-one"
    assert await secrets.get_current(name) == "token-three"


async def test_put_version_is_idempotent_by_version_id(harness: Harness) -> None:
    secrets, name = harness.platform.secrets, harness.secret
    await secrets.put_version(name, V1, "token-one", stage="current")
    await secrets.put_version(name, V4, "token-new")
    await secrets.put_version(name, V4, "token-new")  # a retried step: no-op
    assert [v.version_id for v in await secrets.list_versions(name)].count(V4) == 1
    with pytest.raises(Conflict) as caught:
        await secrets.put_version(name, V4, "token-other")
    assert "token-other" not in str(caught.value)
    assert "token-new" not in str(caught.value)
    assert await secrets.get_version(name, V4) == "token-new"


async def test_putting_a_version_as_current_demotes_the_old_one(harness: Harness) -> None:
    secrets, name = harness.platform.secrets, harness.secret
    await secrets.put_version(name, V1, "token-one", stage="current")
    await secrets.put_version(name, V2, "token-two", stage="current")
    stages = _stages(await secrets.list_versions(name))
    assert stages[V2] == {"current"}
    assert stages[V1] == {"previous"}


async def test_unknown_secrets_and_versions_raise_not_found(harness: Harness) -> None:
    secrets, name = harness.platform.secrets, harness.secret
    with pytest.raises(NotFound):
        await secrets.get_current(name)
    assert await secrets.get_stage(name, "pending") is None
    await secrets.put_version(name, V1, "token-one", stage="current")
    with pytest.raises(NotFound):
        await secrets.get_version(name, NOPE)
    with pytest.raises(NotFound):
        await secrets.promote(name, NOPE)


async def test_secret_values_never_appear_in_reprs(harness: Harness) -> None:
    secrets, name = harness.platform.secrets, harness.secret
    await secrets.put_version(name, V1, "token-SECRET-one", stage="current")
    assert await secrets.get_current(name) == "token-SECRET-one"  # now also in the cache
    staged = await secrets.get_stage(name, "current")
    assert staged is not None
    assert staged.value == "token-SECRET-one"
    for text in (repr(harness.platform), repr(staged), repr(await secrets.list_versions(name))):
        assert "token-SECRET-one" not in text

"""Expired state entries are deleted where the store has no TTL of its own (SQLite, Azure Tables).

DynamoDB is not here: its own TTL attribute deletes expired items (moto does not emulate that).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from shared.platform.housekeeping import PURGE_INTERVAL_SECONDS
from tests.platform.conftest import FakeClock, Harness, azure_harness, local_harness


@pytest.fixture(params=["local", "azure"])
def no_ttl_store(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "local":
        return local_harness(tmp_path, FakeClock())
    connection = request.getfixturevalue("azurite_connection_string")
    return azure_harness(connection, request.getfixturevalue("fake_key_vault"), FakeClock())


def stored_rows(harness: Harness) -> dict[str, int]:
    """Raw rows per kind, expired ones included (what reads hide but storage keeps)."""
    store: Any = harness.platform.state
    if harness.kind == "local":
        with sqlite3.connect(store._path) as conn:
            return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("kv", "locks")}  # noqa: S608
    entities = list(store._client.get().list_entities())
    return {
        "kv": sum(1 for e in entities if e["PartitionKey"] == "kv"),
        "locks": sum(1 for e in entities if e["PartitionKey"] == "lock"),
    }


async def test_expired_entries_and_locks_are_purged_by_a_later_write(no_ttl_store: Harness) -> None:
    state, clock = no_ttl_store.platform.state, no_ttl_store.clock
    for key in ("event-1", "event-2", "event-3"):
        assert await state.put_if_absent(key, {"seen": True}, 10)
    assert await state.acquire_lock("nightly", "invocation-1", 10)
    assert await state.put_if_absent("kept", {"seen": True}, 10 * PURGE_INTERVAL_SECONDS)
    assert stored_rows(no_ttl_store) == {"kv": 4, "locks": 1}

    clock.advance(PURGE_INTERVAL_SECONDS + 1)  # the short entries expired and a purge is due
    assert await state.put_if_absent("event-4", {"seen": True}, 10)
    assert stored_rows(no_ttl_store) == {"kv": 2, "locks": 0}
    assert await state.get("kept") == {"seen": True}
    assert await state.get("event-4") == {"seen": True}

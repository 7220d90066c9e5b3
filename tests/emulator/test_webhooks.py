"""Webhooks of the emulator: subscriptions, PUSH delivery with retries, PULL with cursor commits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from local.emulator import EmulatorConfig, RunningEmulator
from tests.emulator.services_support import Receiver, admin_client, http_admin_client
from tests.fixtures.emulator import AsgiEmulator

SUBS = "/services/webhooks/v1/subscriptions"
UPDATED = [["pathfinder", "FACT_SHEET_UPDATED"]]


@pytest.fixture
def emu() -> AsgiEmulator:
    return AsgiEmulator(EmulatorConfig(seed="demo", webhook_retry_interval_seconds=0.01))


def push_subscription(url: str, **extra: Any) -> dict[str, Any]:
    body = {
        "identifier": "ci-hook",
        "deliveryType": "PUSH",
        "tagSets": UPDATED,
        "targetUrl": url,
        "targetMethod": "POST",
        "authorizationHeader": "Bearer shared-secret-123",
        "ignoreError": False,
        "workspaceConstraint": "WORKSPACE",
        "payloadMode": "DEFAULT",
    }
    body.update(extra)
    return body


def pull_subscription(**extra: Any) -> dict[str, Any]:
    body = {"identifier": "pull", "deliveryType": "PULL", "tagSets": UPDATED, "ignoreError": False}
    body.update(extra)
    return body


async def subscribe(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(SUBS, json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def touch(emu: AsgiEmulator | RunningEmulator, text: str) -> str:
    """Change one Application's description (one FACT_SHEET_UPDATED); returns its id."""
    app = emu.state.workspace.list_fact_sheets("Application")[0]
    emu.state.workspace.apply_patches(app.id, [{"op": "replace", "path": "/description", "value": text}])
    return app.id


async def test_push_delivery_carries_authorization_and_is_retried_after_a_500(emu: AsgiEmulator) -> None:
    with Receiver(statuses=[500]) as receiver:
        async with admin_client(emu) as client:
            sub = await subscribe(client, push_subscription(receiver.url))
            fs_id = touch(emu, "first")
            calls = await receiver.wait_for(2)
            await client.get("/_emulator/webhooks/deliveries", params={"min": 2})
            deliveries = (await client.get(f"{SUBS}/{sub['id']}/deliveries")).json()["data"]
            state = (await client.get(f"{SUBS}/{sub['id']}")).json()["data"]
    first, retry = calls[0], calls[1]
    assert first["headers"]["authorization"] == "Bearer shared-secret-123"
    assert first["headers"]["content-type"] == "application/json"
    assert first["body"] == retry["body"]
    payload = retry["body"]
    assert payload["type"] == "FactSheetUpdatedEvent"
    assert isinstance(payload["id"], int)
    assert payload["factSheet"]["id"] == fs_id
    assert payload["workspaceId"] == emu.workspace_id
    assert {"userId", "createdAt", "transactionSequenceNumber", "clonedFactSheet"} <= set(payload)
    # Newest first, as LeanIX sorts deliveries by default.
    assert [d["httpStatus"] for d in deliveries] == [200, 500]
    assert [d["success"] for d in deliveries] == [True, False]
    assert all(d["requestHeaders"]["Authorization"] == "***" for d in deliveries)
    assert state["lastDeliveryStatus"] == 200
    assert state["errorCount"] == 0


async def test_failing_event_blocks_later_events_until_delivered(emu: AsgiEmulator) -> None:
    with Receiver(statuses=[503, 502]) as receiver:
        async with admin_client(emu) as client:
            await subscribe(client, push_subscription(receiver.url))
            touch(emu, "one")
            touch(emu, "two")
            calls = await receiver.wait_for(4)
    descriptions = [
        next(f["data"] for f in c["body"]["factSheet"]["fields"] if f["name"] == "description") for c in calls
    ]
    assert descriptions == ["one", "one", "one", "two"]


async def test_ignore_error_drops_a_failed_event_instead_of_retrying(emu: AsgiEmulator) -> None:
    with Receiver(statuses=[500]) as receiver:
        async with admin_client(emu) as client:
            sub = await subscribe(client, push_subscription(receiver.url, ignoreError=True))
            touch(emu, "one")
            touch(emu, "two")
            calls = await receiver.wait_for(2)
            await client.get("/_emulator/webhooks/deliveries", params={"min": 2})
            state = (await client.get(f"{SUBS}/{sub['id']}")).json()["data"]
    assert [c["body"]["factSheet"]["rev"] for c in calls] == sorted(
        {c["body"]["factSheet"]["rev"] for c in calls}
    )
    assert len(calls) == 2
    assert state["lastDeliveryStatus"] == 200


async def test_failed_deliveries_update_error_fields_until_success(emu: AsgiEmulator) -> None:
    emu.state.update_config(webhook_retry_interval_seconds=0.01)
    with Receiver(statuses=[500, 500]) as receiver:
        async with admin_client(emu) as client:
            sub = await subscribe(client, push_subscription(receiver.url, tagSets=[["pathfinder"]]))
            touch(emu, "x")
            await client.get("/_emulator/webhooks/deliveries", params={"min": 2})
            failing = (await client.get(f"{SUBS}/{sub['id']}")).json()["data"]
            await receiver.wait_for(3)
    assert failing["errorCount"] >= 1
    assert failing["firstTimeDeliveryFailed"] is not None


async def test_wrapped_event_and_no_payload_modes(emu: AsgiEmulator) -> None:
    with Receiver() as receiver:
        async with admin_client(emu) as client:
            await subscribe(client, push_subscription(receiver.url, payloadMode="WRAPPED_EVENT"))
            await subscribe(
                client, push_subscription(receiver.url, payloadMode="NO_PAYLOAD", identifier="np")
            )
            touch(emu, "wrapped")
            calls = await receiver.wait_for(2)
    bodies = [c["body"] for c in calls]
    assert {} in bodies
    wrapped = next(b for b in bodies if b)
    assert wrapped["tags"] == ["pathfinder", "FACT_SHEET_UPDATED"]
    assert wrapped["type"] == "FACT_SHEET_UPDATED"
    assert wrapped["payload"]["type"] == "FactSheetUpdatedEvent"
    assert wrapped["sequenceInfo"] == wrapped["payload"]["transactionSequenceNumber"]


async def test_pull_long_poll_returns_new_events_and_cursor_commit_consumes_them(emu: AsgiEmulator) -> None:
    async with admin_client(emu) as client:
        sub = await subscribe(client, pull_subscription())
        events_path = f"{SUBS}/{sub['id']}/events"
        empty = (await client.get(events_path, params={"timeout": 0})).json()["data"]
        assert empty == {"events": [], "nextCursor": {"offset": 0}}

        waiting = asyncio.create_task(client.get(events_path, params={"timeout": 30}))
        await asyncio.sleep(0)  # let the poll start before the change happens
        touch(emu, "pulled")
        first = (await waiting).json()["data"]
        assert len(first["events"]) == 1
        event = json.loads(first["events"][0]["event"])
        assert event["type"] == "FactSheetUpdatedEvent"
        assert first["events"][0]["cursor"] == {"offset": 0}
        assert first["nextCursor"] == {"offset": 1}

        again = (await client.get(events_path, params={"timeout": 0})).json()["data"]
        assert again["events"] == first["events"]  # at least once until committed
        commit = await client.put(f"{SUBS}/{sub['id']}/cursor", json=first["nextCursor"])
        assert commit.status_code == 200
        after = (await client.get(events_path, params={"timeout": 0})).json()["data"]
        assert after["events"] == []
        assert (await client.put(f"{SUBS}/{sub['id']}/cursor", json={"offset": 5})).status_code == 400


async def test_pull_auto_commit_and_tag_set_matching(emu: AsgiEmulator) -> None:
    async with admin_client(emu) as client:
        sub = await subscribe(client, pull_subscription())
        archived_only = await subscribe(
            client, pull_subscription(tagSets=[["pathfinder", "FACT_SHEET_ARCHIVED"]])
        )
        touch(emu, "auto")
        got = (
            await client.get(f"{SUBS}/{sub['id']}/events", params={"timeout": 0, "autoCommit": "true"})
        ).json()
        assert len(got["data"]["events"]) == 1
        rest = (await client.get(f"{SUBS}/{sub['id']}/events", params={"timeout": 0})).json()
        assert rest["data"]["events"] == []
        other = (await client.get(f"{SUBS}/{archived_only['id']}/events", params={"timeout": 0})).json()
        assert other["data"]["events"] == []


async def test_subscription_validation_and_crud(emu: AsgiEmulator) -> None:
    async with admin_client(emu) as client:
        bad = [
            {k: v for k, v in push_subscription("http://127.0.0.1:9/hook").items() if k != "targetUrl"},
            {k: v for k, v in push_subscription("http://127.0.0.1:9/hook").items() if k != "ignoreError"},
            push_subscription("http://127.0.0.1:9/hook", payloadMode="EVERYTHING"),
            push_subscription("http://127.0.0.1:9/hook", deliveryType="EMAIL"),
            push_subscription("http://127.0.0.1:9/hook", tagSets="pathfinder"),
            push_subscription("http://127.0.0.1:9/hook", colour="blue"),
        ]
        for body in bad:
            response = await client.post(SUBS, json=body)
            assert response.status_code == 400, body
            assert response.json()["status"] == "ERROR"
        pull = await subscribe(client, pull_subscription(identifier="by-id"))
        assert pull["targetUrl"] is None
        await subscribe(client, pull_subscription(identifier="other"))
        found = (await client.get(SUBS, params={"identifier": "by-id"})).json()
        assert [s["id"] for s in found["data"]] == [pull["id"]]
        assert found["total"] == 1
        updated = await client.put(f"{SUBS}/{pull['id']}", json=pull_subscription(identifier="renamed"))
        assert updated.json()["data"]["identifier"] == "renamed"
        deleted = await client.delete(f"{SUBS}/{pull['id']}")
        assert deleted.json()["data"]["id"] == pull["id"]
        assert (await client.get(f"{SUBS}/{pull['id']}")).status_code == 404


async def test_publish_raw_event_reaches_matching_pull_subscription(emu: AsgiEmulator) -> None:
    async with admin_client(emu) as client:
        sub = await subscribe(client, pull_subscription(tagSets=[["integrations", "statistics"]]))
        published = await client.post(
            "/services/webhooks/v1/events",
            json={
                "tags": ["integrations", "statistics"],
                "payload": {"progress": "FINISHED"},
                "workspaceId": emu.workspace_id,
            },
        )
        assert published.status_code == 200
        got = (await client.get(f"{SUBS}/{sub['id']}/events", params={"timeout": 0})).json()["data"]
    assert json.loads(got["events"][0]["event"]) == {"progress": "FINISHED"}


async def test_push_over_real_http_from_a_change_made_off_the_server_loop(emulator: RunningEmulator) -> None:
    emulator.state.update_config(webhook_retry_interval_seconds=0.01)
    with Receiver(statuses=[500]) as receiver:
        async with http_admin_client(emulator.base_url, emulator.api_token) as client:
            await subscribe(client, push_subscription(receiver.url))
            fs_id = touch(emulator, "from the test thread")
            calls = await receiver.wait_for(2)
            log = (await client.get("/_emulator/webhooks/deliveries", params={"min": 2})).json()
    assert calls[1]["body"]["factSheet"]["id"] == fs_id
    assert [d["success"] for d in log] == [False, True]


async def start_one_sender(emu: AsgiEmulator) -> asyncio.Task[None]:
    """A PUSH subscription whose sender has delivered once and now waits for the next event."""
    with Receiver(statuses=[]) as receiver:
        async with admin_client(emu) as client:
            await subscribe(client, push_subscription(receiver.url))
            touch(emu, "start the sender")
            await receiver.wait_for(1)
    (sender,) = [t for t in asyncio.all_tasks() if t.get_name().startswith("webhook-sender-")]
    return sender


async def test_reset_stops_push_senders_instead_of_leaving_them_pending(emu: AsgiEmulator) -> None:
    # A sender dropped while pending is garbage-collected mid-`async with` during some later test
    # ("coroutine ignored GeneratorExit"); a reset must cancel it.
    sender = await start_one_sender(emu)
    emu.reset()
    await asyncio.wait([sender], timeout=5)
    assert sender.cancelled()


async def test_aclose_ends_the_senders_of_the_running_loop(emu: AsgiEmulator) -> None:
    sender = await start_one_sender(emu)
    await emu.state.aclose()
    assert sender.cancelled()
    assert not emu.state._tasks

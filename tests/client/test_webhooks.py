"""Webhooks: upsert by identifier, secret header handling, PULL parsing."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import SecretStr

from shared.leanix import Subscription
from shared.leanix.webhooks import WEBHOOKS_PATH

from .conftest import ClientFactory, FakeLeanIX

SECRET_HEADER = "Bearer hook-secret-1234567890"
SUBS = f"{WEBHOOKS_PATH}/subscriptions"


def subscription() -> Subscription:
    return Subscription(
        identifier="fs-changes",
        tag_sets=[["pathfinder", "FACT_SHEET_UPDATED"]],
        target_url="https://hooks.example.com/leanix",
        target_method="POST",
        authorization_header=SecretStr(SECRET_HEADER),
    )


@pytest.mark.parametrize("exists", [True, False])
async def test_upsert_puts_when_the_identifier_exists_else_posts(
    exists: bool, fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    listed = [{"id": "s1", "identifier": "fs-changes", "deliveryType": "PUSH"}] if exists else []
    fake.route("GET", SUBS)(lambda request: httpx.Response(200, json={"status": "OK", "data": listed}))
    writes: list[httpx.Request] = []

    def write(request: httpx.Request) -> httpx.Response:
        writes.append(request)
        return httpx.Response(200, json={"status": "OK", "data": json.loads(request.content) | {"id": "s1"}})

    fake.route("PUT", f"{SUBS}/s1")(write)
    fake.route("POST", SUBS)(write)
    async with make_client() as client:
        result = await client.webhooks.upsert_subscription(subscription())
    assert [w.method for w in writes] == (["PUT"] if exists else ["POST"])
    assert fake.calls("GET", SUBS)[0].url.params["identifier"] == "fs-changes"
    body = json.loads(writes[0].content)
    assert body["authorizationHeader"] == SECRET_HEADER  # the real value goes to LeanIX
    assert body["tagSets"] == [["pathfinder", "FACT_SHEET_UPDATED"]]
    assert result.id == "s1"
    assert SECRET_HEADER not in repr(result)


async def test_pull_events_parses_string_events_and_next_cursor(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    data = {
        "events": [
            {"cursor": {"offset": 1041}, "event": json.dumps({"id": 42844, "type": "FactSheetUpdatedEvent"})}
        ],
        "nextCursor": {"offset": 1042},
    }
    fake.route("GET", f"{SUBS}/s1/events")(
        lambda request: httpx.Response(200, json={"status": "OK", "data": data})
    )
    commits: list[dict[str, int]] = []
    fake.route("PUT", f"{SUBS}/s1/cursor")(
        lambda request: (
            commits.append(json.loads(request.content)) or httpx.Response(200, json={"status": "OK"})
        )
    )
    async with make_client() as client:
        result = await client.webhooks.pull_events("s1", timeout=5)
        await client.webhooks.commit_cursor("s1", result.next_offset or 0)
    assert result.events[0].event["id"] == 42844
    assert result.events[0].offset == 1041
    assert commits == [{"offset": 1042}]
    request = fake.calls("GET", f"{SUBS}/s1/events")[0]
    assert request.url.params["autoCommit"] == "false"
    assert request.url.params["timeout"] == "5"

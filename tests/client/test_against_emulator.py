"""The shared client against the LeanIX emulator over real HTTP (no mocks on either side)."""

from __future__ import annotations

from typing import Any

import pytest

from local.emulator import RunningEmulator
from shared.leanix import (
    LeanIXClient,
    Patch,
    RetryPolicy,
    RevisionClash,
    StaticTokenSource,
    Subscription,
    TokenExchangeError,
    tag_ids_patch,
)
from tests.emulator.services_support import Receiver


class RecordingSleep:
    """Records the delays the retry policy asks for, without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client_for(emulator: RunningEmulator, token: str | None = None, **kwargs: Any) -> LeanIXClient:
    kwargs.setdefault("retry_policy", RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.05))
    return LeanIXClient(emulator.base_url, StaticTokenSource(token or emulator.api_token), **kwargs)


async def test_token_exchange_returns_a_bearer_with_the_workspace_claims(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as client:
        token = await client.mtm.exchange_token(emulator.api_token)
        assert token.expires_in > 3000
        await client.graphql.execute("{ allFactSheets(first: 1) { totalCount } }")
        claims = await client.token_claims()
    assert claims.workspace_id == emulator.workspace_id
    assert claims.user_id == emulator.state.admin.id


async def test_replace_token_invalidates_the_old_token_at_once(emulator: RunningEmulator) -> None:
    old_token = emulator.api_token
    async with client_for(emulator) as client:
        user = await client.mtm.replace_token(emulator.state.admin.id)
    new_token = user.api_token
    assert new_token
    assert new_token != old_token
    async with client_for(emulator, token=old_token) as stale:
        with pytest.raises(TokenExchangeError) as info:
            await stale.mtm.exchange_token(old_token)
    assert old_token not in str(info.value)
    async with client_for(emulator, token=new_token) as fresh:
        assert (await fresh.mtm.exchange_token(new_token)).expires_in > 0


async def test_paging_5000_fact_sheets_yields_each_exactly_once(emulator: RunningEmulator) -> None:
    created = set(emulator.state.bulk_create("ITComponent", 5000))
    async with client_for(emulator) as client:
        seen = [
            node["id"]
            async for node in client.graphql.iter_fact_sheets(
                "id", fact_sheet_type="ITComponent", page_size=500
            )
        ]
    assert len(seen) == len(set(seen))
    assert created <= set(seen)


async def test_stale_rev_raises_revision_clash(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as client:
        node = await anext(client.graphql.iter_fact_sheets("id rev", fact_sheet_type="Application"))
        patch = Patch(op="replace", path="/description", value="first")
        await client.graphql.update_fact_sheet(node["id"], [patch], rev=node["rev"])
        with pytest.raises(RevisionClash):
            await client.graphql.update_fact_sheet(
                node["id"], [Patch(op="replace", path="/description", value="second")], rev=node["rev"]
            )


async def test_tag_patch_sets_a_time_tag(emulator: RunningEmulator) -> None:
    async with client_for(emulator) as client:
        tags = {tag.name: tag.id for tag in await client.graphql.all_tags(tag_group_name="TIME")}
        assert set(tags) == {"Tolerate", "Invest", "Migrate", "Eliminate"}
        node = await anext(client.graphql.iter_fact_sheets("id rev", fact_sheet_type="Application"))
        result = await client.graphql.update_fact_sheet(
            node["id"], [tag_ids_patch("add", [tags["Invest"]])], fields="id rev tags { id name }"
        )
    assert [tag["name"] for tag in result["tags"] if tag["name"] in tags] == ["Invest"]


async def test_push_delivery_carries_authorization_and_is_retried_after_a_500(
    emulator: RunningEmulator,
) -> None:
    emulator.state.update_config(webhook_retry_interval_seconds=0.05)
    with Receiver(statuses=[500]) as receiver:
        async with client_for(emulator) as client:
            await client.webhooks.upsert_subscription(
                Subscription(
                    identifier="client-test",
                    deliveryType="PUSH",
                    targetUrl=receiver.url,
                    targetMethod="POST",
                    authorizationHeader="Bearer delivery-secret",
                    tagSets=[["pathfinder", "FACT_SHEET_UPDATED"]],
                    ignoreError=False,
                    payloadMode="DEFAULT",
                    workspaceConstraint="WORKSPACE",
                    active=True,
                )
            )
            node = await anext(client.graphql.iter_fact_sheets("id", fact_sheet_type="Application"))
            await client.graphql.update_fact_sheet(
                node["id"], [Patch(op="replace", path="/description", value="push me")]
            )
            calls = await receiver.wait_for(2)
    assert [call["headers"]["authorization"] for call in calls[:2]] == ["Bearer delivery-secret"] * 2
    assert calls[0]["body"] == calls[1]["body"]
    assert calls[1]["body"]["factSheet"]["id"] == node["id"]


async def test_ldif_run_creates_fact_sheets_and_tags(emulator: RunningEmulator) -> None:
    binding = {
        "connectorType": "client-test",
        "connectorId": "apps",
        "connectorVersion": "1.0.0",
        "processingDirection": "inbound",
        "processingMode": "partial",
    }
    configuration = {
        **binding,
        "processors": [
            {
                "processorType": "inboundFactSheet",
                "processorName": "Apps",
                "type": "Application",
                "filter": {"exactType": "App"},
                "identifier": {"external": {"id": {"expr": "${content.id}"}, "type": {"expr": "externalId"}}},
                "run": 0,
                "updates": [{"key": {"expr": "name"}, "values": [{"expr": "${data.name}"}]}],
            },
            {
                "processorType": "inboundTag",
                "processorName": "Tags",
                "filter": {"exactType": "App"},
                "forEach": "${data.tags}",
                "factSheets": {"external": {"ids": "${content.id}", "type": {"expr": "externalId"}}},
                "run": 1,
                "updates": [
                    {"key": {"expr": "name"}, "values": [{"expr": "${integration.valueOfForEach}"}]},
                    {"key": {"expr": "group.name"}, "values": [{"expr": "Client Test"}]},
                ],
            },
        ],
    }
    ldif = {
        **binding,
        "lxVersion": "1.0.0",
        "lxWorkspace": emulator.workspace_id,
        "content": [
            {"type": "App", "id": "app-1", "data": {"name": "Ledger One", "tags": ["cloud"]}},
            {"type": "App", "id": "app-2", "data": {"name": "Ledger Two", "tags": ["cloud", "legacy"]}},
        ],
    }
    async with client_for(emulator) as client:
        await client.integration.upsert_configuration(configuration)
        run = await client.integration.create_run(ldif, start=True)
        status = await client.integration.wait_until_finished(
            run.id, deadline_seconds=30, initial_interval=0.02, max_interval=0.1
        )
        assert status.status == "FINISHED"
        names = {
            node["name"]: node
            async for node in client.graphql.iter_fact_sheets(
                "id name tags { name tagGroup { name } }", fact_sheet_type="Application"
            )
        }
        tags = {tag.name for tag in await client.graphql.all_tags(tag_group_name="Client Test")}
    assert {"Ledger One", "Ledger Two"} <= set(names)
    assert tags == {"cloud", "legacy"}
    assert {tag["name"] for tag in names["Ledger Two"]["tags"]} >= {"cloud", "legacy"}


async def test_429_with_retry_after_is_honoured(emulator: RunningEmulator) -> None:
    emulator.add_fault(kind="status", path="/pathfinder/", status=429, retry_after=2, times=1)
    sleep = RecordingSleep()
    async with client_for(emulator, sleep=sleep) as client:
        data = await client.graphql.execute("{ allFactSheets(first: 1) { totalCount } }")
    assert data["allFactSheets"]["totalCount"] > 0
    assert 2.0 in sleep.delays


async def test_rate_limit_429_is_waited_out_and_the_call_succeeds(emulator: RunningEmulator) -> None:
    emulator.state.update_config(rate_limit_per_minute=1)
    delays: list[float] = []

    async def sleep_in_emulator_time(seconds: float) -> None:
        # The emulator's bucket refills on its own clock: the client's wait advances it.
        delays.append(seconds)
        emulator.state.advance_time(seconds)

    async with client_for(emulator, sleep=sleep_in_emulator_time) as client:
        for _ in range(3):
            await client.graphql.execute("{ allFactSheets(first: 1) { totalCount } }")
    assert len(delays) >= 2
    assert all(delay >= 1 for delay in delays)
    assert emulator.state.stats.rate_limited >= 2

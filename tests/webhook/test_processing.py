"""The queue worker against the emulator: TIME tagging, dedup, ordering, own-user skip, faults."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from functions.webhook_handler.core import (
    Outcome,
    ProcessorConfig,
    ProcessorDeps,
    dedup_key,
    ensure_time_class,
    high_water_mark_key,
    process_event,
    time_rule_fields,
)
from functions.webhook_handler.models import parse_event
from functions.webhook_handler.time_rule import load_time_rule_config
from local.emulator.webhooks import webhooks_state
from shared.errors import ConfigurationError
from shared.runtime import get_runtime
from tests.webhook.conftest import (
    WebhookEnv,
    applications,
    body_of,
    expected_time_tags,
    other_user,
    set_fit,
    time_tags,
)

QUEUE = "leanix-webhook-events"


def _captured_events(env: WebhookEnv) -> list[dict[str, Any]]:
    """DEFAULT payloads of every event the emulator emitted since its webhooks state was created."""
    return [event.payload for event in webhooks_state(env.emulator.state).events]


async def _deliver_all(env: WebhookEnv, payloads: list[dict[str, Any]]) -> None:
    for payload in payloads:
        response = await env.post(body_of(payload))
        assert response.status_code == 202, response.get_body()


async def test_fit_change_sets_the_time_tag_and_changing_back_moves_it(webhook_env: WebhookEnv) -> None:
    emulator = webhook_env.emulator
    app = applications(emulator)[0]
    user = other_user(emulator)
    webhooks_state(emulator.state)
    set_fit(emulator, app.id, user.id, functionalSuitability="perfect", technicalSuitability="adequate")
    await _deliver_all(webhook_env, _captured_events(webhook_env))
    await webhook_env.drain()
    assert time_tags(emulator, app.id) == ["Invest"]

    webhooks_state(emulator.state).events.clear()
    set_fit(emulator, app.id, user.id, technicalSuitability="inappropriate")
    await _deliver_all(webhook_env, _captured_events(webhook_env))
    await webhook_env.drain()
    assert time_tags(emulator, app.id) == ["Migrate"]


async def test_own_write_comes_back_and_causes_no_second_write(webhook_env: WebhookEnv) -> None:
    emulator = webhook_env.emulator
    app = applications(emulator)[1]
    user = other_user(emulator)
    state = webhooks_state(emulator.state)
    set_fit(
        emulator, app.id, user.id, functionalSuitability="insufficient", technicalSuitability="unreasonable"
    )
    await _deliver_all(webhook_env, _captured_events(webhook_env))
    await webhook_env.drain()
    writes = emulator.state.workspace.require(app.id).write_count
    own_events = [e.payload for e in state.events if e.payload["userId"] == emulator.state.admin.id]
    assert own_events  # our TIME write produced events, which LeanIX would deliver to us
    await _deliver_all(webhook_env, own_events)
    await webhook_env.drain()
    assert emulator.state.workspace.require(app.id).write_count == writes
    assert time_tags(emulator, app.id) == ["Eliminate"]


async def test_missing_fit_removes_a_stale_time_tag(webhook_env: WebhookEnv) -> None:
    emulator = webhook_env.emulator
    app = applications(emulator)[2]
    user = other_user(emulator)
    webhooks_state(emulator.state)
    set_fit(emulator, app.id, user.id, functionalSuitability="perfect", technicalSuitability="adequate")
    await _deliver_all(webhook_env, _captured_events(webhook_env))
    await webhook_env.drain()
    assert time_tags(emulator, app.id) == ["Invest"]
    webhooks_state(emulator.state).events.clear()
    set_fit(emulator, app.id, user.id, technicalSuitability=None)
    await _deliver_all(webhook_env, _captured_events(webhook_env))
    await webhook_env.drain()
    assert time_tags(emulator, app.id) == []


async def test_a_thousand_deliveries_with_duplicates_and_reordering_end_like_in_order_delivery(
    webhook_env: WebhookEnv,
) -> None:
    emulator = webhook_env.emulator
    # Throughput, not throttling, is under test here (the rate limits have their own tests).
    emulator.state.update_config(rate_limit_per_minute=10**7)
    webhook_env.set(LEANIX_REQUESTS_PER_MINUTE=str(10**7))
    rng = random.Random(7)
    apps = applications(emulator)[:40]
    user = other_user(emulator)
    webhooks_state(emulator.state)
    functional = ("unreasonable", "insufficient", "appropriate", "perfect")
    technical = ("inappropriate", "unreasonable", "adequate", "fullyAppropriate")
    while len(_captured_events(webhook_env)) < 800:
        app = rng.choice(apps)
        set_fit(
            emulator,
            app.id,
            user.id,
            functionalSuitability=rng.choice(functional),
            technicalSuitability=rng.choice(technical),
        )
    unique = _captured_events(webhook_env)[:800]
    duplicates = [rng.choice(unique) for _ in range(200)]
    deliveries = unique + duplicates
    # 20% out of order: move 200 deliveries to random later or earlier positions.
    for _ in range(200):
        item = deliveries.pop(rng.randrange(len(deliveries)))
        deliveries.insert(rng.randrange(len(deliveries) + 1), item)
    assert len(deliveries) == 1000
    writes_before = {app.id: emulator.state.workspace.require(app.id).write_count for app in apps}
    needing_write = {
        app.id for app in apps if time_tags(emulator, app.id) != expected_time_tags(emulator, app.id)
    }

    await _deliver_all(webhook_env, deliveries)
    await webhook_env.drain()

    for app in apps:
        assert time_tags(emulator, app.id) == expected_time_tags(emulator, app.id), app.name
        ours = emulator.state.workspace.require(app.id).write_count - writes_before[app.id]
        # The fits were final before delivery, so one write where the tag was wrong, none elsewhere.
        assert ours == (1 if app.id in needing_write else 0), app.name
    assert await webhook_env.platform.queue.dead_letters(QUEUE) == []


async def test_stale_event_is_dropped_by_sequence_number(webhook_env: WebhookEnv) -> None:
    emulator = webhook_env.emulator
    app = applications(emulator)[3]
    runtime = get_runtime()
    await runtime.platform.state.advance_high_water_mark(high_water_mark_key(app.id), 100)
    event = parse_event(
        body_of(
            {
                "id": 9001,
                "type": "FactSheetUpdatedEvent",
                "userId": "u",
                "transactionSequenceNumber": 99,
                "factSheet": {"id": app.id, "type": "Application"},
            }
        )
    )
    async with runtime.client() as client:
        import httpx

        async with httpx.AsyncClient() as http:
            deps = ProcessorDeps(
                ProcessorConfig.from_settings(runtime.settings), client, runtime.platform.state, http
            )
            assert (await process_event(event, deps)).outcome is Outcome.STALE
    assert emulator.state.workspace.require(app.id).write_count == 0


async def test_failing_rule_is_retried_then_dead_lettered_and_commits_nothing(
    webhook_env: WebhookEnv,
) -> None:
    emulator = webhook_env.emulator
    webhook_env.set(LEANIX_MAX_RETRIES="0", QUEUE_MAX_ATTEMPTS="3")
    app = applications(emulator)[4]
    payload = {
        "id": 5001,
        "type": "FactSheetUpdatedEvent",
        "userId": "someone",
        "transactionSequenceNumber": 10**6,
        "factSheet": {"id": app.id, "type": "Application"},
    }
    emulator.add_fault(kind="status", status=500, path="/services/pathfinder/v1/graphql", probability=1.0)
    await _deliver_all(webhook_env, [payload])
    counts = await webhook_env.drain()
    assert counts == {"processed": 0, "failed": 3}
    dead = await webhook_env.platform.queue.dead_letters(QUEUE)
    assert [json.loads(body) for body in dead] == [payload]  # body intact
    state = webhook_env.platform.state
    assert await state.get(dedup_key(parse_event(body_of(payload)))) is None
    assert await state.get_high_water_mark(high_water_mark_key(app.id)) is None


async def test_with_intermittent_graphql_500s_every_event_is_applied_or_dead_lettered(
    webhook_env: WebhookEnv,
) -> None:
    emulator = webhook_env.emulator
    webhook_env.set(LEANIX_MAX_RETRIES="0", QUEUE_MAX_ATTEMPTS="3")
    user = other_user(emulator)
    webhooks_state(emulator.state)
    for app in applications(emulator)[:15]:
        set_fit(
            emulator, app.id, user.id, functionalSuitability="perfect", technicalSuitability="inappropriate"
        )
    payloads = _captured_events(webhook_env)
    emulator.add_fault(
        kind="status", status=500, path="/services/pathfinder/v1/graphql", probability=0.4, seed=3
    )
    await _deliver_all(webhook_env, payloads)
    counts = await webhook_env.drain()
    assert counts["failed"] > 0  # the fault fired
    dead = {json.loads(body)["id"] for body in await webhook_env.platform.queue.dead_letters(QUEUE)}
    state = webhook_env.platform.state
    for payload in payloads:
        applied = await state.get(dedup_key(parse_event(body_of(payload)))) is not None
        assert applied or payload["id"] in dead, payload["id"]
    emulator.clear_faults()


async def test_revision_clash_rereads_and_retries(webhook_env: WebhookEnv) -> None:
    emulator = webhook_env.emulator
    app = applications(emulator)[5]
    user = other_user(emulator)
    rule = load_time_rule_config(None)
    set_fit(emulator, app.id, user.id, functionalSuitability="perfect", technicalSuitability="adequate")
    async with get_runtime().client() as client:
        stale = await client.graphql.get_fact_sheet(app.id, time_rule_fields(rule))
        assert stale is not None
        set_fit(emulator, app.id, user.id, technicalSuitability="fullyAppropriate")  # rev moves on

        async def tag_ids() -> dict[str, str]:
            return {t.name: t.id for t in await client.graphql.all_tags(tag_group_name="TIME")}

        update = await ensure_time_class(client, app.id, rule, tag_ids, current=stale)
    assert update is not None
    assert time_tags(emulator, app.id) == ["Invest"]


async def test_missing_time_tag_group_is_a_clear_configuration_error(webhook_env: WebhookEnv) -> None:
    webhook_env.set(TIME_RULE_CONFIG=json.dumps({"tag_group": "Lifecycle TIME"}))
    app = applications(webhook_env.emulator)[6]
    payload = {
        "id": 77,
        "type": "FactSheetUpdatedEvent",
        "userId": "u",
        "factSheet": {"id": app.id, "type": "Application"},
    }
    runtime = get_runtime()
    async with runtime.client() as client:
        import httpx

        async with httpx.AsyncClient() as http:
            deps = ProcessorDeps(
                ProcessorConfig.from_settings(runtime.settings), client, runtime.platform.state, http
            )
            with pytest.raises(ConfigurationError, match="Lifecycle TIME"):
                await process_event(parse_event(body_of(payload)), deps)


def test_invalid_time_rule_config_is_rejected_at_start_up(webhook_env: WebhookEnv) -> None:
    webhook_env.set(TIME_RULE_CONFIG='{"mode": "field"}')
    with pytest.raises(ConfigurationError, match="TIME_RULE_CONFIG"):
        ProcessorConfig.from_settings(get_runtime().settings)


class _CrashOnStateWrites:
    """Reads go to the real store; the first state write "crashes" the worker."""

    def __init__(self, state: Any) -> None:
        self._state = state

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)

    async def advance_high_water_mark(self, key: str, value: int) -> bool:
        raise RuntimeError("worker crashed")


async def test_crash_after_the_leanix_write_before_the_state_writes_does_not_write_again(
    webhook_env: WebhookEnv,
) -> None:
    emulator = webhook_env.emulator
    app = applications(emulator)[10]
    set_fit(
        emulator,
        app.id,
        other_user(emulator).id,
        functionalSuitability="perfect",
        technicalSuitability="adequate",
    )
    event = parse_event(
        body_of(
            {
                "id": 6001,
                "type": "FactSheetUpdatedEvent",
                "userId": "someone",
                "transactionSequenceNumber": 10**6,
                "factSheet": {"id": app.id, "type": "Application"},
            }
        )
    )
    runtime = get_runtime()
    state = runtime.platform.state
    writes = emulator.state.workspace.require(app.id).write_count
    async with runtime.client() as client:
        import httpx

        async with httpx.AsyncClient() as http:
            config = ProcessorConfig.from_settings(runtime.settings)
            crashing = ProcessorDeps(config, client, _CrashOnStateWrites(state), http)  # type: ignore[arg-type]
            with pytest.raises(RuntimeError, match="crashed"):
                await process_event(event, crashing)
            assert emulator.state.workspace.require(app.id).write_count == writes + 1  # LeanIX was written
            assert await state.get(dedup_key(event)) is None
            retried = await process_event(event, ProcessorDeps(config, client, state, http))
    assert (retried.outcome, retried.time_update) == (Outcome.APPLIED, None)
    assert emulator.state.workspace.require(app.id).write_count == writes + 1
    assert time_tags(emulator, app.id) == ["Invest"]
    assert await state.get(dedup_key(event)) is not None

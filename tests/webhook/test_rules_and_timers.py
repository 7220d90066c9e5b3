"""Notifications to a local receiver, ensure-subscription, the PULL timer and the nightly reconcile."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from functions.__main__ import main
from functions.webhook_handler.core import PullConfig, high_water_mark_key, pull_once
from local.emulator.webhooks import webhooks_state
from local.host import RunningHost, start_host_in_thread
from shared.leanix.webhooks import PullEvent, PullResult, Subscription
from shared.platform.local_blobs import LocalBlobStore
from shared.platform.local_queue import LocalQueue
from tests.webhook.conftest import (
    SECRET,
    WebhookEnv,
    applications,
    body_of,
    expected_time_tags,
    other_user,
    set_fit,
    time_tags,
)
from tests.webhook.events import load_event


class Receiver:
    """A local stand-in for Slack and Teams incoming webhooks; can fail the first N posts."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.fail_next = 0

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            if self.fail_next:
                self.fail_next -= 1
                return JSONResponse({"error": "busy"}, status_code=503)
            self.posts.append((request.url.path, json.loads(await request.body())))
            return Response("ok")

        return Starlette(routes=[Route("/{channel}", hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, RunningHost]]:
    stub = Receiver()
    running = start_host_in_thread(stub.app())
    yield stub, running
    running.stop()


async def test_events_are_posted_to_slack_and_teams_once(
    webhook_env: WebhookEnv, receiver: tuple[Receiver, RunningHost]
) -> None:
    stub, running = receiver
    webhook_env.set(
        SLACK_WEBHOOK_URL=f"{running.base_url}/slack",
        TEAMS_WEBHOOK_URL=f"{running.base_url}/teams",
        NOTIFY_EVENT_TYPES="FACT_SHEET_UPDATED",
        NOTIFY_WORKSPACE_NAME="acme",
        TIME_RULE_ENABLED="false",
    )
    event = load_event("webhook_default_fact_sheet_updated")
    stub.fail_next = 1  # Slack answers 503 once: the shared retry policy tries again
    assert (await webhook_env.post(body_of(event))).status_code == 202
    assert (await webhook_env.post(body_of(event))).status_code == 202  # LeanIX redelivers
    await webhook_env.drain()
    paths = sorted(path for path, _ in stub.posts)
    assert paths == ["/slack", "/teams"]
    slack = dict(stub.posts)["/slack"]
    assert "AC Management" in json.dumps(slack["blocks"])
    assert "/acme/factsheet/Application/" in json.dumps(slack)
    teams = dict(stub.posts)["/teams"]
    assert teams["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"


async def test_a_stale_event_still_sends_its_notification_but_writes_nothing(
    webhook_env: WebhookEnv, receiver: tuple[Receiver, RunningHost]
) -> None:
    # An event whose post failed is retried after a newer event of the same fact sheet went through:
    # the TIME rule must skip it, its notification must not be lost.
    stub, running = receiver
    webhook_env.set(SLACK_WEBHOOK_URL=f"{running.base_url}/slack", NOTIFY_EVENT_TYPES="FACT_SHEET_UPDATED")
    app = applications(webhook_env.emulator)[0]
    event = load_event("webhook_default_fact_sheet_updated")
    event["factSheet"]["id"] = app.id
    await webhook_env.platform.state.advance_high_water_mark(
        high_water_mark_key(app.id), event["transactionSequenceNumber"] + 1
    )
    writes_before = webhook_env.emulator.state.workspace.require(app.id).write_count
    assert (await webhook_env.post(body_of(event))).status_code == 202
    assert (await webhook_env.post(body_of(event))).status_code == 202  # redelivered: posts once
    await webhook_env.drain()
    assert [path for path, _ in stub.posts] == ["/slack"]
    assert webhook_env.emulator.state.workspace.require(app.id).write_count == writes_before


async def test_ensure_subscription_upserts_and_prints_no_secret(
    webhook_env: WebhookEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    webhook_env.set(WEBHOOK_TARGET_URL="http://127.0.0.1:7071/api/leanix/webhook?code=function-key-123")
    assert await asyncio.to_thread(main, ["ensure-subscription"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert await asyncio.to_thread(main, ["ensure-subscription"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (first["action"], second["action"]) == ("created", "updated")
    assert first["id"] == second["id"]
    assert ["pathfinder", "FACT_SHEET_UPDATED"] in second["tagSets"]
    assert second["targetUrl"] == "http://127.0.0.1:7071/api/leanix/webhook"
    printed = json.dumps([first, second])
    assert SECRET not in printed
    assert "function-key-123" not in printed
    stored = webhooks_state(webhook_env.emulator.state).subscriptions[first["id"]].data
    assert stored["authorizationHeader"] == SECRET


def test_ensure_subscription_without_target_url_says_what_to_set(webhook_env: WebhookEnv) -> None:
    assert main(["ensure-subscription"]) == 2


async def test_pull_timer_enqueues_then_commits_the_cursor(webhook_env: WebhookEnv) -> None:
    emulator = webhook_env.emulator
    webhook_env.set(WEBHOOK_DELIVERY_MODE="PULL", WEBHOOK_PULL_TIMEOUT_SECONDS="0")
    assert await asyncio.to_thread(main, ["ensure-subscription"]) == 0
    app = applications(emulator)[7]
    set_fit(
        emulator,
        app.id,
        other_user(emulator).id,
        functionalSuitability="perfect",
        technicalSuitability="adequate",
    )
    await webhook_env.fire("leanix_webhook_pull")
    subscription = next(iter(webhooks_state(emulator.state).subscriptions.values()))
    assert subscription.committed == len(subscription.pulled) == 1
    await webhook_env.drain()
    assert time_tags(emulator, app.id) == ["Invest"]


async def test_pull_does_not_commit_when_enqueueing_fails(webhook_env: WebhookEnv) -> None:
    emulator = webhook_env.emulator
    webhook_env.set(
        WEBHOOK_DELIVERY_MODE="PULL", WEBHOOK_PULL_TIMEOUT_SECONDS="0", WEBHOOK_QUEUE_NAME="Bad_Name"
    )
    assert await asyncio.to_thread(main, ["ensure-subscription"]) == 0
    app = applications(emulator)[8]
    set_fit(emulator, app.id, other_user(emulator).id, technicalSuitability="adequate")
    with pytest.raises(Exception, match="queue name"):
        await webhook_env.fire("leanix_webhook_pull")
    subscription = next(iter(webhooks_state(emulator.state).subscriptions.values()))
    assert subscription.committed == 0
    assert subscription.pulled


async def test_nightly_reconcile_repairs_drifted_tags(webhook_env: WebhookEnv) -> None:
    emulator = webhook_env.emulator
    emulator.state.update_config(rate_limit_per_minute=10**6)
    apps = applications(emulator)
    wrong = [app for app in apps if time_tags(emulator, app.id) != expected_time_tags(emulator, app.id)]
    assert wrong  # the seed has no TIME tags yet
    result_first = await webhook_env.fire("leanix_time_reconcile")
    assert result_first is None  # the timer logs its summary
    from functions.webhook_handler.core import run_reconcile
    from shared.runtime import get_runtime

    again = await run_reconcile(get_runtime())
    assert again == {"checked": len(apps), "fixed": 0}
    for app in apps:
        assert time_tags(emulator, app.id) == expected_time_tags(emulator, app.id), app.name


class _CursorlessWebhooks:
    """A PULL API that returns events without a `nextCursor` (nothing can be committed)."""

    def __init__(self) -> None:
        self.pulls = 0
        self.commits: list[int] = []

    async def find_by_identifier(self, identifier: str) -> Subscription:
        return Subscription(id="sub-1", identifier=identifier, delivery_type="PULL")

    async def pull_events(self, subscription_id: str, *, timeout: int = 10) -> PullResult:  # noqa: ASYNC109 (the API parameter)
        self.pulls += 1
        event = load_event("webhook_default_fact_sheet_updated")
        return PullResult(events=[PullEvent(offset=1, event=event)], next_offset=None)

    async def commit_cursor(self, subscription_id: str, offset: int) -> None:
        self.commits.append(offset)


async def test_pull_without_a_next_cursor_stops_instead_of_re_enqueueing_the_same_events(
    tmp_path: Path,
) -> None:
    webhooks = _CursorlessWebhooks()
    client = SimpleNamespace(webhooks=webhooks)
    queue = LocalQueue(tmp_path / "queue.sqlite", max_attempts=3)
    config = PullConfig(identifier="s", timeout_seconds=0, queue_name="events", inline_max_bytes=4096)
    counts = await pull_once(client, queue, LocalBlobStore(tmp_path / "blobs"), config)  # type: ignore[arg-type]
    assert (webhooks.pulls, webhooks.commits, counts["enqueued"]) == (1, [], 1)
    assert len(await queue.receive("events", 10, 30)) == 1

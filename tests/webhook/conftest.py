"""Fixtures for the webhook handler: the emulator-backed environment and the app's real wiring."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import pytest

from local.emulator import RunningEmulator
from local.emulator.state import FactSheet
from local.host import (
    HttpFunction,
    QueueFunction,
    TimerFunction,
    Wiring,
    call_function,
    discover,
    process_queue_once,
)
from shared.platform import Platform
from shared.runtime import get_runtime, reset_runtime

SECRET = "test-webhook-secret-4f2b"
_OWN_VARIABLES = (
    "WEBHOOK_SECRET",
    "WEBHOOK_SECRET_NAME",
    "WEBHOOK_QUEUE_NAME",
    "WEBHOOK_INLINE_MAX_BYTES",
    "WEBHOOK_DELIVERY_MODE",
    "WEBHOOK_TARGET_URL",
    "WEBHOOK_PAYLOAD_MODE",
    "WEBHOOK_SUBSCRIPTION_IDENTIFIER",
    "TIME_RULE_ENABLED",
    "TIME_RULE_CONFIG",
    "NOTIFY_EVENT_TYPES",
    "NOTIFY_FACT_SHEET_TYPES",
    "NOTIFY_WORKSPACE_NAME",
    "SLACK_WEBHOOK_URL",
    "TEAMS_WEBHOOK_URL",
    "QUEUE_MAX_ATTEMPTS",
    "LEANIX_MAX_RETRIES",
)


@dataclass
class WebhookEnv:
    """The emulator, the app's wiring and helpers to drive the real entry points."""

    emulator: RunningEmulator
    wiring: Wiring
    monkeypatch: pytest.MonkeyPatch

    def set(self, **values: str) -> None:
        """Set environment variables and forget cached settings/runtime."""
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)
        reset_runtime()

    @property
    def platform(self) -> Platform:
        return get_runtime().platform

    def function(self, name: str) -> Any:
        return self.wiring.find(name)

    async def post(self, body: bytes, headers: dict[str, str] | None = None) -> func.HttpResponse:
        """Call the webhook route as the host does."""
        route: HttpFunction = self.function("leanix_webhook")
        request = func.HttpRequest(
            method="POST",
            url="http://127.0.0.1/api/leanix/webhook",
            headers=headers if headers is not None else auth_headers(),
            params={},
            body=body,
        )
        response: func.HttpResponse = await call_function(route.fn, **{route.arg_name: request})
        return response

    async def drain(self, max_rounds: int = 500) -> dict[str, int]:
        """Run the queue function until its queue is empty (failed messages come back until dead-lettered)."""
        worker: QueueFunction = self.function("leanix_webhook_worker")
        totals = {"processed": 0, "failed": 0}
        for _ in range(max_rounds):
            counts = await process_queue_once(worker, self.platform.queue, max_messages=50)
            if not any(counts.values()):
                return totals
            totals = {key: totals[key] + counts[key] for key in totals}
        raise AssertionError("the webhook queue did not drain")

    async def fire(self, name: str) -> Any:
        from azure.functions.timer import TimerRequest

        timer: TimerFunction = self.function(name)
        return await call_function(timer.fn, **{timer.arg_name: TimerRequest(past_due=False)})


def auth_headers(secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": secret, "Content-Type": "application/json"}


@pytest.fixture
def webhook_env(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookEnv]:
    for name in _OWN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEANIX_HOST", emulator.base_url)
    monkeypatch.setenv("LEANIX_API_TOKEN", emulator.api_token)
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    reset_runtime()
    from function_app import app

    yield WebhookEnv(emulator, discover(app), monkeypatch)
    reset_runtime()


# --------------------------------------------------------------------------- emulator helpers


def applications(emulator: RunningEmulator) -> list[FactSheet]:
    return emulator.state.workspace.list_fact_sheets("Application", include_archived=False)


def time_tags(emulator: RunningEmulator, fact_sheet_id: str) -> list[str]:
    """Names of the TIME tags on a fact sheet, as the emulator holds them."""
    ws = emulator.state.workspace
    group = ws.tag_group_by_name("TIME")
    assert group is not None
    fs = ws.require(fact_sheet_id)
    return sorted(ws.tags[t].name for t in fs.tag_ids if ws.tags[t].tag_group_id == group.id)


def expected_time_tags(emulator: RunningEmulator, fact_sheet_id: str) -> list[str]:
    from functions.webhook_handler.time_rule import classify

    fs = emulator.state.workspace.require(fact_sheet_id)
    time_class = classify(fs.fields.get("functionalSuitability"), fs.fields.get("technicalSuitability"))
    return [time_class.value] if time_class else []


def other_user(emulator: RunningEmulator) -> Any:
    """A second technical user: changes made as this user are not the bundle's own."""
    return emulator.state.create_technical_user("architect", "ADMIN")


def set_fit(emulator: RunningEmulator, fact_sheet_id: str, user_id: str, **fits: str | None) -> None:
    """Change fit fields in the emulator as `user_id` (emits the webhook events LeanIX would)."""
    patches = [{"op": "replace", "path": f"/{name}", "value": value} for name, value in fits.items()]
    emulator.state.workspace.apply_patches(fact_sheet_id, patches, user_id=user_id)


def wait_until(condition: Callable[[], bool], limit_s: float = 15.0) -> None:
    """Poll a condition another thread makes true (real PUSH delivery); bounded, not a timing assert."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()

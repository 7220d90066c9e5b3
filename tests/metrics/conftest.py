"""Fixtures for the metrics ingester tests: the bundle pointed at the emulator, and the entry points."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import azure.functions as func
import httpx
import pytest

from functions.metrics_ingester import writer
from local.host import discover
from shared.leanix import LeanIXClient, ratelimit
from shared.runtime import Runtime, reset_runtime

METRICS_SECRET = "metrics-test-secret-0123456789"
AUTH = {"Authorization": f"Bearer {METRICS_SECRET}"}

Push = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]


@pytest.fixture(autouse=True)
def fresh_process_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test is a fresh process: no cached v2 schema uuids, no shared client rate limiter."""
    writer.SCHEMAS.clear()
    monkeypatch.setattr(ratelimit, "_shared", {})
    yield
    writer.SCHEMAS.clear()


@pytest.fixture
def bundle_env(monkeypatch: pytest.MonkeyPatch, emulator: Any) -> Any:
    """Point the bundle at the emulator with a metrics secret and a generous client rate limit."""
    monkeypatch.setenv("LEANIX_HOST", emulator.base_url)
    monkeypatch.setenv("LEANIX_API_TOKEN", emulator.api_token)
    monkeypatch.setenv("METRICS_SECRET", METRICS_SECRET)
    monkeypatch.setenv("LEANIX_REQUESTS_PER_MINUTE", "600000")
    reset_runtime()
    return emulator


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's retry sleeps shortened (Retry-After still counts against the retry budget)."""

    async def fast_sleep(seconds: float) -> None:
        await asyncio.sleep(min(seconds, 0.005))

    def client(self: Runtime) -> LeanIXClient:
        return LeanIXClient.from_settings(self.settings, token_source=self.token_source(), sleep=fast_sleep)

    monkeypatch.setattr(Runtime, "client", client)


def azure_function(name: str) -> Any:
    """The user function registered under `name` in the real `function_app`."""
    from function_app import app

    return discover(app).find(name).fn


@pytest.fixture
def push(bundle_env: Any) -> Push:
    """POST a body to the Azure `metrics_push` function; returns (status, JSON body)."""
    fn = azure_function("metrics_push")

    async def call(
        body: bytes | str | list[Any],
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, Any]]:
        raw = json.dumps(body).encode() if isinstance(body, list) else body
        raw = raw.encode() if isinstance(raw, str) else raw
        request = func.HttpRequest(
            method="POST",
            url="http://localhost/api/metrics",
            headers={"content-type": content_type, **(AUTH if headers is None else headers)},
            body=raw,
        )
        response = await fn(req=request)
        return response.status_code, json.loads(response.get_body())

    return call


def inspect(emulator: Any) -> dict[str, Any]:
    """The emulator's `/_emulator/metrics/points` view: writes and stored points per API version."""
    result: dict[str, Any] = httpx.get(f"{emulator.base_url}/_emulator/metrics/points").json()
    return result

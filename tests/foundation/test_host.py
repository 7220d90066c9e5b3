"""The local host serves function_app.app's real wiring over HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import azure.functions as func
import httpx
import pytest

from function_app import app
from local.host import (
    TimerScheduler,
    build_host_app,
    discover,
    resolve_app_setting,
    run_timer,
    start_host_in_thread,
)


def test_wiring_comes_from_get_functions_with_the_health_route_anonymous() -> None:
    wiring = discover(app)
    health = next(f for f in wiring.http if f.name == "health")
    assert health.route == "health"
    assert health.methods == ("GET",)
    assert health.auth_level == "ANONYMOUS"
    # Reading twice works (get_functions keeps state between calls).
    assert [f.name for f in discover(app).http] == [f.name for f in wiring.http]


def test_health_function_called_directly_with_an_http_request() -> None:
    health = next(f for f in discover(app).http if f.name == "health")
    req = func.HttpRequest(method="GET", url="/api/health", headers={}, params={}, body=b"")
    response = health.fn(req)
    assert response.status_code == 200
    assert b'"status": "ok"' in response.get_body()


def test_host_serves_routes_under_api_over_real_http() -> None:
    running = start_host_in_thread(build_host_app(app, timers=False))
    try:
        response = httpx.get(f"{running.base_url}/api/health", timeout=5)
        assert response.status_code == 200
        assert response.json()["platform"] == "local"
        assert httpx.post(f"{running.base_url}/api/health", timeout=5).status_code == 405
        assert httpx.get(f"{running.base_url}/health", timeout=5).status_code == 404
    finally:
        running.stop()


def test_app_setting_expressions_resolve_from_environment_then_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOME_SCHEDULE", "0 0 3 * * *")
    assert resolve_app_setting("%SOME_SCHEDULE%") == "0 0 3 * * *"
    assert resolve_app_setting("%LOG_LEVEL%") == "INFO"
    assert resolve_app_setting("0 0 * * * *") == "0 0 * * * *"
    with pytest.raises(KeyError, match="NOT_A_SETTING"):
        resolve_app_setting("%NOT_A_SETTING%")


async def test_timer_functions_get_a_timer_request() -> None:
    calls: list[bool] = []
    timer_app = func.FunctionApp()

    @timer_app.timer_trigger(schedule="%TEST_SCHEDULE%", arg_name="timer")
    def tick(timer: func.TimerRequest) -> None:
        calls.append(timer.past_due)

    (timer,) = discover(timer_app).timers
    assert timer.schedule_expression == "%TEST_SCHEDULE%"
    await run_timer(timer)
    assert calls == [False]


async def test_a_timer_fires_once_per_due_time_even_when_the_wall_clock_lags_the_sleep() -> None:
    fired: list[datetime] = []
    timer_app = func.FunctionApp()
    wall = [datetime(2026, 1, 1, 2, 29, 0, tzinfo=UTC)]

    @timer_app.timer_trigger(schedule="0 30 2 * * *", arg_name="timer")
    def nightly(timer: func.TimerRequest) -> None:
        fired.append(wall[0])

    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise asyncio.CancelledError  # stop the scheduler loop after two periods
        # The sleep ends 20 ms early by the wall clock (NTP slewing, clock granularity).
        wall[0] += timedelta(seconds=seconds) - timedelta(milliseconds=20)

    scheduler = TimerScheduler(discover(timer_app).timers, now=lambda: wall[0], sleep=sleep)
    (job,) = scheduler._jobs
    with pytest.raises(asyncio.CancelledError):
        await scheduler._loop(*job)
    assert len(fired) == 2
    assert sleeps[1] > 86_000  # the second wait is for the next night, not a re-fire 20 ms later


async def test_invoke_summary_never_shows_a_secret_from_an_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import function_app
    from local.invoke import invoke_function
    from shared.logging import register_secret

    secret = "LXT_invoke-summary-secret-0123456789"
    register_secret(secret)
    failing_app = func.FunctionApp()

    @failing_app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer")
    def leaky(timer: func.TimerRequest) -> None:
        raise ValueError(f"unexpected answer {{'raw': '{secret}'}}")

    monkeypatch.setattr(function_app, "app", failing_app)
    summary = await invoke_function("leaky")
    assert summary["ok"] is False
    assert "ValueError" in summary["error"]
    assert secret not in summary["error"]

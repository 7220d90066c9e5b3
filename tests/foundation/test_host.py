"""The local host serves function_app.app's real wiring over HTTP."""

from __future__ import annotations

import azure.functions as func
import httpx
import pytest

from function_app import app
from local.host import build_host_app, discover, resolve_app_setting, run_timer, start_host_in_thread


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

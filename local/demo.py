"""`make run`: start the LeanIX emulator and the local host, run each function's scenario, print a report.

Everything runs on this machine: the emulator (seed `demo`) on a free loopback port, the local
platform in a temporary folder, and the local host serving `function_app.app`. Each scenario is an
async function taking the `DemoContext` and returning the lines it reports; it raises on failure.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from local.emulator import EmulatorConfig, RunningEmulator, start_in_thread
from local.host import RunningHost, build_host_app, start_host_in_thread
from shared.leanix import LeanIXClient
from shared.logging import register_secret, setup_logging
from shared.platform import Platform, build_platform
from shared.runtime import Runtime, reset_runtime
from shared.settings import Settings, get_settings


@dataclass
class DemoContext:
    emulator: RunningEmulator
    host: RunningHost
    settings: Settings
    platform: Platform

    def client(self) -> LeanIXClient:
        """A client for the emulator, reading the token through the secret store as the functions do."""
        return Runtime(self.settings, self.platform).client()


Scenario = Callable[[DemoContext], Awaitable[list[str]]]


async def emulator_scenario(ctx: DemoContext) -> list[str]:
    """The emulator answers like a workspace: token exchange and a page of fact sheets."""
    async with ctx.client() as client:
        token = await client.mtm.exchange_token(ctx.emulator.api_token)
        page = await client.graphql.execute(
            'query { allFactSheets(first: 5, filter: {facetFilters: [{facetKey: "FactSheetTypes", '
            'keys: ["Application"]}]}) { totalCount edges { node { id name } } } }'
        )
    connection = page["allFactSheets"]
    names = ", ".join(edge["node"]["name"] for edge in connection["edges"])
    return [
        f"token exchange: bearer issued, valid {token.expires_in} s",
        f"GraphQL: {connection['totalCount']} Applications; first page: {names}",
    ]


# Each function's scenario: a module in local/ with `TITLE` and `async def scenario(ctx) -> list[str]`.
SCENARIO_MODULES = (
    "local.demo_token_rotation",
    "local.demo_webhook",
    "local.demo_metrics",
    "local.demo_ldif_sync",
)


def scenarios() -> list[tuple[str, Scenario]]:
    """The demo's scenarios, in order: the emulator first, then each function's."""
    found: list[tuple[str, Scenario]] = [("LeanIX emulator", emulator_scenario)]
    for name in SCENARIO_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            print(f"(scenario {name} is not built yet)")
            continue
        found.append((module.TITLE, module.scenario))
    return found


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    reset_runtime()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_runtime()


def run_demo() -> int:
    """Run every scenario; print a readable report; 0 when all passed."""
    emulator = start_in_thread(EmulatorConfig(seed="demo", webhook_retry_interval_seconds=1.0))
    register_secret(emulator.api_token)
    print(f"LeanIX emulator listening on {emulator.base_url} (workspace {emulator.workspace_id})")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="leanix-functions-demo-") as data_dir:
        env = {
            "PLATFORM": "local",
            "LEANIX_HOST": emulator.base_url,
            "LEANIX_API_TOKEN": emulator.api_token,
            "LOCAL_DATA_DIR": data_dir,
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            # The webhook route refuses deliveries without a secret; the demo subscription sends this one.
            "WEBHOOK_SECRET": os.urandom(18).hex(),
            "METRICS_SECRET": os.environ.get("METRICS_SECRET", "demo-metrics-secret"),
        }
        with _environment(env):
            settings = get_settings()
            setup_logging(settings.log_level, settings.secret_values())
            from function_app import app

            host = start_host_in_thread(build_host_app(app, settings=settings))
            print(f"local host serving function_app on {host.base_url}/api/")
            ctx = DemoContext(emulator, host, settings, build_platform(settings))
            try:
                for title, scenario in scenarios():
                    failures += _run_scenario(title, scenario, ctx)
            finally:
                host.stop()
                emulator.stop()
    print()
    print("demo finished: all scenarios passed" if not failures else f"demo finished: {failures} failed")
    return 0 if not failures else 1


def _run_scenario(title: str, scenario: Scenario, ctx: DemoContext) -> int:
    print(f"\n== {title}")
    started = time.monotonic()
    try:
        lines = asyncio.run(scenario(ctx))
    except Exception as exc:
        print(f"   FAILED: {type(exc).__name__}: {exc}")
        if os.environ.get("DEMO_TRACEBACK"):
            traceback.print_exc()
        return 1
    for line in lines:
        print(f"   {line}")
    print(f"   ok ({time.monotonic() - started:.1f} s)")
    return 0

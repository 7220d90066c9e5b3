"""Fixtures for the LDIF sync: the emulator wired in, the sample export in the local blob store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.emulator import RunningEmulator
from shared.leanix import LeanIXClient, RetryPolicy, StaticTokenSource
from shared.runtime import get_runtime, reset_runtime

SAMPLE = Path(__file__).resolve().parents[2] / "functions" / "ldif_sync" / "sample"
SAMPLE_CSV = (SAMPLE / "cmdb_export.csv").read_bytes()
EXPORT_KEY = "exports/cmdb_export.csv"


@pytest.fixture
def ldif_env(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulator]:
    """Settings pointing at the emulator, runs that finish at once, fast polling."""
    emulator.state.update_config(run_step_delay_seconds=0.0)
    monkeypatch.setenv("LEANIX_HOST", emulator.base_url)
    monkeypatch.setenv("LEANIX_API_TOKEN", emulator.api_token)
    monkeypatch.setenv("LDIF_POLL_INITIAL_SECONDS", "0.01")
    monkeypatch.setenv("LDIF_POLL_MAX_SECONDS", "0.02")
    reset_runtime()
    yield emulator
    reset_runtime()


async def put_export(data: bytes = SAMPLE_CSV, key: str = EXPORT_KEY) -> None:
    await get_runtime().platform.blobs.put(key, data)


def emulator_runs(emulator: RunningEmulator) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = httpx.get(f"{emulator.base_url}/_emulator/runs").json()
    return runs


class FakeSleep:
    """Records requested delays and yields to the loop without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        import asyncio

        self.delays.append(seconds)
        await asyncio.sleep(0)


def fast_client(emulator: RunningEmulator, sleep: Callable[[float], Awaitable[None]]) -> LeanIXClient:
    """A client on the emulator whose retries and polling use `sleep` (no real waiting)."""
    return LeanIXClient(
        emulator.base_url,
        StaticTokenSource(emulator.api_token),
        sleep=sleep,
        retry_policy=RetryPolicy(max_retries=5, budget_seconds=600),
    )

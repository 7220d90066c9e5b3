"""Under a low rate limit and injected faults, every point ends stored or dead-lettered, none twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.runtime import get_runtime, reset_runtime
from tests.metrics.conftest import Push, inspect

V2_POINTS = r"^/services/metrics/v2/schemas/[^/]+/points$"
V1_POINTS = r"^/services/metrics/v1/points$"


def inject_faults(emulator: Any, path: str) -> None:
    emulator.add_fault(
        kind="status", status=429, retry_after=1, path=path, method="POST", probability=0.05, seed=1
    )
    emulator.add_fault(kind="status", status=429, path=path, method="POST", probability=0.05, seed=2)
    emulator.add_fault(kind="status", status=503, path=path, method="POST", probability=0.05, seed=3)
    emulator.add_fault(kind="drop", path=path, method="POST", probability=0.03, seed=4)


def batch(size: int, measurement: str) -> list[dict[str, Any]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        {
            "measurement": measurement,
            "time": (start + timedelta(minutes=i)).isoformat(),
            "tags": {"shard": str(i % 7)},
            "fields": {"value": i},
        }
        for i in range(size)
    ]


async def dead_letter_entries(body: dict[str, Any]) -> list[dict[str, Any]]:
    document = json.loads(await get_runtime().platform.blobs.get(body["deadLetter"]))
    entries: list[dict[str, Any]] = document["entries"]
    return entries


async def test_2000_points_under_rate_limit_and_faults_are_stored_or_dead_lettered(
    push: Push, bundle_env: Any, fast_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_CONCURRENCY", "32")
    monkeypatch.setenv("LEANIX_MAX_RETRIES", "3")
    reset_runtime()
    bundle_env.state.update_config(rate_limit_per_minute=1500)
    inject_faults(bundle_env, V2_POINTS)
    points = batch(2000, "load")

    status, body = await push(points)

    results = body["results"]
    accepted = {r["index"] for r in results if r["status"] == "accepted"}
    dead = {r["index"] for r in results if r["status"] == "dead_lettered"}
    assert status == 207
    assert len(accepted) + len(dead) == 2000
    assert body["rejected"] == 0
    assert dead
    assert len(accepted) > 1000
    stored = inspect(bundle_env)["v2"]["schemas"][0]["points"]
    stored_times = [p["timestamp"] for p in stored]
    assert len(stored_times) == len(set(stored_times)) == len(accepted)  # none stored twice
    expected = {
        datetime.fromisoformat(points[i]["time"]).strftime("%Y-%m-%dT%H:%M:00.000Z") for i in accepted
    }
    assert set(stored_times) == expected
    entries = await dead_letter_entries(body)
    assert {e["index"] for e in entries} == dead
    assert all(e["error"] for e in entries)
    reasons = {r["reason"].split(":")[0] for r in results if r["status"] == "dead_lettered"}
    assert reasons <= {"RateLimitError", "InternalServerError", "APIConnectionError", "APIStatusError"}

    # The dead letter holds pushable points: re-sent without faults, everything is stored once.
    bundle_env.clear_faults()
    bundle_env.state.update_config(rate_limit_per_minute=600000)
    status, body = await push([e["point"] for e in entries])
    assert status == 200
    assert inspect(bundle_env)["v2"]["stored"] == 2000


async def test_v1_under_faults_never_double_writes_and_a_resend_completes(
    push: Push, bundle_env: Any, fast_retries: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_API_VERSION", "v1")
    monkeypatch.setenv("METRICS_DEAD_LETTER", "queue")
    reset_runtime()
    inject_faults(bundle_env, V1_POINTS)
    points = batch(200, "v1load")

    status, body = await push(points)
    v1 = inspect(bundle_env)["v1"]
    assert status == 207
    assert body["deadLettered"] > 0
    assert body["accepted"] + body["deadLettered"] == 200
    assert v1["writes"] == v1["stored"] == body["accepted"]  # a non-idempotent write is never repeated
    queued = await get_runtime().platform.queue.receive("metrics-dead-letter", 200, 30.0)
    assert len(queued) == body["deadLettered"] == len({json.loads(m.body)["index"] for m in queued})

    bundle_env.clear_faults()
    status, body = await push(points)
    v1 = inspect(bundle_env)["v1"]
    assert status == 200
    assert body["duplicatesSkipped"] == 200 - len(queued)
    assert v1["writes"] == v1["stored"] == 200

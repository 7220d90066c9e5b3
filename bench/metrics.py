"""Metrics ingester throughput: 10,000 pushed points into the emulator at a scaled per-user limit.

Run: `.venv/bin/python bench/metrics.py [--points 10000] [--sequential-sample 200]`.

The emulator runs in its own process (so it does not share the GIL with the ingester) with its limit
at 1800/min x 10 = 18,000/min and 20 ms added latency on the v2 points route; the client's limiter is
set to the same 18,000/min. Prints JSON lines: points/s against the configured limit (goal >= 0.9),
against sequential one-by-one posting (measured on a sample and extrapolated, as the line says), the
429s the emulator answered, and the peak traced memory of a second, identical push (tracemalloc
slows the process, so throughput is measured without it). Bounded: about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without PYTHONPATH
from functions.metrics_ingester.core import IngestConfig, PushRequest, handle_push
from functions.metrics_ingester.writer import SCHEMAS
from shared.leanix import LeanIXClient, RateLimiter, StaticTokenSource
from shared.platform import build_platform
from shared.settings import load_settings

LIMIT_PER_MINUTE = 1800 * 10
LATENCY_SECONDS = 0.02
SECRET = "bench-secret"  # noqa: S105 - a throwaway secret for this process


def start_emulator() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    command = [sys.executable, "-m", "functions", "emulator", "--rate-limit", str(LIMIT_PER_MINUTE)]
    process = subprocess.Popen(
        command, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    ready = json.loads(process.stdout.readline())
    return process, ready


def batch(count: int, measurement: str) -> bytes:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    points = [
        {"measurement": measurement, "time": (start + timedelta(minutes=i)).isoformat(), "fields": {"v": i}}
        for i in range(count)
    ]
    return json.dumps(points).encode()


async def push(base_url: str, token: str, body: bytes, concurrency: int, data_dir: str) -> dict[str, Any]:
    """One push through the ingester's core with a fresh client limited to the configured rate."""
    SCHEMAS.clear()
    settings = load_settings(LOCAL_DATA_DIR=data_dir)
    limiter = RateLimiter(LIMIT_PER_MINUTE)

    def client() -> LeanIXClient:
        return LeanIXClient(base_url, StaticTokenSource(token), rate_limiter=limiter)

    started = time.perf_counter()
    answer = await handle_push(
        PushRequest({"authorization": f"Bearer {SECRET}"}, body, "application/json"),
        secret=load_settings(METRICS_SECRET=SECRET).metrics_secret,
        config=IngestConfig(concurrency=concurrency),
        client_factory=client,
        platform=build_platform(settings),
        now=datetime.now(UTC),
    )
    elapsed = time.perf_counter() - started
    return {"status": answer.status, "accepted": answer.body["accepted"], "seconds": elapsed}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--sequential-sample", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    process, ready = start_emulator()
    base, token = ready["base_url"], ready["api_token"]
    try:
        with httpx.Client(base_url=base) as control:
            control.post(  # noqa: ASYNC212 - one set-up call before the measurement
                "/_emulator/faults",
                json={
                    "kind": "latency",
                    "latency_seconds": LATENCY_SECONDS,
                    "path": r"^/services/metrics/v2/schemas/[^/]+/points$",
                    "probability": 1.0,
                },
            ).raise_for_status()
            with tempfile.TemporaryDirectory() as data_dir:
                bounded = await push(base, token, batch(args.points, "bench"), args.concurrency, data_dir)
                sequential = await push(base, token, batch(args.sequential_sample, "bench_seq"), 1, data_dir)
                stats = control.get("/_emulator/stats").json()  # noqa: ASYNC212
                tracemalloc.start()
                await push(base, token, batch(args.points, "bench_mem"), args.concurrency, data_dir)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
    finally:
        process.terminate()
        process.wait(timeout=10)

    rate = bounded["accepted"] / bounded["seconds"]
    limit_rate = LIMIT_PER_MINUTE / 60.0
    seq_rate = sequential["accepted"] / sequential["seconds"]
    print(json.dumps({
        "bench": "metrics_push", "points": bounded["accepted"], "status": bounded["status"],
        "seconds": round(bounded["seconds"], 2), "points_per_s": round(rate, 1),
        "limit_per_s": limit_rate, "ratio_vs_limit": round(rate / limit_rate, 3),
        "concurrency": args.concurrency, "added_latency_ms": LATENCY_SECONDS * 1000,
    }))  # fmt: skip
    print(json.dumps({
        "bench": "metrics_sequential", "sample_points": sequential["accepted"],
        "points_per_s": round(seq_rate, 1),
        "extrapolated_seconds_for_batch": round(args.points / seq_rate, 1),
        "ratio_bounded_vs_sequential": round(rate / seq_rate, 2),
        "note": "sequential one-by-one measured on the sample and extrapolated to the batch size",
    }))  # fmt: skip
    print(json.dumps({"bench": "metrics_emulator", "requests": stats.get("requests"),
                      "rate_limited_429": stats.get("rate_limited")}))  # fmt: skip
    print(
        json.dumps(
            {"bench": "metrics_memory", "points": args.points, "peak_traced_mib": round(peak / 2**20, 1)}
        )
    )


if __name__ == "__main__":
    asyncio.run(main())

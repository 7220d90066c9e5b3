"""Benchmark: webhook acknowledgement (local host vs a bare 202 endpoint) and end-to-end TIME tagging.

Run: `.venv/bin/python bench/webhook.py [--deliveries N] [--changes M]`. Prints JSON lines.
- ack: N deliveries (8 concurrent) to `/api/leanix/webhook` on the local host, and the same to a
  bare Starlette route answering 202 on the same machine: deliveries/s, p50/p99 latency, ratio.
- end_to_end: M fit changes in the emulator, delivered by real PUSH to the local host, processed by
  its queue pump; events/s from the first change to the last TIME tag written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from local.emulator import EmulatorConfig, start_in_thread  # noqa: E402
from local.host import build_host_app, start_host_in_thread  # noqa: E402
from shared.runtime import get_runtime, reset_runtime  # noqa: E402

SECRET = os.urandom(16).hex()
CONCURRENCY = 8


async def _hammer(url: str, bodies: list[bytes]) -> dict[str, float]:
    latencies: list[float] = []
    headers = {"Authorization": SECRET, "Content-Type": "application/json"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    async with httpx.AsyncClient(timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                response = await client.post(url, content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                assert response.status_code == 202, response.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "per_second": round(len(bodies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
    }


def _bare_app() -> Starlette:
    async def accept(request: Request) -> Response:
        await request.body()
        return JSONResponse({"status": "accepted"}, status_code=202)

    return Starlette(routes=[Route("/hook", accept, methods=["POST"])])


async def _end_to_end(emulator: object, changes: int) -> dict[str, float]:
    state = emulator.state  # type: ignore[attr-defined]
    user = state.create_technical_user("bench-architect", "ADMIN")
    apps = [fs for fs in state.workspace.list_fact_sheets("Application") if fs.status == "ACTIVE"]
    functional = ("unreasonable", "perfect")
    started = time.perf_counter()
    for index in range(changes):
        app = apps[index % len(apps)]
        fit = functional[(index // len(apps)) % 2]
        state.workspace.apply_patches(
            app.id,
            [
                {"op": "replace", "path": "/functionalSuitability", "value": fit},
                {"op": "replace", "path": "/technicalSuitability", "value": "adequate"},
            ],
            user_id=user.id,
        )
    group = state.workspace.tag_group_by_name("TIME")
    touched = apps[: min(changes, len(apps))]

    def done() -> bool:
        sub = next(iter(state.webhooks.subscriptions.values()))
        if sub.pending:
            return False
        for fs in touched:
            names = [
                state.workspace.tags[t].name
                for t in fs.tag_ids
                if state.workspace.tags[t].tag_group_id == group.id
            ]
            fit = fs.fields.get("functionalSuitability")
            if names != (["Invest"] if fit == "perfect" else ["Tolerate"]):
                return False
        return True

    while not done():  # noqa: ASYNC110 (the state changes on other threads: poll it)
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    return {"events": changes, "seconds": round(elapsed, 2), "events_per_second": round(changes / elapsed, 1)}


async def _main(deliveries: int, changes: int) -> None:
    emulator = start_in_thread(EmulatorConfig(seed="demo", webhook_retry_interval_seconds=1.0))
    emulator.state.update_config(rate_limit_per_minute=10**7)
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.update(
            {
                "PLATFORM": "local",
                "LEANIX_HOST": emulator.base_url,
                "LEANIX_API_TOKEN": emulator.api_token,
                "LOCAL_DATA_DIR": data_dir,
                "LOG_LEVEL": "WARNING",
                "WEBHOOK_SECRET": SECRET,
                "LEANIX_REQUESTS_PER_MINUTE": str(10**7),
            }
        )
        reset_runtime()
        runtime = get_runtime()
        from function_app import app

        host = start_host_in_thread(build_host_app(app, timers=False, settings=runtime.settings))
        bare = start_host_in_thread(_bare_app())
        try:
            sample = (ROOT / "tests" / "events" / "webhook_default_fact_sheet_updated.json").read_bytes()
            event = json.loads(sample)
            bodies = [json.dumps(event | {"id": 10_000 + i}).encode() for i in range(deliveries)]
            ours = await _hammer(f"{host.base_url}/api/leanix/webhook", bodies)
            baseline = await _hammer(f"{bare.base_url}/hook", bodies)
            print(
                json.dumps(
                    {
                        "bench": "webhook_ack",
                        "deliveries": deliveries,
                        "local_host": ours,
                        "bare_starlette_202": baseline,
                        "throughput_ratio": round(ours["per_second"] / baseline["per_second"], 3),
                    }
                )
            )
            from functions.webhook_handler.subscription import ensure_subscription, subscription_config

            settings = runtime.settings.model_copy(
                update={"webhook_target_url": f"{host.base_url}/api/leanix/webhook"}
            )
            async with runtime.client() as client:
                await ensure_subscription(client, await subscription_config(settings, runtime.platform))
            print(json.dumps({"bench": "webhook_end_to_end", **await _end_to_end(emulator, changes)}))
        finally:
            host.stop()
            bare.stop()
            emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(_main(args.deliveries, args.changes))


if __name__ == "__main__":
    main()

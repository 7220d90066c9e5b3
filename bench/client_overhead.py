"""Benchmark: what LeanIXClient adds per call over raw httpx, and the import cost of the app.

Run: `.venv/bin/python bench/client_overhead.py [--calls N] [--import-runs K]`. Prints JSON lines.
Both clients talk to the same in-process Starlette app over `httpx.ASGITransport`, so the
difference is the client's own work (rate limiter, auth, retry wrapper, error mapping, JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.leanix import LeanIXClient, RateLimiter, StaticTokenSource  # noqa: E402
from shared.leanix.graphql import GRAPHQL_PATH  # noqa: E402

BENCH_TOKEN = "LXT_bench-token-not-a-secret"  # noqa: S105 (a fixed token for an in-process fake)
QUERY = "{ allFactSheets(first: 1) { edges { node { id } } } }"


async def token(request: Request) -> JSONResponse:
    return JSONResponse({"access_token": "bench.bearer.token", "token_type": "bearer", "expires_in": 3599})


async def graphql(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"data": {"allFactSheets": {"edges": [{"node": {"id": "fs-1"}}]}}})


def build_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/services/mtm/v1/oauth2/token", token, methods=["POST"]),
            Route(GRAPHQL_PATH, graphql, methods=["POST"]),
        ]
    )


async def time_raw(transport: httpx.AsyncBaseTransport, calls: int) -> float:
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        headers = {"Authorization": "Bearer bench.bearer.token"}
        await client.post(GRAPHQL_PATH, json={"query": QUERY}, headers=headers)  # warm up
        started = time.perf_counter()
        for _ in range(calls):
            response = await client.post(
                GRAPHQL_PATH, json={"query": QUERY, "variables": {}}, headers=headers
            )
            response.raise_for_status()
            response.json()
        return (time.perf_counter() - started) / calls


async def time_client(transport: httpx.AsyncBaseTransport, calls: int) -> float:
    limiter = RateLimiter(10_000_000)
    async with LeanIXClient(
        "http://127.0.0.1", StaticTokenSource(BENCH_TOKEN), transport=transport, rate_limiter=limiter
    ) as client:
        await client.graphql.execute(QUERY)  # warm up (includes the one token exchange)
        started = time.perf_counter()
        for _ in range(calls):
            await client.graphql.execute(QUERY)
        return (time.perf_counter() - started) / calls


def import_ms(module: str, runs: int) -> float:
    """Median wall time of `import module` in a fresh interpreter, in milliseconds."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        samples.append(float(out.strip().splitlines()[-1]) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--import-runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5, help="alternating raw/client rounds (median)")
    args = parser.parse_args()

    transport = httpx.ASGITransport(app=build_app())
    # Alternate which side runs first each round, so warm-up and drift favour neither; take medians.
    raw_rounds: list[float] = []
    wrapped_rounds: list[float] = []
    for round_no in range(args.rounds):
        if round_no % 2 == 0:
            raw_rounds.append(asyncio.run(time_raw(transport, args.calls)))
            wrapped_rounds.append(asyncio.run(time_client(transport, args.calls)))
        else:
            wrapped_rounds.append(asyncio.run(time_client(transport, args.calls)))
            raw_rounds.append(asyncio.run(time_raw(transport, args.calls)))
    raw, wrapped = statistics.median(raw_rounds), statistics.median(wrapped_rounds)
    print(
        json.dumps(
            {
                "bench": "client_overhead",
                "calls": args.calls,
                "rounds": args.rounds,
                "raw_httpx_us_per_call": round(raw * 1e6, 1),
                "leanix_client_us_per_call": round(wrapped * 1e6, 1),
                "overhead_us_per_call": round((wrapped - raw) * 1e6, 1),
                "ratio": round(wrapped / raw, 3),
            }
        )
    )

    has_app = (ROOT / "function_app.py").exists()
    target = "function_app" if has_app else "shared.leanix"
    target_ms = import_ms(target, args.import_runs)
    azure_ms = import_ms("azure.functions", args.import_runs)
    line = {
        "bench": "import_time",
        "module": target,
        "module_ms_median": round(target_ms, 1),
        "azure_functions_ms_median": round(azure_ms, 1),
        "ratio": round(target_ms / azure_ms, 3),
        "runs": args.import_runs,
    }
    if not has_app:
        line["note"] = "function_app.py does not exist yet; measured import shared.leanix instead"
    print(json.dumps(line))


if __name__ == "__main__":
    main()

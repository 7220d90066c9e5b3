"""Emulator throughput over real HTTP: GraphQL page queries/s and REST (MTM GET) requests/s.

Run: `.venv/bin/python bench/emulator.py [--requests 400] [--clients 4] [--fact-sheets 5000]`.
Prints one JSON line per measurement. Bounded in count and in time (each run stops at its deadline).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without PYTHONPATH
from local.emulator import EmulatorConfig, start_in_thread

TOKEN_PATH = "/services/mtm/v1/oauth2/token"  # noqa: S105 - a URL path
GRAPHQL_PATH = "/services/pathfinder/v1/graphql"
PAGE_QUERY = (
    "query($first:Int,$after:String){allFactSheets(first:$first,after:$after,factSheetType:Application)"
    "{totalCount pageInfo{hasNextPage endCursor} edges{node{id name rev}}}}"
)


async def _measure(
    name: str,
    total: int,
    clients: int,
    deadline_s: float,
    call: Callable[[httpx.AsyncClient], Awaitable[int]],
) -> dict[str, object]:
    done = 0
    errors = 0
    stop_at = time.perf_counter() + deadline_s

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done, errors
        while done < total and time.perf_counter() < stop_at:
            done += 1
            if await call(client) != 200:
                errors += 1

    limits = httpx.Limits(max_connections=clients)
    started = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "bench": name,
        "requests": done,
        "errors": errors,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(done / elapsed, 1) if elapsed else None,
        "clients": clients,
    }


async def run(requests: int, clients: int, fact_sheets: int, page_size: int, deadline_s: float) -> None:
    running = start_in_thread(EmulatorConfig(seed="demo", rate_limit_per_minute=10_000_000))
    try:
        running.state.bulk_create("Application", fact_sheets)
        base = running.base_url
        basic = base64.b64encode(f"apitoken:{running.api_token}".encode()).decode()
        async with httpx.AsyncClient() as client:
            token = (
                await client.post(
                    base + TOKEN_PATH,
                    data={"grant_type": "client_credentials"},
                    headers={"Authorization": f"Basic {basic}"},
                )
            ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        user_id = running.state.admin.id

        async def graphql_page(client: httpx.AsyncClient) -> int:
            body = {"query": PAGE_QUERY, "variables": {"first": page_size}}
            return (await client.post(base + GRAPHQL_PATH, json=body, headers=headers)).status_code

        async def rest_get(client: httpx.AsyncClient) -> int:
            url = f"{base}/services/mtm/v1/technicalusers/{user_id}"
            return (await client.get(url, headers=headers)).status_code

        for name, call, count in (
            (f"graphql_page_{page_size}", graphql_page, max(1, requests // 4)),
            ("rest_get_technical_user", rest_get, requests),
        ):
            result = await _measure(name, count, clients, deadline_s, call)
            result["fact_sheets"] = len(running.state.workspace.fact_sheets)
            print(json.dumps(result), flush=True)
    finally:
        running.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--fact-sheets", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--deadline-seconds", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.clients, args.fact_sheets, args.page_size, args.deadline_seconds))


if __name__ == "__main__":
    main()

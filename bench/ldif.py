"""Bench: build and submit a 100,000-item LDIF; peak memory growth and time vs a json.dumps baseline.

The emulator runs in a child process (so its parsing is not counted in this process's tracemalloc
peak). The LDIF is streamed into one bytes buffer (`stream_ldif`) from a generator, and submitted
with `test=true` (a dry run: the emulator validates and walks every item without writing 100k
fact sheets). Run: `.venv/bin/python bench/ldif.py [items]`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator

from functions.ldif_sync.config import PROCESSORS_BY_SOURCE
from functions.ldif_sync.core import _build_document
from functions.ldif_sync.ldif import LdifContent, LdifHeader, external_id
from shared.leanix import LeanIXClient, StaticTokenSource

ITEMS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


def generated(count: int) -> Iterator[LdifContent]:
    for n in range(count):
        yield LdifContent(
            type="ITComponent",
            id=external_id("bench", f"ITC-{n:06d}"),
            data={"name": f"Component {n}", "description": f"generated item {n}", "tags": ["Cloud", "Bench"]},
        )


def baseline(count: int) -> float:
    started = time.perf_counter()
    json.dumps({"content": [c.to_dict() for c in generated(count)]})
    return time.perf_counter() - started


async def submit(base_url: str, token: str, document: bytes) -> tuple[str, float]:
    async with LeanIXClient(base_url, StaticTokenSource(token), timeout=300) as client:
        config = json.loads(PROCESSORS_BY_SOURCE["file"].read_bytes())
        config["connectorId"] = "bench"
        await client.integration.upsert_configuration(config)
        started = time.perf_counter()
        run = await client.integration.create_run(document, start=True, test=True)
        final = await client.integration.wait_until_finished(run.id, initial_interval=0.2, max_interval=1.0)
        return final.status or "?", time.perf_counter() - started


def main() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True, cwd=".", env=None
    )
    try:
        assert child.stdout is not None
        base_url, token = child.stdout.readline().split()
        header = LdifHeader(
            connector_type="leanix-functions", connector_id="bench", connector_version="1.0.0"
        )
        base = baseline(ITEMS)
        started = time.perf_counter()
        _build_document(header, generated(ITEMS), False)  # timed without tracemalloc's overhead
        build_seconds = time.perf_counter() - started
        tracemalloc.start()
        built = _build_document(header, generated(ITEMS), False)
        status, run_seconds = asyncio.run(submit(base_url, token, built.document))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"items: {built.items}, LDIF size: {len(built.document) / 1e6:.1f} MB")
        print(f"baseline json.dumps of the same items (as one list): {base:.2f} s")
        print(f"streamed build: {build_seconds:.2f} s ({build_seconds / base:.2f}x baseline)")
        print(f"submit + dry run in the emulator (test=true): {run_seconds:.2f} s, status {status}")
        print(f"peak traced memory growth (build + submit): {peak / 1e6:.1f} MB (goal < 100 MB)")
    finally:
        child.terminate()
        child.wait(timeout=10)


_CHILD = """
import sys, time
from local.emulator import EmulatorConfig, start_in_thread
em = start_in_thread(EmulatorConfig(seed="demo", run_step_delay_seconds=0.0, rate_limit_per_minute=100000))
print(em.base_url, em.api_token, flush=True)
sys.stdin.read() if False else time.sleep(600)
"""

if __name__ == "__main__":
    main()

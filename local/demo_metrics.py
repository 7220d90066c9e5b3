"""Demo: push a batch (one bad point) to the metrics endpoint, pull cloud cost from a recorded sample."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx

from local.demo import DemoContext
from local.host import discover, run_timer
from shared.runtime import reset_runtime

TITLE = "Metrics ingester: push a batch, pull cloud cost"
DEMO_SECRET = "demo-metrics-secret"  # noqa: S105 - the demo's own throwaway secret

BATCH: list[dict[str, Any]] = [
    {
        "measurement": "deployments",
        "time": "2026-03-01T09:15:00Z",
        "tags": {"env": "prod"},
        "fields": {"count": 4},
    },
    {
        "measurement": "deployments",
        "time": "2026-03-01T10:15:00Z",
        "tags": {"env": "prod"},
        "fields": {"count": 2},
    },
    {
        "measurement": "deployments",
        "time": "2026-03-01T11:15:00",
        "fields": {"count": 1},
    },  # no zone: rejected
]


async def scenario(ctx: DemoContext) -> list[str]:
    """Push through the local host over HTTP, run the pull timer once, read the points back."""
    secret = os.environ.get("METRICS_SECRET") or DEMO_SECRET
    url = f"{ctx.host.base_url}/api/metrics"
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(url, json=BATCH, headers={"Authorization": f"Bearer {secret}"})
        refused = await http.post(url, json=BATCH)
    body = answer.json()
    if answer.status_code != 207 or body["accepted"] != 2 or refused.status_code != 401:
        raise RuntimeError(f"push answered {answer.status_code} {body}; without secret {refused.status_code}")
    lines = [
        f"push: HTTP {answer.status_code}, {body['accepted']} accepted, {body['rejected']} rejected "
        f"({body['results'][2]['reason']}); without the secret: HTTP {refused.status_code}",
    ]

    saved = os.environ.get("METRICS_PULL_SOURCES")
    os.environ["METRICS_PULL_SOURCES"] = "recorded"  # no AWS here: replay a recorded Cost Explorer answer
    reset_runtime()
    try:
        from function_app import app

        await run_timer(discover(app).find("metrics_pull"))
    finally:
        if saved is None:
            os.environ.pop("METRICS_PULL_SOURCES", None)
        else:
            os.environ["METRICS_PULL_SOURCES"] = saved
        reset_runtime()

    async with httpx.AsyncClient(timeout=30) as http:
        view = (await http.get(f"{ctx.emulator.base_url}/_emulator/metrics/points")).json()["v2"]
    for schema in view["schemas"]:
        lines.append(f"emulator schema {schema['name']!r}: {schema['stored']} points")
        for point in schema["points"][:3]:
            lines.append("  " + json.dumps(point))
    costs = next((s for s in view["schemas"] if s["name"] == "cloud_costs"), None)
    if costs is None or costs["stored"] != 6:
        raise RuntimeError("the cost pull did not store the 6 recorded points")
    return lines

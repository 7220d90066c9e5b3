"""Metrics: v1 point shape, v2 schema ensured once per client."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from shared.leanix import Point, PointField, PointTag
from shared.leanix.metrics import METRICS_V1_PATH, METRICS_V2_PATH

from .conftest import ClientFactory, FakeLeanIX


async def test_post_point_sends_the_v1_shape(fake: FakeLeanIX, make_client: ClientFactory) -> None:
    sent: list[dict[str, object]] = []
    fake.route("POST", f"{METRICS_V1_PATH}/points")(
        lambda request: sent.append(json.loads(request.content)) or httpx.Response(200, json={"status": "OK"})
    )
    point = Point(
        measurement="cloud_costs",
        workspace_id="ws",
        time=datetime(2026, 3, 1, tzinfo=UTC),
        tags=[PointTag(k="factsheetId", v="fs-1")],
        fields=[PointField(k="eur", v=12.5)],
    )
    async with make_client() as client:
        await client.metrics.post_point(point)
    assert sent == [
        {
            "measurement": "cloud_costs",
            "workspaceId": "ws",
            "time": "2026-03-01T00:00:00.000Z",
            "tags": [{"k": "factsheetId", "v": "fs-1"}],
            "fields": [{"k": "eur", "v": 12.5}],
        }
    ]


def test_point_field_needs_exactly_one_value() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        PointField(k="x", v=1.0, s="one")


async def test_ensure_schema_creates_once_and_caches(fake: FakeLeanIX, make_client: ClientFactory) -> None:
    schemas: list[dict[str, object]] = []
    fake.route("GET", f"{METRICS_V2_PATH}/schemas")(lambda request: httpx.Response(200, json=schemas))

    @fake.route("POST", f"{METRICS_V2_PATH}/schemas")
    def create(request: httpx.Request) -> httpx.Response:
        schema = json.loads(request.content) | {"uuid": "sch-1"}
        schemas.append(schema)
        return httpx.Response(201, json=schema)

    async with make_client() as client:
        first = await client.metrics.ensure_schema("cloud_costs", ["eur"], ["factSheetId"])
        second = await client.metrics.ensure_schema("cloud_costs", ["eur"], ["factSheetId"])
    assert first.key == second.key == "sch-1"
    assert len(fake.calls("POST", f"{METRICS_V2_PATH}/schemas")) == 1
    assert len(fake.calls("GET", f"{METRICS_V2_PATH}/schemas")) == 1
    assert {(a["name"], a["type"]) for a in schemas[0]["attributes"]} == {  # type: ignore[index, union-attr]
        ("eur", "metric"),
        ("factSheetId", "dimension"),
    }

"""Metrics v1 and v2 of the emulator, over plain httpx (in-process ASGI)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.emulator.services_support import admin_client
from tests.fixtures.emulator import AsgiEmulator

V1 = "/services/metrics/v1"
V2 = "/services/metrics/v2"


def v1_point(workspace_id: str, value: float, **overrides: Any) -> dict[str, Any]:
    point: dict[str, Any] = {
        "measurement": "cloud_costs",
        "workspaceId": workspace_id,
        "time": "2026-03-01T00:00:00Z",
        "tags": [{"k": "factsheetId", "v": "fs-1"}],
        "fields": [{"k": "eur", "v": value}],
    }
    point.update(overrides)
    return point


async def inspect(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/_emulator/metrics/points")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_v1_point_is_stored_and_returned_in_series(emulator_asgi: AsgiEmulator) -> None:
    async with admin_client(emulator_asgi) as client:
        response = await client.post(f"{V1}/points", json=v1_point(emulator_asgi.workspace_id, 12.5))
        assert response.status_code == 200
        assert response.json()["status"] == "OK"
        assert response.json()["data"]["fields"] == [{"k": "eur", "v": 12.5}]
        series = await client.get(f"{V1}/series", params={"q": "SELECT * FROM cloud_costs"})
    assert series.status_code == 200
    data = series.json()["data"]
    assert data["name"] == "cloud_costs"
    assert data["fields"] == ["factsheetId", "eur"]
    assert data["values"] == [{"t": "2026-03-01T00:00:00.000Z", "v": ["fs-1", 12.5]}]


async def test_v1_same_measurement_tags_and_time_overwrites(emulator_asgi: AsgiEmulator) -> None:
    ws = emulator_asgi.workspace_id
    async with admin_client(emulator_asgi) as client:
        for value in (1.0, 2.0):
            assert (await client.post(f"{V1}/points", json=v1_point(ws, value))).status_code == 200
        # Same instant written differently is the same point.
        same = v1_point(ws, 3.0, time="2026-03-01T00:00:00.000+00:00")
        assert (await client.post(f"{V1}/points", json=same)).status_code == 200
        other_tag = v1_point(ws, 4.0, tags=[{"k": "factsheetId", "v": "fs-2"}])
        assert (await client.post(f"{V1}/points", json=other_tag)).status_code == 200
        counts = (await inspect(client))["v1"]
    assert counts["writes"] == 4
    assert counts["stored"] == 2
    values = sorted(p["fields"][0]["v"] for p in counts["points"])
    assert values == [3.0, 4.0]


async def test_v1_invalid_points_are_rejected_with_clear_messages(emulator_asgi: AsgiEmulator) -> None:
    ws = emulator_asgi.workspace_id
    cases = [
        (v1_point(ws, 1.0, fields=[{"k": "eur", "v": 1.0, "s": "x"}]), "not both"),
        (v1_point(ws, 1.0, fields=[]), "fields"),
        (v1_point(ws, 1.0, measurement=""), "measurement"),
        (v1_point(ws, 1.0, time="yesterday"), "time"),
        (v1_point(ws, 1.0, tags=[{"k": "a"}]), "tags[0].v"),
    ]
    async with admin_client(emulator_asgi) as client:
        for body, fragment in cases:
            response = await client.post(f"{V1}/points", json=body)
            assert response.status_code == 400, body
            assert response.json()["status"] == "ERROR"
            assert fragment in response.json()["message"]
        malformed = await client.post(
            f"{V1}/points", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert malformed.status_code == 400
        foreign = await client.post(f"{V1}/points", json=v1_point("another-workspace", 1.0))
        assert foreign.status_code == 403
        assert (await inspect(client))["v1"]["writes"] == 0


async def test_metrics_require_authentication(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        response = await client.post(f"{V1}/points", json=v1_point(emulator_asgi.workspace_id, 1.0))
    assert response.status_code == 401


async def create_schema(client: httpx.AsyncClient, name: str = "costs") -> dict[str, Any]:
    response = await client.post(
        f"{V2}/schemas",
        json={
            "name": name,
            "description": "daily cost",
            "attributes": [{"name": "factSheetId", "type": "dimension"}, {"name": "eur", "type": "metric"}],
        },
    )
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


async def test_v2_schema_create_get_and_duplicate_name_conflict(emulator_asgi: AsgiEmulator) -> None:
    async with admin_client(emulator_asgi) as client:
        schema = await create_schema(client)
        assert schema["uuid"]
        fetched = await client.get(f"{V2}/schemas/{schema['uuid']}")
        assert fetched.json()["attributes"] == schema["attributes"]
        listed = await client.get(f"{V2}/schemas", params={"name": "costs"})
        assert [s["uuid"] for s in listed.json()] == [schema["uuid"]]
        duplicate = await client.post(
            f"{V2}/schemas", json={"name": "costs", "attributes": [{"name": "x", "type": "metric"}]}
        )
        assert duplicate.status_code == 409
        assert schema["uuid"] in duplicate.json()["message"]
        missing = await client.get(f"{V2}/schemas/nope")
        assert missing.status_code == 404


async def test_v2_point_at_same_timestamp_and_dimensions_overwrites(emulator_asgi: AsgiEmulator) -> None:
    async with admin_client(emulator_asgi) as client:
        schema = await create_schema(client)
        points_path = f"{V2}/schemas/{schema['uuid']}/points"
        for value in (10, 11):
            point = {"timestamp": "2026-03-01T00:00:00Z", "factSheetId": "fs-1", "eur": value}
            assert (await client.post(points_path, json=point)).status_code == 200
        same_instant = {"timestamp": "2026-03-01T00:00:00.000Z", "factSheetId": "fs-1", "eur": 12}
        assert (await client.post(points_path, json=same_instant)).status_code == 200
        other_dimension = {"timestamp": "2026-03-01T00:00:00Z", "factSheetId": "fs-2", "eur": 5}
        assert (await client.post(points_path, json=other_dimension)).status_code == 200
        stored = (await client.get(points_path)).json()
        counts = (await inspect(client))["v2"]
    assert counts["writes"] == 4
    assert counts["stored"] == 2
    assert sorted((p["factSheetId"], p["eur"]) for p in stored) == [("fs-1", 12), ("fs-2", 5)]


async def test_v2_point_with_unknown_attribute_or_wrong_type_is_400(emulator_asgi: AsgiEmulator) -> None:
    async with admin_client(emulator_asgi) as client:
        schema = await create_schema(client)
        points_path = f"{V2}/schemas/{schema['uuid']}/points"
        bad = [
            {"timestamp": "2026-03-01T00:00:00Z", "eur": 1, "colour": "red"},
            {"timestamp": "2026-03-01T00:00:00Z", "eur": "1"},
            {"timestamp": "2026-03-01T00:00:00Z", "eur": 1, "factSheetId": 7},
            {"eur": 1},
            {"timestamp": "2026-03-01T00:00:00Z", "factSheetId": "fs-1"},
        ]
        for body in bad:
            response = await client.post(points_path, json=body)
            assert response.status_code == 400, body
        assert (await inspect(client))["v2"]["stored"] == 0


async def test_v2_schema_can_be_extended_but_types_never_change(emulator_asgi: AsgiEmulator) -> None:
    async with admin_client(emulator_asgi) as client:
        schema = await create_schema(client)
        path = f"{V2}/schemas/{schema['uuid']}"
        extended = await client.patch(path, json={"attributes": [{"name": "usd", "type": "metric"}]})
        assert extended.status_code == 200
        assert {"name": "usd", "type": "metric"} in extended.json()["attributes"]
        assert {"name": "eur", "type": "metric"} in extended.json()["attributes"]
        retyped = await client.put(path, json={"attributes": [{"name": "eur", "type": "dimension"}]})
        assert retyped.status_code == 400
        point = {"timestamp": "2026-03-01T00:00:00Z", "usd": 2.5}
        assert (await client.post(f"{path}/points", json=point)).status_code == 200

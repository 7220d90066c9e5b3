"""The emulated SAP LeanIX Metrics API: v1 points/series and v2 schemas/points (leanix-api.md §5).

Storage semantics (what makes re-runs idempotent):
- v1 behaves like the InfluxDB behind it: a point is identified by workspace, measurement, tag set and
  time; writing the same identity again overwrites its fields (merged field by field).
- v2 "creates or overwrites a point at the given timestamp": identity = timestamp + the values of all
  dimension attributes. Timestamps are normalised to UTC milliseconds, so `...00Z` and `...00.000Z`
  are the same point.
Choices where the sources are silent (see the report): creating a v2 schema whose name exists answers 409
(the message names the existing uuid); `PUT`/`PATCH /schemas/{uuid}` extends a schema (adds attributes,
never changes or removes one); v2 list endpoints answer plain JSON arrays.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from local.emulator.service_http import (
    ApiError,
    caller,
    handles_api_errors,
    iso_millis,
    ok_envelope,
    parse_timestamp,
    read_json,
    read_json_object,
    utc_now,
)

V1 = "/services/metrics/v1"
V2 = "/services/metrics/v2"
_NAME_MAX = 255
_SELECT = re.compile(r"^\s*select\s+\*\s+from\s+\"?([^\s\";]+)\"?\s*(?:;\s*)?$", re.IGNORECASE)

V1Key = tuple[str, str, tuple[tuple[str, str], ...], str]
V2Key = tuple[str, tuple[str | None, ...]]


@dataclass
class V2Schema:
    """One v2 schema: its attributes (name -> "metric" | "dimension") and its points by identity."""

    uuid: str
    name: str
    description: str
    attributes: dict[str, str]
    created_at: str
    points: dict[V2Key, dict[str, Any]] = field(default_factory=dict)
    writes: int = 0

    def as_json(self) -> dict[str, Any]:
        """The schema as the API returns it."""
        return {
            "uuid": self.uuid,
            "name": self.name,
            "description": self.description,
            "attributes": [{"name": name, "type": kind} for name, kind in self.attributes.items()],
            "createdAt": self.created_at,
        }

    def dimensions(self) -> list[str]:
        """Dimension attribute names in declaration order (they form a point's identity)."""
        return [name for name, kind in self.attributes.items() if kind == "dimension"]


@dataclass
class MetricsState:
    """Everything the Metrics API stores (per emulator; `reset` drops it)."""

    v1_points: dict[V1Key, dict[str, Any]] = field(default_factory=dict)
    v1_writes: int = 0
    schemas: dict[str, V2Schema] = field(default_factory=dict)


def metrics_state(emulator: Any) -> MetricsState:
    """The emulator's metrics slot, created on first use."""
    state = getattr(emulator, "metrics", None)
    if not isinstance(state, MetricsState):
        state = MetricsState()
        emulator.metrics = state
    return state


# ---------------------------------------------------------------------------------------------------
# validation


def _require_str(value: Any, name: str, max_len: int = _NAME_MAX) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"'{name}' is required and must be a non-empty string.", name)
    if len(value) > max_len:
        raise ApiError(400, f"'{name}' must be at most {max_len} characters.", name)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_v1_point(body: Any, workspace_id: str) -> dict[str, Any]:
    """Validate a §5.1 `Point` and return its normalised form; raises `ApiError` (400/403)."""
    if not isinstance(body, dict):
        raise ApiError(400, "A point must be a JSON object {measurement, workspaceId, time, tags, fields}.")
    unknown = sorted(set(body) - {"measurement", "workspaceId", "time", "tags", "fields"})
    if unknown:
        raise ApiError(400, f"Unknown point properties: {', '.join(unknown)}.", unknown[0])
    measurement = _require_str(body.get("measurement"), "measurement")
    ws = body.get("workspaceId", workspace_id)
    ws = _require_str(ws, "workspaceId")
    if ws not in (workspace_id, "shared"):
        raise ApiError(
            403, "'workspaceId' must be the workspace of the access token or 'shared'.", "workspaceId"
        )
    moment = utc_now() if body.get("time") is None else parse_timestamp(body.get("time"), "time")
    tags_in = body.get("tags", [])
    if tags_in is None:
        tags_in = []
    if not isinstance(tags_in, list):
        raise ApiError(400, "'tags' must be a list of {k, v} objects.", "tags")
    tags: dict[str, str] = {}
    for index, tag in enumerate(tags_in):
        if not isinstance(tag, dict) or set(tag) - {"k", "v"}:
            raise ApiError(400, f"tags[{index}] must be an object {{k, v}}.", "tags")
        key = _require_str(tag.get("k"), f"tags[{index}].k")
        value = tag.get("v")
        if not isinstance(value, str):
            raise ApiError(400, f"tags[{index}].v must be a string.", "tags")
        tags[key] = value
    fields_in = body.get("fields")
    if not isinstance(fields_in, list) or not fields_in:
        raise ApiError(400, "'fields' is required: a non-empty list of {k, v} or {k, s} objects.", "fields")
    fields: dict[str, float | str] = {}
    for index, item in enumerate(fields_in):
        if not isinstance(item, dict) or set(item) - {"k", "v", "s"}:
            raise ApiError(400, f"fields[{index}] must be an object {{k, v}} or {{k, s}}.", "fields")
        key = _require_str(item.get("k"), f"fields[{index}].k")
        number, text = item.get("v"), item.get("s")
        if number is not None and text is not None:
            raise ApiError(
                400, f"fields[{index}]: use either 'v' (number) or 's' (string), not both.", "fields"
            )
        if number is not None:
            if not _is_number(number):
                raise ApiError(400, f"fields[{index}].v must be a finite number.", "fields")
            fields[key] = float(number)
        elif text is not None:
            if not isinstance(text, str):
                raise ApiError(400, f"fields[{index}].s must be a string.", "fields")
            fields[key] = text
        else:
            raise ApiError(400, f"fields[{index}] needs a value: 'v' (number) or 's' (string).", "fields")
    return {
        "measurement": measurement,
        "workspaceId": ws,
        "time": iso_millis(moment),
        "tags": tags,
        "fields": fields,
    }


def _v1_wire(point: dict[str, Any]) -> dict[str, Any]:
    fields = [
        {"k": k, "v": v} if isinstance(v, float) else {"k": k, "s": v} for k, v in point["fields"].items()
    ]
    return {
        "measurement": point["measurement"],
        "workspaceId": point["workspaceId"],
        "time": point["time"],
        "tags": [{"k": k, "v": v} for k, v in point["tags"].items()],
        "fields": fields,
    }


def store_v1_point(state: MetricsState, point: dict[str, Any]) -> dict[str, Any]:
    """Write a validated v1 point: same workspace+measurement+tags+time overwrites (fields merged)."""
    key: V1Key = (
        point["workspaceId"],
        point["measurement"],
        tuple(sorted(point["tags"].items())),
        point["time"],
    )
    state.v1_writes += 1
    existing = state.v1_points.get(key)
    if existing is None:
        state.v1_points[key] = point
        return point
    existing["fields"].update(point["fields"])
    return existing


def series(state: MetricsState, measurement: str, workspace_id: str) -> dict[str, Any]:
    """The §5.1 `Series` of one measurement: columns = time, tag keys, field keys; one value row per point."""
    points = [
        p
        for p in state.v1_points.values()
        if p["measurement"] == measurement and p["workspaceId"] == workspace_id
    ]
    points.sort(key=lambda p: p["time"])
    tag_keys = sorted({k for p in points for k in p["tags"]})
    field_keys = sorted({k for p in points for k in p["fields"]})
    values = [
        {"t": p["time"], "v": [p["tags"].get(k) for k in tag_keys] + [p["fields"].get(k) for k in field_keys]}
        for p in points
    ]
    return {"name": measurement, "fields": tag_keys + field_keys, "values": values}


def validate_attributes(raw: Any) -> dict[str, str]:
    """Validate a v2 `attributes` list of `{name, type: metric|dimension}` (400 otherwise)."""
    if not isinstance(raw, list):
        raise ApiError(400, "'attributes' must be a list of {name, type} objects.", "attributes")
    attributes: dict[str, str] = {}
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ApiError(400, f"attributes[{index}] must be an object {{name, type}}.", "attributes")
        name = _require_str(item.get("name"), f"attributes[{index}].name")
        kind = item.get("type")
        if kind not in ("metric", "dimension"):
            raise ApiError(400, f"attributes[{index}].type must be 'metric' or 'dimension'.", "attributes")
        if name == "timestamp":
            raise ApiError(400, "'timestamp' is reserved and cannot be an attribute name.", "attributes")
        if name in attributes:
            raise ApiError(400, f"Attribute '{name}' is declared twice.", "attributes")
        attributes[name] = kind
    return attributes


def validate_v2_point(schema: V2Schema, body: Any) -> tuple[V2Key, dict[str, Any]]:
    """Validate a flat v2 point against its schema; returns its identity and normalised form."""
    if not isinstance(body, dict):
        raise ApiError(400, "A point must be a flat JSON object {timestamp, <attribute>: value, ...}.")
    moment = parse_timestamp(body.get("timestamp"), "timestamp")
    point: dict[str, Any] = {"timestamp": iso_millis(moment)}
    for name, value in body.items():
        if name == "timestamp":
            continue
        kind = schema.attributes.get(name)
        if kind is None:
            raise ApiError(
                400, f"Unknown attribute '{name}': schema '{schema.name}' does not declare it.", name
            )
        if kind == "metric" and not _is_number(value):
            raise ApiError(400, f"Metric '{name}' must be a finite number.", name)
        if kind == "dimension" and not isinstance(value, str):
            raise ApiError(400, f"Dimension '{name}' must be a string.", name)
        point[name] = value
    if not any(schema.attributes.get(name) == "metric" for name in point):
        raise ApiError(400, "A point needs at least one metric value.")
    key: V2Key = (point["timestamp"], tuple(point.get(d) for d in schema.dimensions()))
    return key, point


# ---------------------------------------------------------------------------------------------------
# routes


def routes(emulator: Any) -> list[BaseRoute]:
    """The Metrics v1/v2 routes and the `/_emulator/metrics/points` inspect route."""

    @handles_api_errors
    async def post_v1_point(request: Request) -> Response:
        who = caller(request)
        point = validate_v1_point(await read_json(request), who.workspace_id)
        stored = store_v1_point(metrics_state(emulator), point)
        return JSONResponse(ok_envelope(_v1_wire(stored), "PointResponse"))

    @handles_api_errors
    async def get_v1_series(request: Request) -> Response:
        who = caller(request)
        query = request.query_params.get("q", "")
        match = _SELECT.match(query)
        if match is None:
            raise ApiError(400, "Query 'q' must look like: SELECT * FROM <measurement>.", "q")
        workspace = request.query_params.get("workspaceId") or who.workspace_id
        data = series(metrics_state(emulator), match.group(1), workspace)
        return JSONResponse(ok_envelope(data, "SeriesResponse", total=len(data["values"])))

    @handles_api_errors
    async def list_schemas(request: Request) -> Response:
        caller(request)
        name = request.query_params.get("name")
        found = [
            s.as_json() for s in metrics_state(emulator).schemas.values() if name is None or s.name == name
        ]
        return JSONResponse(found)

    @handles_api_errors
    async def create_schema(request: Request) -> Response:
        caller(request)
        body = await read_json_object(request)
        name = _require_str(body.get("name"), "name")
        description = body.get("description") or ""
        if not isinstance(description, str):
            raise ApiError(400, "'description' must be a string.", "description")
        attributes = validate_attributes(body.get("attributes"))
        if not any(kind == "metric" for kind in attributes.values()):
            raise ApiError(400, "A schema needs at least one attribute of type 'metric'.", "attributes")
        state = metrics_state(emulator)
        for existing in state.schemas.values():
            if existing.name == name:
                raise ApiError(409, f"A schema named '{name}' already exists (uuid {existing.uuid}).", "name")
        schema = V2Schema(str(uuid.uuid4()), name, description, attributes, iso_millis(utc_now()))
        state.schemas[schema.uuid] = schema
        return JSONResponse(schema.as_json(), status_code=201)

    def find_schema(request: Request) -> V2Schema:
        schema = metrics_state(emulator).schemas.get(request.path_params["uuid"])
        if schema is None:
            raise ApiError(404, f"No schema with uuid {request.path_params['uuid']!r}.", "uuid")
        return schema

    @handles_api_errors
    async def get_schema(request: Request) -> Response:
        caller(request)
        return JSONResponse(find_schema(request).as_json())

    @handles_api_errors
    async def extend_schema(request: Request) -> Response:
        caller(request)
        schema = find_schema(request)
        body = await read_json_object(request)
        additions = validate_attributes(body.get("attributes", []))
        for name, kind in additions.items():
            if schema.attributes.get(name, kind) != kind:
                raise ApiError(
                    400, f"Attribute '{name}' is a {schema.attributes[name]}; its type cannot change.", name
                )
        description = body.get("description", schema.description)
        if not isinstance(description, str):
            raise ApiError(400, "'description' must be a string.", "description")
        if "name" in body and body["name"] != schema.name:
            raise ApiError(400, "A schema cannot be renamed.", "name")
        new_dimensions = [n for n, k in additions.items() if k == "dimension" and n not in schema.attributes]
        schema.attributes.update(additions)
        schema.description = description
        if new_dimensions:
            # Identities gain a component: re-key the stored points (missing dimension = None).
            schema.points = {
                (p["timestamp"], tuple(p.get(d) for d in schema.dimensions())): p
                for p in schema.points.values()
            }
        return JSONResponse(schema.as_json())

    @handles_api_errors
    async def post_v2_point(request: Request) -> Response:
        caller(request)
        schema = find_schema(request)
        key, point = validate_v2_point(schema, await read_json(request))
        schema.writes += 1
        schema.points[key] = point
        return JSONResponse(point)

    @handles_api_errors
    async def get_v2_points(request: Request) -> Response:
        caller(request)
        schema = find_schema(request)
        start = request.query_params.get("start")
        end = request.query_params.get("end")
        low = iso_millis(parse_timestamp(start, "start")) if start else None
        high = iso_millis(parse_timestamp(end, "end")) if end else None
        points = sorted(schema.points.values(), key=lambda p: p["timestamp"])
        chosen = [
            p
            for p in points
            if (low is None or p["timestamp"] >= low) and (high is None or p["timestamp"] < high)
        ]
        return JSONResponse(chosen)

    async def inspect_points(request: Request) -> Response:
        state = metrics_state(emulator)
        return JSONResponse(
            {
                "v1": {
                    "writes": state.v1_writes,
                    "stored": len(state.v1_points),
                    "points": [_v1_wire(p) for p in state.v1_points.values()],
                },
                "v2": {
                    "writes": sum(s.writes for s in state.schemas.values()),
                    "stored": sum(len(s.points) for s in state.schemas.values()),
                    "schemas": [
                        {
                            **s.as_json(),
                            "writes": s.writes,
                            "stored": len(s.points),
                            "points": sorted(s.points.values(), key=lambda p: p["timestamp"]),
                        }
                        for s in state.schemas.values()
                    ],
                },
            }
        )

    return [
        Route(f"{V1}/points", post_v1_point, methods=["POST"]),
        Route(f"{V1}/series", get_v1_series, methods=["GET"]),
        Route(f"{V2}/schemas", list_schemas, methods=["GET"]),
        Route(f"{V2}/schemas", create_schema, methods=["POST"]),
        Route(f"{V2}/schemas/{{uuid}}", get_schema, methods=["GET"]),
        Route(f"{V2}/schemas/{{uuid}}", extend_schema, methods=["PUT", "PATCH"]),
        Route(f"{V2}/schemas/{{uuid}}/points", post_v2_point, methods=["POST"]),
        Route(f"{V2}/schemas/{{uuid}}/points", get_v2_points, methods=["GET"]),
        Route("/_emulator/metrics/points", inspect_points, methods=["GET"]),
    ]

"""Metrics v1 points and v2 schemas/points (leanix-api.md §5).

v2 points overwrite a point at the same timestamp, so they are retried like idempotent calls;
a v1 point is a plain insert and is retried only when it certainly was not sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_serializer, model_validator

from shared.leanix.errors import LeanIXError
from shared.leanix.models import LeanIXModel, unwrap_data

if TYPE_CHECKING:
    from shared.leanix.client import LeanIXClient

METRICS_V1_PATH = "/services/metrics/v1"
METRICS_V2_PATH = "/services/metrics/v2"


class PointTag(LeanIXModel):
    """A v1 point tag `{k, v}` (put the fact sheet id in a tag to link charts)."""

    k: str
    v: str


class PointField(LeanIXModel):
    """A v1 point field: numeric `v` or string `s`, never both."""

    k: str
    v: float | None = None
    s: str | None = None

    @model_validator(mode="after")
    def _one_value(self) -> PointField:
        if (self.v is None) == (self.s is None):
            raise ValueError(f"point field {self.k!r} needs exactly one of v (number) or s (string)")
        return self


class Point(LeanIXModel):
    """A Metrics v1 point (§5.1)."""

    measurement: str
    workspace_id: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    tags: list[PointTag] = Field(default_factory=list)
    fields: list[PointField] = Field(default_factory=list)

    @field_serializer("time")
    def _iso_time(self, value: datetime) -> str:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SchemaAttribute(LeanIXModel):
    """A v2 schema attribute: a numeric `metric` or a string `dimension`."""

    name: str
    type: Literal["metric", "dimension"] | str


class MetricsSchema(LeanIXModel):
    """A Metrics v2 schema."""

    uuid: str | None = None
    id: str | None = None
    name: str
    description: str | None = None
    attributes: list[SchemaAttribute] = Field(default_factory=list)

    @property
    def key(self) -> str:
        """The schema's uuid (some answers call it `id`)."""
        value = self.uuid or self.id
        if not value:
            raise LeanIXError(f"Metrics schema {self.name!r} came back without a uuid")
        return value


def _schema_list(body: Any) -> list[dict[str, Any]]:
    items = unwrap_data(body)
    if isinstance(items, dict):
        items = items.get("items") or items.get("content") or items.get("schemas") or []
    return [item for item in items or [] if isinstance(item, dict)]


class MetricsClient:
    """Metrics endpoints. Reached as `client.metrics`."""

    def __init__(self, client: LeanIXClient) -> None:
        self._client = client
        self._schemas: dict[str, MetricsSchema] = {}

    async def post_point(self, point: Point) -> Point:
        """Write one v1 point."""
        body = await self._client.request_json(
            "POST", f"{METRICS_V1_PATH}/points", json=point.to_api(), idempotent=False
        )
        data = unwrap_data(body)
        return Point.model_validate(data) if isinstance(data, dict) and "measurement" in data else point

    async def list_schemas(self) -> list[MetricsSchema]:
        """Every v2 schema of the workspace."""
        body = await self._client.request_json("GET", f"{METRICS_V2_PATH}/schemas")
        return [MetricsSchema.model_validate(item) for item in _schema_list(body)]

    async def create_schema(
        self, name: str, attributes: Sequence[SchemaAttribute], *, description: str = ""
    ) -> MetricsSchema:
        """Create a v2 schema."""
        payload = {
            "name": name,
            "description": description or name,
            "attributes": [a.to_api() for a in attributes],
        }
        body = await self._client.request_json(
            "POST", f"{METRICS_V2_PATH}/schemas", json=payload, idempotent=False
        )
        data = unwrap_data(body)
        return MetricsSchema.model_validate(payload | (data if isinstance(data, dict) else {}))

    async def ensure_schema(
        self, name: str, metrics: Sequence[str], dimensions: Sequence[str] = ("factSheetId",)
    ) -> MetricsSchema:
        """The v2 schema `name` with at least these metrics and dimensions; created or extended once.

        The answer is cached per client. Extending uses `PUT /schemas/{uuid}` with the merged
        attributes (the endpoint is not in the sourced reference; see leanix-api.md §5.2).
        """
        wanted = [SchemaAttribute(name=m, type="metric") for m in metrics]
        wanted += [SchemaAttribute(name=d, type="dimension") for d in dimensions]
        cached = self._schemas.get(name)
        if cached is not None and _covers(cached, wanted):
            return cached
        existing = next((s for s in await self.list_schemas() if s.name == name), None)
        if existing is None:
            schema = await self.create_schema(name, wanted)
        elif _covers(existing, wanted):
            schema = existing
        else:
            have = {a.name for a in existing.attributes}
            merged = existing.attributes + [a for a in wanted if a.name not in have]
            payload = {
                "name": name,
                "description": existing.description or name,
                "attributes": [a.to_api() for a in merged],
            }
            body = await self._client.request_json(
                "PUT", f"{METRICS_V2_PATH}/schemas/{existing.key}", json=payload
            )
            data = unwrap_data(body)
            schema = (
                MetricsSchema.model_validate(data)
                if isinstance(data, dict) and data.get("name")
                else MetricsSchema(uuid=existing.key, name=name, attributes=merged)
            )
        self._schemas[name] = schema
        return schema

    async def post_point_v2(self, schema_uuid: str, point: dict[str, Any]) -> Any:
        """Create or overwrite the v2 point at `point["timestamp"]` (safe to retry)."""
        return await self._client.request_json(
            "POST", f"{METRICS_V2_PATH}/schemas/{schema_uuid}/points", json=point, idempotent=True
        )


def _covers(schema: MetricsSchema, wanted: Sequence[SchemaAttribute]) -> bool:
    have = {a.name for a in schema.attributes}
    return all(a.name in have for a in wanted)

"""Writing validated points to the LeanIX Metrics API with a bounded number of requests in flight.

Every request goes through the shared client, so its process-wide rate limiter paces a large batch
at the per-user limit and its one retry policy handles 429/5xx/dropped connections. What still fails
comes back to the caller as an error per point (to be dead-lettered); what the API can never accept
(a key whose type clashes with the existing v2 schema) comes back as a rejection.

- v2 (default): the schema of each measurement is ensured once per process (created or extended
  with the metrics and dimensions the points need); a point is written with `post_point_v2`, which
  overwrites the point at the same timestamp and dimensions, so a re-sent batch is not counted twice.
- v1: `post_point`; a state-store key per series and bucket, holding a digest of the field values,
  is written only after the point was stored, so a re-send of the same values is skipped and a
  failed write is tried again on the next send.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field

from functions.metrics_ingester.points import MetricPoint
from shared.leanix import ConflictError, LeanIXClient, NotFoundError, Point, RetryPolicy, retry_async
from shared.logging import get_logger, redact
from shared.platform import PlatformError, StateStore

logger = get_logger("functions.metrics_ingester.writer")

Indexed = tuple[int, MetricPoint]
# How often a v1 dedup key is written again when the state store fails right after a stored point.
STATE_RETRY = RetryPolicy(max_retries=3, initial_delay=0.2, max_delay=2.0, budget_seconds=10.0)


@dataclass
class WriteReport:
    """The outcome of writing a set of points: indexes rejected or failed (with reasons), skipped."""

    rejected: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: set[int] = field(default_factory=set)
    written: int = 0


def describe_error(error: BaseException) -> str:
    """A short, secret-free description of why a write failed."""
    return redact(f"{type(error).__name__}: {error}")[:500]


async def run_bounded(
    items: Sequence[Indexed], concurrency: int, work: Callable[[Indexed], Awaitable[None]]
) -> None:
    """Run `work` for every item with at most `concurrency` in flight (a fixed pool of workers).

    A pool over one shared iterator keeps memory flat for a 10,000-point batch (no task per point).
    """
    iterator: Iterator[Indexed] = iter(items)

    async def worker() -> None:
        for item in iterator:
            await work(item)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(items))))))


# --- v2 --------------------------------------------------------------------------------------


def point_kinds(point: MetricPoint) -> dict[str, str]:
    """The v2 attribute type each key of the point needs: numbers are metrics, strings dimensions."""
    kinds = {key: "dimension" for key in point.tags}
    kinds.update({key: "dimension" for key in point.string_fields})
    kinds.update({key: "metric" for key in point.numeric_fields})
    if point.fact_sheet_id is not None:
        kinds["factSheetId"] = "dimension"
    return kinds


def _key_label(point: MetricPoint, key: str) -> str:
    if key == "factSheetId":
        return "factSheetId"
    return f"tags.{key}" if key in point.tags else f"fields.{key}"


class SchemaCache:
    """Per process: the uuid and attribute types of each v2 schema already ensured, per LeanIX host."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}

    def lookup(self, host: str, name: str, needs: dict[str, str]) -> str | None:
        """The schema uuid when the cached schema already declares every needed key with its type."""
        entry = self._entries.get((host, name))
        if entry is None:
            return None
        uuid, kinds = entry
        return uuid if all(kinds.get(key) == kind for key, kind in needs.items()) else None

    def store(self, host: str, name: str, uuid: str, kinds: dict[str, str]) -> None:
        self._entries[(host, name)] = (uuid, dict(kinds))

    def forget(self, host: str, name: str) -> None:
        self._entries.pop((host, name), None)

    def clear(self) -> None:
        self._entries.clear()


SCHEMAS = SchemaCache()


class V2Writer:
    """Writes points as Metrics v2 points, one schema per measurement."""

    def __init__(self, client: LeanIXClient, concurrency: int, schemas: SchemaCache = SCHEMAS) -> None:
        self._client = client
        self._concurrency = concurrency
        self._schemas = schemas

    async def write(self, points: Sequence[Indexed]) -> WriteReport:
        """Ensure the schemas, then write every point; never raises for a LeanIX failure."""
        report = WriteReport()
        by_measurement: dict[str, list[Indexed]] = {}
        for index, point in points:
            if not point.numeric_fields:
                report.rejected[index] = "fields: Metrics v2 needs at least one number field"
                continue
            by_measurement.setdefault(point.measurement, []).append((index, point))

        ready: list[tuple[int, MetricPoint, str]] = []
        for measurement, group in by_measurement.items():
            try:
                uuid, rejected = await self._ensure(measurement, group)
            except Exception as error:  # the schema step failed after retries: dead-letter the group
                reason = f"schema {measurement!r} could not be ensured: {describe_error(error)}"
                logger.warning("metrics schema step failed", extra={"measurement": measurement})
                report.failed.update({index: reason for index, _ in group})
                continue
            report.rejected.update(rejected)
            ready.extend((index, point, uuid) for index, point in group if index not in rejected)

        uuids = {index: uuid for index, _, uuid in ready}

        async def write_one(item: Indexed) -> None:
            index, point = item
            uuid = uuids[index]
            try:
                await self._client.metrics.post_point_v2(uuid, point.to_v2())
            except NotFoundError as error:
                # The schema was deleted behind our back: ensure it again on the next batch.
                self._schemas.forget(self._client.base_url, point.measurement)
                report.failed[index] = describe_error(error)
            except Exception as error:
                report.failed[index] = describe_error(error)
            else:
                report.written += 1

        await run_bounded([(index, point) for index, point, _ in ready], self._concurrency, write_one)
        return report

    async def _ensure(self, measurement: str, group: Sequence[Indexed]) -> tuple[str, dict[int, str]]:
        """The schema uuid for `measurement`, and the points whose keys clash with its types."""
        host = self._client.base_url
        needs: dict[str, str] = {}
        for _, point in group:
            needs.update(point_kinds(point))
        cached = self._schemas.lookup(host, measurement, needs)
        if cached is not None:
            return cached, {}
        existing = next((s for s in await self._client.metrics.list_schemas() if s.name == measurement), None)
        kinds = {a.name: str(a.type) for a in existing.attributes} if existing else {}
        rejected: dict[int, str] = {}
        for index, point in group:
            wanted = point_kinds(point)
            clash = next((key for key, kind in wanted.items() if kinds.get(key, kind) != kind), None)
            if clash is None:
                kinds.update(wanted)
                continue
            expected = "a number" if kinds[clash] == "metric" else "a string"
            rejected[index] = (
                f"{_key_label(point, clash)}: schema {measurement!r} declares {clash!r} as a "
                f"{kinds[clash]}; send {expected}"
            )
        if len(rejected) == len(group):
            return "", rejected
        metrics = sorted(k for k, v in kinds.items() if v == "metric")
        dimensions = sorted(k for k, v in kinds.items() if v == "dimension")
        try:
            schema = await self._client.metrics.ensure_schema(measurement, metrics, dimensions)
        except ConflictError:
            # Another instance created the schema between our list and our create: take theirs.
            schema = await self._client.metrics.ensure_schema(measurement, metrics, dimensions)
        self._schemas.store(host, measurement, schema.key, kinds)
        return schema.key, rejected


# --- v1 --------------------------------------------------------------------------------------


def v1_state_key(point: MetricPoint, workspace_id: str) -> str:
    """The state-store key of a v1 point's series and bucket in one workspace."""
    return f"metrics-v1@{workspace_id}@{point.dedup_key()}"


def fields_digest(point: MetricPoint) -> str:
    """A digest of the field values: a re-send with the same values is skipped, a correction is written."""
    canonical = json.dumps(sorted(point.fields.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


class V1Writer:
    """Writes points as Metrics v1 points, skipping those the state store says were already written."""

    def __init__(
        self,
        client: LeanIXClient,
        state: StateStore,
        concurrency: int,
        ttl_seconds: float,
        state_retry: RetryPolicy = STATE_RETRY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._state = state
        self._concurrency = concurrency
        self._ttl = ttl_seconds
        self._state_retry = state_retry
        self._sleep = sleep

    async def write(self, points: Sequence[Indexed]) -> WriteReport:
        """Write every point not yet recorded with the same values; never raises for a LeanIX failure."""
        report = WriteReport()
        if not points:
            return report
        try:
            workspace_id = (await self._client.token_claims()).workspace_id
            if not workspace_id:
                raise ValueError("the access token carries no workspace id")
        except Exception as error:
            reason = f"workspace id unavailable: {describe_error(error)}"
            report.failed.update({index: reason for index, _ in points})
            return report

        async def write_one(item: Indexed) -> None:
            index, point = item
            key, digest = v1_state_key(point, workspace_id), fields_digest(point)
            try:
                stored = await self._state.get(key)
                if isinstance(stored, dict) and stored.get("fields") == digest:
                    report.skipped.add(index)
                    return
                body = Point.model_validate(point.to_v1(workspace_id))
                await self._client.metrics.post_point(body)
            except Exception as error:
                report.failed[index] = describe_error(error)
                return
            report.written += 1
            await self._record(key, digest, replace=stored is not None)

        await run_bounded(points, self._concurrency, write_one)
        return report

    async def _record(self, key: str, digest: str, *, replace: bool) -> None:
        """Remember a stored point. If the store keeps failing, the point stays accepted and a re-send
        writes it again: v1 keys a point by measurement, tags and time, so that overwrites, not adds."""

        async def put() -> None:
            if replace:
                await self._state.delete(key)
            await self._state.put_if_absent(key, {"fields": digest}, self._ttl)

        try:
            await retry_async(
                put,
                policy=self._state_retry,
                is_retryable=lambda error: isinstance(error, PlatformError),
                sleep=self._sleep,
                description="metrics v1 dedup key",
            )
        except Exception:
            logger.warning("could not record a metrics v1 dedup key; a re-send will write the point again")

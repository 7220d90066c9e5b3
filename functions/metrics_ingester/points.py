"""Metric points: read a batch, validate each point, and shape it for the LeanIX Metrics API.

Pure logic, no I/O. The HTTP adapter hands `parse_batch` the raw body; each item is then checked
by `validate_point`, which never raises for bad data: it returns a rejection naming the field, so
one bad point never sinks the batch. Only an unreadable or oversized body fails as a whole
(`UnreadableBatchError` -> 400, `BatchTooLargeError` -> 413).

The friendly point a caller sends:

    {"measurement": "cloud_costs", "time": "2026-03-01T13:45:00+01:00",
     "factSheetId": "95fbeddd-...", "tags": {"env": "prod"}, "fields": {"eur": 1532.75}}

Timestamps are truncated to the start of a bucket (minute, hour or day, in UTC), so a re-sent point
lands on the same timestamp and Metrics v2 overwrites it instead of double-counting.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from shared.errors import InputError

# 10,000 points per request keeps one request's work well inside a function's time limit and a
# LeanIX per-user budget of 1800 requests/minute (one point is one v2 request).
MAX_BATCH_POINTS = 10_000
# 5 MiB: 10,000 points of about 500 bytes each. Larger bodies are refused before they are parsed,
# so a huge upload cannot exhaust the worker's memory.
MAX_BODY_BYTES = 5 * 1024 * 1024

NDJSON_CONTENT_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)

# Names the Metrics API and chart rules handle without quoting: letters, digits, `_ . -`.
_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,127}$")
_TAG_KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
# Keys a tag or field may not use: v2 flattens everything into one object beside these.
_RESERVED_KEYS = frozenset({"factsheetid", "timestamp", "time", "measurement", "workspaceid"})
_POINT_KEYS = frozenset({"measurement", "time", "factSheetId", "tags", "fields"})
MAX_STRING_VALUE_LENGTH = 1024
MAX_TAGS = 64
MAX_FIELDS = 64
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


class MetricsInputError(InputError):
    """A metrics request body that cannot be processed at all."""


class UnreadableBatchError(MetricsInputError):
    """The body is not a JSON array/object of points nor NDJSON, or holds no points (HTTP 400)."""


class BatchTooLargeError(MetricsInputError):
    """The body is over `MAX_BODY_BYTES` or holds more than `MAX_BATCH_POINTS` points (HTTP 413)."""


class Bucket(StrEnum):
    """The granularity a point's timestamp is truncated to (in UTC)."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    def truncate(self, moment: datetime) -> datetime:
        """The start of the bucket holding `moment`, in UTC. `moment` must carry a zone."""
        utc = moment.astimezone(UTC)
        if self is Bucket.MINUTE:
            return utc.replace(second=0, microsecond=0)
        if self is Bucket.HOUR:
            return utc.replace(minute=0, second=0, microsecond=0)
        return utc.replace(hour=0, minute=0, second=0, microsecond=0)


class PointStatus(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True, slots=True)
class RawItem:
    """One item of a batch as read from the body: the decoded JSON value, or why it is unreadable.

    `error` is set for an NDJSON line that is not valid JSON; such an item is rejected on its own.
    """

    value: Any
    error: str | None = None


def format_timestamp(moment: datetime) -> str:
    """`YYYY-MM-DDTHH:MM:SS.000Z`, the form both Metrics API versions use (UTC, milliseconds)."""
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
        f".{utc.microsecond // 1000:03d}Z"
    )


@dataclass(frozen=True)
class MetricPoint:
    """A validated point: `time` is already the bucket start in UTC; numbers are floats."""

    measurement: str
    time: datetime
    fact_sheet_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, float | str] = field(default_factory=dict)

    @property
    def numeric_fields(self) -> dict[str, float]:
        """The number fields, sorted by key (v2 metrics)."""
        return {k: v for k, v in sorted(self.fields.items()) if isinstance(v, float)}

    @property
    def string_fields(self) -> dict[str, str]:
        """The string fields, sorted by key (v2 dimensions)."""
        return {k: v for k, v in sorted(self.fields.items()) if isinstance(v, str)}

    def to_v1(self, workspace_id: str, fact_sheet_tag_key: str = "factSheetId") -> dict[str, Any]:
        """The Metrics v1 `Point` body (§5.1): tags and fields as `{k, v}` / `{k, s}` lists.

        The fact sheet id travels as a tag named `fact_sheet_tag_key` (first), so a chart rule can
        link the series to the fact sheet. Tags and fields are sorted by key for stable bodies.
        """
        tags: list[dict[str, str]] = []
        if self.fact_sheet_id is not None:
            tags.append({"k": fact_sheet_tag_key, "v": self.fact_sheet_id})
        tags.extend({"k": k, "v": v} for k, v in sorted(self.tags.items()))
        fields: list[dict[str, Any]] = []
        for key, value in sorted(self.fields.items()):
            # "Don't use v together with s": numbers go in v, strings in s.
            fields.append({"k": key, "s": value} if isinstance(value, str) else {"k": key, "v": value})
        return {
            "measurement": self.measurement,
            "workspaceId": workspace_id,
            "time": format_timestamp(self.time),
            "tags": tags,
            "fields": fields,
        }

    def to_v2(self) -> dict[str, Any]:
        """The flat Metrics v2 point body (§5.2) for `POST /schemas/{uuid}/points`.

        Dimensions are the tags plus the string fields (v2 metrics are numeric only, so a string
        field becomes a dimension rather than being dropped); metrics are the numeric fields.
        Validation guarantees no tag and field share a key.
        """
        body: dict[str, Any] = {"timestamp": format_timestamp(self.time)}
        if self.fact_sheet_id is not None:
            body["factSheetId"] = self.fact_sheet_id
        dimensions = {**self.tags, **self.string_fields}
        for key in sorted(dimensions):
            body[key] = dimensions[key]
        body.update(self.numeric_fields)
        return body

    def dedup_key(self) -> str:
        """A deterministic key for "this series at this bucket", stable across processes and runs.

        Built from measurement, bucket time, fact sheet and sorted tags (not the field values), so
        a re-send of the same bucket maps to the same key. Only `[A-Za-z0-9_.-@]` characters: safe
        as an Azure Table row key, a DynamoDB key or a SQLite key.
        """
        canonical = json.dumps(
            [self.measurement, format_timestamp(self.time), self.fact_sheet_id, sorted(self.tags.items())],
            separators=(",", ":"),
            ensure_ascii=True,
        )
        digest = hashlib.sha256(canonical.encode("ascii")).hexdigest()[:40]
        stamp = self.time.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{self.measurement}@{stamp}@{digest}"


@dataclass(frozen=True)
class PointResult:
    """The outcome for one item of a batch; `point` is set when accepted, `reason` otherwise."""

    index: int
    status: PointStatus
    point: MetricPoint | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """`{"index", "status", "reason"?}` for the HTTP answer."""
        body: dict[str, Any] = {"index": self.index, "status": self.status.value}
        if self.reason is not None:
            body["reason"] = self.reason
        return body


def _accepted(index: int, point: MetricPoint) -> PointResult:
    return PointResult(index=index, status=PointStatus.ACCEPTED, point=point)


def _rejected(index: int, reason: str) -> PointResult:
    return PointResult(index=index, status=PointStatus.REJECTED, reason=reason)


@dataclass
class BatchResult:
    """Per-point results of one batch, in input order, and the HTTP status they add up to."""

    results: list[PointResult]

    def accepted_points(self) -> list[tuple[int, MetricPoint]]:
        """`(index, point)` for every accepted point, to be written by the caller."""
        return [(r.index, r.point) for r in self.results if r.point is not None]

    def mark_dead_lettered(self, index: int, reason: str) -> None:
        """Record that the accepted point at `index` could not be written and was dead-lettered."""
        for position, result in enumerate(self.results):
            if result.index == index:
                self.results[position] = PointResult(
                    index=index, status=PointStatus.DEAD_LETTERED, point=None, reason=reason
                )
                return
        raise KeyError(f"no point with index {index} in this batch")

    def mark_rejected(self, index: int, reason: str) -> None:
        """Record that the accepted point at `index` was refused for good (e.g. a schema type clash)."""
        for position, result in enumerate(self.results):
            if result.index == index:
                self.results[position] = PointResult(
                    index=index, status=PointStatus.REJECTED, point=None, reason=reason
                )
                return
        raise KeyError(f"no point with index {index} in this batch")

    def count(self, status: PointStatus) -> int:
        """How many points ended with `status`."""
        return sum(1 for r in self.results if r.status is status)

    @property
    def http_status(self) -> int:
        """200 when every point was accepted, 207 (multi-status) when any was rejected or dead-lettered.

        A batch whose points were all rejected is also 207: the body was readable and the answer
        says per point what to fix. 400 and 413 come from `parse_batch`'s errors.
        """
        return 200 if all(r.status is PointStatus.ACCEPTED for r in self.results) else 207

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer: counts per status and the per-point results."""
        return {
            "accepted": self.count(PointStatus.ACCEPTED),
            "rejected": self.count(PointStatus.REJECTED),
            "deadLettered": self.count(PointStatus.DEAD_LETTERED),
            "results": [r.to_dict() for r in self.results],
        }


# --- reading a body --------------------------------------------------------------------------


def _media_type(content_type: str | None) -> str:
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def _loads(text: str) -> Any:
    """`json.loads` that reports every failure (including absurd nesting) as ValueError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def parse_batch(body: bytes, content_type: str | None) -> list[RawItem]:
    """Split a request body into raw items: a JSON array, a single JSON object, or NDJSON.

    NDJSON is chosen by content type (`application/x-ndjson` and its aliases) or, when the whole
    body is not one JSON document, by sniffing: several lines whose first parses as an object.
    In NDJSON a line that is not valid JSON becomes an item with `error` set (rejected alone).

    Raises `BatchTooLargeError` over `MAX_BODY_BYTES` or `MAX_BATCH_POINTS`, and
    `UnreadableBatchError` for a body that is not UTF-8, not JSON/NDJSON, holds no items, or is
    not made of objects.
    """
    if len(body) > MAX_BODY_BYTES:
        raise BatchTooLargeError(
            f"the body is {len(body)} bytes; the limit is {MAX_BODY_BYTES} bytes: split the batch"
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableBatchError("the body is not UTF-8 text: send JSON or NDJSON") from None
    if not text.strip():
        raise UnreadableBatchError("the body is empty: send a JSON array of points or NDJSON")

    if _media_type(content_type) in NDJSON_CONTENT_TYPES:
        items = _parse_ndjson(text)
    else:
        try:
            document = _loads(text)
        except ValueError as exc:
            items = _sniff_ndjson(text, exc)
        else:
            items = _items_from_document(document)

    if not items:
        raise UnreadableBatchError("the batch holds no points")
    if len(items) > MAX_BATCH_POINTS:
        raise BatchTooLargeError(
            f"the batch holds {len(items)} points; the limit is {MAX_BATCH_POINTS}: split the batch"
        )
    if not any(isinstance(item.value, dict) for item in items):
        raise UnreadableBatchError("expected a JSON array of point objects (or NDJSON, one object a line)")
    return items


def _items_from_document(document: Any) -> list[RawItem]:
    if isinstance(document, dict):
        return [RawItem(document)]
    if isinstance(document, list):
        return [RawItem(value) for value in document]
    raise UnreadableBatchError("expected a JSON array of point objects, or one point object")


def _sniff_ndjson(text: str, error: ValueError) -> list[RawItem]:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        try:
            first = _loads(lines[0])
        except ValueError:
            first = None
        if isinstance(first, dict):
            return _parse_ndjson(text)
    raise UnreadableBatchError(f"the body is not valid JSON or NDJSON: {error}")


def _parse_ndjson(text: str) -> list[RawItem]:
    items: list[RawItem] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(items) >= MAX_BATCH_POINTS:
            # Count the rest cheaply: no need to decode lines we are about to refuse.
            items.append(RawItem(None, "over the batch limit"))
            continue
        try:
            items.append(RawItem(_loads(line)))
        except ValueError as exc:
            items.append(RawItem(None, f"line {line_number} is not valid JSON: {exc}"))
    return items


# --- validating one point --------------------------------------------------------------------


class _Reject(Exception):
    """Internal: carries the reason a point is rejected."""


def validate_point(index: int, item: RawItem, now: datetime, bucket: Bucket) -> PointResult:
    """Check one raw item and normalize it into a `MetricPoint`; never raises for bad data.

    A rejection's reason names the field (`fields.cpu: must be a finite number ...`). `now` (zone
    aware) is the time of a point that has none; every time is truncated to `bucket`'s start.
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    if item.error is not None:
        return _rejected(index, item.error)
    try:
        return _accepted(index, _build_point(item.value, now, bucket))
    except _Reject as exc:
        return _rejected(index, str(exc))


def validate_batch(items: Sequence[RawItem], now: datetime, bucket: Bucket) -> BatchResult:
    """`validate_point` for every item, indexed from 0 in input order."""
    return BatchResult([validate_point(i, item, now, bucket) for i, item in enumerate(items)])


def _build_point(value: Any, now: datetime, bucket: Bucket) -> MetricPoint:
    if not isinstance(value, dict):
        raise _Reject(f"a point must be a JSON object, got {_json_type(value)}")
    unknown = sorted(str(key) for key in value if key not in _POINT_KEYS)
    if unknown:
        raise _Reject(f"{unknown[0]}: unknown key (allowed: {', '.join(sorted(_POINT_KEYS))})")
    measurement = _measurement(value.get("measurement"))
    moment = _time(value.get("time"), now)
    fact_sheet_id = _fact_sheet_id(value.get("factSheetId"))
    tags = _tags(value.get("tags"))
    fields = _fields(value.get("fields"))
    shared = sorted(set(tags) & set(fields))
    if shared:
        raise _Reject(f"fields.{shared[0]}: a tag has the same key; rename one of them")
    return MetricPoint(
        measurement=measurement,
        time=bucket.truncate(moment),
        fact_sheet_id=fact_sheet_id,
        tags=tags,
        fields=fields,
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _measurement(value: Any) -> str:
    if value is None:
        raise _Reject("measurement: missing")
    if not isinstance(value, str) or not _NAME_PATTERN.match(value):
        raise _Reject(
            "measurement: must be a string of 1-128 letters, digits, '_', '.' or '-' starting with a letter"
        )
    return value


def _time(value: Any, now: datetime) -> datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        raise _Reject(f"time: must be an ISO-8601 string with a zone, got {_json_type(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _Reject("time: not an ISO-8601 date-time (e.g. 2026-03-01T12:00:00Z)") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _Reject("time: has no zone; add 'Z' or an offset such as '+01:00'")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise _Reject("time: out of range") from None
    if utc < _EARLIEST:
        raise _Reject("time: before 1970-01-01T00:00:00Z")
    return utc


def _fact_sheet_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Reject(f"factSheetId: must be a UUID string, got {_json_type(value)}")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _Reject("factSheetId: not a UUID") from None


def _check_key(section: str, key: Any) -> str:
    if not isinstance(key, str) or not _TAG_KEY_PATTERN.match(key):
        raise _Reject(
            f"{section}: key {str(key)[:40]!r} must be 1-128 letters, digits, '_', '.' or '-' "
            "starting with a letter or '_'"
        )
    if key.lower() in _RESERVED_KEYS:
        hint = "; use the top-level factSheetId" if key.lower() == "factsheetid" else ""
        raise _Reject(f"{section}.{key}: reserved key{hint}")
    return key


def _tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Reject(f"tags: must be an object of strings, got {_json_type(value)}")
    if len(value) > MAX_TAGS:
        raise _Reject(f"tags: at most {MAX_TAGS} tags")
    tags: dict[str, str] = {}
    for key, tag_value in value.items():
        name = _check_key("tags", key)
        if not isinstance(tag_value, str):
            raise _Reject(f"tags.{name}: must be a string, got {_json_type(tag_value)}")
        if not tag_value or len(tag_value) > MAX_STRING_VALUE_LENGTH:
            raise _Reject(f"tags.{name}: must be 1-{MAX_STRING_VALUE_LENGTH} characters")
        tags[name] = tag_value
    return tags


def _fields(value: Any) -> dict[str, float | str]:
    if value is None:
        raise _Reject("fields: missing; a point needs at least one field")
    if not isinstance(value, dict):
        raise _Reject(f"fields: must be an object of numbers or strings, got {_json_type(value)}")
    if not value:
        raise _Reject("fields: empty; a point needs at least one field")
    if len(value) > MAX_FIELDS:
        raise _Reject(f"fields: at most {MAX_FIELDS} fields")
    fields: dict[str, float | str] = {}
    for key, field_value in value.items():
        name = _check_key("fields", key)
        fields[name] = _field_value(name, field_value)
    return fields


def _field_value(name: str, value: Any) -> float | str:
    if isinstance(value, str):
        if len(value) > MAX_STRING_VALUE_LENGTH:
            raise _Reject(f"fields.{name}: longer than {MAX_STRING_VALUE_LENGTH} characters")
        return value
    # bool is an int in Python, but true/false is not a measurement.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Reject(f"fields.{name}: must be a number or a string, got {_json_type(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise _Reject(f"fields.{name}: must be a finite number (NaN and infinity are not allowed)")
    return number


# --- schemas ---------------------------------------------------------------------------------


def schema_requirements(points: Iterable[MetricPoint]) -> dict[str, tuple[set[str], set[str]]]:
    """Per measurement, the v2 schema attributes the points need: `(metrics, dimensions)`.

    Metrics are the numeric fields; dimensions are the tags, the string fields and `factSheetId`
    when a point carries one. A key in both sets means the points disagree on its type; the
    caller's ensure-schema step reports that.
    """
    needs: dict[str, tuple[set[str], set[str]]] = {}
    for point in points:
        metrics, dimensions = needs.setdefault(point.measurement, (set(), set()))
        metrics.update(point.numeric_fields)
        dimensions.update(point.tags)
        dimensions.update(point.string_fields)
        if point.fact_sheet_id is not None:
            dimensions.add("factSheetId")
    return needs

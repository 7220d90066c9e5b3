"""Where points go that LeanIX would not take after the client's retries: a blob or a queue.

A dead-lettered entry holds the point in the same friendly shape the push endpoint accepts, plus
the error, so an operator can fix the cause and re-send the points as they are (re-sending is
idempotent). Failing to dead-letter is an error the caller must surface: nothing is dropped silently.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from functions.metrics_ingester.points import MetricPoint, format_timestamp
from shared.platform import BlobStore, Queue

BLOB_PREFIX = "metrics/dead-letter"


def point_to_friendly(point: MetricPoint) -> dict[str, Any]:
    """The point in the push endpoint's input shape (time is the bucket start)."""
    body: dict[str, Any] = {"measurement": point.measurement, "time": format_timestamp(point.time)}
    if point.fact_sheet_id is not None:
        body["factSheetId"] = point.fact_sheet_id
    if point.tags:
        body["tags"] = dict(point.tags)
    body["fields"] = dict(point.fields)
    return body


@dataclass(frozen=True)
class DeadLetterEntry:
    """One point that could not be written, and why."""

    index: int
    point: MetricPoint
    error: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form: `{"index", "error", "point": <friendly point>}`."""
        return {"index": self.index, "error": self.error, "point": point_to_friendly(self.point)}


class DeadLetter(Protocol):
    """Durable storage for points that failed; `send` raises when it could not store them."""

    async def send(self, batch_id: str, entries: Sequence[DeadLetterEntry]) -> str:
        """Store the entries; returns where they went (a blob key or a queue name)."""
        ...


class BlobDeadLetter:
    """One JSON blob per batch under `metrics/dead-letter/<date>/<batch id>.json`."""

    def __init__(self, blobs: BlobStore, now: datetime) -> None:
        self._blobs = blobs
        self._now = now

    async def send(self, batch_id: str, entries: Sequence[DeadLetterEntry]) -> str:
        key = f"{BLOB_PREFIX}/{self._now:%Y-%m-%d}/{batch_id}.json"
        document = {"batchId": batch_id, "entries": [e.to_dict() for e in entries]}
        await self._blobs.put(key, json.dumps(document).encode("utf-8"), "application/json")
        return key


class QueueDeadLetter:
    """One queue message per point, each `{"batchId", "index", "error", "point"}`."""

    def __init__(self, queue: Queue, queue_name: str) -> None:
        self._queue = queue
        self._queue_name = queue_name

    async def send(self, batch_id: str, entries: Sequence[DeadLetterEntry]) -> str:
        bodies = [json.dumps({"batchId": batch_id, **e.to_dict()}) for e in entries]
        await self._queue.send(self._queue_name, bodies)
        return self._queue_name


def new_batch_id(now: datetime) -> str:
    """A sortable, unique id for one ingest call (used in dead-letter blob keys)."""
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}"

"""The one interface every pull source implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

from functions.metrics_ingester.points import MetricPoint
from shared.errors import BundleError


class SourceError(BundleError):
    """A source could not deliver its points (the message says what to check)."""


@dataclass(frozen=True)
class Window:
    """The days a pull covers: `start` inclusive, `end` exclusive (UTC dates)."""

    start: date
    end: date

    @classmethod
    def look_back(cls, today: date, days: int) -> Window:
        """The `days` complete days before `today`; re-reading them corrects late data."""
        return cls(start=today - timedelta(days=days), end=today)


class MetricSource(Protocol):
    """A plug-in that reads points for a window from somewhere (a cloud bill, a monitoring tool)."""

    name: str

    async def fetch(self, window: Window) -> list[MetricPoint]:
        """The points of `window`, with deterministic timestamps. Raises `SourceError`."""
        ...

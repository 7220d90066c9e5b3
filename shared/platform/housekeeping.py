"""Purging expired state entries where the store has no TTL of its own (Azure Table Storage, SQLite).

DynamoDB deletes expired items itself (its TTL attribute). The other stores hide expired entries
from reads but keep them; without a purge a year of webhook dedup keys stays in the table. The
purge runs from `put_if_absent` at most once per `PURGE_INTERVAL_SECONDS` per process, deletes at
most `PURGE_MAX_ROWS` entries per pass, and never fails the write that triggered it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

PURGE_INTERVAL_SECONDS = 600.0
PURGE_MAX_ROWS = 100


class Every:
    """`due()` is True at most once per `interval` seconds of `clock` (the first call is due)."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self._interval = interval
        self._clock = clock
        self._next: float | None = None
        self._lock = threading.Lock()

    def due(self) -> bool:
        now = self._clock()
        with self._lock:
            if self._next is not None and now < self._next:
                return False
            self._next = now + self._interval
            return True

"""StateStore on a local SQLite file (the embedded default)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

from shared.platform.housekeeping import PURGE_INTERVAL_SECONDS, PURGE_MAX_ROWS, Every
from shared.platform.local_sqlite import immediate, reading
from shared.platform.ports import StateValue

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hwm (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS locks (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)",
)


class LocalStateStore:
    """Dedup keys, high-water marks and locks in one SQLite database. `clock` is epoch seconds."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], float] = time.time,
        purge_interval_seconds: float = PURGE_INTERVAL_SECONDS,
    ) -> None:
        self._path = path
        self._clock = clock
        self._purge = Every(purge_interval_seconds, clock)
        with immediate(path) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def __repr__(self) -> str:
        return f"LocalStateStore(path={str(self._path)!r})"

    async def put_if_absent(self, key: str, value: StateValue, ttl_seconds: float) -> bool:
        return await asyncio.to_thread(self._put_if_absent, key, json.dumps(value), ttl_seconds)

    def _put_if_absent(self, key: str, encoded: str, ttl_seconds: float) -> bool:
        now = self._clock()
        with immediate(self._path) as conn:
            row = conn.execute("SELECT expires_at FROM kv WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] > now:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?, ?, ?)",
                (key, encoded, now + ttl_seconds),
            )
            if self._purge.due():  # SQLite has no TTL: drop expired entries now and then
                for table in ("kv", "locks"):
                    conn.execute(
                        f"DELETE FROM {table} WHERE rowid IN "  # noqa: S608 (fixed table names)
                        f"(SELECT rowid FROM {table} WHERE expires_at <= ? LIMIT ?)",
                        (now, PURGE_MAX_ROWS),
                    )
            return True

    async def get(self, key: str) -> StateValue | None:
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> StateValue | None:
        with reading(self._path) as conn:
            row = conn.execute(
                "SELECT value FROM kv WHERE key = ? AND expires_at > ?", (key, self._clock())
            ).fetchone()
        if row is None:
            return None
        value: StateValue = json.loads(row[0])
        return value

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    def _delete(self, key: str) -> None:
        with immediate(self._path) as conn:
            conn.execute("DELETE FROM kv WHERE key = ?", (key,))

    async def advance_high_water_mark(self, key: str, value: int) -> bool:
        return await asyncio.to_thread(self._advance, key, value)

    def _advance(self, key: str, value: int) -> bool:
        with immediate(self._path) as conn:
            cursor = conn.execute(
                "INSERT INTO hwm (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value WHERE hwm.value < excluded.value",
                (key, value),
            )
            return cursor.rowcount == 1

    async def get_high_water_mark(self, key: str) -> int | None:
        return await asyncio.to_thread(self._get_hwm, key)

    def _get_hwm(self, key: str) -> int | None:
        with reading(self._path) as conn:
            row = conn.execute("SELECT value FROM hwm WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    async def acquire_lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        return await asyncio.to_thread(self._acquire, name, owner, ttl_seconds)

    def _acquire(self, name: str, owner: str, ttl_seconds: float) -> bool:
        now = self._clock()
        with immediate(self._path) as conn:
            row = conn.execute("SELECT owner, expires_at FROM locks WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO locks (name, owner, expires_at) VALUES (?, ?, ?)",
                (name, owner, now + ttl_seconds),
            )
            return True

    async def release_lock(self, name: str, owner: str) -> None:
        await asyncio.to_thread(self._release, name, owner)

    def _release(self, name: str, owner: str) -> None:
        with immediate(self._path) as conn:
            conn.execute("DELETE FROM locks WHERE name = ? AND owner = ?", (name, owner))

"""SQLite connections for the local state store and queue, safe for several processes.

WAL lets readers run beside one writer; the busy timeout makes a second writer wait instead of
failing; `BEGIN IMMEDIATE` takes the write lock before reading, so a read-check-write is atomic
across processes.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with WAL and a busy timeout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


@contextlib.contextmanager
def immediate(path: Path) -> Iterator[sqlite3.Connection]:
    """A write transaction that holds the database's write lock from its first statement."""
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            # SQLite may already have rolled back (disk full, I/O error): the caller's error is the
            # one to report, not "no transaction is active".
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


@contextlib.contextmanager
def reading(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection for plain reads."""
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()

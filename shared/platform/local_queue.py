"""Queue on a local SQLite file: visibility timeouts, receive counts and a dead-letter queue."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from shared.logging import get_logger, log_context
from shared.platform.local_sqlite import immediate, reading
from shared.platform.names import LOCAL_DEAD_LETTER_SUFFIX, check_queue_name
from shared.platform.ports import QueueMessage

DEAD_LETTER_SUFFIX = LOCAL_DEAD_LETTER_SUFFIX

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS messages ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, queue TEXT NOT NULL,"
    " body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, visible_at REAL NOT NULL,"
    " receipt TEXT)",
    "CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, visible_at, seq)",
)

logger = get_logger(__name__)


class LocalQueue:
    """Messages in one SQLite table; a message received more than `max_attempts` times moves to
    `<queue>-deadletter`. Safe for several processes (each receive is one write transaction)."""

    def __init__(self, path: Path, max_attempts: int, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._max_attempts = max_attempts
        self._clock = clock
        with immediate(path) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def __repr__(self) -> str:
        return f"LocalQueue(path={str(self._path)!r}, max_attempts={self._max_attempts})"

    @staticmethod
    def dead_letter_name(queue: str) -> str:
        return f"{queue}{DEAD_LETTER_SUFFIX}"

    async def send(self, queue: str, bodies: list[str]) -> None:
        check_queue_name(queue)
        await asyncio.to_thread(self._send, queue, bodies)

    def _send(self, queue: str, bodies: list[str]) -> None:
        now = self._clock()
        with immediate(self._path) as conn:
            conn.executemany(
                "INSERT INTO messages (id, queue, body, visible_at) VALUES (?, ?, ?, ?)",
                [(uuid.uuid4().hex, queue, body, now) for body in bodies],
            )

    async def receive(self, queue: str, max_messages: int, visibility_timeout: float) -> list[QueueMessage]:
        check_queue_name(queue)
        return await asyncio.to_thread(self._receive, queue, max_messages, visibility_timeout)

    def _receive(self, queue: str, max_messages: int, visibility_timeout: float) -> list[QueueMessage]:
        now = self._clock()
        received: list[QueueMessage] = []
        last_seq = -1
        with immediate(self._path) as conn:
            # Dead-lettered rows do not count towards max_messages, so keep reading until filled.
            # Only rows after the last one read: with a zero visibility timeout a row just received
            # is visible again and would otherwise be received (and counted) again in this loop.
            while len(received) < max_messages:
                rows = conn.execute(
                    "SELECT seq, id, body, attempts FROM messages WHERE queue = ? AND visible_at <= ? "
                    "AND seq > ? ORDER BY seq LIMIT ?",
                    (queue, now, last_seq, max_messages - len(received)),
                ).fetchall()
                if not rows:
                    break
                last_seq = rows[-1][0]
                for _seq, message_id, body, attempts in rows:
                    attempts += 1
                    if attempts > self._max_attempts:
                        conn.execute(
                            "UPDATE messages SET queue = ?, attempts = 0, visible_at = ?, receipt = NULL "
                            "WHERE id = ?",
                            (self.dead_letter_name(queue), now, message_id),
                        )
                        logger.warning(
                            "message moved to dead-letter queue",
                            extra=log_context(queue=queue, message_id=message_id, attempts=attempts - 1),
                        )
                        continue
                    receipt = uuid.uuid4().hex
                    conn.execute(
                        "UPDATE messages SET attempts = ?, visible_at = ?, receipt = ? WHERE id = ?",
                        (attempts, now + visibility_timeout, receipt, message_id),
                    )
                    received.append(QueueMessage(message_id, body, receipt, attempts))
        return received

    async def delete(self, queue: str, message: QueueMessage) -> None:
        await asyncio.to_thread(self._delete, queue, message)

    def _delete(self, queue: str, message: QueueMessage) -> None:
        with immediate(self._path) as conn:
            # The receipt must match: a stale receipt must not delete a message someone else holds now.
            conn.execute(
                "DELETE FROM messages WHERE queue = ? AND id = ? AND receipt = ?",
                (queue, message.id, message.receipt),
            )

    async def release(self, queue: str, message: QueueMessage) -> None:
        await asyncio.to_thread(self._release, queue, message)

    def _release(self, queue: str, message: QueueMessage) -> None:
        with immediate(self._path) as conn:
            conn.execute(
                "UPDATE messages SET visible_at = ? WHERE queue = ? AND id = ? AND receipt = ?",
                (self._clock(), queue, message.id, message.receipt),
            )

    async def dead_letters(self, queue: str) -> list[str]:
        check_queue_name(queue)
        return await asyncio.to_thread(self._dead_letters, queue)

    def _dead_letters(self, queue: str) -> list[str]:
        with reading(self._path) as conn:
            rows = conn.execute(
                "SELECT body FROM messages WHERE queue = ? ORDER BY seq", (self.dead_letter_name(queue),)
            ).fetchall()
        return [row[0] for row in rows]

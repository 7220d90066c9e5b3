"""Queue on Azure Storage Queues, base64-encoded as the Functions queue trigger expects.

A message whose `dequeue_count` exceeds QUEUE_MAX_ATTEMPTS is moved to `<queue>-poison`, the name
the Functions host uses for the same purpose, so both routes end in one place. Queues are created
on first send (as a Functions output binding does).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from shared.errors import PlatformError
from shared.logging import get_logger, log_context
from shared.platform.lazy import Lazy
from shared.platform.names import AZURE_POISON_SUFFIX, check_queue_name
from shared.platform.ports import QueueMessage

POISON_SUFFIX = AZURE_POISON_SUFFIX
AZURE_MAX_BATCH = 32
PEEK_LIMIT = 32
_HINT = "check the storage connection and the identity's 'Storage Queue Data Contributor' role"

logger = get_logger(__name__)


class AzureStorageQueue:
    """Storage queues by name. `service` is a lazy `QueueServiceClient`."""

    def __init__(self, service: Lazy[Any], max_attempts: int) -> None:
        self._service = service
        self._max_attempts = max_attempts

    def __repr__(self) -> str:
        return f"AzureStorageQueue(max_attempts={self._max_attempts})"

    @staticmethod
    def dead_letter_name(queue: str) -> str:
        return f"{queue}{POISON_SUFFIX}"

    def _queue(self, name: str) -> Any:
        from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy  # on first use

        return self._service.get().get_queue_client(
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )

    async def send(self, queue: str, bodies: list[str]) -> None:
        check_queue_name(queue)
        await asyncio.to_thread(self._send, queue, bodies)

    def _send(self, queue: str, bodies: list[str]) -> None:
        client = self._queue(queue)
        try:
            for body in bodies:
                try:
                    client.send_message(body)
                except ResourceNotFoundError:
                    self._create(client)
                    client.send_message(body)
        except HttpResponseError as exc:
            raise PlatformError(f"sending to queue {queue!r} failed ({exc.status_code}): {_HINT}") from exc

    @staticmethod
    def _create(client: Any) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            client.create_queue()

    async def receive(self, queue: str, max_messages: int, visibility_timeout: float) -> list[QueueMessage]:
        check_queue_name(queue)
        return await asyncio.to_thread(self._receive, queue, max_messages, visibility_timeout)

    def _receive(self, queue: str, max_messages: int, visibility_timeout: float) -> list[QueueMessage]:
        client = self._queue(queue)
        received: list[QueueMessage] = []
        try:
            while len(received) < max_messages:
                wanted = min(AZURE_MAX_BATCH, max_messages - len(received))
                batch = list(
                    client.receive_messages(
                        messages_per_page=wanted,
                        max_messages=wanted,
                        visibility_timeout=max(1, math.ceil(visibility_timeout)),
                    )
                )
                if not batch:
                    break
                for message in batch:
                    if message.dequeue_count > self._max_attempts:
                        self._to_poison(queue, client, message)
                        continue
                    received.append(
                        QueueMessage(message.id, message.content, message.pop_receipt, message.dequeue_count)
                    )
        except ResourceNotFoundError:
            return received  # nothing was ever sent to this queue
        except HttpResponseError as exc:
            raise PlatformError(
                f"receiving from queue {queue!r} failed ({exc.status_code}): {_HINT}"
            ) from exc
        return received

    def _to_poison(self, queue: str, client: Any, message: Any) -> None:
        # Copy first, then delete: a crash in between duplicates the poison copy but never loses it.
        self._send(self.dead_letter_name(queue), [message.content])
        client.delete_message(message.id, message.pop_receipt)
        logger.warning(
            "message moved to poison queue",
            extra=log_context(queue=queue, message_id=message.id, attempts=message.dequeue_count - 1),
        )

    async def delete(self, queue: str, message: QueueMessage) -> None:
        await asyncio.to_thread(self._delete, queue, message)

    def _delete(self, queue: str, message: QueueMessage) -> None:
        # Already gone, or the receipt is stale because someone else received it: nothing to do.
        with contextlib.suppress(ResourceNotFoundError):
            self._queue(queue).delete_message(message.id, message.receipt)

    async def release(self, queue: str, message: QueueMessage) -> None:
        await asyncio.to_thread(self._release, queue, message)

    def _release(self, queue: str, message: QueueMessage) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._queue(queue).update_message(message.id, message.receipt, visibility_timeout=0)

    async def dead_letters(self, queue: str) -> list[str]:
        check_queue_name(queue)
        return await asyncio.to_thread(self._dead_letters, queue)

    def _dead_letters(self, queue: str) -> list[str]:
        """Peeks (does not consume) the first 32 poison messages: Storage Queues peek at most 32."""
        try:
            peeked = self._queue(self.dead_letter_name(queue)).peek_messages(max_messages=PEEK_LIMIT)
        except ResourceNotFoundError:
            return []
        return [str(message.content) for message in peeked]

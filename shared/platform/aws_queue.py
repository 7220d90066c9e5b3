"""Queue on SQS. Dead-lettering is SQS's own: each queue's RedrivePolicy (maxReceiveCount =
QUEUE_MAX_ATTEMPTS, set by the SAM template) moves a message to `<queue>-dlq` on its next receive."""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

from shared.platform.aws_clients import LazyClient, error_code, platform_error
from shared.platform.errors import NotFound
from shared.platform.names import SQS_DEAD_LETTER_SUFFIX, check_queue_name
from shared.platform.ports import QueueMessage

DEAD_LETTER_SUFFIX = SQS_DEAD_LETTER_SUFFIX
SQS_BATCH = 10
_HINT = "check the queue name, AWS_REGION and the role's sqs permissions"
_MISSING = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


class SqsQueue:
    """Queues by name; URLs are looked up once and cached."""

    def __init__(self, client: LazyClient) -> None:
        self._client = client
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "SqsQueue()"

    @staticmethod
    def dead_letter_name(queue: str) -> str:
        return f"{queue}{DEAD_LETTER_SUFFIX}"

    def _call(self, operation: str, queue: str, **kwargs: Any) -> dict[str, Any]:
        try:
            url = self._url(queue)
            response: dict[str, Any] = getattr(self._client.get(), operation)(QueueUrl=url, **kwargs)
        except Exception as exc:
            code = error_code(exc)
            if code in _MISSING:
                raise NotFound(f"SQS queue {queue!r} does not exist: {_HINT}") from exc
            if code:
                raise platform_error(f"SQS {operation} on {queue!r}", exc, _HINT) from exc
            raise
        return response

    def _url(self, queue: str) -> str:
        with self._lock:
            if queue not in self._urls:
                self._urls[queue] = str(self._client.get().get_queue_url(QueueName=queue)["QueueUrl"])
            return self._urls[queue]

    async def send(self, queue: str, bodies: list[str]) -> None:
        check_queue_name(queue)
        await asyncio.to_thread(self._send, queue, bodies)

    def _send(self, queue: str, bodies: list[str]) -> None:
        for start in range(0, len(bodies), SQS_BATCH):
            chunk = bodies[start : start + SQS_BATCH]
            entries = [{"Id": str(index), "MessageBody": body} for index, body in enumerate(chunk)]
            response = self._call("send_message_batch", queue, Entries=entries)
            failed = response.get("Failed") or []
            if failed:
                codes = sorted({str(item.get("Code", "")) for item in failed})
                raise platform_error(
                    f"SQS send to {queue!r} ({len(failed)} of {len(chunk)} messages)",
                    Exception(",".join(codes)),
                    _HINT,
                )

    async def receive(self, queue: str, max_messages: int, visibility_timeout: float) -> list[QueueMessage]:
        check_queue_name(queue)
        return await asyncio.to_thread(self._receive, queue, max_messages, visibility_timeout)

    def _receive(self, queue: str, max_messages: int, visibility_timeout: float) -> list[QueueMessage]:
        received: list[QueueMessage] = []
        while len(received) < max_messages:
            response = self._call(
                "receive_message",
                queue,
                MaxNumberOfMessages=min(SQS_BATCH, max_messages - len(received)),
                # At least 1 s (as on Azure): at 0 the next call of this loop would receive the same
                # messages again and count each receive as a failed attempt.
                VisibilityTimeout=max(1, math.ceil(visibility_timeout)),
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
            messages = response.get("Messages") or []
            if not messages:
                break
            for message in messages:
                attempts = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                received.append(
                    QueueMessage(
                        str(message["MessageId"]),
                        str(message["Body"]),
                        str(message["ReceiptHandle"]),
                        attempts,
                    )
                )
        return received

    async def delete(self, queue: str, message: QueueMessage) -> None:
        await asyncio.to_thread(self._call, "delete_message", queue, ReceiptHandle=message.receipt)

    async def release(self, queue: str, message: QueueMessage) -> None:
        await asyncio.to_thread(
            self._call, "change_message_visibility", queue, ReceiptHandle=message.receipt, VisibilityTimeout=0
        )

    async def dead_letters(self, queue: str) -> list[str]:
        check_queue_name(queue)
        return await asyncio.to_thread(self._dead_letters, self.dead_letter_name(queue))

    def _dead_letters(self, dlq: str) -> list[str]:
        # Hide each message while collecting (so every receive returns new ones), then show them again.
        seen: dict[str, tuple[str, str]] = {}
        while True:
            response = self._call(
                "receive_message", dlq, MaxNumberOfMessages=SQS_BATCH, VisibilityTimeout=30, WaitTimeSeconds=0
            )
            messages = response.get("Messages") or []
            if not messages:
                break
            for message in messages:
                seen[str(message["MessageId"])] = (str(message["Body"]), str(message["ReceiptHandle"]))
        for _body, receipt in seen.values():
            self._call("change_message_visibility", dlq, ReceiptHandle=receipt, VisibilityTimeout=0)
        return [body for body, _receipt in seen.values()]

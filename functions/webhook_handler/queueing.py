"""How a webhook event travels through the queue: inline, or as a claim check in the blob store.

Azure Storage Queue messages hold 64 KiB and SQS messages 256 KiB, but LeanIX may deliver up to
20 MB. A body above the inline limit is written to the blob store under a content-addressed key and
the message carries only `{"claimCheck": "<key>"}`, so a large delivery is never lost or truncated.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from functions.webhook_handler.models import WebhookEvent
from shared.platform import BlobStore, Queue

CLAIM_CHECK_KEY = "claimCheck"
CLAIM_CHECK_PREFIX = "webhook/events/"


async def queue_body_for(event: WebhookEvent, blobs: BlobStore, inline_max_bytes: int) -> str:
    """The message body for `event`: its JSON inline, or a claim check when it is too large."""
    body = event.to_queue_body()
    encoded = body.encode("utf-8")
    if len(encoded) <= inline_max_bytes:
        return body
    # Content-addressed: a redelivery of the same body writes the same blob again, harmlessly.
    key = f"{CLAIM_CHECK_PREFIX}{hashlib.sha256(encoded).hexdigest()}.json"
    await blobs.put(key, encoded, content_type="application/json")
    return json.dumps({CLAIM_CHECK_KEY: key})


async def enqueue_events(
    events: list[WebhookEvent], queue: Queue, queue_name: str, blobs: BlobStore, inline_max_bytes: int
) -> None:
    """Put each event on `queue_name` (large ones by claim check) in one send."""
    bodies = [await queue_body_for(event, blobs, inline_max_bytes) for event in events]
    if bodies:
        await queue.send(queue_name, bodies)


def claim_check_key(body: str) -> str | None:
    """The blob key when `body` is a claim check, else None (then `body` is the event itself)."""
    if CLAIM_CHECK_KEY not in body[:64]:
        return None
    try:
        decoded: Any = json.loads(body)
    except ValueError:
        return None
    if isinstance(decoded, dict) and set(decoded) == {CLAIM_CHECK_KEY}:
        key = decoded[CLAIM_CHECK_KEY]
        if isinstance(key, str) and key.startswith(CLAIM_CHECK_PREFIX):
            return key
    return None


async def event_from_queue_body(body: str, blobs: BlobStore) -> WebhookEvent:
    """Rebuild the event a message carries, fetching a claim-checked body from the blob store.

    Raises `InvalidEventError` for a body that is not an event, `NotFound` for a missing blob.
    """
    key = claim_check_key(body)
    if key is None:
        return WebhookEvent.from_queue_body(body)
    return WebhookEvent.from_queue_body((await blobs.get(key)).decode("utf-8"))

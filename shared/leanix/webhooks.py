"""Webhooks (`/services/webhooks/v1`): subscriptions, PULL events and cursor, deliveries (§4)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr

from shared.leanix.errors import LeanIXError
from shared.leanix.models import LeanIXModel, unwrap_data
from shared.logging import register_secret

if TYPE_CHECKING:
    from shared.leanix.client import LeanIXClient

WEBHOOKS_PATH = "/services/webhooks/v1"
# Extra seconds on top of a long-poll's own timeout before the HTTP request gives up.
LONG_POLL_GRACE_SECONDS = 15.0


class Subscription(LeanIXModel):
    """A webhook subscription (§4.2). `authorization_header` is a secret: never in repr or logs."""

    id: str | None = None
    identifier: str
    delivery_type: str = "PUSH"
    tag_sets: list[list[str]] = Field(default_factory=list)
    workspace_id: str | None = None
    user_id: str | None = None
    target_url: str | None = None
    target_method: str | None = None
    authorization_header: SecretStr | None = None
    callback: str | None = None
    ignore_error: bool = False
    max_batch_size: int | None = None
    workspace_constraint: str | None = None
    payload_mode: str | None = None
    active: bool | None = None
    created_at: datetime | None = None
    last_delivery_status: int | None = None
    error_count: int | None = None
    first_time_delivery_failed: datetime | None = None

    def model_post_init(self, context: Any) -> None:
        if self.authorization_header is not None:
            register_secret(self.authorization_header.get_secret_value())


class PullEvent(LeanIXModel):
    """One PULLed event: its cursor offset and the event, parsed from its JSON string."""

    offset: int
    event: dict[str, Any]


class PullResult(LeanIXModel):
    """A page of PULLed events and the cursor to commit once they are safely stored."""

    events: list[PullEvent] = Field(default_factory=list)
    next_offset: int | None = None


class Delivery(LeanIXModel):
    """One PUSH delivery attempt as LeanIX recorded it."""

    id: str | None = None
    created_at: datetime | None = None
    target_url: str | None = None
    success: bool | None = None
    http_status: int | None = None
    duration: int | None = None
    event_id: str | int | None = None


class WebhooksClient:
    """Webhooks endpoints. Reached as `client.webhooks`."""

    def __init__(self, client: LeanIXClient) -> None:
        self._client = client

    async def list_subscriptions(self, *, identifier: str | None = None) -> list[Subscription]:
        """All subscriptions, or those with the given `identifier`."""
        body = await self._client.request_json(
            "GET", f"{WEBHOOKS_PATH}/subscriptions", params={"identifier": identifier}
        )
        items = unwrap_data(body) or []
        if not isinstance(items, list):
            raise LeanIXError("Webhooks /subscriptions answered without a data list")
        return [Subscription.model_validate(item) for item in items]

    async def get_subscription(self, subscription_id: str) -> Subscription:
        """One subscription by id (raises `NotFoundError` for an unknown id)."""
        body = await self._client.request_json("GET", f"{WEBHOOKS_PATH}/subscriptions/{subscription_id}")
        return Subscription.model_validate(unwrap_data(body))

    async def create_subscription(self, subscription: Subscription) -> Subscription:
        """Create a subscription (not retried once sent: a replay would create a duplicate)."""
        body = await self._client.request_json(
            "POST", f"{WEBHOOKS_PATH}/subscriptions", json=_body(subscription), idempotent=False
        )
        return Subscription.model_validate(unwrap_data(body))

    async def update_subscription(self, subscription_id: str, subscription: Subscription) -> Subscription:
        """Replace a subscription (PUT takes the full object)."""
        payload = _body(subscription) | {"id": subscription_id}
        body = await self._client.request_json(
            "PUT", f"{WEBHOOKS_PATH}/subscriptions/{subscription_id}", json=payload
        )
        return Subscription.model_validate(unwrap_data(body))

    async def delete_subscription(self, subscription_id: str) -> None:
        """Delete a subscription."""
        await self._client.request("DELETE", f"{WEBHOOKS_PATH}/subscriptions/{subscription_id}")

    async def find_by_identifier(self, identifier: str) -> Subscription | None:
        """The subscription with this `identifier`, or None."""
        for subscription in await self.list_subscriptions(identifier=identifier):
            # The filter is server-side; check again in case a server ignores it.
            if subscription.identifier == identifier:
                return subscription
        return None

    async def upsert_subscription(self, subscription: Subscription) -> Subscription:
        """Create or replace the subscription named `subscription.identifier` (GET ?identifier=, PUT/POST)."""
        existing = await self.find_by_identifier(subscription.identifier)
        if existing is not None and existing.id:
            return await self.update_subscription(existing.id, subscription)
        return await self.create_subscription(subscription)

    async def pull_events(
        self,
        subscription_id: str,
        *,
        timeout: int = 10,  # noqa: ASYNC109 (the server-side long-poll wait, LeanIX's `timeout` parameter)
        auto_commit: bool = False,
    ) -> PullResult:
        """Long-poll a PULL subscription for events (waits up to `timeout` s when there are none).

        Keep `auto_commit=False` and call `commit_cursor(next_offset)` after the events are stored,
        so none is lost (at-least-once).
        """
        body = await self._client.request_json(
            "GET",
            f"{WEBHOOKS_PATH}/subscriptions/{subscription_id}/events",
            params={"timeout": timeout, "autoCommit": auto_commit},
            timeout=timeout + LONG_POLL_GRACE_SECONDS,
        )
        data = unwrap_data(body) or {}
        events: list[PullEvent] = []
        for item in data.get("events") or []:
            raw = item.get("event")
            event = json.loads(raw) if isinstance(raw, str) else raw
            events.append(
                PullEvent(offset=int((item.get("cursor") or {}).get("offset", 0)), event=event or {})
            )
        next_cursor = data.get("nextCursor") or {}
        next_offset = next_cursor.get("offset") if isinstance(next_cursor, dict) else None
        return PullResult(events=events, next_offset=next_offset)

    async def commit_cursor(self, subscription_id: str, offset: int) -> None:
        """Mark events up to `offset` as consumed (pass `PullResult.next_offset`)."""
        await self._client.request(
            "PUT", f"{WEBHOOKS_PATH}/subscriptions/{subscription_id}/cursor", json={"offset": offset}
        )

    async def deliveries(self, subscription_id: str, *, page: int = 1, size: int = 30) -> list[Delivery]:
        """Recent PUSH deliveries of a subscription, newest first."""
        body = await self._client.request_json(
            "GET",
            f"{WEBHOOKS_PATH}/subscriptions/{subscription_id}/deliveries",
            params={"page": page, "size": size},
        )
        items = unwrap_data(body) or []
        return [Delivery.model_validate(item) for item in items if isinstance(item, dict)]


def _body(subscription: Subscription) -> dict[str, Any]:
    body = subscription.to_api()
    # Server-managed fields are not ours to send.
    for key in ("createdAt", "lastDeliveryStatus", "errorCount", "firstTimeDeliveryFailed"):
        body.pop(key, None)
    return body

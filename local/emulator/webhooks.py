"""The emulated Webhooks API v1 (`/services/webhooks/v1`, leanix-api.md §4): subscriptions, PUSH, PULL.

Every workspace `ChangeEvent` becomes a webhooks Event with `tags = ["pathfinder", <EVENT_TYPE>]` and a
DEFAULT payload in the §4.4 shape (`id` a number). An event goes to each active subscription whose
`workspaceConstraint` admits it and one of whose tag sets it carries completely.

PUSH: one asyncio sender task per subscription delivers its events in order (head-of-line): a failed
attempt (non-2xx, timeout, connection error) is retried every `webhook_retry_interval_seconds` until a
2xx, unless `ignoreError` is true (then the event is dropped). Each attempt is a §4.5 Delivery record.
PULL: events are kept per subscription; `GET .../events` long-polls from the committed offset and
`PUT .../cursor {offset}` commits (`nextCursor.offset` = next position to read).

Assumptions (leanix-api.md "Open points"): success = any 2xx, no signature, no auto-deactivation;
`errorCount` counts failed attempts since the last success and resets (with
`firstTimeDeliveryFailed`) on success; the `callback` script is stored but not executed; the
`Authorization` value is masked in delivery records.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from local.emulator.service_http import (
    ApiError,
    caller,
    handles_api_errors,
    iso_micros,
    iso_millis,
    ok_envelope,
    parse_bool,
    parse_int,
    read_json_object,
    utc_now,
)
from local.emulator.state import cancel_task
from shared.logging import get_logger

BASE = "/services/webhooks/v1"
DELIVERY_TYPES = ("PUSH", "PULL")
PAYLOAD_MODES = ("DEFAULT", "WRAPPED_EVENT", "NO_PAYLOAD")
WORKSPACE_CONSTRAINTS = ("WORKSPACE", "NO_WORKSPACE", "ANY")
TARGET_METHODS = ("POST", "PUT", "PATCH")
_SERVER_FIELDS = ("id", "createdAt", "lastDeliveryStatus", "errorCount", "firstTimeDeliveryFailed")
_INPUT_FIELDS = (
    "identifier",
    "deliveryType",
    "tagSets",
    "workspaceId",
    "userId",
    "targetUrl",
    "targetMethod",
    "authorizationHeader",
    "callback",
    "ignoreError",
    "maxBatchSize",
    "workspaceConstraint",
    "active",
    "payloadMode",
)
MAX_PULL_TIMEOUT_SECONDS = 60.0
_log = get_logger(__name__)


@dataclass
class WebhookEvent:
    """A webhooks Event (§4.4 envelope) as stored and fanned out."""

    uuid: str
    number: int
    created_at: str
    type: str
    tags: list[str]
    payload: dict[str, Any]
    workspace_id: str | None
    user_id: str | None
    source_id: str | None
    sequence: int | None

    def envelope(self, source_url: str) -> dict[str, Any]:
        """The WRAPPED_EVENT body: the whole webhooks Event."""
        return {
            "id": self.uuid,
            "createdAt": self.created_at,
            "type": self.type,
            "sourceName": "EAM",
            "sourceId": self.source_id,
            "sourceUrl": source_url,
            "workspaceId": self.workspace_id,
            "userId": self.user_id,
            "tags": list(self.tags),
            "payload": self.payload,
            "sequenceInfo": self.sequence,
        }


@dataclass
class Subscription:
    """A subscription's stored fields plus its delivery machinery."""

    data: dict[str, Any]
    pending: deque[WebhookEvent] = field(default_factory=deque)  # PUSH queue
    pulled: list[WebhookEvent] = field(default_factory=list)  # PULL log; index = offset
    committed: int = 0
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    wake: asyncio.Event | None = None
    task: asyncio.Task[None] | None = None
    loop: asyncio.AbstractEventLoop | None = None

    @property
    def id(self) -> str:
        return str(self.data["id"])

    def public(self) -> dict[str, Any]:
        """The §4.2 Subscription as the API returns it."""
        return dict(self.data)

    def accepts(self, event: WebhookEvent) -> bool:
        """Tag-set and workspace-constraint match (an event matches when it has all tags of one set)."""
        if not self.data.get("active", True):
            return False
        constraint = self.data.get("workspaceConstraint", "WORKSPACE")
        if constraint == "WORKSPACE" and event.workspace_id != self.data.get("workspaceId"):
            return False
        if constraint == "NO_WORKSPACE" and event.workspace_id is not None:
            return False
        tags = set(event.tags)
        return any(set(tag_set) <= tags for tag_set in self.data.get("tagSets") or [])


class WebhooksState:
    """Subscriptions and events of one workspace; thread-safe, since listeners may run off the loop."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.workspace = emulator.workspace
        self.lock = threading.RLock()
        self.subscriptions: dict[str, Subscription] = {}
        self.events: list[WebhookEvent] = []
        self._numbers = itertools.count(1)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.delivery_count = 0
        self._delivery_waiters: list[asyncio.Future[None]] = []
        self.workspace.add_listener(self.on_change)

    # -------------------------------------------------------------- events in
    def on_change(self, change: Any) -> None:
        """Workspace listener: turn a ChangeEvent into a webhooks Event and fan it out."""
        number = next(self._numbers)
        payload: dict[str, Any] = {
            "id": number,
            "type": change.payload_type,
            "userId": change.user_id,
            "createdAt": iso_micros(change.created_at),
            "workspaceId": change.workspace_id,
            "transactionSequenceNumber": change.transaction_sequence_number,
            "clonedFactSheet": False,
            "factSheet": change.fact_sheet,
        }
        if getattr(change, "relation", None) is not None:
            payload["relation"] = change.relation
        if getattr(change, "tag", None) is not None:
            payload["tag"] = change.tag
        event = WebhookEvent(
            uuid=str(uuid.uuid4()),
            number=number,
            created_at=iso_micros(change.created_at),
            type=change.event_type,
            tags=["pathfinder", change.event_type],
            payload=payload,
            workspace_id=change.workspace_id,
            user_id=change.user_id,
            source_id=str(change.fact_sheet.get("id")),
            sequence=change.transaction_sequence_number,
        )
        self.publish(event)

    def publish_raw(self, body: dict[str, Any], user_id: str) -> WebhookEvent:
        """`POST /events`: publish an event given as a webhooks Event body (validated here)."""
        tags = body.get("tags")
        if not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
            raise ApiError(400, "'tags' is required: a non-empty list of strings.", "tags")
        payload = body.get("payload")
        if not isinstance(payload, dict):
            raise ApiError(400, "'payload' is required and must be an object.", "payload")
        for name in ("type", "workspaceId", "sourceId"):
            if body.get(name) is not None and not isinstance(body.get(name), str):
                raise ApiError(400, f"'{name}' must be a string.", name)
        event = WebhookEvent(
            uuid=str(uuid.uuid4()),
            number=next(self._numbers),
            created_at=iso_micros(utc_now()),
            type=str(body.get("type") or tags[-1]),
            tags=list(tags),
            payload=payload,
            workspace_id=body.get("workspaceId"),
            user_id=user_id,
            source_id=body.get("sourceId"),
            sequence=None,
        )
        self.publish(event)
        return event

    def publish(self, event: WebhookEvent) -> None:
        """Store the event and hand it to every matching subscription."""
        with self.lock:
            self.events.append(event)
            targets = [s for s in self.subscriptions.values() if s.accepts(event)]
            for sub in targets:
                if sub.data["deliveryType"] == "PUSH":
                    sub.pending.append(event)
                else:
                    sub.pulled.append(event)
        for sub in targets:
            self._wake(sub)

    # -------------------------------------------------------------- loop plumbing
    def bind_loop(self) -> None:
        """Remember the running loop (called from request handlers) and make sure PUSH senders run."""
        loop = asyncio.get_running_loop()
        self.loop = loop
        with self.lock:
            subs = list(self.subscriptions.values())
        for sub in subs:
            self._ensure_sender(sub)

    def _wake(self, sub: Subscription) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        loop = sub.loop or self.loop
        if running is not None and (loop is None or loop is running):
            self._ensure_sender(sub)
            if sub.wake is not None:
                sub.wake.set()
            return
        if loop is None or loop.is_closed():
            return  # no loop yet: the next request on the loop starts the sender
        with contextlib.suppress(RuntimeError):  # the loop just closed: nothing to deliver to any more
            loop.call_soon_threadsafe(self._wake_on_loop, sub)

    def _wake_on_loop(self, sub: Subscription) -> None:
        self._ensure_sender(sub)
        if sub.wake is not None:
            sub.wake.set()

    def _ensure_sender(self, sub: Subscription) -> None:
        """(Re)create the subscription's wake event and PUSH sender on the running loop."""
        loop = asyncio.get_running_loop()
        if sub.loop is not loop:
            sub.loop = loop
            sub.wake = asyncio.Event()
            sub.task = None
        if sub.wake is None:
            sub.wake = asyncio.Event()
        if sub.data["deliveryType"] != "PUSH" or sub.id not in self.subscriptions:
            return
        if sub.task is None or sub.task.done():
            sub.task = self.emulator.spawn(self._sender(sub), name=f"webhook-sender-{sub.id}")

    def stop(self, sub: Subscription) -> None:
        """Stop a subscription's sender (on delete or when it becomes PULL/inactive)."""
        task = sub.task
        sub.task = None
        if task is not None:
            cancel_task(task)

    def close(self) -> None:
        """Detach from the workspace and stop every sender (the emulator was reset)."""
        self.workspace.remove_listener(self.on_change)
        with self.lock:
            subs = list(self.subscriptions.values())
        for sub in subs:
            self.stop(sub)

    # -------------------------------------------------------------- PUSH
    async def _sender(self, sub: Subscription) -> None:
        config = self.emulator.config
        async with httpx.AsyncClient(trust_env=False) as client:
            # A reset replaces this state object: its senders then stop instead of retrying forever.
            while sub.id in self.subscriptions and self.emulator.webhooks is self:
                with self.lock:
                    event = sub.pending[0] if sub.pending and sub.data.get("active", True) else None
                if event is None:
                    assert sub.wake is not None
                    sub.wake.clear()
                    await sub.wake.wait()
                    continue
                delivered = await self._deliver(client, sub, event, config.webhook_delivery_timeout_seconds)
                if delivered or sub.data.get("ignoreError"):
                    with self.lock:
                        if sub.pending and sub.pending[0] is event:
                            sub.pending.popleft()
                    continue
                await asyncio.sleep(config.webhook_retry_interval_seconds)

    def body_for(self, sub: Subscription, event: WebhookEvent) -> dict[str, Any]:
        """The delivered body for the subscription's `payloadMode`."""
        mode = sub.data.get("payloadMode", "DEFAULT")
        if mode == "NO_PAYLOAD":
            return {}
        if mode == "WRAPPED_EVENT":
            return event.envelope(str(getattr(self.emulator, "base_url", "")))
        return event.payload

    async def _deliver(
        self, client: httpx.AsyncClient, sub: Subscription, event: WebhookEvent, timeout_s: float
    ) -> bool:
        body = json.dumps(self.body_for(sub, event))
        headers = {"Content-Type": "application/json"}
        authorization = sub.data.get("authorizationHeader")
        if authorization:
            headers["Authorization"] = str(authorization)
        started = time.monotonic()
        status: int | None = None
        response_body = ""
        response_headers: dict[str, str] = {}
        try:
            response = await client.request(
                sub.data["targetMethod"],
                sub.data["targetUrl"],
                content=body,
                headers=headers,
                timeout=timeout_s,
            )
            status = response.status_code
            response_body = response.text[:4096]
            response_headers = dict(response.headers)
        except httpx.HTTPError as exc:
            response_body = f"{type(exc).__name__}: delivery failed"
        except Exception as exc:  # e.g. an invalid URL; a failed delivery, never a dead sender
            response_body = f"{type(exc).__name__}: delivery failed"
        success = status is not None and 200 <= status < 300
        duration_ms = int((time.monotonic() - started) * 1000)
        shown_headers = dict(headers)
        if "Authorization" in shown_headers:
            shown_headers["Authorization"] = "***"  # the shared secret never leaves through the API
        record = {
            "id": str(uuid.uuid4()),
            "createdAt": iso_millis(utc_now()),
            "requestHeaders": shown_headers,
            "payload": body,
            "targetUrl": sub.data["targetUrl"],
            "targetMethod": sub.data["targetMethod"],
            "basicAuth": None,
            "success": success,
            "httpStatus": status,
            "responseBody": response_body,
            "responseHeaders": response_headers,
            "active": bool(sub.data.get("active", True)),
            "duration": duration_ms,
            "eventProcessingTime": duration_ms,
            "eventId": event.uuid,
            "eventNumber": event.number,
            "subscriptionId": sub.id,
        }
        with self.lock:
            sub.deliveries.append(record)
            sub.data["lastDeliveryStatus"] = status
            if success:
                sub.data["errorCount"] = 0
                sub.data["firstTimeDeliveryFailed"] = None
            else:
                sub.data["errorCount"] = int(sub.data.get("errorCount") or 0) + 1
                if sub.data.get("firstTimeDeliveryFailed") is None:
                    sub.data["firstTimeDeliveryFailed"] = record["createdAt"]
        self.delivery_count += 1
        waiters, self._delivery_waiters = self._delivery_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if not success:
            _log.info("webhook delivery to subscription %s failed (status %s)", sub.id, status)
        return success

    async def wait_for_deliveries(self, count: int, limit_s: float) -> bool:
        """Wait (on the server loop) until `count` delivery attempts are recorded; False after `limit_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while self.delivery_count < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._delivery_waiters.append(waiter)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, remaining)
        return True

    # -------------------------------------------------------------- PULL
    async def pull(self, sub: Subscription, wait_s: float, auto_commit: bool) -> dict[str, Any]:
        """Long-poll: return events from the committed offset at once, or wait up to `wait_s` seconds."""
        self._ensure_sender(sub)
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            with self.lock:
                start = sub.committed
                available = sub.pulled[start:]
            if available or wait_s <= 0:
                break
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            assert sub.wake is not None
            sub.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.wake.wait(), remaining)
        budget = int(sub.data.get("maxBatchSize") or 512) * 1024
        chosen: list[dict[str, Any]] = []
        size = 0
        for offset, event in enumerate(available, start=start):
            text = json.dumps(self.body_for(sub, event))
            if chosen and size + len(text) > budget:
                break  # soft limit: a single large event is still returned
            chosen.append({"cursor": {"offset": offset}, "event": text})
            size += len(text)
        next_offset = start + len(chosen)
        if auto_commit:
            with self.lock:
                sub.committed = max(sub.committed, next_offset)
        return {"events": chosen, "nextCursor": {"offset": next_offset}}


def webhooks_state(emulator: Any) -> WebhooksState:
    """The emulator's webhooks slot, created on first use (and again after a reset)."""
    state = getattr(emulator, "webhooks", None)
    if not isinstance(state, WebhooksState) or state.workspace is not emulator.workspace:
        if isinstance(state, WebhooksState):
            state.close()
        state = WebhooksState(emulator)
        emulator.webhooks = state
    return state


# ---------------------------------------------------------------------------------------------------
# validation


def validate_subscription(body: dict[str, Any], workspace_id: str, user_id: str) -> dict[str, Any]:
    """Validate a §4.2 Subscription body; returns the stored fields (400 with the reason otherwise)."""
    unknown = sorted(set(body) - set(_INPUT_FIELDS) - set(_SERVER_FIELDS))
    if unknown:
        raise ApiError(400, f"Unknown subscription fields: {', '.join(unknown)}.", unknown[0])
    data: dict[str, Any] = {}
    identifier = body.get("identifier")
    if identifier is not None and (not isinstance(identifier, str) or len(identifier) > 255):
        raise ApiError(400, "'identifier' must be a string of at most 255 characters.", "identifier")
    data["identifier"] = identifier
    delivery_type = body.get("deliveryType")
    if delivery_type not in DELIVERY_TYPES:
        raise ApiError(400, "'deliveryType' is required: PUSH or PULL.", "deliveryType")
    data["deliveryType"] = delivery_type
    tag_sets = body.get("tagSets")
    if not isinstance(tag_sets, list) or not all(
        isinstance(s, list) and s and all(isinstance(t, str) and t for t in s) for s in tag_sets
    ):
        raise ApiError(400, "'tagSets' is required: a list of non-empty lists of tag strings.", "tagSets")
    data["tagSets"] = [list(s) for s in tag_sets]
    ignore_error = body.get("ignoreError")
    if not isinstance(ignore_error, bool):
        raise ApiError(400, "'ignoreError' is required and must be true or false.", "ignoreError")
    data["ignoreError"] = ignore_error
    target_url, target_method = body.get("targetUrl"), body.get("targetMethod")
    if delivery_type == "PUSH":
        if not isinstance(target_url, str) or not target_url.startswith(("http://", "https://")):
            raise ApiError(400, "'targetUrl' is required for PUSH and must be an http(s) URL.", "targetUrl")
        if target_method not in TARGET_METHODS:
            raise ApiError(400, "'targetMethod' is required for PUSH: POST, PUT or PATCH.", "targetMethod")
    else:
        if target_url is not None and not isinstance(target_url, str):
            raise ApiError(400, "'targetUrl' must be a string.", "targetUrl")
        if target_method is not None and target_method not in TARGET_METHODS:
            raise ApiError(400, "'targetMethod' must be POST, PUT or PATCH.", "targetMethod")
    data["targetUrl"], data["targetMethod"] = target_url, target_method
    authorization = body.get("authorizationHeader")
    if authorization is not None and (not isinstance(authorization, str) or len(authorization) > 4096):
        raise ApiError(
            400, "'authorizationHeader' must be a string of at most 4096 characters.", "authorizationHeader"
        )
    data["authorizationHeader"] = authorization
    callback = body.get("callback")
    if callback is not None and not isinstance(callback, str):
        raise ApiError(400, "'callback' must be a string.", "callback")
    data["callback"] = callback
    batch = body.get("maxBatchSize", 512)
    if batch is None:
        batch = 512
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= 51200:
        raise ApiError(400, "'maxBatchSize' must be an integer from 1 to 51200 (KiB).", "maxBatchSize")
    data["maxBatchSize"] = batch
    constraint = body.get("workspaceConstraint") or "WORKSPACE"
    if constraint not in WORKSPACE_CONSTRAINTS:
        raise ApiError(
            400, "'workspaceConstraint' must be WORKSPACE, NO_WORKSPACE or ANY.", "workspaceConstraint"
        )
    data["workspaceConstraint"] = constraint
    mode = body.get("payloadMode") or "DEFAULT"
    if mode not in PAYLOAD_MODES:
        raise ApiError(400, "'payloadMode' must be DEFAULT, WRAPPED_EVENT or NO_PAYLOAD.", "payloadMode")
    data["payloadMode"] = mode
    active = body.get("active", True)
    if not isinstance(active, bool):
        raise ApiError(400, "'active' must be true or false.", "active")
    data["active"] = active
    for name, default in (("workspaceId", workspace_id), ("userId", user_id)):
        value = body.get(name) or default
        if not isinstance(value, str):
            raise ApiError(400, f"'{name}' must be a string.", name)
        data[name] = value
    if data["workspaceId"] != workspace_id:
        raise ApiError(403, "'workspaceId' must be the workspace of the access token.", "workspaceId")
    return data


# ---------------------------------------------------------------------------------------------------
# routes


def routes(emulator: Any) -> list[BaseRoute]:
    """The Webhooks API routes plus `/_emulator/webhooks/deliveries` and `/_emulator/webhooks/events`."""

    def state_for(request: Request) -> WebhooksState:
        state = webhooks_state(emulator)
        state.bind_loop()
        return state

    def find(state: WebhooksState, request: Request) -> Subscription:
        sub = state.subscriptions.get(request.path_params["id"])
        if sub is None:
            raise ApiError(404, f"No subscription with id {request.path_params['id']!r}.", "id")
        return sub

    def page(request: Request, items: list[dict[str, Any]], type_name: str) -> Response:
        number = parse_int(request.query_params.get("page"), "page", 1, 1)
        size = parse_int(request.query_params.get("size"), "size", 30, 1, 100)
        chosen = items[(number - 1) * size : number * size]
        return JSONResponse(ok_envelope(chosen, type_name, total=len(items)))

    @handles_api_errors
    async def list_subscriptions(request: Request) -> Response:
        caller(request)
        state = state_for(request)
        identifier = request.query_params.get("identifier")
        workspace_id = request.query_params.get("workspaceId")
        with state.lock:
            subs = [
                s.public()
                for s in state.subscriptions.values()
                if (identifier is None or s.data.get("identifier") == identifier)
                and (workspace_id is None or s.data.get("workspaceId") == workspace_id)
            ]
        return page(request, subs, "SubscriptionListResponse")

    @handles_api_errors
    async def create_subscription(request: Request) -> Response:
        who = caller(request)
        state = state_for(request)
        data = validate_subscription(await read_json_object(request), who.workspace_id, who.user_id)
        data.update(
            {
                "id": str(uuid.uuid4()),
                "createdAt": iso_millis(utc_now()),
                "lastDeliveryStatus": None,
                "errorCount": 0,
                "firstTimeDeliveryFailed": None,
            }
        )
        sub = Subscription(data)
        with state.lock:
            state.subscriptions[sub.id] = sub
        state._ensure_sender(sub)
        return JSONResponse(ok_envelope(sub.public(), "SubscriptionResponse"))

    @handles_api_errors
    async def get_subscription(request: Request) -> Response:
        caller(request)
        state = state_for(request)
        return JSONResponse(ok_envelope(find(state, request).public(), "SubscriptionResponse"))

    @handles_api_errors
    async def put_subscription(request: Request) -> Response:
        who = caller(request)
        state = state_for(request)
        sub = find(state, request)
        body = await read_json_object(request)
        data = validate_subscription(body, who.workspace_id, who.user_id)
        if data["deliveryType"] != sub.data["deliveryType"]:
            raise ApiError(400, "'deliveryType' cannot be changed after creation.", "deliveryType")
        with state.lock:
            sub.data.update(data)
        state._ensure_sender(sub)
        if sub.wake is not None:
            sub.wake.set()  # e.g. re-activated: resume delivering
        return JSONResponse(ok_envelope(sub.public(), "SubscriptionResponse"))

    @handles_api_errors
    async def delete_subscription(request: Request) -> Response:
        caller(request)
        state = state_for(request)
        sub = find(state, request)
        with state.lock:
            state.subscriptions.pop(sub.id, None)
        state.stop(sub)
        return JSONResponse(ok_envelope(sub.public(), "SubscriptionResponse"))

    @handles_api_errors
    async def deliveries(request: Request) -> Response:
        caller(request)
        state = state_for(request)
        sub = find(state, request)
        with state.lock:
            records = list(reversed(sub.deliveries))  # default sort createdAt-desc
        return page(request, records, "DeliveryListResponse")

    @handles_api_errors
    async def pull_events(request: Request) -> Response:
        caller(request)
        state = state_for(request)
        sub = find(state, request)
        if sub.data["deliveryType"] != "PULL":
            raise ApiError(400, "Events can be pulled only from a PULL subscription.", "deliveryType")
        raw_timeout = request.query_params.get("timeout")
        try:
            timeout = 10.0 if raw_timeout in (None, "") else float(raw_timeout)
        except ValueError as exc:
            raise ApiError(400, "Query parameter 'timeout' must be a number of seconds.", "timeout") from exc
        if not 0 <= timeout <= MAX_PULL_TIMEOUT_SECONDS:
            raise ApiError(
                400, f"'timeout' must be between 0 and {MAX_PULL_TIMEOUT_SECONDS:.0f} seconds.", "timeout"
            )
        auto_commit = parse_bool(request.query_params.get("autoCommit"), "autoCommit")
        result = await state.pull(sub, timeout, auto_commit)
        return JSONResponse(ok_envelope(result, "PullResultResponse", total=len(result["events"])))

    @handles_api_errors
    async def commit_cursor(request: Request) -> Response:
        caller(request)
        state = state_for(request)
        sub = find(state, request)
        if sub.data["deliveryType"] != "PULL":
            raise ApiError(400, "Only a PULL subscription has a cursor.", "deliveryType")
        body = await read_json_object(request)
        offset = body.get("offset")
        with state.lock:
            if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= len(sub.pulled):
                raise ApiError(400, f"'offset' must be an integer from 0 to {len(sub.pulled)}.", "offset")
            sub.committed = offset
        return JSONResponse(
            {"status": "OK", "type": "BasicResponse", "message": None, "errors": [], "total": 0}
        )

    @handles_api_errors
    async def post_event(request: Request) -> Response:
        who = caller(request)
        state = state_for(request)
        event = state.publish_raw(await read_json_object(request), who.user_id)
        return JSONResponse(
            ok_envelope(event.envelope(str(getattr(emulator, "base_url", ""))), "EventResponse")
        )

    @handles_api_errors
    async def inspect_deliveries(request: Request) -> Response:
        """All delivery attempts; `?min=N&timeout=S` first waits until N attempts exist (tests, demo)."""
        state = state_for(request)
        minimum = parse_int(request.query_params.get("min"), "min", 0, 0)
        if minimum:
            limit = parse_int(request.query_params.get("timeout"), "timeout", 10, 0, 60)
            await state.wait_for_deliveries(minimum, float(limit))
        with state.lock:
            records = [d for s in state.subscriptions.values() for d in s.deliveries]
        records.sort(key=lambda d: (d["createdAt"], d["eventNumber"]))
        return JSONResponse(records)

    async def inspect_events(request: Request) -> Response:
        state = state_for(request)
        with state.lock:
            events = [e.envelope(str(getattr(emulator, "base_url", ""))) for e in state.events]
        return JSONResponse(events)

    return [
        Route(f"{BASE}/subscriptions", list_subscriptions, methods=["GET"]),
        Route(f"{BASE}/subscriptions", create_subscription, methods=["POST"]),
        Route(f"{BASE}/subscriptions/{{id}}", get_subscription, methods=["GET"]),
        Route(f"{BASE}/subscriptions/{{id}}", put_subscription, methods=["PUT"]),
        Route(f"{BASE}/subscriptions/{{id}}", delete_subscription, methods=["DELETE"]),
        Route(f"{BASE}/subscriptions/{{id}}/deliveries", deliveries, methods=["GET"]),
        Route(f"{BASE}/subscriptions/{{id}}/events", pull_events, methods=["GET"]),
        Route(f"{BASE}/subscriptions/{{id}}/cursor", commit_cursor, methods=["PUT"]),
        Route(f"{BASE}/events", post_event, methods=["POST"]),
        Route("/_emulator/webhooks/deliveries", inspect_deliveries, methods=["GET"]),
        Route("/_emulator/webhooks/events", inspect_events, methods=["GET"]),
    ]

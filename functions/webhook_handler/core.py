"""The webhook handler's logic, cloud-neutral: receive, process, PULL, reconcile.

- `receive_delivery`: authenticate (constant time, before anything else), check size, content type
  and shape, enqueue, answer 202. Nothing slow happens before the answer.
- `process_event`: dedup, ordering guard, own-user skip, then the rules (TIME, notifications).
- `pull_once`: PULL mode; enqueue first, commit the cursor after.
- `reconcile_time_classes`: page every Application and repair drifted TIME classes.

Exactly-once effects from at-least-once delivery (`process_event`):
1. Dedup record `webhook:event:<event_key>` is READ first; it is written only after every rule
   succeeded, so a failing rule leaves no record and the retry runs the rules again.
2. The per-fact-sheet high-water mark `tsn:<fact sheet id>` is READ next; an event at or below it
   is stale: the TIME rule skips it (a newer event already set the class from a newer state), but
   its notifications are still sent, so an event whose post failed and is retried after a newer one
   is not lost. The mark is ADVANCED only after the rules succeeded, so a failed event never makes
   its own retry (or an older event still in flight) look stale.
3. Rules are idempotent on their own: the TIME rule re-reads the fact sheet and compares before it
   writes (a replay writes nothing); each notification channel commits its own
   `webhook:notified:<event_key>:<channel>` marker after posting, so a retry caused by a later
   failure does not post twice. Only a crash between a post and its marker can repeat a message.
Two workers racing on the same event both pass step 1, but both run idempotent rules and the
`put_if_absent` commit makes one of them the record; the end state is the same.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from functions.webhook_handler.models import (
    MAX_BODY_BYTES,
    EventTooLargeError,
    InvalidEventError,
    WebhookEvent,
    parse_event,
)
from functions.webhook_handler.notifications import (
    NotificationConfig,
    load_notification_config,
    should_notify,
    slack_message,
    teams_message,
)
from functions.webhook_handler.queueing import enqueue_events, event_from_queue_body
from functions.webhook_handler.time_rule import (
    TargetMode,
    TimeRuleConfig,
    TimeUpdate,
    load_time_rule_config,
    plan_time_update,
)
from shared.errors import BundleError, ConfigurationError
from shared.leanix import LeanIXClient, Patch, RetryPolicy, RevisionClash, retry_async
from shared.logging import get_logger, log_context, register_secret
from shared.platform import BlobStore, NotFound, Platform, Queue, StateStore
from shared.runtime import Runtime
from shared.settings import Settings
from shared.tls import verifying_tls_context

logger = get_logger(__name__)

Sleep = Callable[[float], Awaitable[None]]

JSON_CONTENT_TYPE = re.compile(r"^application/([a-z0-9.+-]+\+)?json$")
_GRAPHQL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Events after which an Application's TIME class may have to change.
TIME_EVENT_TYPES = frozenset(
    {
        "FACT_SHEET_CREATED",
        "FACT_SHEET_UPDATED",
        "FACT_SHEET_FIELD_UPDATED",
        "FACT_SHEET_TAG_ADDED",
        "FACT_SHEET_TAG_REMOVED",
    }
)
APPLICATION = "Application"
REVISION_CLASH_ATTEMPTS = 3
NOTIFY_TIMEOUT_SECONDS = 10.0


# --------------------------------------------------------------------------- receive


@dataclass(frozen=True)
class HttpResult:
    """What an HTTP adapter answers: a status and a JSON body."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class ReceiveConfig:
    """What the receiving endpoint needs. `secret` is the configured WEBHOOK_SECRET (or None)."""

    secret: str | None = field(repr=False)
    secret_name: str
    queue_name: str
    inline_max_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ReceiveConfig:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        return cls(
            secret=secret or None,
            secret_name=settings.webhook_secret_name,
            queue_name=settings.webhook_queue_name,
            inline_max_bytes=settings.webhook_inline_max_bytes,
        )


async def resolve_webhook_secret(config: ReceiveConfig, platform: Platform) -> str | None:
    """WEBHOOK_SECRET, else the secret store entry WEBHOOK_SECRET_NAME; None when neither exists."""
    if config.secret:
        return config.secret
    try:
        secret = await platform.secrets.get_current(config.secret_name)
    except NotFound:
        return None
    register_secret(secret)
    return secret or None


def _error(status: int, message: str) -> HttpResult:
    return HttpResult(status, {"error": message})


async def receive_delivery(
    headers: Mapping[str, str],
    body: bytes,
    config: ReceiveConfig,
    platform: Platform,
    *,
    base64_body: bool = False,
) -> HttpResult:
    """Check one LeanIX delivery and enqueue it: 202 when queued.

    401 for a missing or wrong `Authorization` (compared in constant time, before the body is
    looked at), 503 when no secret is configured or the queue is unavailable, 413 above the
    LeanIX maximum, 415 for a non-JSON content type, 400 naming the field for a malformed body.
    `base64_body` (API Gateway's `isBase64Encoded`) decodes the body, after authentication.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    try:
        secret = await resolve_webhook_secret(config, platform)
    except BundleError as exc:
        # The secret store is down: LeanIX retries a non-2xx delivery, so a 503 loses nothing.
        logger.error("could not read WEBHOOK_SECRET_NAME from the store", extra=log_context(error=str(exc)))
        return _error(503, "the webhook secret could not be read; LeanIX will retry the delivery")
    if not secret:
        return _error(
            503,
            "WEBHOOK_SECRET is not configured (nor the secret store entry WEBHOOK_SECRET_NAME); "
            "unauthenticated deliveries are refused",
        )
    provided = lowered.get("authorization", "")
    if not hmac.compare_digest(provided.encode("utf-8"), secret.encode("utf-8")):
        return _error(401, "missing or wrong Authorization header")
    if base64_body:
        try:
            body = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return _error(400, "body is marked base64 but is not valid base64")
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"webhook body is {len(body)} bytes; LeanIX sends at most {MAX_BODY_BYTES} bytes")
    content_type = lowered.get("content-type", "").split(";", 1)[0].strip().lower()
    if not JSON_CONTENT_TYPE.match(content_type):
        return _error(415, f"Content-Type must be application/json, got {content_type or 'none'!r}")
    try:
        event = parse_event(body)
    except EventTooLargeError as exc:
        return _error(413, str(exc))
    except InvalidEventError as exc:
        return _error(400, str(exc))
    try:
        await enqueue_events(
            [event], platform.queue, config.queue_name, platform.blobs, config.inline_max_bytes
        )
    except BundleError as exc:
        # LeanIX retries a non-2xx delivery every 50 s, so a 503 loses nothing.
        logger.error("could not enqueue webhook event", extra=log_context(error=str(exc)))
        return _error(503, "the event queue is unavailable; LeanIX will retry the delivery")
    logger.info(
        "webhook event queued",
        extra=log_context(event_key=event.event_key, event_type=event.event_type),
    )
    return HttpResult(202, {"status": "accepted", "eventKey": event.event_key})


# --------------------------------------------------------------------------- process


@dataclass(frozen=True)
class ProcessorConfig:
    """The rules' configuration, validated once (`from_settings` raises `ConfigurationError`)."""

    time_rule: TimeRuleConfig | None
    notifications: NotificationConfig
    slack_url: str | None = field(repr=False)
    teams_url: str | None = field(repr=False)
    dedup_ttl_seconds: float
    queue_name: str

    @classmethod
    def from_settings(cls, settings: Settings) -> ProcessorConfig:
        """Build and validate the rule configuration; errors name the setting to fix."""
        time_rule = load_time_rule_config(settings.time_rule_config) if settings.time_rule_enabled else None
        if time_rule is not None:
            names = [time_rule.functional_field, time_rule.technical_field]
            if time_rule.mode is TargetMode.FIELD:
                names.append(time_rule.field)
            for name in names:
                if not _GRAPHQL_NAME.match(name):
                    raise ConfigurationError(f"TIME_RULE_CONFIG: {name!r} is not a valid GraphQL field name")
        notifications = load_notification_config(
            event_types=settings.notify_event_types,
            fact_sheet_types=settings.notify_fact_sheet_types,
            ui_base_url=settings.leanix_host,
            workspace=settings.notify_workspace_name,
        )
        slack = settings.slack_webhook_url.get_secret_value() if settings.slack_webhook_url else ""
        teams = settings.teams_webhook_url.get_secret_value() if settings.teams_webhook_url else ""
        for name, url in (("SLACK_WEBHOOK_URL", slack), ("TEAMS_WEBHOOK_URL", teams)):
            if url and not url.startswith("https://") and not _is_loopback_http(url):
                raise ConfigurationError(f"{name} must be an https:// URL")
            register_secret(url)
        return cls(
            time_rule=time_rule,
            notifications=notifications,
            slack_url=slack or None,
            teams_url=teams or None,
            dedup_ttl_seconds=settings.webhook_dedup_ttl_seconds,
            queue_name=settings.webhook_queue_name,
        )


def _is_loopback_http(url: str) -> bool:
    # Plain http only to a local receiver (tests, the demo); never over a network.
    return url.startswith(("http://127.0.0.1:", "http://localhost:"))


class Outcome(StrEnum):
    """What `process_event` did with an event."""

    DUPLICATE = "duplicate"
    STALE = "stale"
    OWN_USER = "own_user"
    APPLIED = "applied"


@dataclass(frozen=True)
class ProcessResult:
    outcome: Outcome
    time_update: TimeUpdate | None = None
    notified: tuple[str, ...] = ()


class NotificationError(BundleError):
    """Posting to Slack or Teams failed. Never carries the (secret) URL."""

    def __init__(self, channel: str, status: int | None, reason: str) -> None:
        super().__init__(f"posting to {channel} failed: {reason}")
        self.status = status


@dataclass
class ProcessorDeps:
    """The collaborators of one worker invocation; caches per-invocation look-ups."""

    config: ProcessorConfig
    client: LeanIXClient
    state: StateStore
    http: httpx.AsyncClient
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleep = asyncio.sleep
    clock: Callable[[], float] = time.time
    _own_user_id: str | None = field(default=None, init=False)
    _tag_ids: dict[str, str] | None = field(default=None, init=False)
    _workspace_name: str | None = field(default=None, init=False)

    async def own_user_id(self) -> str | None:
        """The bundle's technical user (`principal.id` of the client's token)."""
        if self._own_user_id is None:
            self._own_user_id = (await self.client.token_claims()).user_id or ""
        return self._own_user_id or None

    async def time_tag_ids(self) -> dict[str, str]:
        """Tag name -> id of the TIME tag group, read once per invocation."""
        if self._tag_ids is None:
            rule = self.config.time_rule
            if rule is None or rule.mode is not TargetMode.TAG_GROUP:
                self._tag_ids = {}
            else:
                self._tag_ids = await load_time_tag_ids(self.client, rule)
        return self._tag_ids

    async def notification_config(self) -> NotificationConfig:
        """The notification config, with the workspace name from the token when not configured."""
        config = self.config.notifications
        if config.workspace:
            return config
        if self._workspace_name is None:
            claims = await self.client.token_claims()
            permission = (claims.raw.get("principal") or {}).get("permission") or {}
            name = permission.get("workspaceName") if isinstance(permission, dict) else None
            self._workspace_name = name if isinstance(name, str) else ""
        if not self._workspace_name:
            return config
        return config.model_copy(update={"workspace": self._workspace_name})


async def load_time_tag_ids(client: LeanIXClient, rule: TimeRuleConfig) -> dict[str, str]:
    """The TIME tag group's tags by name. Raises `ConfigurationError` when the group has none."""
    tags = await client.graphql.all_tags(tag_group_name=rule.tag_group)
    by_name = {tag.name: tag.id for tag in tags}
    if not by_name:
        raise ConfigurationError(
            f"tag group {rule.tag_group!r} was not found in the workspace (or has no tags): create it with "
            f"the tags {', '.join(rule.tag_names.values())}, or set tag_group in TIME_RULE_CONFIG"
        )
    return by_name


def dedup_key(event: WebhookEvent) -> str:
    return f"webhook:event:{event.event_key}"


def high_water_mark_key(fact_sheet_id: str) -> str:
    return f"tsn:{fact_sheet_id}"


async def process_event(event: WebhookEvent, deps: ProcessorDeps) -> ProcessResult:
    """Run the rules for one event at most once in effect (see the module docstring for the order).

    Raises when a rule fails, so the message is retried and finally dead-lettered.
    """
    state = deps.state
    key = dedup_key(event)
    if await state.get(key) is not None:
        return ProcessResult(Outcome.DUPLICATE)
    fact_sheet = event.fact_sheet
    sequence = event.transaction_sequence_number
    mark_key = high_water_mark_key(fact_sheet.id) if fact_sheet is not None and sequence is not None else None
    stale = False
    if mark_key is not None and sequence is not None:
        mark = await state.get_high_water_mark(mark_key)
        stale = mark is not None and sequence <= mark
        if stale:
            logger.info(
                "stale webhook event: TIME rule skipped, notifications still sent",
                extra=log_context(event_key=event.event_key, sequence=sequence, mark=mark),
            )
    own_user = await deps.own_user_id()
    if own_user is not None and event.user_id == own_user:
        # Our own TIME write comes back as an event: acting on it would loop.
        result = ProcessResult(Outcome.OWN_USER)
    elif stale:
        result = ProcessResult(Outcome.STALE, None, await send_notifications(event, deps))
    else:
        update = await apply_time_rule(event, deps)
        notified = await send_notifications(event, deps)
        result = ProcessResult(Outcome.APPLIED, update, notified)
    if mark_key is not None and sequence is not None and not stale:
        await state.advance_high_water_mark(mark_key, sequence)
    await state.put_if_absent(
        key, {"outcome": result.outcome.value, "at": deps.clock()}, deps.config.dedup_ttl_seconds
    )
    return result


# --------------------------------------------------------------------------- TIME rule


def time_rule_fields(rule: TimeRuleConfig) -> str:
    """The GraphQL selection the TIME rule reads (fits, TIME tags or field, `rev`)."""
    application_fields = [rule.functional_field, rule.technical_field]
    if rule.mode is TargetMode.FIELD:
        application_fields.append(rule.field)
    return (
        "id rev type name status tags { id name tagGroup { name } } "
        f"... on Application {{ {' '.join(application_fields)} }}"
    )


async def apply_time_rule(event: WebhookEvent, deps: ProcessorDeps) -> TimeUpdate | None:
    """For Application events, make the TIME class match the fits; the written update or None."""
    rule = deps.config.time_rule
    fact_sheet = event.fact_sheet
    if rule is None or fact_sheet is None or fact_sheet.type != APPLICATION:
        return None
    if event.event_type not in TIME_EVENT_TYPES:
        return None
    return await ensure_time_class(deps.client, fact_sheet.id, rule, deps.time_tag_ids)


async def ensure_time_class(
    client: LeanIXClient,
    fact_sheet_id: str,
    rule: TimeRuleConfig,
    tag_ids: Callable[[], Awaitable[dict[str, str]]],
    current: dict[str, Any] | None = None,
) -> TimeUpdate | None:
    """Read the Application fresh (never trusting a payload), plan, and write only when needed.

    Writes with `rev`; on `REVISION_CLASH` re-reads and re-plans, up to 3 attempts. `current` may
    pass an already-read node (reconcile) for the first attempt. Returns the applied update.
    """
    fields = time_rule_fields(rule)
    for attempt in range(1, REVISION_CLASH_ATTEMPTS + 1):
        node = current if current is not None else await client.graphql.get_fact_sheet(fact_sheet_id, fields)
        current = None
        if node is None or node.get("status") == "ARCHIVED" or node.get("type") != APPLICATION:
            return None
        ids = await tag_ids() if rule.mode is TargetMode.TAG_GROUP else {}
        update = plan_time_update(node, rule, ids)
        if update is None:
            return None
        patches = [Patch(op=p["op"], path=p["path"], value=p["value"]) for p in update.patches]
        try:
            await client.graphql.update_fact_sheet(
                fact_sheet_id, patches, rev=update.rev, comment="TIME classification (leanix-functions)"
            )
        except RevisionClash:
            if attempt == REVISION_CLASH_ATTEMPTS:
                raise
            logger.info(
                "revision clash on TIME write; re-reading", extra=log_context(fact_sheet=fact_sheet_id)
            )
            continue
        logger.info("TIME class written", extra=log_context(fact_sheet=fact_sheet_id, reason=update.reason))
        return update
    return None  # pragma: no cover - the loop returns or raises


# --------------------------------------------------------------------------- notifications


async def send_notifications(event: WebhookEvent, deps: ProcessorDeps) -> tuple[str, ...]:
    """Post the event to the configured Slack / Teams webhooks; the channels posted to now."""
    config = deps.config
    channels = [
        (name, url) for name, url in (("slack", config.slack_url), ("teams", config.teams_url)) if url
    ]
    if not channels or not should_notify(event, config.notifications):
        return ()
    link = (await deps.notification_config()).link_for(event)
    posted: list[str] = []
    for channel, url in channels:
        marker = f"webhook:notified:{event.event_key}:{channel}"
        if await deps.state.get(marker) is not None:
            continue  # posted by an earlier attempt of this message
        message = slack_message(event, link) if channel == "slack" else teams_message(event, link)
        await post_notification(deps.http, channel, url, message, deps.retry_policy, deps.sleep, deps.clock)
        await deps.state.put_if_absent(marker, "sent", config.dedup_ttl_seconds)
        posted.append(channel)
    return tuple(posted)


def _notification_retryable(error: BaseException) -> bool:
    if isinstance(error, NotificationError):
        return error.status is None or error.status == 429 or error.status >= 500
    return False


async def post_notification(
    http: httpx.AsyncClient,
    channel: str,
    url: str,
    message: dict[str, Any],
    policy: RetryPolicy,
    sleep: Sleep,
    clock: Callable[[], float],
) -> None:
    """POST a message with the bundle's retry policy (429, 5xx and connection errors are retried).

    Raises `NotificationError` (without the URL, which is a secret) when it does not get through.
    """

    async def attempt() -> None:
        try:
            response = await http.post(url, json=message)
        except httpx.HTTPError as exc:
            raise NotificationError(channel, None, type(exc).__name__) from None
        if not 200 <= response.status_code < 300:
            raise NotificationError(channel, response.status_code, f"HTTP {response.status_code}")

    await retry_async(
        attempt,
        policy=policy,
        is_retryable=_notification_retryable,
        sleep=sleep,
        clock=clock,
        description=f"{channel} notification",
    )


# --------------------------------------------------------------------------- PULL


@dataclass(frozen=True)
class PullConfig:
    identifier: str
    timeout_seconds: int
    queue_name: str
    inline_max_bytes: int
    max_rounds: int = 10


async def pull_once(
    client: LeanIXClient, queue: Queue, blobs: BlobStore, config: PullConfig
) -> dict[str, int]:
    """Long-poll the PULL subscription, enqueue its events, then commit the cursor.

    The cursor moves only after `queue.send` returned, so a crash in between re-reads the same
    events (the worker dedups them). Bodies that are not webhook events are counted and skipped:
    no retry can fix them and they must not block the cursor.
    """
    subscription = await client.webhooks.find_by_identifier(config.identifier)
    if subscription is None or not subscription.id:
        raise ConfigurationError(
            f"no webhook subscription {config.identifier!r}: run `python -m functions ensure-subscription` "
            "with WEBHOOK_DELIVERY_MODE=PULL"
        )
    if subscription.delivery_type != "PULL":
        raise ConfigurationError(
            f"subscription {config.identifier!r} is {subscription.delivery_type}, not PULL; "
            "WEBHOOK_DELIVERY_MODE must match the subscription"
        )
    counts = {"enqueued": 0, "skipped": 0, "rounds": 0}
    for round_number in range(config.max_rounds):
        wait = config.timeout_seconds if round_number == 0 else 0
        result = await client.webhooks.pull_events(subscription.id, timeout=wait)
        counts["rounds"] += 1
        if not result.events:
            break
        events: list[WebhookEvent] = []
        for pulled in result.events:
            try:
                events.append(parse_event(json.dumps(pulled.event).encode("utf-8")))
            except InvalidEventError as exc:
                counts["skipped"] += 1
                logger.warning("PULLed body is not a webhook event", extra=log_context(error=str(exc)))
        await enqueue_events(events, queue, config.queue_name, blobs, config.inline_max_bytes)
        counts["enqueued"] += len(events)
        if result.next_offset is None:
            # Nothing to commit: pulling again would return (and enqueue) the same events.
            logger.warning("PULL result has no nextCursor; the cursor was not committed")
            break
        await client.webhooks.commit_cursor(subscription.id, result.next_offset)
    return counts


# --------------------------------------------------------------------------- reconcile


async def reconcile_time_classes(client: LeanIXClient, rule: TimeRuleConfig) -> dict[str, int]:
    """Page every Application and repair TIME classes that drifted; `{"checked": n, "fixed": m}`."""
    tag_cache: dict[str, str] | None = None

    async def tag_ids() -> dict[str, str]:
        nonlocal tag_cache
        if tag_cache is None:
            tag_cache = await load_time_tag_ids(client, rule)
        return tag_cache

    checked = fixed = 0
    async for node in client.graphql.iter_fact_sheets(time_rule_fields(rule), fact_sheet_type=APPLICATION):
        checked += 1
        fact_sheet_id = node.get("id")
        if not isinstance(fact_sheet_id, str):
            continue
        if await ensure_time_class(client, fact_sheet_id, rule, tag_ids, current=node) is not None:
            fixed += 1
    logger.info("TIME reconcile finished", extra=log_context(checked=checked, fixed=fixed))
    return {"checked": checked, "fixed": fixed}


# --------------------------------------------------------------------------- invocation runners
# The adapters (azure.py, aws.py) call these with the process runtime; they only translate.


async def process_queue_message(body: str, runtime: Runtime) -> ProcessResult:
    """Process one queue message (Azure queue trigger, local host). Raises so the message is retried."""
    results = await process_queue_messages([("-", body)], runtime, raise_errors=True)
    result = results[0][1]
    assert result is not None  # raise_errors=True: a failure raised above
    return result


async def process_queue_messages(
    messages: list[tuple[str, str]], runtime: Runtime, *, raise_errors: bool = False
) -> list[tuple[str, ProcessResult | None]]:
    """Process `(message id, body)` pairs in order; a failed message maps to None (and is logged).

    One LeanIX client and one HTTP client serve the whole batch (one invocation).
    """
    config = ProcessorConfig.from_settings(runtime.settings)
    results: list[tuple[str, ProcessResult | None]] = []
    async with (
        runtime.client() as client,
        httpx.AsyncClient(timeout=NOTIFY_TIMEOUT_SECONDS, verify=verifying_tls_context()) as http,
    ):
        deps = ProcessorDeps(config, client, runtime.platform.state, http)
        for message_id, body in messages:
            try:
                event = await event_from_queue_body(body, runtime.platform.blobs)
                result: ProcessResult | None = await process_event(event, deps)
            except Exception as exc:
                if raise_errors:
                    raise
                logger.error(
                    "webhook event failed; it will be retried",
                    extra=log_context(message_id=message_id, error=f"{type(exc).__name__}: {exc}"),
                )
                result = None
            results.append((message_id, result))
    return results


async def run_pull(runtime: Runtime) -> dict[str, Any]:
    """The PULL timer: a no-op unless WEBHOOK_DELIVERY_MODE=PULL."""
    settings = runtime.settings
    if settings.webhook_delivery_mode != "PULL":
        return {"skipped": "WEBHOOK_DELIVERY_MODE is not PULL"}
    config = PullConfig(
        identifier=settings.webhook_subscription_identifier,
        timeout_seconds=settings.webhook_pull_timeout_seconds,
        queue_name=settings.webhook_queue_name,
        inline_max_bytes=settings.webhook_inline_max_bytes,
    )
    async with runtime.client() as client:
        return dict(await pull_once(client, runtime.platform.queue, runtime.platform.blobs, config))


async def run_reconcile(runtime: Runtime) -> dict[str, Any]:
    """The nightly reconcile timer; `{"checked": n, "fixed": m}`."""
    config = ProcessorConfig.from_settings(runtime.settings)
    if config.time_rule is None:
        return {"skipped": "TIME_RULE_ENABLED is false"}
    async with runtime.client() as client:
        return dict(await reconcile_time_classes(client, config.time_rule))

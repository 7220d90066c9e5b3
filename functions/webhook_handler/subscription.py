"""`ensure-subscription`: upsert the LeanIX webhook subscription this handler serves.

Upsert by `identifier` (GET ?identifier=, then PUT or POST), so a deployment script can run it on
every release. The `authorizationHeader` is the webhook secret (WEBHOOK_SECRET or the secret
store); it is sent to LeanIX and never printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from functions.webhook_handler.core import (
    ProcessorConfig,
    ReceiveConfig,
    resolve_webhook_secret,
)
from shared.errors import ConfigurationError
from shared.leanix import LeanIXClient, Subscription
from shared.platform import Platform
from shared.runtime import Runtime
from shared.settings import Settings

# The TIME rule acts on these; notifications add the event types they announce.
TIME_RULE_EVENT_TYPES = ("FACT_SHEET_CREATED", "FACT_SHEET_UPDATED")


@dataclass(frozen=True)
class SubscriptionConfig:
    """What the subscription must look like."""

    identifier: str
    delivery_type: str
    target_url: str
    payload_mode: str
    event_types: tuple[str, ...]
    secret: str = field(repr=False)


def required_event_types(config: ProcessorConfig) -> tuple[str, ...]:
    """The event types the enabled rules need, in a stable order."""
    wanted: set[str] = set()
    if config.time_rule is not None:
        wanted.update(TIME_RULE_EVENT_TYPES)
    if config.slack_url or config.teams_url:
        wanted.update(config.notifications.event_types)
    return tuple(sorted(wanted))


async def subscription_config(settings: Settings, platform: Platform) -> SubscriptionConfig:
    """Build the desired subscription from settings; raises `ConfigurationError` naming what is missing."""
    secret = await resolve_webhook_secret(ReceiveConfig.from_settings(settings), platform)
    if not secret:
        raise ConfigurationError(
            "WEBHOOK_SECRET is not set (nor the secret store entry WEBHOOK_SECRET_NAME): the subscription "
            "needs it as its Authorization header"
        )
    mode = settings.webhook_delivery_mode
    target = settings.webhook_target_url.strip()
    if mode == "PUSH":
        parts = urlsplit(target)
        loopback = parts.hostname in {"127.0.0.1", "localhost"}
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ConfigurationError(
                "WEBHOOK_TARGET_URL must be the https URL of the webhook route, e.g. "
                "https://<app>.azurewebsites.net/api/leanix/webhook?code=<function key>"
            )
    event_types = required_event_types(ProcessorConfig.from_settings(settings))
    if not event_types:
        raise ConfigurationError(
            "no rule needs events: enable TIME_RULE_ENABLED or configure a notification URL"
        )
    return SubscriptionConfig(
        identifier=settings.webhook_subscription_identifier,
        delivery_type=mode,
        target_url=target,
        payload_mode=settings.webhook_payload_mode,
        event_types=event_types,
        secret=secret,
    )


async def ensure_subscription(client: LeanIXClient, config: SubscriptionConfig) -> dict[str, Any]:
    """Create or update the subscription; returns a printable summary (no secret, no URL query).

    Raises `ConfigurationError` when an existing subscription has the other delivery type (LeanIX
    does not allow changing it: delete the subscription first).
    """
    claims = await client.token_claims()
    existing = await client.webhooks.find_by_identifier(config.identifier)
    if existing is not None and existing.delivery_type != config.delivery_type:
        raise ConfigurationError(
            f"subscription {config.identifier!r} exists as {existing.delivery_type}; LeanIX cannot "
            f"change the delivery type to {config.delivery_type}: delete it first or use another "
            "WEBHOOK_SUBSCRIPTION_IDENTIFIER"
        )
    push = config.delivery_type == "PUSH"
    desired = Subscription(
        identifier=config.identifier,
        delivery_type=config.delivery_type,
        tag_sets=[["pathfinder", event_type] for event_type in config.event_types],
        workspace_id=claims.workspace_id,
        target_url=config.target_url if push else None,
        target_method="POST" if push else None,
        authorization_header=SecretStr(config.secret) if push else None,
        ignore_error=False,
        workspace_constraint="WORKSPACE",
        payload_mode=config.payload_mode,
        active=True,
    )
    if existing is not None and existing.id:
        saved = await client.webhooks.update_subscription(existing.id, desired)
        action = "updated"
    else:
        saved = await client.webhooks.create_subscription(desired)
        action = "created"
    return {
        "action": action,
        "id": saved.id,
        "identifier": saved.identifier,
        "deliveryType": saved.delivery_type,
        "targetUrl": _without_query(saved.target_url),
        "tagSets": saved.tag_sets,
        "payloadMode": saved.payload_mode,
    }


def _without_query(url: str | None) -> str | None:
    # An Azure target URL carries the function key in `?code=`: never print it.
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


async def run_ensure_subscription(runtime: Runtime) -> dict[str, Any]:
    """`python -m functions ensure-subscription` and deployment scripts: upsert from settings."""
    config = await subscription_config(runtime.settings, runtime.platform)
    async with runtime.client() as client:
        return await ensure_subscription(client, config)

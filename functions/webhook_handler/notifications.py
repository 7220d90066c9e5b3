"""The notification rule: which events to announce, and the Slack and Teams messages. Pure: no I/O.

Slack gets Block Kit (`blocks` plus a `text` fallback for notifications). Teams gets an Adaptive
Card in a `message` envelope: Microsoft retires Office 365 connectors (and their MessageCard
format) in favour of Workflows webhooks, whose "post to a channel when a webhook request is
received" template expects exactly this envelope.

Escaping: Slack mrkdwn needs `&`, `<` and `>` escaped in every user-provided string. Adaptive Card
TextBlocks parse Markdown, so user-provided text goes into `RichTextBlock` text runs, which are
shown literally and need no escaping.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from functions.webhook_handler.models import WebhookEvent
from shared.errors import ConfigurationError
from shared.settings import normalize_leanix_host

# Event types LeanIX documents (leanix-api.md §4.2, §4.3); a typo in the setting is a start-up error.
KNOWN_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "FACT_SHEET_CREATED",
        "FACT_SHEET_UPDATED",
        "FACT_SHEET_ARCHIVED",
        "FACT_SHEET_DELETED",
        "FACT_SHEET_TAG_ADDED",
        "FACT_SHEET_TAG_REMOVED",
        "FACT_SHEET_FIELD_UPDATED",
        "RELATION_CREATED",
        "RELATION_UPDATED",
        "RELATION_ARCHIVED",
        "RELATION_DELETED",
        "RELATION_SWITCH",
        "DOCUMENT_CREATED",
        "DOCUMENT_UPDATED",
        "DOCUMENT_DELETED",
        "SUBSCRIPTION_CREATED",
        "SUBSCRIPTION_UPDATED",
        "SUBSCRIPTION_DELETED",
        "INTEGRATION_RUN_STARTED",
        "INTEGRATION_RUN_FINISHED",
        "INTEGRATION_RUN_ABORTED",
        "CONFIGURATION_CREATED",
        "CONFIGURATION_UPDATED",
        "CONFIGURATION_DELETED",
        "CONFIGURATION_ACTIVATED",
        "CONFIGURATION_DEACTIVATED",
        "CONNECTOR_CREATED",
    }
)
DEFAULT_EVENT_TYPES: frozenset[str] = frozenset(
    {"FACT_SHEET_CREATED", "FACT_SHEET_UPDATED", "FACT_SHEET_ARCHIVED", "FACT_SHEET_DELETED"}
)

SLACK_HEADER_MAX = 150  # Block Kit limit for a header's text
TEXT_MAX = 300  # our cap for one user-provided string (names), well under every Block Kit limit
FIELDS_SHOWN_MAX = 20  # changed fields listed before "and N more"
ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
ADAPTIVE_CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
ADAPTIVE_CARD_VERSION = "1.4"


class NotificationConfig(BaseModel):
    """Which events are announced and how fact sheet links are built. Validated once, at start-up.

    `event_types` and `fact_sheet_types` accept a list or a comma-separated string; an empty
    `fact_sheet_types` means every type. `ui_base_url` (e.g. `https://acme.leanix.net`) and
    `workspace` (the workspace name as it appears in UI links) are both needed for links.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_types: frozenset[str] = DEFAULT_EVENT_TYPES
    fact_sheet_types: frozenset[str] = Field(default_factory=frozenset)
    ui_base_url: str = ""
    workspace: str = ""

    @field_validator("event_types", "fact_sheet_types", mode="before")
    @classmethod
    def _split_comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(str(part).strip() for part in value if str(part).strip())
        return value

    @field_validator("event_types")
    @classmethod
    def _known_event_types(cls, value: frozenset[str]) -> frozenset[str]:
        if not value:
            raise ValueError("name at least one event type, e.g. FACT_SHEET_UPDATED")
        unknown = sorted(value - KNOWN_EVENT_TYPES)
        if unknown:
            raise ValueError(
                f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_EVENT_TYPES))}"
            )
        return value

    @field_validator("ui_base_url")
    @classmethod
    def _normalize_base_url(cls, value: str) -> str:
        return normalize_leanix_host(value)

    @field_validator("workspace")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    def link_for(self, event: WebhookEvent) -> str | None:
        """The UI link of the event's fact sheet, or None when the link settings or fact sheet are missing."""
        if not self.ui_base_url or not self.workspace or event.fact_sheet is None:
            return None
        return fact_sheet_url(self.ui_base_url, self.workspace, event.fact_sheet.type, event.fact_sheet.id)


def load_notification_config(
    raw: str | None = None,
    *,
    event_types: str | None = None,
    fact_sheet_types: str | None = None,
    ui_base_url: str | None = None,
    workspace: str | None = None,
) -> NotificationConfig:
    """Build the config from a JSON setting and/or single settings (comma lists); singles win.

    Empty or None values keep the defaults. Raises `ConfigurationError` naming the problem.
    """
    data: dict[str, Any] = {}
    if raw is not None and raw.strip():
        try:
            decoded = json.loads(raw)
        except ValueError as exc:
            raise ConfigurationError(f"notification config is not valid JSON: {exc}") from None
        if not isinstance(decoded, dict):
            raise ConfigurationError("notification config must be a JSON object")
        data.update(decoded)
    singles = {
        "event_types": event_types,
        "fact_sheet_types": fact_sheet_types,
        "ui_base_url": ui_base_url,
        "workspace": workspace,
    }
    data.update({key: value for key, value in singles.items() if value is not None and value.strip()})
    try:
        return NotificationConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            location = ".".join(str(part) for part in error["loc"]) or "config"
            problems.append(f"{location}: {str(error['msg']).removeprefix('Value error, ')}")
        raise ConfigurationError("notification config is invalid: " + "; ".join(problems)) from None


def should_notify(event: WebhookEvent, config: NotificationConfig) -> bool:
    """True when the event type is configured and (if fact sheet types are configured) the fact sheet type."""
    if event.event_type not in config.event_types:
        return False
    if not config.fact_sheet_types:
        return True
    return event.fact_sheet is not None and event.fact_sheet.type in config.fact_sheet_types


def fact_sheet_url(base_url: str, workspace_name_or_id: str, fact_sheet_type: str, fact_sheet_id: str) -> str:
    """The LeanIX UI link `https://<host>/<workspace>/factsheet/<Type>/<id>`, each segment URL-quoted.

    Raises `ValueError` when a part is empty.
    """
    parts = {
        "base_url": base_url.strip().rstrip("/"),
        "workspace": workspace_name_or_id.strip(),
        "fact_sheet_type": fact_sheet_type.strip(),
        "fact_sheet_id": fact_sheet_id.strip(),
    }
    empty = [name for name, value in parts.items() if not value]
    if empty:
        raise ValueError(f"cannot build a fact sheet link: {', '.join(empty)} is empty")
    segments = (parts["workspace"], "factsheet", parts["fact_sheet_type"], parts["fact_sheet_id"])
    return parts["base_url"] + "/" + "/".join(quote(segment, safe="") for segment in segments)


def event_title(event_type: str) -> str:
    """`FACT_SHEET_UPDATED` -> `Fact sheet updated`."""
    return event_type.replace("_", " ").strip().capitalize() or "LeanIX event"


def slack_escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(event: WebhookEvent, fact_sheet_url: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook body (Block Kit) announcing the event; the link is optional."""
    title = event_title(event.event_type)
    subject = _subject(event)
    user = event.user_id or "unknown user"
    if subject is None:
        headline = f"*{slack_escape(event.event_type)}*"
        fallback = f"{title} by {user}"
    else:
        name, fs_type = subject
        label = (
            f"<{_slack_url(fact_sheet_url)}|{slack_escape(name)}>" if fact_sheet_url else slack_escape(name)
        )
        headline = f"*{label}* ({slack_escape(fs_type)})"
        fallback = f"{title}: {name} ({fs_type}) by {user}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _truncate(title, SLACK_HEADER_MAX)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Event*\n{slack_escape(event.event_type)}"},
                {"type": "mrkdwn", "text": f"*Changed by*\n{slack_escape(user)}"},
            ],
        },
    ]
    if event.changed_fields:
        fields = slack_escape(_field_list(event.changed_fields))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Changed fields*\n{fields}"}})
    return {"text": slack_escape(fallback), "blocks": blocks}


def _slack_url(url: str) -> str:
    # `|` and `>` end the URL part of a Slack link; our links are quoted, this guards the others.
    return slack_escape(url.replace("|", "%7C"))


def teams_message(event: WebhookEvent, fact_sheet_url: str | None) -> dict[str, Any]:
    """A Teams Workflows webhook body: one Adaptive Card in a `message`; the link becomes a button."""
    subject = _subject(event)
    body: list[dict[str, Any]] = [
        _rich_text([_text_run(event_title(event.event_type), weight="Bolder", size="Medium")]),
    ]
    if subject is not None:
        name, fs_type = subject
        body.append(_rich_text([_text_run(name, weight="Bolder"), _text_run(f" ({fs_type})")]))
    body.append(_fact_line("Event", event.event_type))
    body.append(_fact_line("Changed by", event.user_id or "unknown user"))
    if event.changed_fields:
        body.append(_fact_line("Changed fields", _field_list(event.changed_fields)))
    card: dict[str, Any] = {
        "$schema": ADAPTIVE_CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": body,
    }
    if fact_sheet_url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in LeanIX", "url": fact_sheet_url}]
    return {
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def _subject(event: WebhookEvent) -> tuple[str, str] | None:
    if event.fact_sheet is None:
        return None
    fact_sheet = event.fact_sheet
    name = fact_sheet.display_name or fact_sheet.name or fact_sheet.id
    return _truncate(name, TEXT_MAX), _truncate(fact_sheet.type, TEXT_MAX)


def _field_list(fields: list[str]) -> str:
    shown = ", ".join(_truncate(field, TEXT_MAX) for field in fields[:FIELDS_SHOWN_MAX])
    hidden = len(fields) - FIELDS_SHOWN_MAX
    return f"{shown} and {hidden} more" if hidden > 0 else shown


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text_run(text: str, **style: str) -> dict[str, Any]:
    return {"type": "TextRun", "text": text, **style}


def _rich_text(inlines: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": inlines}


def _fact_line(label: str, value: str) -> dict[str, Any]:
    return _rich_text([_text_run(f"{label}: ", weight="Bolder"), _text_run(value)])

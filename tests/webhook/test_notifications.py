"""The notification rule: filtering, links, and the exact Slack and Teams message structures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.webhook_handler.models import WebhookEvent, parse_event
from functions.webhook_handler.notifications import (
    ADAPTIVE_CARD_CONTENT_TYPE,
    DEFAULT_EVENT_TYPES,
    NotificationConfig,
    event_title,
    fact_sheet_url,
    load_notification_config,
    should_notify,
    slack_escape,
    slack_message,
    teams_message,
)
from shared.errors import ConfigurationError
from tests.webhook.events import load_event, load_event_bytes

URL = "https://acme.leanix.net/acme/factsheet/Application/95fbeddd-4c3b-4a2d-9e1f-8a7b6c5d4e3f"
USER = "3e0b7c1d-2f4a-4b6c-8d9e-0a1b2c3d4e5f"


def updated_event(**payload_extra: Any) -> WebhookEvent:
    data = load_event("webhook_default_fact_sheet_updated") | payload_extra
    return parse_event(json.dumps(data).encode())


def event_without_fact_sheet() -> WebhookEvent:
    body = {"id": "r1", "type": "INTEGRATION_RUN_FINISHED", "tags": ["integrations"], "payload": {}}
    return parse_event(json.dumps(body).encode())


# --- configuration --------------------------------------------------------------------------------


def test_defaults_announce_fact_sheet_lifecycle_events_of_every_type() -> None:
    config = load_notification_config(None)

    assert config.event_types == DEFAULT_EVENT_TYPES
    assert config.fact_sheet_types == frozenset()
    assert config.ui_base_url == ""


def test_comma_lists_and_json_are_both_accepted_and_singles_win() -> None:
    config = load_notification_config(
        '{"event_types": ["FACT_SHEET_CREATED"], "fact_sheet_types": "ITComponent", "workspace": "acme"}',
        event_types=" FACT_SHEET_UPDATED, FACT_SHEET_ARCHIVED ,",
        fact_sheet_types="Application,  Interface",
        ui_base_url="acme.leanix.net/",
    )

    assert config.event_types == {"FACT_SHEET_UPDATED", "FACT_SHEET_ARCHIVED"}
    assert config.fact_sheet_types == {"Application", "Interface"}
    assert config.ui_base_url == "https://acme.leanix.net"
    assert config.workspace == "acme"


def test_empty_single_settings_keep_the_json_values() -> None:
    config = load_notification_config('{"event_types": "FACT_SHEET_DELETED"}', event_types="", workspace=" ")

    assert config.event_types == {"FACT_SHEET_DELETED"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event_types": "FACT_SHEET_UPDATE"}, "unknown event type(s) FACT_SHEET_UPDATE"),
        ({"raw": '{"event_types": []}'}, "name at least one event type"),
        ({"ui_base_url": "http://acme.leanix.net"}, "https"),
        ({"raw": '{"slack": "x"}'}, "slack"),
        ({"raw": "{oops"}, "not valid JSON"),
        ({"raw": "[]"}, "must be a JSON object"),
    ],
)
def test_bad_notification_config_is_a_configuration_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_notification_config(**kwargs)

    assert message in str(caught.value)


# --- should_notify --------------------------------------------------------------------------------


def test_configured_event_type_is_announced() -> None:
    assert should_notify(updated_event(), NotificationConfig()) is True


def test_other_event_types_are_not_announced() -> None:
    config = NotificationConfig(event_types=frozenset({"FACT_SHEET_CREATED"}))

    assert should_notify(updated_event(), config) is False


def test_fact_sheet_type_filter() -> None:
    apps = NotificationConfig(fact_sheet_types=frozenset({"Application"}))
    components = NotificationConfig(fact_sheet_types=frozenset({"ITComponent"}))

    assert should_notify(updated_event(), apps) is True
    assert should_notify(updated_event(), components) is False


def test_event_without_fact_sheet_fails_a_fact_sheet_type_filter() -> None:
    run_events = frozenset({"INTEGRATION_RUN_FINISHED"})
    any_type = NotificationConfig(event_types=run_events)
    apps_only = NotificationConfig(event_types=run_events, fact_sheet_types=frozenset({"Application"}))

    assert should_notify(event_without_fact_sheet(), any_type) is True
    assert should_notify(event_without_fact_sheet(), apps_only) is False


# --- links ----------------------------------------------------------------------------------------


def test_fact_sheet_url_follows_the_ui_pattern() -> None:
    url = fact_sheet_url(
        "https://acme.leanix.net/", "acme", "Application", "95fbeddd-4c3b-4a2d-9e1f-8a7b6c5d4e3f"
    )

    assert url == URL


def test_fact_sheet_url_quotes_each_segment() -> None:
    url = fact_sheet_url("https://eu.leanix.net", "ACME Corp/EU", "Application", "a|b>c")

    assert url == "https://eu.leanix.net/ACME%20Corp%2FEU/factsheet/Application/a%7Cb%3Ec"


@pytest.mark.parametrize("empty", ["base_url", "workspace", "fact_sheet_type", "fact_sheet_id"])
def test_fact_sheet_url_names_an_empty_part(empty: str) -> None:
    parts = {
        "base_url": "https://x.leanix.net",
        "workspace": "w",
        "fact_sheet_type": "T",
        "fact_sheet_id": "1",
    }
    parts[empty] = " "

    with pytest.raises(ValueError, match=empty):
        fact_sheet_url(
            parts["base_url"], parts["workspace"], parts["fact_sheet_type"], parts["fact_sheet_id"]
        )


def test_link_for_needs_base_url_workspace_and_fact_sheet() -> None:
    config = NotificationConfig(ui_base_url="acme.leanix.net", workspace="acme")

    assert config.link_for(updated_event()) == URL
    assert NotificationConfig(ui_base_url="acme.leanix.net").link_for(updated_event()) is None
    assert NotificationConfig(workspace="acme").link_for(updated_event()) is None
    assert config.link_for(event_without_fact_sheet()) is None


# --- Slack ----------------------------------------------------------------------------------------


def test_slack_message_structure() -> None:
    event = updated_event(changedFields=["description", "lifecycle"])

    assert slack_message(event, URL) == {
        "text": f"Fact sheet updated: AC Management (Application) by {USER}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Fact sheet updated"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{URL}|AC Management>* (Application)"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Event*\nFACT_SHEET_UPDATED"},
                    {"type": "mrkdwn", "text": f"*Changed by*\n{USER}"},
                ],
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "*Changed fields*\ndescription, lifecycle"},
            },
        ],
    }


def test_slack_message_escapes_user_text() -> None:
    event = parse_event(load_event_bytes("webhook_default_archived"))

    message = slack_message(event, "https://acme.leanix.net/acme/factsheet/Application/x")

    escaped = "Finance Suite / Legacy Billing &lt;EU&gt; &amp; Co"
    assert (
        message["text"]
        == f"Fact sheet archived: {escaped} (Application) by 7c2a9e4b-1d3f-4a5b-9c8d-6e7f8a9b0c1d"
    )
    assert message["blocks"][1]["text"]["text"] == (
        f"*<https://acme.leanix.net/acme/factsheet/Application/x|{escaped}>* (Application)"
    )
    # plain_text is not parsed by Slack, so the header stays literal.
    assert message["blocks"][0]["text"] == {"type": "plain_text", "text": "Fact sheet archived"}


def test_slack_message_without_link_or_changed_fields() -> None:
    message = slack_message(updated_event(), None)

    assert message["blocks"][1]["text"]["text"] == "*AC Management* (Application)"
    assert len(message["blocks"]) == 3


def test_slack_message_without_fact_sheet_or_user() -> None:
    message = slack_message(event_without_fact_sheet(), None)

    assert message["text"] == "Integration run finished by unknown user"
    assert message["blocks"][1]["text"]["text"] == "*INTEGRATION_RUN_FINISHED*"
    assert message["blocks"][2]["fields"][1]["text"] == "*Changed by*\nunknown user"


def test_slack_changed_fields_are_escaped_and_capped() -> None:
    fields = ["a<b"] + [f"field{i}" for i in range(24)]
    message = slack_message(updated_event(changedFields=fields), None)

    text = message["blocks"][3]["text"]["text"]
    assert text.startswith("*Changed fields*\na&lt;b, field0, ")
    assert text.endswith("field18 and 5 more")


def test_slack_escape() -> None:
    assert slack_escape("a & <b> *c*") == "a &amp; &lt;b&gt; *c*"


def test_long_names_are_truncated() -> None:
    data = load_event("webhook_default_fact_sheet_updated")
    data["factSheet"]["displayName"] = "x" * 1000
    message = slack_message(parse_event(json.dumps(data).encode()), None)

    assert message["blocks"][1]["text"]["text"] == "*" + "x" * 299 + "…* (Application)"


# --- Teams ----------------------------------------------------------------------------------------


def test_teams_message_is_an_adaptive_card_in_a_message() -> None:
    event = updated_event(changedFields=["description"])

    assert teams_message(event, URL) == {
        "type": "message",
        "attachments": [
            {
                "contentType": ADAPTIVE_CARD_CONTENT_TYPE,
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "RichTextBlock",
                            "inlines": [
                                {
                                    "type": "TextRun",
                                    "text": "Fact sheet updated",
                                    "weight": "Bolder",
                                    "size": "Medium",
                                }
                            ],
                        },
                        {
                            "type": "RichTextBlock",
                            "inlines": [
                                {"type": "TextRun", "text": "AC Management", "weight": "Bolder"},
                                {"type": "TextRun", "text": " (Application)"},
                            ],
                        },
                        {
                            "type": "RichTextBlock",
                            "inlines": [
                                {"type": "TextRun", "text": "Event: ", "weight": "Bolder"},
                                {"type": "TextRun", "text": "FACT_SHEET_UPDATED"},
                            ],
                        },
                        {
                            "type": "RichTextBlock",
                            "inlines": [
                                {"type": "TextRun", "text": "Changed by: ", "weight": "Bolder"},
                                {"type": "TextRun", "text": USER},
                            ],
                        },
                        {
                            "type": "RichTextBlock",
                            "inlines": [
                                {"type": "TextRun", "text": "Changed fields: ", "weight": "Bolder"},
                                {"type": "TextRun", "text": "description"},
                            ],
                        },
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": "Open in LeanIX", "url": URL}],
                },
            }
        ],
    }
    assert ADAPTIVE_CARD_CONTENT_TYPE == "application/vnd.microsoft.card.adaptive"


def test_teams_message_keeps_user_text_literal_in_text_runs() -> None:
    event = parse_event(load_event_bytes("webhook_default_archived"))

    card = teams_message(event, None)["attachments"][0]["content"]

    name_run = card["body"][1]["inlines"][0]
    assert name_run == {
        "type": "TextRun",
        "text": "Finance Suite / Legacy Billing <EU> & Co",
        "weight": "Bolder",
    }
    # No user text goes into Markdown-parsed TextBlocks.
    assert all(block["type"] == "RichTextBlock" for block in card["body"])
    assert "actions" not in card


def test_teams_message_without_fact_sheet() -> None:
    card = teams_message(event_without_fact_sheet(), None)["attachments"][0]["content"]

    texts = [run["text"] for block in card["body"] for run in block["inlines"]]
    assert texts == [
        "Integration run finished",
        "Event: ",
        "INTEGRATION_RUN_FINISHED",
        "Changed by: ",
        "unknown user",
    ]


@pytest.mark.parametrize(
    ("event_type", "title"),
    [
        ("FACT_SHEET_UPDATED", "Fact sheet updated"),
        ("RELATION_SWITCH", "Relation switch"),
        ("", "LeanIX event"),
    ],
)
def test_event_title(event_type: str, title: str) -> None:
    assert event_title(event_type) == title


def test_slack_link_guards_characters_that_would_end_the_url() -> None:
    message = slack_message(updated_event(), "https://x.example/a|b>c&d")

    assert (
        message["blocks"][1]["text"]["text"]
        == "*<https://x.example/a%7Cb&gt;c&amp;d|AC Management>* (Application)"
    )

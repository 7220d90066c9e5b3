"""Parsing LeanIX webhook deliveries (DEFAULT and WRAPPED_EVENT) into `WebhookEvent`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.webhook_handler.models import (
    MAX_BODY_BYTES,
    EventTooLargeError,
    FactSheetRef,
    InvalidEventError,
    PayloadMode,
    WebhookEvent,
    detect_payload_mode,
    event_type_from_payload_type,
    parse_event,
)
from shared.errors import InputError
from tests.webhook.events import load_event, load_event_bytes


def _body(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_default_update_is_normalized() -> None:
    event = parse_event(load_event_bytes("webhook_default_fact_sheet_updated"))

    assert event.payload_mode is PayloadMode.DEFAULT
    assert event.event_key == "default:42844"
    assert event.event_id == "42844"
    assert event.event_type == "FACT_SHEET_UPDATED"
    assert event.payload_type == "FactSheetUpdatedEvent"
    assert event.user_id == "3e0b7c1d-2f4a-4b6c-8d9e-0a1b2c3d4e5f"
    assert event.workspace_id == "0f3e5c1a-7b2d-4e8f-9a6b-1c2d3e4f5a6b"
    assert event.created_at == datetime(2026, 2, 16, 13, 15, 2, 511734, tzinfo=UTC)
    assert event.transaction_sequence_number == 75088
    assert event.fact_sheet == FactSheetRef(
        id="95fbeddd-4c3b-4a2d-9e1f-8a7b6c5d4e3f",
        type="Application",
        name="AC Management",
        display_name="AC Management",
        rev=3,
    )
    assert event.changed_fields == []
    assert event.raw == load_event("webhook_default_fact_sheet_updated")


@pytest.mark.parametrize(
    ("name", "event_type", "key"),
    [
        ("webhook_default_fact_sheet_created", "FACT_SHEET_CREATED", "default:42834"),
        ("webhook_default_archived", "FACT_SHEET_ARCHIVED", "default:42901"),
    ],
)
def test_default_event_types_come_from_the_payload_type(name: str, event_type: str, key: str) -> None:
    event = parse_event(load_event_bytes(name))

    assert event.event_type == event_type
    assert event.event_key == key


def test_wrapped_event_is_normalized_like_the_default_one() -> None:
    wrapped = parse_event(load_event_bytes("webhook_wrapped_fact_sheet_updated"))
    default = parse_event(load_event_bytes("webhook_default_fact_sheet_updated"))

    assert wrapped.payload_mode is PayloadMode.WRAPPED_EVENT
    assert wrapped.event_id == "b9f1c2d3-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    # The payload's numeric id wins, so both modes dedup the same event on the same key.
    assert wrapped.event_key == default.event_key == "default:42844"
    assert wrapped.event_type == "FACT_SHEET_UPDATED"
    assert wrapped.payload_type == "FactSheetUpdatedEvent"
    assert wrapped.fact_sheet == default.fact_sheet
    assert wrapped.transaction_sequence_number == 75088
    assert wrapped.user_id == default.user_id
    assert wrapped.workspace_id == default.workspace_id
    # The envelope's own timestamp is the event's.
    assert wrapped.created_at == datetime(2026, 2, 16, 13, 15, 2, 600000, tzinfo=UTC)


def test_wrapped_event_without_numeric_payload_id_keys_on_the_envelope_id() -> None:
    body = {
        "id": "7f0c",
        "type": "INTEGRATION_RUN_FINISHED",
        "sourceName": "INTEGRATION_API",
        "tags": ["integrations", "statistics"],
        "payload": {"progress": "FINISHED", "connectorId": "ci-apps", "errorCount": 0},
    }

    event = parse_event(_body(body))

    assert event.event_key == "wrapped:7f0c"
    assert event.event_type == "INTEGRATION_RUN_FINISHED"
    assert event.fact_sheet is None
    assert event.transaction_sequence_number is None


def test_wrapped_event_type_falls_back_to_tags_then_payload_type() -> None:
    from_tags = {"id": "a", "tags": ["pathfinder", "FACT_SHEET_ARCHIVED"], "payload": {}}
    from_payload = {"id": "b", "sourceName": "EAM", "tags": [], "payload": {"type": "RelationCreatedEvent"}}

    assert parse_event(_body(from_tags)).event_type == "FACT_SHEET_ARCHIVED"
    assert parse_event(_body(from_payload)).event_type == "RELATION_CREATED"


def test_wrapped_event_without_any_type_is_rejected() -> None:
    with pytest.raises(InvalidEventError, match="type"):
        parse_event(_body({"id": "a", "sourceName": "EAM", "payload": {}}))


@pytest.mark.parametrize(
    ("info", "expected"),
    [(75088, 75088), ({"transactionSequenceNumber": 12}, 12), ("x", None), (True, None)],
)
def test_wrapped_sequence_info_is_used_when_the_payload_has_no_sequence(
    info: Any, expected: int | None
) -> None:
    body = {"id": "a", "type": "FACT_SHEET_UPDATED", "tags": [], "payload": {}, "sequenceInfo": info}

    assert parse_event(_body(body)).transaction_sequence_number == expected


def test_unknown_extra_fields_are_allowed_and_kept_in_raw() -> None:
    data = load_event("webhook_default_fact_sheet_updated")
    data["brandNewField"] = {"x": 1}
    data["factSheet"]["anotherNewField"] = [1, 2]

    event = parse_event(_body(data))

    assert event.raw["brandNewField"] == {"x": 1}
    assert event.fact_sheet is not None
    assert event.fact_sheet.id == data["factSheet"]["id"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["factSheet"].pop("id"), "factSheet.id: Field required"),
        (lambda d: d["factSheet"].update(rev="3"), "factSheet.rev: Input should be a valid integer"),
        (lambda d: d.update(id="42844"), "id: Input should be a valid integer"),
        (lambda d: d.update(id=True), "id: Input should be a valid integer"),
        (lambda d: d.pop("type"), "type: Field required"),
        (lambda d: d.pop("id"), "id: Field required"),
        (lambda d: d.update(transactionSequenceNumber=1.5), "transactionSequenceNumber: Input should be"),
        (lambda d: d.update(createdAt="yesterday"), "createdAt: Input should be a valid datetime"),
        (lambda d: d.update(factSheet="95fb"), "factSheet: Input should be a valid dictionary"),
    ],
)
def test_wrong_types_and_missing_fields_name_the_field(mutate: Any, message: str) -> None:
    data = load_event("webhook_default_fact_sheet_updated")
    mutate(data)

    with pytest.raises(InvalidEventError) as caught:
        parse_event(_body(data))

    assert message in str(caught.value)
    assert isinstance(caught.value, InputError)


def test_wrapped_payload_errors_are_prefixed_with_payload() -> None:
    data = load_event("webhook_wrapped_fact_sheet_updated")
    del data["payload"]["factSheet"]["type"]

    with pytest.raises(InvalidEventError, match=r"payload\.factSheet\.type: Field required"):
        parse_event(_body(data))


def test_wrapped_payload_must_be_an_object() -> None:
    data = load_event("webhook_wrapped_fact_sheet_updated")
    data["payload"] = "not an object"

    with pytest.raises(InvalidEventError, match="payload: Input should be a valid dictionary"):
        parse_event(_body(data))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]", "must be a JSON object, got a JSON array"),
        (b'"text"', "got a JSON string"),
        (b"null", "got a JSON null"),
        (b"{not json", "not valid JSON"),
        (b'{"id": NaN, "type": "X"}', "not valid JSON"),
        (b"", "empty"),
        (b"\xff\xfe{}", "not"),
    ],
)
def test_non_objects_and_broken_json_are_rejected(body: bytes, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        parse_event(body)


def test_object_of_unknown_shape_names_what_is_missing() -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_event(b"{}")

    assert "'id'" in str(caught.value)
    assert "'payload'" in str(caught.value)


def test_payload_without_tags_or_source_is_not_taken_for_an_envelope() -> None:
    with pytest.raises(InvalidEventError, match="'tags' nor 'sourceName'"):
        parse_event(_body({"payload": {"id": 1}}))


def test_body_over_twenty_megabytes_is_too_large() -> None:
    assert MAX_BODY_BYTES == 20 * 1024 * 1024
    body = b" " * (MAX_BODY_BYTES + 1)

    with pytest.raises(EventTooLargeError):
        parse_event(body)


def test_body_of_exactly_twenty_megabytes_is_accepted() -> None:
    raw = load_event_bytes("webhook_default_fact_sheet_updated")
    body = raw + b" " * (MAX_BODY_BYTES - len(raw))

    assert parse_event(body).event_key == "default:42844"


@pytest.mark.parametrize(
    ("body", "mode"),
    [
        ({"id": 1, "type": "FactSheetUpdatedEvent"}, PayloadMode.DEFAULT),
        ({"id": "a", "payload": {}, "tags": []}, PayloadMode.WRAPPED_EVENT),
        ({"id": "a", "payload": {}, "sourceName": "EAM"}, PayloadMode.WRAPPED_EVENT),
        # A DEFAULT payload that happens to carry a `payload` field is still DEFAULT.
        ({"id": 1, "type": "X", "payload": {}}, PayloadMode.DEFAULT),
    ],
)
def test_detect_payload_mode(body: dict[str, Any], mode: PayloadMode) -> None:
    assert detect_payload_mode(body) is mode


@pytest.mark.parametrize(
    ("payload_type", "event_type"),
    [
        ("FactSheetUpdatedEvent", "FACT_SHEET_UPDATED"),
        ("FactSheetCreatedEvent", "FACT_SHEET_CREATED"),
        ("RelationSwitchEvent", "RELATION_SWITCH"),
        ("FACT_SHEET_DELETED", "FACT_SHEET_DELETED"),
        ("Event", "EVENT"),
    ],
)
def test_event_type_from_payload_type(payload_type: str, event_type: str) -> None:
    assert event_type_from_payload_type(payload_type) == event_type


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        ({"changedFields": ["description", "/name"]}, ["description", "name"]),
        ({"fields": [{"name": "lifecycle"}, {"fieldName": "alias"}, 7]}, ["lifecycle", "alias"]),
        ({"changes": [{"path": "/description", "op": "replace"}, {"field": "description"}]}, ["description"]),
        ({"fieldName": "functionalSuitability"}, ["functionalSuitability"]),
        ({"changes": "not a list"}, []),
    ],
)
def test_changed_fields_are_read_leniently(extra: dict[str, Any], fields: list[str]) -> None:
    data = load_event("webhook_default_fact_sheet_updated") | extra

    assert parse_event(_body(data)).changed_fields == fields


def test_fact_sheet_fields_are_values_not_changes() -> None:
    data = load_event("webhook_default_fact_sheet_updated")
    data["factSheet"]["fields"] = [{"name": "description", "data": {"value": "x"}}]

    assert parse_event(_body(data)).changed_fields == []


@pytest.mark.parametrize(
    "name",
    [
        "webhook_default_fact_sheet_updated",
        "webhook_wrapped_fact_sheet_updated",
        "webhook_default_fact_sheet_created",
        "webhook_default_archived",
    ],
)
def test_queue_body_round_trips(name: str) -> None:
    event = parse_event(load_event_bytes(name))

    body = event.to_queue_body()
    again = WebhookEvent.from_queue_body(body)

    assert again == event
    assert json.loads(body) == load_event(name)


def test_queue_body_keeps_non_ascii_text() -> None:
    data = load_event("webhook_default_fact_sheet_updated")
    data["factSheet"]["name"] = "Übersicht - 日本"
    event = parse_event(_body(data))

    assert WebhookEvent.from_queue_body(event.to_queue_body()).fact_sheet == event.fact_sheet


def test_corrupt_queue_body_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEventError):
        WebhookEvent.from_queue_body("{truncated")


def test_repr_leaves_out_the_raw_body() -> None:
    event = parse_event(load_event_bytes("webhook_default_fact_sheet_updated"))

    assert "permittedReadACL" not in repr(event)


def test_union_member_names_do_not_leak_into_the_field_path() -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_event(_body({"id": [1], "tags": [], "payload": {}}))

    assert str(caught.value) == (
        "invalid webhook event: id: Input should be a valid integer; id: Input should be a valid string"
    )

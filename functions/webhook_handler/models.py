"""Parse a LeanIX webhook delivery into one normalized `WebhookEvent`. Pure: no I/O.

LeanIX sends two body shapes (leanix-api.md §4.4):
- DEFAULT: the event payload itself, `{"id": 42844, "type": "FactSheetUpdatedEvent", "factSheet": {...}}`;
- WRAPPED_EVENT: the webhooks `Event` envelope, `{"id": "<uuid>", "type": "FACT_SHEET_UPDATED",
  "sourceName": "EAM", "tags": [...], "payload": {<DEFAULT payload>}, "sequenceInfo": ...}`.
Both become the same `WebhookEvent`, so the rules never care which mode the subscription uses.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError
from pydantic.alias_generators import to_camel

from shared.errors import InputError

MAX_BODY_BYTES = 20 * 1024 * 1024
"""The largest delivery LeanIX sends ("The maximum supported payload size is 20 MB", §4.4)."""

# JSON numbers only: a bool or a numeric string where LeanIX sends a number is a malformed body.
WholeNumber = Annotated[int, Strict()]

ModelT = TypeVar("ModelT", bound=BaseModel)

_UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


class PayloadMode(StrEnum):
    """The subscription's `payloadMode` that produced a body (NO_PAYLOAD bodies are `{}` and rejected)."""

    DEFAULT = "DEFAULT"
    WRAPPED_EVENT = "WRAPPED_EVENT"


class InvalidEventError(InputError):
    """The delivery body is not a LeanIX webhook event; the message names the field at fault."""


class EventTooLargeError(InvalidEventError):
    """The delivery body is larger than `MAX_BODY_BYTES` (an HTTP adapter answers 413)."""


class _Lenient(BaseModel):
    """LeanIX adds fields over time: unknown keys are ignored here and kept in `WebhookEvent.raw`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


class FactSheetRef(_Lenient):
    """The fact sheet an event is about (`factSheet` in the payload)."""

    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    name: str | None = None
    display_name: str | None = None
    rev: WholeNumber | None = None


class _PayloadFields(_Lenient):
    user_id: str | None = None
    created_at: datetime | None = None
    workspace_id: str | None = None
    transaction_sequence_number: WholeNumber | None = None
    fact_sheet: FactSheetRef | None = None


class _DefaultPayload(_PayloadFields):
    id: WholeNumber
    type: str = Field(min_length=1)


class _WrappedPayload(_PayloadFields):
    # Inside the envelope the payload's shape depends on the event source; nothing is required.
    id: WholeNumber | str | None = None
    type: str | None = None


class _WrappedEnvelope(_Lenient):
    id: WholeNumber | str
    type: str | None = None
    source_name: str | None = None
    tags: list[str] = Field(default_factory=list)
    workspace_id: str | None = None
    user_id: str | None = None
    created_at: datetime | None = None
    payload: dict[str, Any]
    sequence_info: Any = None


class WebhookEvent(BaseModel):
    """One LeanIX webhook event, the same for both payload modes.

    `event_key` is the dedup key, stable across redeliveries and payload modes: `default:<n>` when a
    numeric event id is known (the DEFAULT payload id, also inside a wrapped payload), otherwise
    `wrapped:<envelope id>`.
    """

    model_config = ConfigDict(frozen=True)

    event_key: str
    event_id: str
    payload_mode: PayloadMode
    event_type: str
    payload_type: str | None
    user_id: str | None
    workspace_id: str | None
    created_at: datetime | None
    transaction_sequence_number: int | None
    fact_sheet: FactSheetRef | None
    changed_fields: list[str]
    raw: dict[str, Any] = Field(repr=False)

    def to_queue_body(self) -> str:
        """The queue message body: the delivery itself as compact JSON, so nothing LeanIX sent is lost.

        The worker re-parses it with `from_queue_body`, so the normalization lives in one place.
        """
        return json.dumps(self.raw, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_queue_body(cls, body: str) -> WebhookEvent:
        """Rebuild the event from `to_queue_body()` output. Raises `InvalidEventError` on a bad body."""
        return parse_event(body.encode("utf-8"))


def detect_payload_mode(body: dict[str, Any]) -> PayloadMode:
    """Decide which `payloadMode` produced a decoded body.

    An envelope with `payload` plus `tags` or `sourceName` is WRAPPED_EVENT; a body with `id` or
    `type` is DEFAULT (its own validation then names any missing field). Raises `InvalidEventError`
    naming what is missing when the object is neither.
    """
    if "payload" in body and ("tags" in body or "sourceName" in body):
        return PayloadMode.WRAPPED_EVENT
    if "id" in body or "type" in body:
        return PayloadMode.DEFAULT
    if "payload" in body:
        raise InvalidEventError(
            "unknown webhook event shape: it has 'payload' but neither 'tags' nor 'sourceName' "
            "(a WRAPPED_EVENT envelope needs one of them)"
        )
    present = ", ".join(sorted(body)[:10]) or "none"
    raise InvalidEventError(
        "unknown webhook event shape: missing 'id' and 'type' (DEFAULT payload) and 'payload' with "
        f"'tags' or 'sourceName' (WRAPPED_EVENT envelope); fields present: {present}"
    )


def parse_event(body: bytes) -> WebhookEvent:
    """Parse and validate a delivery body into a `WebhookEvent`.

    Raises `EventTooLargeError` above `MAX_BODY_BYTES` and `InvalidEventError` for anything that is
    not a JSON object of a known shape, with the failing field path in the message
    (e.g. "factSheet.id: Field required").
    """
    if len(body) > MAX_BODY_BYTES:
        raise EventTooLargeError(
            f"webhook body is {len(body)} bytes; LeanIX sends at most {MAX_BODY_BYTES} bytes"
        )
    if not body.strip():
        raise InvalidEventError("webhook body is empty; expected a JSON object")
    try:
        decoded = json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise InvalidEventError("webhook body is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError, as is the NaN/Infinity rejection
        raise InvalidEventError(f"webhook body is not valid JSON: {exc}") from None
    if not isinstance(decoded, dict):
        raise InvalidEventError(f"webhook body must be a JSON object, got a JSON {_json_kind(decoded)}")
    mode = detect_payload_mode(decoded)
    if mode is PayloadMode.DEFAULT:
        return _from_default(decoded)
    return _from_wrapped(decoded)


def event_type_from_payload_type(payload_type: str) -> str:
    """`FactSheetUpdatedEvent` -> `FACT_SHEET_UPDATED`; an UPPER_SNAKE name is returned unchanged."""
    name = payload_type.strip()
    if _UPPER_SNAKE.match(name):
        return name
    if name.endswith("Event") and len(name) > len("Event"):
        name = name[: -len("Event")]
    return _CAMEL_BOUNDARY.sub("_", name).upper()


def _from_default(body: dict[str, Any]) -> WebhookEvent:
    payload = _validate(_DefaultPayload, body, prefix="")
    return WebhookEvent(
        event_key=f"default:{payload.id}",
        event_id=str(payload.id),
        payload_mode=PayloadMode.DEFAULT,
        event_type=event_type_from_payload_type(payload.type),
        payload_type=payload.type,
        user_id=payload.user_id,
        workspace_id=payload.workspace_id,
        created_at=payload.created_at,
        transaction_sequence_number=payload.transaction_sequence_number,
        fact_sheet=payload.fact_sheet,
        changed_fields=_changed_fields(body),
        raw=body,
    )


def _from_wrapped(body: dict[str, Any]) -> WebhookEvent:
    envelope = _validate(_WrappedEnvelope, body, prefix="")
    payload = _validate(_WrappedPayload, envelope.payload, prefix="payload.")
    numeric_id = payload.id if isinstance(payload.id, int) else None
    event_key = f"default:{numeric_id}" if numeric_id is not None else f"wrapped:{envelope.id}"
    sequence = payload.transaction_sequence_number
    if sequence is None:
        sequence = _sequence_from_info(envelope.sequence_info)
    return WebhookEvent(
        event_key=event_key,
        event_id=str(envelope.id),
        payload_mode=PayloadMode.WRAPPED_EVENT,
        event_type=_wrapped_event_type(envelope, payload),
        payload_type=payload.type,
        user_id=envelope.user_id or payload.user_id,
        workspace_id=envelope.workspace_id or payload.workspace_id,
        created_at=envelope.created_at or payload.created_at,
        transaction_sequence_number=sequence,
        fact_sheet=payload.fact_sheet,
        changed_fields=_changed_fields(envelope.payload),
        raw=body,
    )


def _wrapped_event_type(envelope: _WrappedEnvelope, payload: _WrappedPayload) -> str:
    # The envelope's own type/tags are assumed values (§4.4), so fall back step by step.
    if envelope.type and _UPPER_SNAKE.match(envelope.type):
        return envelope.type
    for tag in reversed(envelope.tags):
        if _UPPER_SNAKE.match(tag) and "_" in tag:
            return tag
    if payload.type:
        return event_type_from_payload_type(payload.type)
    if envelope.type:
        return event_type_from_payload_type(envelope.type)
    raise InvalidEventError(
        "type: cannot tell the event type: no 'type' on the envelope or payload and no event tag in 'tags'"
    )


def _sequence_from_info(info: Any) -> int | None:
    # `sequenceInfo`'s shape is not documented: accept a number or an object carrying one.
    if isinstance(info, int) and not isinstance(info, bool):
        return info
    if isinstance(info, dict):
        for key in ("transactionSequenceNumber", "sequenceNumber", "sequence"):
            value = info.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


_FIELD_LIST_KEYS = ("changedFields", "fields", "changes")
_FIELD_NAME_KEYS = ("fieldName", "field", "name", "key", "path")
_SINGLE_FIELD_KEYS = ("fieldName", "field")


def _changed_fields(payload: dict[str, Any]) -> list[str]:
    """Field names the payload says changed; an empty list when it does not tell.

    LeanIX does not document a changed-fields list, so accept the shapes seen in the wild: a list of
    names or of objects under `changedFields`/`fields`/`changes`, or one `fieldName`/`field` (as on
    FACT_SHEET_FIELD_UPDATED). `factSheet.fields` is the fact sheet's values, not a change list.
    """
    names: list[str] = []
    for key in _FIELD_LIST_KEYS:
        items = payload.get(key)
        if isinstance(items, list):
            names.extend(name for item in items if (name := _field_name(item)))
    for key in _SINGLE_FIELD_KEYS:
        name = _field_name(payload.get(key))
        if name:
            names.append(name)
    return list(dict.fromkeys(names))  # de-duplicated, order kept


def _field_name(item: Any) -> str | None:
    if isinstance(item, dict):
        for key in _FIELD_NAME_KEYS:
            value = item.get(key)
            if isinstance(value, str):
                return _field_name(value)
        return None
    if isinstance(item, str):
        name = item.strip().lstrip("/")  # patch paths like "/description"
        return name or None
    return None


def _validate(model: type[ModelT], data: dict[str, Any], prefix: str) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEventError(_describe(exc, prefix)) from None


_UNION_MEMBER_TAGS = frozenset({"int", "str", "none"})


def _describe(exc: ValidationError, prefix: str) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        # Union members add their type name to the location ("id.int"); drop it, it names no field.
        parts = [str(part) for part in error["loc"] if part not in _UNION_MEMBER_TAGS]
        location = prefix + ".".join(parts) if parts else prefix.rstrip(".") or "body"
        problems.append(f"{location}: {error['msg']}")
    return "invalid webhook event: " + "; ".join(dict.fromkeys(problems))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"

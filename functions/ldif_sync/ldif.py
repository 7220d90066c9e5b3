"""The LeanIX Data Interchange Format (LDIF) and its processor configuration, without I/O.

- `LdifHeader` / `LdifContent`: the inbound LDIF of leanix-api.md §6.4 and the OpenAPI schema
  `LeanIxDataInterchangeFormat`.
- `stream_ldif` writes the document piece by piece, so a large inventory is never held as one list;
  `chunk_ldif` splits it into several LDIFs with `chunkInformation`.
- `external_id` makes content ids that are stable across runs.
- `validate_processor_configuration` and `configurations_equal` guard the `PUT /configurations`
  upsert (§6.5): a bad configuration fails at start-up, an unchanged one is not re-sent.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from shared.errors import ConfigurationError

LX_VERSION = "1.0.0"
# Limits the OpenAPI schema puts on the binding fields and JUEL expressions.
MAX_BINDING_LENGTH = 500
# Above this a sanitized key is replaced by a uuid5, so ids stay short whatever the source holds.
MAX_EXTERNAL_ID_KEY_LENGTH = 200

_T = TypeVar("_T")
_SOURCE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# A fixed namespace: uuid5(namespace, source + key) must never change between releases.
_EXTERNAL_ID_NAMESPACE = uuid.UUID("6f1c9a52-3d0e-5b8f-9a41-2c7d8e5f0b13")
_JSON_SEPARATORS = (",", ":")


class ProcessingMode(StrEnum):
    PARTIAL = "partial"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class LdifContent:
    """One `content[]` item: `type` (matched by processor filters), external `id`, free `data`."""

    type: str
    id: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "data": self.data}


class ChunkInformation(BaseModel):
    """Where a chunk sits in the whole: 0-based indexes, `lastDataObject` inclusive."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    first_data_object: int = Field(ge=0)
    last_data_object: int = Field(ge=0)
    max_data_object: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> ChunkInformation:
        if not self.first_data_object <= self.last_data_object <= self.max_data_object:
            raise ValueError("need firstDataObject <= lastDataObject <= maxDataObject")
        return self


class LdifHeader(BaseModel):
    """Everything of an inbound LDIF except `content`. Python names, camelCase on the wire.

    The binding fields (connectorType, connectorId, connectorVersion, processingDirection,
    processingMode) must match the processor configuration exactly: see `check_binding`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    connector_type: str = Field(min_length=1, max_length=MAX_BINDING_LENGTH)
    connector_id: str = Field(min_length=1, max_length=MAX_BINDING_LENGTH)
    connector_version: str = Field(min_length=1, max_length=MAX_BINDING_LENGTH)
    lx_version: str = Field(default=LX_VERSION, min_length=1, max_length=MAX_BINDING_LENGTH)
    lx_workspace: str | None = None
    description: str | None = Field(default=None, max_length=MAX_BINDING_LENGTH)
    processing_direction: Literal["inbound"] = "inbound"
    processing_mode: ProcessingMode = ProcessingMode.PARTIAL
    chunk_information: ChunkInformation | None = None
    custom_fields: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The header as LDIF JSON keys, in schema order, without unset optional keys."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def with_chunk(self, chunk: ChunkInformation) -> LdifHeader:
        """A copy of this header carrying `chunk`."""
        return self.model_copy(update={"chunk_information": chunk})


def external_id(source: str, key: str) -> str:
    """A content id for `key` of `source` that is the same on every run: `<source>:<key>`.

    The key is percent-encoded outside `[A-Za-z0-9-._~]`, which is deterministic and keeps
    distinct keys distinct. A key longer than `MAX_EXTERNAL_ID_KEY_LENGTH` once encoded becomes
    `<source>:uuid5-<uuid>`. `source` is a short slug (`cmdb`, `aws`). Raises `ValueError` for an
    empty key or a malformed source.
    """
    if not _SOURCE_PATTERN.match(source):
        raise ValueError(f"source {source!r} must be a lowercase slug: letters, digits and '-'")
    cleaned = key.strip()
    if not cleaned:
        raise ValueError("an external id needs a non-empty key")
    encoded = quote(cleaned, safe="")
    if len(encoded) > MAX_EXTERNAL_ID_KEY_LENGTH:
        return f"{source}:uuid5-{uuid.uuid5(_EXTERNAL_ID_NAMESPACE, f'{source}:{cleaned}')}"
    return f"{source}:{encoded}"


class CountingIterator(Generic[_T]):
    """Wraps an iterable and counts the items that have passed through, so the caller learns
    how many contents were streamed without keeping them."""

    def __init__(self, items: Iterable[_T]) -> None:
        self._items = iter(items)
        self.count = 0

    def __iter__(self) -> CountingIterator[_T]:
        return self

    def __next__(self) -> _T:
        item = next(self._items)
        self.count += 1
        return item


def _dumps(value: Any) -> str:
    # allow_nan=False: NaN is not JSON, and LeanIX would refuse the whole run.
    return json.dumps(value, separators=_JSON_SEPARATORS, ensure_ascii=False, allow_nan=False)


def stream_ldif(header: LdifHeader, contents: Iterable[LdifContent]) -> Iterator[bytes]:
    """Yield the LDIF as UTF-8 pieces: the header, then one piece per content item, then the close.

    Contents are pulled one at a time, so memory stays flat however many there are. The pieces
    joined are byte-identical to `render_ldif(header, contents)`. Raises `ValueError` for a
    content whose data is not JSON-serializable (or holds NaN/infinity).
    """
    head = _dumps(header.to_dict())
    # The header dict is never empty (the binding fields are required), so it ends in "}".
    yield (head[:-1] + ',"content":[').encode("utf-8")
    separator = ""
    for content in contents:
        yield (separator + _dumps(content.to_dict())).encode("utf-8")
        separator = ","
    yield b"]}"


def render_ldif(header: LdifHeader, contents: Iterable[LdifContent]) -> bytes:
    """The whole LDIF as one document (for small inputs and tests; use `stream_ldif` for large)."""
    document = {**header.to_dict(), "content": [content.to_dict() for content in contents]}
    return _dumps(document).encode("utf-8")


def chunk_ldif(
    header: LdifHeader,
    contents: Iterable[LdifContent],
    max_items: int,
    *,
    total: int | None = None,
) -> Iterator[tuple[LdifHeader, list[LdifContent]]]:
    """Split contents into LDIFs of at most `max_items` items, each header with `chunkInformation`.

    `maxDataObject` is the index of the last item over all chunks, so it needs the total count
    before the first chunk: pass `total` for a lazy iterable (e.g. from a first counting pass over
    a re-readable export); a sized collection is counted with `len`. Only one chunk is held in
    memory at a time. No contents yield no chunks. Raises `ValueError` when `max_items < 1` or the
    contents do not match `total`, `TypeError` for a lazy iterable without `total`.
    """
    if max_items < 1:
        raise ValueError("max_items must be at least 1")
    if total is None:
        if not isinstance(contents, Sized):
            raise TypeError("pass total= when chunking a lazy iterable (maxDataObject needs the count)")
        total = len(contents)
    if total < 0:
        raise ValueError("total must not be negative")
    iterator = iter(contents)
    first = 0
    while True:
        chunk: list[LdifContent] = []
        for content in iterator:
            chunk.append(content)
            if len(chunk) == max_items:
                break
        if not chunk:
            break
        last = first + len(chunk) - 1
        if last >= total:
            raise ValueError(f"the contents hold more than the announced total of {total} items")
        info = ChunkInformation(first_data_object=first, last_data_object=last, max_data_object=total - 1)
        yield header.with_chunk(info), chunk
        first = last + 1
    if first != total:
        raise ValueError(f"the contents held {first} items, not the announced total of {total}")


# --- processor configuration (§6.5) ------------------------------------------------------------

INBOUND_PROCESSOR_TYPES = frozenset(
    {
        "inboundFactSheet",
        "inboundRelation",
        "inboundTag",
        "inboundDocument",
        "inboundSubscription",
        "inboundMetrics",
        "inboundImpact",
        "variableProcessor",
        "writeToLdif",
    }
)
# Keys each processor type cannot work without (the OpenAPI schema's `required`).
_REQUIRED_BY_TYPE: dict[str, tuple[str, ...]] = {
    "inboundFactSheet": ("type", "identifier"),
    "inboundRelation": ("type", "from", "to"),
    "inboundDocument": ("identifier",),
    "inboundImpact": ("identifier",),
}
BINDING_FIELDS = ("connectorType", "connectorId", "connectorVersion", "processingDirection", "processingMode")


class ProcessorConfigurationError(ConfigurationError):
    """The processor configuration is invalid; the message names the key and the problem."""


class BindingMismatchError(ConfigurationError):
    """An LDIF header does not match the processor configuration it is meant for."""


class _Processor(BaseModel):
    model_config = ConfigDict(extra="allow")

    processorType: str
    processorName: str = Field(min_length=1, max_length=MAX_BINDING_LENGTH)
    filter: dict[str, Any]
    run: int = Field(ge=0)
    enabled: bool = True
    mode: Literal["createOrUpdate", "delete"] | None = None
    logLevel: Literal["off", "warning", "debug"] | None = None

    @field_validator("processorType")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in INBOUND_PROCESSOR_TYPES:
            raise ValueError(f"unknown processorType {value!r}; use one of {sorted(INBOUND_PROCESSOR_TYPES)}")
        return value

    @model_validator(mode="after")
    def _type_specific_keys(self) -> _Processor:
        extra = self.model_extra or {}
        missing = [key for key in _REQUIRED_BY_TYPE.get(self.processorType, ()) if key not in extra]
        if missing:
            raise ValueError(f"{self.processorType} processor needs {', '.join(missing)}")
        return self


class _MaximumDeletionRatio(BaseModel):
    model_config = ConfigDict(extra="forbid")

    factSheets: int | None = Field(default=None, ge=0, le=100)
    relations: int | None = Field(default=None, ge=0, le=100)
    tags: int | None = Field(default=None, ge=0, le=100)
    subscriptions: int | None = Field(default=None, ge=0, le=100)
    documents: int | None = Field(default=None, ge=0, le=100)


class _DeletionScope(BaseModel):
    model_config = ConfigDict(extra="allow")

    maximumDeletionRatio: _MaximumDeletionRatio


class _Credentials(BaseModel):
    # Only the technical user: an apiToken written into a configuration file would leak.
    model_config = ConfigDict(extra="forbid")

    useTechnicalUser: bool = False

    @model_validator(mode="before")
    @classmethod
    def _no_api_token(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "apiToken" in data:
            raise ValueError("apiToken must not be stored in the configuration; use useTechnicalUser")
        return data


class _ProcessorConfiguration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connectorType: str = Field(min_length=1, max_length=MAX_BINDING_LENGTH)
    connectorId: str = Field(min_length=1, max_length=MAX_BINDING_LENGTH)
    connectorVersion: str = Field(min_length=1, max_length=MAX_BINDING_LENGTH)
    processingDirection: Literal["inbound"]
    processingMode: ProcessingMode
    processors: list[_Processor] = Field(min_length=1)
    deletionScope: _DeletionScope | None = None
    variables: dict[str, Any] | None = None
    dataProvider: dict[str, Any] | None = None
    credentials: _Credentials | None = None
    targetLdif: dict[str, Any] | None = None
    defaultInput: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _full_mode_needs_deletion_scope(self) -> _ProcessorConfiguration:
        # Full mode archives what the LDIF does not mention; without a ratio cap one empty
        # export would wipe the inventory.
        if self.processingMode is ProcessingMode.FULL and self.deletionScope is None:
            raise ValueError("processingMode 'full' needs a deletionScope with maximumDeletionRatio")
        return self


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"]) or "configuration"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{location}: {message}")
    return "; ".join(problems)


def validate_processor_configuration(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check an inbound processor configuration and return it (as a plain dict) unchanged.

    Checks: the five binding fields (`processingDirection` must be `inbound`), at least one
    processor, each with a known `processorType`, a `processorName`, a `filter` and a `run` >= 0
    plus the keys its type requires, no `credentials.apiToken`, and a `deletionScope` with
    `maximumDeletionRatio` in full mode. Raises `ProcessorConfigurationError` naming every problem
    (key path and reason; values are never echoed).
    """
    if not isinstance(config, Mapping):
        raise ProcessorConfigurationError("processor configuration must be a JSON object")
    try:
        _ProcessorConfiguration.model_validate(dict(config))
    except ValidationError as exc:
        raise ProcessorConfigurationError(f"invalid processor configuration: {_describe(exc)}") from None
    return json.loads(json.dumps(config))  # type: ignore[no-any-return]


def load_processor_configuration(data: bytes | str) -> dict[str, Any]:
    """Parse and validate a processor configuration file (`processors.json`)."""
    try:
        config = json.loads(data)
    except ValueError as exc:
        raise ProcessorConfigurationError(f"processor configuration is not valid JSON: {exc}") from None
    return validate_processor_configuration(config)


def check_binding(header: LdifHeader, config: Mapping[str, Any]) -> None:
    """Raise `BindingMismatchError` unless the LDIF's binding fields equal the configuration's.

    LeanIX picks the configuration by these five values; a mismatch means the run finds no
    processors. The message names each field that differs.
    """
    ldif = header.to_dict()
    wanted = {**{"processingMode": ProcessingMode.PARTIAL.value}, **dict(config)}
    different = [name for name in BINDING_FIELDS if ldif.get(name) != wanted.get(name)]
    if different:
        detail = ", ".join(
            f"{name} (LDIF {ldif.get(name)!r}, configuration {wanted.get(name)!r})" for name in different
        )
        raise BindingMismatchError(
            f"the LDIF does not match the processor configuration: {detail}; connectorType, connectorId, "
            "connectorVersion, processingDirection and processingMode must be identical"
        )


# Values LeanIX assumes when a key is absent; a GET may return them spelled out.
_DEFAULTS_BY_KEY: dict[str, Any] = {
    "processingMode": "partial",
    "enabled": True,
    "op": "replace",
    "optional": False,
    "logLevel": "warning",
    "mode": "createOrUpdate",
}


def _normalize(value: Any) -> Any:
    if isinstance(value, Mapping):
        normalized: dict[str, Any] = {}
        for key, item in value.items():
            item = _normalize(item)
            if item is None or item == {} or item == []:
                continue
            if key in _DEFAULTS_BY_KEY and item == _DEFAULTS_BY_KEY[key]:
                continue
            normalized[str(key)] = item
        return normalized
    if isinstance(value, list | tuple):
        return [_normalize(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def configurations_equal(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """True when two processor configurations mean the same, so no `PUT` is needed.

    Ignores key order, null/empty values and keys spelled out at their documented default
    (`enabled: true`, `op: replace`, `optional: false`, `mode: createOrUpdate`, `logLevel:
    warning`, `processingMode: partial`). Processor order counts: it decides execution order.
    """
    return bool(_normalize(a) == _normalize(b))

"""A declarative mapping from export rows (CSV or JSON) to LDIF content items. No I/O.

A mapping file (JSON) holds one mapping per LDIF content type; a row becomes one content item for
every mapping whose `when` matches it:

    {"source": "cmdb",
     "mappings": [
       {"type": "Application",
        "when": {"column": "kind", "equals": "application"},
        "id": {"column": "app_id"},                       # or {"template": "{kind}-{app_id}"}
        "data": {
          "name":        {"column": "name"},
          "description": {"column": "desc", "default": ""},
          "tags":        {"column": "tags", "split": ";"},
          "cost":        {"column": "annual_cost", "kind": "number"},
          "itComponents": {"column": "depends_on", "split": ";", "external_id": true},
          "origin":      {"value": "CMDB export"}},
        "required": ["name"]}]}

- `id` is turned into `external_id(source, value)`, so ids are stable across runs; a data field
  with `"external_id": true` gets the same treatment per value, so references (relation targets)
  match the ids of the items they point to.
- `kind` is `string` (default), `number`, `integer` or `boolean`; `split` turns a cell into a list.
- An empty cell takes `default` when given; otherwise a list field becomes `[]` and a scalar
  field is left out of `data`. `required` names data keys that must end up non-empty.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from functions.ldif_sync.ldif import LdifContent, external_id
from shared.errors import ConfigurationError, InputError

Row = Mapping[str, Any]
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0"})
_SHOWN_VALUE_LENGTH = 40


class MappingConfigurationError(ConfigurationError):
    """The mapping file is invalid; the message names the key."""


class UnknownColumnError(InputError):
    """The mapping refers to a column the export does not have."""


class RowMappingError(InputError):
    """One row cannot be mapped; the message names the row number and the column."""

    def __init__(self, row_number: int, column: str, problem: str) -> None:
        super().__init__(f"row {row_number}, column {column!r}: {problem}")
        self.row_number = row_number
        self.column = column


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IdSpec(_Model):
    """Where a content's id comes from: one column, or a template of `{column}` references."""

    column: str | None = Field(default=None, min_length=1)
    template: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> IdSpec:
        if (self.column is None) == (self.template is None):
            raise ValueError("give exactly one of 'column' or 'template'")
        if self.template is not None and not template_columns(self.template):
            raise ValueError("a template needs at least one {column} reference")
        return self

    def columns(self) -> list[str]:
        return [self.column] if self.column is not None else template_columns(self.template or "")


class FieldSpec(_Model):
    """One `data` key: a column (converted, optionally split) or a constant `value`."""

    column: str | None = Field(default=None, min_length=1)
    value: Any = None
    kind: Literal["string", "number", "integer", "boolean"] = "string"
    split: str | None = Field(default=None, min_length=1)
    default: Any = None
    external_id: bool = False

    @model_validator(mode="after")
    def _column_or_value(self) -> FieldSpec:
        if (self.column is None) == (self.value is None):
            raise ValueError("give exactly one of 'column' or 'value'")
        if self.value is not None and (self.split or self.default is not None or self.external_id):
            raise ValueError("'split', 'default' and 'external_id' only apply to a column")
        if self.external_id and self.kind != "string":
            raise ValueError("'external_id' needs kind 'string'")
        return self


class WhenSpec(_Model):
    """Apply the mapping only to rows whose `column` equals `equals` (after trimming)."""

    column: str = Field(min_length=1)
    equals: str


class ContentMapping(_Model):
    """How rows become LDIF content items of one `type`."""

    type: str = Field(min_length=1, max_length=500)
    when: WhenSpec | None = None
    id: IdSpec
    data: dict[str, FieldSpec] = Field(default_factory=dict)
    required: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _required_keys_exist(self) -> ContentMapping:
        unknown = [key for key in self.required if key not in self.data]
        if unknown:
            raise ValueError(f"required names {unknown[0]!r}, which is not a key of data")
        return self

    def columns(self) -> list[str]:
        """Every column this mapping reads, in a stable order."""
        names = list(self.id.columns())
        if self.when is not None:
            names.append(self.when.column)
        names.extend(spec.column for spec in self.data.values() if spec.column is not None)
        return list(dict.fromkeys(names))

    def matches(self, row: Row) -> bool:
        if self.when is None:
            return True
        return _text(row.get(self.when.column)) == self.when.equals


class MappingFile(_Model):
    """A mapping file: the `source` slug used in external ids and one mapping per content type."""

    source: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    mappings: list[ContentMapping] = Field(min_length=1)

    def columns(self) -> list[str]:
        return list(dict.fromkeys(name for mapping in self.mappings for name in mapping.columns()))


def template_columns(template: str) -> list[str]:
    """The column names a `{column}` template refers to, in order."""
    return [name.strip() for name in _TEMPLATE_FIELD.findall(template)]


def load_mapping(data: bytes | str | Mapping[str, Any]) -> MappingFile:
    """Parse and validate a mapping file; raises `MappingConfigurationError` naming the key."""
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise MappingConfigurationError(f"mapping file is not valid JSON: {exc}") from None
    try:
        return MappingFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            location = ".".join(str(part) for part in error["loc"]) or "mapping"
            problems.append(f"{location}: {error['msg'].removeprefix('Value error, ')}")
        raise MappingConfigurationError("invalid mapping file: " + "; ".join(problems)) from None


def validate_against_columns(mapping: MappingFile | ContentMapping, header: Sequence[str]) -> None:
    """Raise `UnknownColumnError` naming the first column the mapping reads that `header` lacks."""
    available = set(header)
    for column in mapping.columns():
        if column not in available:
            raise UnknownColumnError(
                f"the mapping reads column {column!r}, which the export does not have "
                f"(columns: {', '.join(header) or 'none'})"
            )


def map_row(mapping: ContentMapping, row: Row, row_number: int, *, source: str) -> LdifContent:
    """Turn one row into an LDIF content item of `mapping.type`.

    A missing column counts as an empty cell (JSON rows need not repeat empty keys). Raises
    `RowMappingError` (an `InputError`) naming the row and column for an empty id, an empty
    required value, or a value that does not convert to the field's kind.
    """
    content_id = _content_id(mapping.id, row, row_number, source)
    data: dict[str, Any] = {}
    for key, spec in mapping.data.items():
        if spec.column is None:
            data[key] = spec.value
            continue
        value = _field(spec, spec.column, row.get(spec.column), row_number, source)
        if value is not None:
            data[key] = value
    for key in mapping.required:
        if data.get(key) in (None, "", []):
            spec = mapping.data[key]
            raise RowMappingError(row_number, spec.column or key, f"a value is required for {key!r}")
    return LdifContent(type=mapping.type, id=content_id, data=data)


def map_rows(mapping_file: MappingFile, rows: Iterable[tuple[int, Row]]) -> Iterator[LdifContent]:
    """Lazily map `(row_number, row)` pairs: one content item per matching mapping per row."""
    for row_number, row in rows:
        for mapping in mapping_file.mappings:
            if mapping.matches(row):
                yield map_row(mapping, row, row_number, source=mapping_file.source)


# --- conversions ---------------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_VALUE_LENGTH else text[: _SHOWN_VALUE_LENGTH - 3] + "..."


def _text(value: Any) -> str:
    """A cell as trimmed text; None and missing are empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float):
        return str(value)
    raise TypeError("not a single value")


def _content_id(spec: IdSpec, row: Row, row_number: int, source: str) -> str:
    if spec.column is not None:
        column = spec.column
        try:
            key = _text(row.get(column))
        except TypeError:
            raise RowMappingError(row_number, column, "the id must be a single value") from None
    else:
        parts: dict[str, str] = {}
        for column in spec.columns():
            try:
                parts[column] = _text(row.get(column))
            except TypeError:
                raise RowMappingError(row_number, column, "the id must be a single value") from None
            if not parts[column]:
                raise RowMappingError(row_number, column, "empty, but the id template needs it")
        key = _TEMPLATE_FIELD.sub(lambda match: parts[match.group(1).strip()], spec.template or "")
        column = ", ".join(spec.columns())
    if not key:
        raise RowMappingError(row_number, column, "the id is empty")
    return external_id(source, key)


def _field(spec: FieldSpec, column: str, cell: Any, row_number: int, source: str) -> Any:
    if spec.split is not None:
        if isinstance(cell, list):
            elements = [_text_or_fail(item, row_number, column) for item in cell]
        else:
            elements = _text_or_fail(cell, row_number, column).split(spec.split)
        elements = [element.strip() for element in elements if element.strip()]
        if not elements:
            return spec.default if spec.default is not None else []
        return [_convert(spec, element, row_number, column, source) for element in elements]
    if isinstance(cell, list | dict):
        raise RowMappingError(row_number, column, "expected a single value, got a list or object")
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return spec.default
    return _convert(spec, cell, row_number, column, source)


def _text_or_fail(value: Any, row_number: int, column: str) -> str:
    try:
        return _text(value)
    except TypeError:
        raise RowMappingError(row_number, column, f"expected a single value, got {_shown(value)}") from None


def _convert(spec: FieldSpec, value: Any, row_number: int, column: str, source: str) -> Any:
    if spec.kind == "string":
        text = _text_or_fail(value, row_number, column)
        return external_id(source, text) if spec.external_id else text
    if spec.kind == "boolean":
        if isinstance(value, bool):
            return value
        word = _text_or_fail(value, row_number, column).lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise RowMappingError(row_number, column, f"{_shown(value)} is not a boolean (true/false)")
    if isinstance(value, bool):
        raise RowMappingError(row_number, column, f"{_shown(value)} is not a {spec.kind}")
    if spec.kind == "integer":
        if isinstance(value, int):
            return value
        try:
            return int(_text_or_fail(value, row_number, column))
        except ValueError:
            raise RowMappingError(row_number, column, f"{_shown(value)} is not an integer") from None
    try:
        number = (
            float(value)
            if isinstance(value, int | float)
            else float(_text_or_fail(value, row_number, column))
        )
    except (ValueError, OverflowError):
        raise RowMappingError(row_number, column, f"{_shown(value)} is not a number") from None
    if not math.isfinite(number):
        raise RowMappingError(row_number, column, f"{_shown(value)} is not a finite number")
    return int(number) if isinstance(value, int) else number

"""The declarative mapping from export rows to LDIF content items."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from functions.ldif_sync.ldif import LdifContent, external_id
from functions.ldif_sync.mapping import (
    ContentMapping,
    MappingConfigurationError,
    MappingFile,
    RowMappingError,
    UnknownColumnError,
    load_mapping,
    map_row,
    map_rows,
    validate_against_columns,
)
from functions.ldif_sync.sources import read_csv
from shared.errors import ConfigurationError, InputError

SAMPLE = Path(__file__).resolve().parents[2] / "functions" / "ldif_sync" / "sample"


def mapping(**overrides: Any) -> ContentMapping:
    raw: dict[str, Any] = {
        "type": "Application",
        "id": {"column": "app_id"},
        "data": {
            "name": {"column": "name"},
            "description": {"column": "desc", "default": ""},
            "tags": {"column": "tags", "split": ";"},
            "cost": {"column": "cost", "kind": "number"},
            "users": {"column": "users", "kind": "integer"},
            "active": {"column": "active", "kind": "boolean"},
            "itComponents": {"column": "uses", "split": ";", "external_id": True},
            "origin": {"value": "CMDB"},
        },
        "required": ["name"],
    }
    raw.update(overrides)
    return load_mapping({"source": "cmdb", "mappings": [raw]}).mappings[0]


def row(**cells: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "app_id": "APP-1",
        "name": " Billing ",
        "desc": "",
        "tags": "Critical; Cloud;;",
        "cost": "1532.75",
        "users": "120",
        "active": "yes",
        "uses": "ITC-1;ITC-2",
    }
    base.update(cells)
    return base


def test_row_becomes_content_with_converted_values() -> None:
    content = map_row(mapping(), row(), 2, source="cmdb")
    assert content == LdifContent(
        type="Application",
        id="cmdb:APP-1",
        data={
            "name": "Billing",
            "description": "",
            "tags": ["Critical", "Cloud"],
            "cost": 1532.75,
            "users": 120,
            "active": True,
            "itComponents": [external_id("cmdb", "ITC-1"), external_id("cmdb", "ITC-2")],
            "origin": "CMDB",
        },
    )


def test_empty_cells_use_default_or_empty_list_or_are_left_out() -> None:
    content = map_row(mapping(), row(tags="", cost="", users=" ", active="", uses=""), 3, source="cmdb")
    assert content.data == {
        "name": "Billing",
        "description": "",
        "tags": [],
        "itComponents": [],
        "origin": "CMDB",
    }


def test_json_rows_with_native_values_and_lists() -> None:
    content = map_row(
        mapping(),
        {"app_id": 17, "name": "Billing", "tags": ["A", " B "], "cost": 5, "users": 3, "active": False},
        1,
        source="cmdb",
    )
    assert content.id == "cmdb:17"
    assert content.data["tags"] == ["A", "B"]
    assert content.data["cost"] == 5
    assert content.data["users"] == 3
    assert content.data["active"] is False
    assert "desc" not in content.data


def test_id_template_combines_columns() -> None:
    content = map_row(mapping(id={"template": "{kind}-{app_id}"}), row(kind="app"), 2, source="cmdb")
    assert content.id == external_id("cmdb", "app-APP-1")


def test_ids_are_the_same_on_every_run() -> None:
    first = map_row(mapping(), row(), 2, source="cmdb")
    assert first.id == map_row(mapping(), row(), 99, source="cmdb").id
    assert first.id == external_id("cmdb", "APP-1")


@pytest.mark.parametrize(
    ("cells", "column", "problem"),
    [
        ({"name": "  "}, "name", "a value is required for 'name'"),
        ({"app_id": ""}, "app_id", "the id is empty"),
        ({"cost": "12,50 EUR"}, "cost", "is not a number"),
        ({"cost": "nan"}, "cost", "is not a finite number"),
        ({"cost": True}, "cost", "is not a number"),
        ({"users": "1.5"}, "users", "is not an integer"),
        ({"active": "maybe"}, "active", "is not a boolean"),
        ({"name": ["a", "b"]}, "name", "expected a single value"),
        ({"tags": [{"x": 1}]}, "tags", "expected a single value"),
        ({"app_id": {"x": 1}}, "app_id", "the id must be a single value"),
    ],
)
def test_malformed_row_error_names_column_and_row(cells: dict[str, Any], column: str, problem: str) -> None:
    with pytest.raises(RowMappingError) as info:
        map_row(mapping(), row(**cells), 7, source="cmdb")
    error = info.value
    assert isinstance(error, InputError)
    assert str(error).startswith(f"row 7, column {column!r}: ")
    assert problem in str(error)
    assert (error.row_number, error.column) == (7, column)


def test_template_id_with_an_empty_part_names_that_column() -> None:
    with pytest.raises(RowMappingError, match=r"row 4, column 'kind': empty"):
        map_row(mapping(id={"template": "{kind}-{app_id}"}), row(kind=""), 4, source="cmdb")


def test_unknown_column_error_names_the_column() -> None:
    validate_against_columns(mapping(), ["app_id", "name", "desc", "tags", "cost", "users", "active", "uses"])
    with pytest.raises(UnknownColumnError, match="'desc'") as info:
        validate_against_columns(
            mapping(), ["app_id", "name", "description", "tags", "cost", "users", "active", "uses"]
        )
    assert "columns: app_id, name, description" in str(info.value)


def test_template_and_when_columns_are_checked_too() -> None:
    with pytest.raises(UnknownColumnError, match="'kind'"):
        validate_against_columns(mapping(id={"template": "{kind}-{app_id}"}), list(row()))
    with pytest.raises(UnknownColumnError, match="'type'"):
        validate_against_columns(mapping(when={"column": "type", "equals": "app"}), list(row()))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"id": {"column": "a", "template": "{b}"}},
            "mappings.0.id: give exactly one of 'column' or 'template'",
        ),
        ({"id": {"template": "static"}}, "mappings.0.id: a template needs at least one {column}"),
        ({"data": {"cost": {"column": "cost", "kind": "money"}}}, "mappings.0.data.cost.kind"),
        ({"data": {"x": {"colum": "cost"}}}, "mappings.0.data.x.colum: Extra inputs are not permitted"),
        ({"data": {"x": {"value": 1, "split": ";"}}}, "mappings.0.data.x: 'split', 'default'"),
        ({"data": {"x": {"column": "c", "kind": "number", "external_id": True}}}, "needs kind 'string'"),
        ({"required": ["nmae"]}, "required names 'nmae'"),
        ({"type": ""}, "mappings.0.type"),
    ],
)
def test_invalid_mapping_file_names_the_key(change: dict[str, Any], message: str) -> None:
    raw = {"type": "Application", "id": {"column": "id"}, "data": {"name": {"column": "name"}}}
    raw.update(change)
    with pytest.raises(MappingConfigurationError) as info:
        load_mapping({"source": "cmdb", "mappings": [raw]})
    assert isinstance(info.value, ConfigurationError)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"source": "CMDB", "mappings": []}', "source"),
        (b'{"source": "cmdb", "mappings": []}', "mappings"),
        (b'{"source": "cmdb"}', "mappings: Field required"),
    ],
)
def test_unreadable_mapping_documents(document: bytes, message: str) -> None:
    with pytest.raises(MappingConfigurationError, match=message):
        load_mapping(document)


def test_map_rows_applies_the_matching_mapping_per_row() -> None:
    mapping_file = load_mapping(
        {
            "source": "cmdb",
            "mappings": [
                {
                    "type": "Application",
                    "when": {"column": "kind", "equals": "application"},
                    "id": {"column": "id"},
                    "data": {"name": {"column": "name"}},
                },
                {
                    "type": "ITComponent",
                    "when": {"column": "kind", "equals": "it_component"},
                    "id": {"column": "id"},
                    "data": {"name": {"column": "name"}},
                },
            ],
        }
    )
    rows = [
        (2, {"kind": "application", "id": "A", "name": "a"}),
        (3, {"kind": " it_component ", "id": "I", "name": "i"}),
        (4, {"kind": "server", "id": "S", "name": "s"}),
    ]
    assert [(c.type, c.id) for c in map_rows(mapping_file, rows)] == [
        ("Application", "cmdb:A"),
        ("ITComponent", "cmdb:I"),
    ]


def test_map_rows_is_lazy() -> None:
    pulled: list[int] = []

    def rows() -> Any:
        for number in range(2, 100):
            pulled.append(number)
            yield number, row(app_id=f"APP-{number}")

    mapping_file = MappingFile(source="cmdb", mappings=[mapping()])
    contents = map_rows(mapping_file, rows())
    next(contents)
    assert pulled == [2]


def test_sample_export_maps_to_applications_and_it_components_with_matching_relations() -> None:
    mapping_file = load_mapping((SAMPLE / "cmdb_mapping.json").read_bytes())
    text = (SAMPLE / "cmdb_export.csv").read_text(encoding="utf-8")
    header, rows = read_csv(io.StringIO(text, newline=""))
    validate_against_columns(mapping_file, header)
    contents = list(map_rows(mapping_file, rows))
    by_type = {kind: [c for c in contents if c.type == kind] for kind in ("Application", "ITComponent")}
    assert len(contents) == 30
    assert len(by_type["Application"]) >= 10
    assert len(by_type["ITComponent"]) >= 10
    component_ids = {c.id for c in by_type["ITComponent"]}
    referenced = {ref for app in by_type["Application"] for ref in app.data["itComponents"]}
    assert referenced
    assert referenced <= component_ids  # every relation target exists in the same LDIF
    assert all(c.data["name"] for c in contents)
    assert all(isinstance(c.data["annualCost"], float) for c in contents)
    json.dumps([c.to_dict() for c in contents], allow_nan=False)

"""Reading file exports: CSV, JSON arrays and NDJSON, with row numbers."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.ldif_sync.sources import (
    ExportFormatError,
    iter_csv_rows,
    iter_export_rows,
    iter_json_rows,
    read_csv,
)
from shared.errors import InputError

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "functions" / "ldif_sync" / "sample" / "cmdb_export.csv"


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_rows_are_numbered_like_spreadsheet_rows() -> None:
    text = 'id,name\n1,Billing\n\n2,"Pay\nroll"\n3,CRM\n'
    header, rows = read_csv(lines(text))
    assert header == ["id", "name"]
    assert list(rows) == [
        (2, {"id": "1", "name": "Billing"}),
        (4, {"id": "2", "name": "Pay\nroll"}),
        (5, {"id": "3", "name": "CRM"}),
    ]


def test_csv_header_is_trimmed_and_bom_dropped() -> None:
    header, _ = read_csv(lines("\ufeff id , name \n1,a\n"))
    assert header == ["id", "name"]


def test_csv_custom_delimiter() -> None:
    assert list(iter_csv_rows(lines("id;name\n1;a,b\n"), delimiter=";")) == [(2, {"id": "1", "name": "a,b"})]


@pytest.mark.parametrize(
    ("text", "message", "row_number"),
    [
        ("id,name\n1,a\n2,b,extra\n", "CSV row 3 has 3 values but the header has 2 columns", 3),
        ("id,name\n1,a\n2\n", "CSV row 3 has 1 values", 3),
        ('id,name\n1,a\n2,"b"x\n', "CSV row 3 is malformed", 3),
        ('id,name\n1,a\n2,"unterminated\n', "CSV row 3 is malformed", 3),
    ],
)
def test_malformed_csv_row_names_the_row(text: str, message: str, row_number: int) -> None:
    rows = iter_csv_rows(lines(text))
    assert next(rows)[0] == 2  # the good row before it still comes through
    with pytest.raises(ExportFormatError, match=message) as info:
        next(rows)
    assert info.value.row_number == row_number
    assert isinstance(info.value, InputError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("id,,name\n", "column 2 has no name"),
        ("id,name,id\n", "column 'id' appears more than once"),
    ],
)
def test_bad_csv_header_is_refused_up_front(text: str, message: str) -> None:
    with pytest.raises(ExportFormatError, match=message):
        read_csv(lines(text))


def test_csv_reading_is_lazy() -> None:
    pulled = 0

    def source() -> Iterator[str]:
        nonlocal pulled
        yield "id,name\n"
        for number in range(1000):
            pulled += 1
            yield f"{number},n{number}\n"

    _, rows = read_csv(source())
    assert pulled == 0
    next(rows)
    assert pulled == 1


def test_sample_csv_reads_completely() -> None:
    text = SAMPLE_CSV.read_text(encoding="utf-8")
    rows = list(iter_csv_rows(io.StringIO(text, newline="")))
    assert len(rows) == 30
    assert rows[0][0] == 2
    assert {cells["kind"] for _, cells in rows} == {"application", "it_component"}


# --- JSON --------------------------------------------------------------------------------------


def test_json_array_rows_are_numbered_from_one() -> None:
    data = b' [ {"id": 1}, {"id": 2} ,{"id":3}] \n'
    assert list(iter_json_rows(data)) == [(1, {"id": 1}), (2, {"id": 2}), (3, {"id": 3})]


def test_ndjson_rows_are_numbered_by_line() -> None:
    data = b'{"id": 1}\n\n{"id": 2}\r\n'
    assert list(iter_json_rows(data)) == [(1, {"id": 1}), (3, {"id": 2})]


@pytest.mark.parametrize("data", [b"", b"  \n", b"[]", b"[ ]"])
def test_empty_json_exports_have_no_rows(data: bytes) -> None:
    assert list(iter_json_rows(data)) == []


@pytest.mark.parametrize(
    ("data", "message", "good_rows"),
    [
        (b'[{"id": 1}, 5]', "JSON element 2 is not a JSON object", 1),
        (b'[{"id": 1}, {"id": ]', "JSON element 2 is not valid JSON", 1),
        (b'[{"id": 1} {"id": 2}]', "malformed after element 1", 1),
        (b'[{"id": 1}', "malformed after element 1", 1),
        (b'[{"id": 1}] trailing', "unexpected content after the JSON array", 1),
        (b'{"id": 1}\n{"id": \n', "NDJSON line 2 is not valid JSON", 1),
        (b'{"id": 1}\n[1]\n', "NDJSON line 2 is not a JSON object", 1),
        (b"\xff\xfe", "not UTF-8", 0),
    ],
)
def test_malformed_json_export_names_the_row(data: bytes, message: str, good_rows: int) -> None:
    rows = iter_json_rows(data)
    for _ in range(good_rows):
        next(rows)
    with pytest.raises(ExportFormatError, match=message):
        next(rows)


def test_json_array_is_decoded_one_element_at_a_time() -> None:
    # The broken third element is only reached when the caller asks for it.
    rows = iter_json_rows(b'[{"id": 1}, {"id": 2}, {"id": ]')
    assert next(rows) == (1, {"id": 1})
    assert next(rows) == (2, {"id": 2})
    with pytest.raises(ExportFormatError, match="element 3"):
        next(rows)


# --- by file name ------------------------------------------------------------------------------


def test_export_type_is_chosen_by_file_name() -> None:
    assert list(iter_export_rows(b"id\r\nA\r\n", "export.CSV")) == [(2, {"id": "A"})]
    assert list(iter_export_rows(b'[{"id": "A"}]', "export.json")) == [(1, {"id": "A"})]
    assert list(iter_export_rows(b'{"id": "A"}\n', "export.ndjson")) == [(1, {"id": "A"})]
    with pytest.raises(ExportFormatError, match="unsupported export type"):
        iter_export_rows(b"", "export.xlsx")

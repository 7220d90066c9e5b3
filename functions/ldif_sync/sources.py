"""Reading file exports (CSV, JSON array, NDJSON) into numbered rows, lazily and without I/O.

The caller fetches the bytes or lines (blob storage, S3, a local folder); these functions only
parse. Every row comes with its row number so an error can say where to look:

- CSV: the spreadsheet row, counting the header as row 1 (the first data row is row 2);
- JSON array: the element's position, from 1;
- NDJSON: the line number, from 1.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from shared.errors import InputError

Row = dict[str, Any]
JSON_SUFFIXES = (".json", ".ndjson", ".jsonl")


class ExportFormatError(InputError):
    """The export file is malformed; the message names the row (or the header)."""

    def __init__(self, message: str, row_number: int | None = None) -> None:
        super().__init__(message)
        self.row_number = row_number


def read_csv(lines: Iterable[str], *, delimiter: str = ",") -> tuple[list[str], Iterator[tuple[int, Row]]]:
    """Read the header now and return it with a lazy iterator of `(row_number, row)`.

    `lines` keep their line endings (a file opened with `newline=""`, or
    `text.splitlines(keepends=True)`), so quoted cells may span lines. Header names are trimmed;
    a byte-order mark is dropped. Raises `ExportFormatError` for a missing, blank or duplicated
    header name; the iterator raises it for a row with a different number of cells or broken quoting.
    """
    reader = csv.reader(iter(lines), delimiter=delimiter, strict=True)
    try:
        raw_header = next(reader, None)
    except csv.Error as exc:
        raise ExportFormatError(f"CSV header (row 1) is malformed: {exc}", 1) from None
    if not raw_header:
        raise ExportFormatError("the CSV export is empty: it needs a header row", 1)
    header = [name.strip() for name in raw_header]
    header[0] = header[0].removeprefix("\ufeff").strip()
    for position, name in enumerate(header, start=1):
        if not name:
            raise ExportFormatError(f"CSV header (row 1): column {position} has no name", 1)
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ExportFormatError(f"CSV header (row 1): column {duplicates[0]!r} appears more than once", 1)
    return header, _csv_rows(reader, header)


def _csv_rows(reader: Any, header: list[str]) -> Iterator[tuple[int, Row]]:
    row_number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ExportFormatError(f"CSV row {row_number + 1} is malformed: {exc}", row_number + 1) from None
        row_number += 1
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue  # a blank line is not a row
        if len(cells) != len(header):
            raise ExportFormatError(
                f"CSV row {row_number} has {len(cells)} values but the header has {len(header)} columns",
                row_number,
            )
        yield row_number, dict(zip(header, cells, strict=True))


def iter_csv_rows(lines: Iterable[str], *, delimiter: str = ",") -> Iterator[tuple[int, Row]]:
    """Lazily yield `(row_number, row)` for a CSV export; see `read_csv` for the rules."""
    _, rows = read_csv(lines, delimiter=delimiter)
    yield from rows


def iter_json_rows(data: bytes) -> Iterator[tuple[int, Row]]:
    """Lazily yield `(row_number, row)` for a JSON array of objects or for NDJSON.

    A body starting with `[` is an array (decoded one element at a time); anything else is read
    as NDJSON, one object a line, blank lines skipped. Raises `ExportFormatError` naming the row
    for an element or line that is not a JSON object, and for text that is not UTF-8 JSON.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExportFormatError("the JSON export is not UTF-8 text") from None
    start = _skip_space(text, 0)
    if start == len(text):
        return
    if text[start] == "[":
        yield from _array_rows(text, start + 1)
    else:
        yield from _ndjson_rows(text)


_decoder = json.JSONDecoder()


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _object_or_fail(value: Any, row_number: int, where: str) -> Row:
    if not isinstance(value, dict):
        raise ExportFormatError(f"{where} {row_number} is not a JSON object", row_number)
    return value


def _array_rows(text: str, position: int) -> Iterator[tuple[int, Row]]:
    row_number = 0
    position = _skip_space(text, position)
    if position < len(text) and text[position] == "]":
        position += 1
    else:
        while True:
            row_number += 1
            try:
                value, position = _decoder.raw_decode(text, position)
            except (ValueError, RecursionError):
                raise ExportFormatError(f"JSON element {row_number} is not valid JSON", row_number) from None
            yield row_number, _object_or_fail(value, row_number, "JSON element")
            position = _skip_space(text, position)
            if position < len(text) and text[position] == ",":
                position = _skip_space(text, position + 1)
                continue
            if position < len(text) and text[position] == "]":
                position += 1
                break
            raise ExportFormatError(
                f"JSON array is malformed after element {row_number}: expected ',' or ']'", row_number
            )
    if _skip_space(text, position) != len(text):
        raise ExportFormatError("unexpected content after the JSON array", row_number)


def _ndjson_rows(text: str) -> Iterator[tuple[int, Row]]:
    for line_number, line in enumerate(io.StringIO(text), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            raise ExportFormatError(f"NDJSON line {line_number} is not valid JSON", line_number) from None
        yield line_number, _object_or_fail(value, line_number, "NDJSON line")


def iter_export_rows(data: bytes, filename: str) -> Iterator[tuple[int, Row]]:
    """Rows of an export file chosen by its name: `.csv`, or `.json`/`.ndjson`/`.jsonl`."""
    name = filename.lower()
    if name.endswith(".csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ExportFormatError(f"{filename} is not UTF-8 text") from None
        return iter_csv_rows(io.StringIO(text, newline=""))
    if name.endswith(JSON_SUFFIXES):
        return iter_json_rows(data)
    raise ExportFormatError(f"{filename}: unsupported export type; use .csv, .json, .ndjson or .jsonl")

"""Where LDIF contents come from: one `ContentSource` protocol, chosen by `LDIF_SOURCE`.

- `FileExportSource`: a CSV / JSON / NDJSON export in the blob store (S3, Azure Blob, a local
  folder), turned into contents by a declarative mapping file (`mapping.py`).
- `AwsInventorySource` (`aws_inventory.py`): Lambda functions, ECS services and RDS instances.

`open()` fetches and validates everything that can be checked before a run (the mapping, the
export's columns), so a bad input fails before anything reaches LeanIX. `contents()` is a fresh
lazy iterator each call, so the LDIF can be streamed (and counted first, for chunking).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from functions.ldif_sync.config import SAMPLE_MAPPING_PATH
from functions.ldif_sync.ldif import LdifContent
from functions.ldif_sync.mapping import MappingFile, load_mapping, map_rows, validate_against_columns
from functions.ldif_sync.sources import iter_export_rows, read_csv
from shared.errors import ConfigurationError, InputError
from shared.platform import BlobStore, NotFound
from shared.settings import Settings


class ContentSource(Protocol):
    """A source of LDIF content items."""

    @property
    def name(self) -> str:
        """A short description for logs and the run report (e.g. `file:exports/cmdb.csv`)."""
        ...

    @property
    def id_prefix(self) -> str:
        """The external-id prefix of every content (`cmdb:`), used to preview full-mode archiving."""
        ...

    async def open(self) -> None:
        """Fetch and validate the input. Raises `InputError` / `ConfigurationError` naming the problem."""
        ...

    def contents(self) -> Iterator[LdifContent]:
        """A new lazy iterator over the contents (blocking: call it in a worker thread)."""
        ...


class FileExportSource:
    """An export file in the blob store plus a mapping file (blob key, path, or the shipped sample)."""

    def __init__(
        self, blobs: BlobStore, export_key: str, *, mapping_key: str = "", mapping_path: str = ""
    ) -> None:
        self._blobs = blobs
        self._export_key = export_key
        self._mapping_key = mapping_key
        self._mapping_path = Path(mapping_path) if mapping_path else SAMPLE_MAPPING_PATH
        self._data: bytes | None = None
        self._mapping: MappingFile | None = None

    @property
    def name(self) -> str:
        return f"file:{self._export_key}"

    @property
    def id_prefix(self) -> str:
        return f"{self._mapping.source}:" if self._mapping else ""

    async def open(self) -> None:
        self._mapping = await self._load_mapping()
        try:
            self._data = await self._blobs.get(self._export_key)
        except NotFound:
            raise InputError(
                f"the export {self._export_key!r} (LDIF_EXPORT_KEY) is not in the blob store: "
                "check that the export job wrote it, and the key"
            ) from None
        validate_against_columns(self._mapping, self._columns(self._data))

    async def _load_mapping(self) -> MappingFile:
        if self._mapping_key:
            try:
                return load_mapping(await self._blobs.get(self._mapping_key))
            except NotFound:
                raise ConfigurationError(
                    f"the mapping file {self._mapping_key!r} (LDIF_MAPPING_KEY) is not in the blob store"
                ) from None
        try:
            return load_mapping(self._mapping_path.read_bytes())
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the mapping file {str(self._mapping_path)!r} (LDIF_MAPPING_PATH): "
                f"{exc.strerror}"
            ) from None

    def _columns(self, data: bytes) -> list[str]:
        """The export's columns: the CSV header, or every key any JSON row has (one lazy pass)."""
        if self._export_key.lower().endswith(".csv"):
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise InputError(f"{self._export_key} is not UTF-8 text") from None
            header, _ = read_csv(text.splitlines(keepends=True))
            return header
        keys: dict[str, None] = {}
        for _, row in iter_export_rows(data, self._export_key):
            keys.update(dict.fromkeys(row))
        return list(keys)

    def contents(self) -> Iterator[LdifContent]:
        if self._data is None or self._mapping is None:
            raise RuntimeError("call open() before contents()")
        return map_rows(self._mapping, iter_export_rows(self._data, self._export_key))


def build_source(settings: Settings, blobs: BlobStore) -> ContentSource:
    """The source `LDIF_SOURCE` selects."""
    if settings.ldif_source == "aws_inventory":
        from functions.ldif_sync.aws_inventory import AwsInventorySource

        regions = [r.strip() for r in settings.aws_inventory_regions.split(",") if r.strip()]
        return AwsInventorySource(regions or [settings.aws_region], app_tag=settings.aws_inventory_app_tag)
    return FileExportSource(
        blobs,
        settings.ldif_export_key,
        mapping_key=settings.ldif_mapping_key,
        mapping_path=settings.ldif_mapping_path,
    )

"""The LDIF sync's configuration: a small frozen object built once from the settings.

`core.py` never reads settings; the entry points call `sync_config_from_settings()` and pass the
result in, so tests can build a `SyncConfig` by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import ConfigurationError
from shared.settings import Settings

PACKAGE_DIR = Path(__file__).resolve().parent
PROCESSORS_BY_SOURCE = {
    "file": PACKAGE_DIR / "processors.json",
    "aws_inventory": PACKAGE_DIR / "processors_aws.json",
}
SAMPLE_MAPPING_PATH = PACKAGE_DIR / "sample" / "cmdb_mapping.json"
# A run's lock must outlive the run, or a duplicate trigger could start a second one.
LOCK_MARGIN_SECONDS = 600.0
# The "done" marker keeps a night's later triggers out; 36 h covers any time zone of "tonight".
DONE_MARKER_TTL_SECONDS = 36 * 3600.0


@dataclass(frozen=True)
class SyncConfig:
    """Everything `run_nightly_sync` needs besides its collaborators."""

    processors_json: bytes
    connector_type: str = ""
    connector_id: str = ""
    connector_version: str = ""
    processing_mode: str = ""
    custom_fields: dict[str, Any] = field(default_factory=dict)
    test_run: bool = False
    url_input_threshold_bytes: int = 20_000_000
    large_mode: str = "url"
    chunk_items: int = 50_000
    run_deadline_seconds: float = 3600.0
    poll_initial_seconds: float = 2.0
    poll_max_seconds: float = 30.0
    lock_ttl_seconds: float = 7200.0
    archive_prefix: str = "ldif-sync"
    metrics_schema: str = "ldif_sync_runs"
    # Reported with the binding, so the report says which source fed the run.
    source_name: str = "file"


def sync_config_from_settings(settings: Settings) -> SyncConfig:
    """Build the config; reads the processor configuration file. Raises `ConfigurationError`."""
    if settings.ldif_lock_ttl_seconds < settings.ldif_run_deadline_seconds + LOCK_MARGIN_SECONDS:
        raise ConfigurationError(
            f"LDIF_LOCK_TTL_SECONDS ({settings.ldif_lock_ttl_seconds:g}) must exceed "
            f"LDIF_RUN_DEADLINE_SECONDS ({settings.ldif_run_deadline_seconds:g}) by at least "
            f"{LOCK_MARGIN_SECONDS:g} s, so a running sync keeps its lock"
        )
    path = (
        Path(settings.ldif_processors_path)
        if settings.ldif_processors_path
        else PROCESSORS_BY_SOURCE[settings.ldif_source]
    )
    try:
        processors_json = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the processor configuration {str(path)!r} (LDIF_PROCESSORS_PATH): {exc.strerror}"
        ) from None
    return SyncConfig(
        processors_json=processors_json,
        connector_type=settings.ldif_connector_type,
        connector_id=settings.ldif_connector_id,
        connector_version=settings.ldif_connector_version,
        processing_mode=settings.ldif_processing_mode,
        custom_fields=dict(settings.ldif_custom_fields),
        test_run=settings.ldif_test_run,
        url_input_threshold_bytes=settings.ldif_url_input_threshold_bytes,
        large_mode=settings.ldif_large_mode,
        chunk_items=settings.ldif_chunk_items,
        run_deadline_seconds=settings.ldif_run_deadline_seconds,
        poll_initial_seconds=settings.ldif_poll_initial_seconds,
        poll_max_seconds=settings.ldif_poll_max_seconds,
        lock_ttl_seconds=settings.ldif_lock_ttl_seconds,
        archive_prefix=settings.ldif_archive_prefix.strip("/"),
        metrics_schema=settings.ldif_metrics_schema,
        source_name=settings.ldif_source,
    )

"""The nightly LDIF sync through its real entry points (Azure timer, Lambda handler) against the emulator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from functions.ldif_sync.core import LdifSyncFailed
from functions.ldif_sync.ldif import BindingMismatchError, ProcessorConfigurationError
from functions.ldif_sync.mapping import RowMappingError, UnknownColumnError
from functions.ldif_sync.sources import ExportFormatError
from local.emulator import RunningEmulator
from local.host import discover, run_timer
from shared.runtime import get_runtime
from tests.ldif.conftest import SAMPLE, SAMPLE_CSV, emulator_runs, put_export

EVENTS = Path(__file__).resolve().parents[1] / "events"


async def fire_timer() -> Any:
    from function_app import app

    timer = discover(app).find("ldif_sync")
    return await run_timer(timer)  # type: ignore[arg-type]


async def next_night() -> None:
    """Forget tonight's done marker, as if the next night had come."""
    state = get_runtime().platform.state
    from datetime import UTC, datetime

    await state.delete(f"ldif-sync:done:{datetime.now(UTC).date().isoformat()}")


async def reports() -> list[dict[str, Any]]:
    blobs = get_runtime().platform.blobs
    return [
        json.loads(await blobs.get(key))
        for key in await blobs.list("ldif-sync/")
        if key.endswith("report.json")
    ]


def active(emulator: RunningEmulator, fs_type: str) -> dict[str, Any]:
    """External id -> fact sheet, for this connector's fact sheets of a type."""
    return {
        fs.external_id: fs
        for fs in emulator.state.workspace.list_fact_sheets(fs_type, include_archived=False)
        if fs.external_id and fs.external_id.startswith("cmdb:")
    }


def test_timer_is_wired_to_the_schedule_setting() -> None:
    from function_app import app

    timer = discover(app).find("ldif_sync")
    assert timer.schedule_expression == "%LDIF_SYNC_SCHEDULE%"  # type: ignore[union-attr]


async def test_sample_export_creates_fact_sheets_relations_and_tags(ldif_env: RunningEmulator) -> None:
    await put_export()
    await fire_timer()
    workspace = ldif_env.state.workspace
    apps, components = active(ldif_env, "Application"), active(ldif_env, "ITComponent")
    assert len(apps) == 18
    assert len(components) == 12
    billing = apps["cmdb:APP-001"]
    assert billing.name == "Billing"
    relations = workspace.relations_of(billing.id, "relApplicationToITComponent")
    related = {rel.target_id if rel.source_id == billing.id else rel.source_id for rel, _ in relations}
    assert related == {components["cmdb:ITC-001"].id, components["cmdb:ITC-004"].id}
    tag_names = {workspace._tag_dict(tag_id)["name"] for tag_id in billing.tag_ids}
    assert {"Critical", "Customer Facing"} <= tag_names
    (report,) = await reports()
    assert report["status"] == "FINISHED"
    assert report["counts"]["items"] == 30
    assert report["configurationUpdated"] is True
    assert report["binding"]["connectorId"] == "cmdb-export"
    assert report["metric"]["written"] is True
    ldif = json.loads(await get_runtime().platform.blobs.get(report["ldif"]))
    assert len(ldif["content"]) == 30
    assert ldif["connectorId"] == "cmdb-export"


async def test_running_again_changes_nothing(ldif_env: RunningEmulator) -> None:
    await put_export()
    await fire_timer()
    await next_night()
    await fire_timer()
    first, second = emulator_runs(ldif_env)
    assert first["writeRequests"] > 0
    assert second["status"] == "FINISHED"
    assert second["writeRequests"] == 0
    assert second["created"] == []
    assert sorted(r["configurationUpdated"] for r in await reports()) == [False, True]


async def test_changed_export_updates_fact_sheets(ldif_env: RunningEmulator) -> None:
    await put_export()
    await fire_timer()
    await next_night()
    await put_export(SAMPLE_CSV.replace(b",Billing,", b",Billing and Invoicing,"))
    await fire_timer()
    assert active(ldif_env, "Application")["cmdb:APP-001"].name == "Billing and Invoicing"


async def test_second_trigger_the_same_night_exits_cleanly(ldif_env: RunningEmulator) -> None:
    await put_export()
    await fire_timer()
    from local.invoke import invoke_function

    summary = await invoke_function("ldif_sync")
    assert summary["ok"] is True
    assert len(emulator_runs(ldif_env)) == 1


async def test_lambda_handler_runs_for_a_scheduled_event(ldif_env: RunningEmulator) -> None:
    from functions.ldif_sync.aws import handler

    await put_export()
    event = json.loads((EVENTS / "eventbridge_scheduled_ldif_sync.json").read_text())
    context = SimpleNamespace(aws_request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef")
    result = await asyncio.to_thread(handler, event, context)
    assert result["status"] == "FINISHED"
    assert result["items"] == 30
    again = await asyncio.to_thread(handler, event, SimpleNamespace(aws_request_id="another-delivery"))
    assert again["status"] == "SKIPPED"
    assert len(emulator_runs(ldif_env)) == 1


async def test_large_ldif_goes_through_url_input(
    ldif_env: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LDIF_URL_INPUT_THRESHOLD_BYTES", "100")
    await put_export()
    await fire_timer()
    (report,) = await reports()
    assert report["submission"] == "url"
    assert report["status"] == "FINISHED"
    assert len(active(ldif_env, "Application")) == 18


async def test_large_ldif_can_be_sent_in_chunks(
    ldif_env: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LDIF_URL_INPUT_THRESHOLD_BYTES", "100")
    monkeypatch.setenv("LDIF_LARGE_MODE", "chunks")
    monkeypatch.setenv("LDIF_CHUNK_ITEMS", "12")
    await put_export()
    await fire_timer()
    (report,) = await reports()
    assert report["submission"] == "chunks"
    assert len(report["runIds"]) == 3
    assert len(active(ldif_env, "Application")) == 18
    assert len(active(ldif_env, "ITComponent")) == 12


def full_mode_processors(tmp_path: Path, ratio: int) -> str:
    config = json.loads((SAMPLE.parent / "processors.json").read_text())
    config["processingMode"] = "full"
    config["deletionScope"] = {"maximumDeletionRatio": {"factSheets": ratio}}
    path = tmp_path / "processors_full.json"
    path.write_text(json.dumps(config))
    return str(path)


async def test_run_the_emulator_fails_ends_in_failure_with_a_report(
    ldif_env: RunningEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Full mode with a 10 % deletion cap: an export missing most rows makes LeanIX refuse the run.
    monkeypatch.setenv("LDIF_PROCESSORS_PATH", full_mode_processors(tmp_path, 10))
    await put_export()
    await fire_timer()
    await next_night()
    lines = SAMPLE_CSV.splitlines(keepends=True)
    await put_export(b"".join(lines[:3] + lines[19:]))  # 2 of 18 applications left
    with pytest.raises(LdifSyncFailed, match="FAILED: see the report ldif-sync/") as failure:
        await fire_timer()
    assert failure.value.status == "FAILED"
    failed = next(r for r in await reports() if r["status"] == "FAILED")
    assert failed["fullMode"]["wouldArchiveCount"] == 16
    assert {c["externalId"] for c in failed["fullMode"]["wouldArchive"]} >= {"cmdb:APP-003", "cmdb:APP-018"}
    assert any("maximumDeletionRatio" in w["message"] for w in failed["warnings"])
    assert len(active(ldif_env, "Application")) == 18  # nothing archived


async def test_full_mode_needs_a_deletion_ratio(
    ldif_env: RunningEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = json.loads((SAMPLE.parent / "processors.json").read_text())
    config["processingMode"] = "full"
    config["deletionScope"] = {"maximumDeletionRatio": {}}
    (tmp_path / "p.json").write_text(json.dumps(config))
    monkeypatch.setenv("LDIF_PROCESSORS_PATH", str(tmp_path / "p.json"))
    await put_export()
    with pytest.raises(ProcessorConfigurationError, match="maximumDeletionRatio"):
        await fire_timer()
    assert emulator_runs(ldif_env) == []


# --- bad input: an error naming the problem, and no run -------------------------------------------


async def test_malformed_export_row_names_the_row_and_starts_no_run(ldif_env: RunningEmulator) -> None:
    await put_export(SAMPLE_CSV + b"application,APP-099,Broken\n")
    with pytest.raises(ExportFormatError, match="CSV row 32 has 3 values"):
        await fire_timer()
    assert emulator_runs(ldif_env) == []


async def test_bad_value_names_row_and_column(ldif_env: RunningEmulator) -> None:
    await put_export(SAMPLE_CSV.replace(b",182000", b",lots"))
    with pytest.raises(RowMappingError, match="row 2, column 'annual_cost'"):
        await fire_timer()
    assert emulator_runs(ldif_env) == []


async def test_unknown_mapping_column_is_named(
    ldif_env: RunningEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mapping = json.loads((SAMPLE / "cmdb_mapping.json").read_text())
    mapping["mappings"][0]["data"]["owner"] = {"column": "app_owner"}
    (tmp_path / "mapping.json").write_text(json.dumps(mapping))
    monkeypatch.setenv("LDIF_MAPPING_PATH", str(tmp_path / "mapping.json"))
    await put_export()
    with pytest.raises(UnknownColumnError, match="'app_owner'"):
        await fire_timer()
    assert emulator_runs(ldif_env) == []


async def test_invalid_processor_configuration_is_named(
    ldif_env: RunningEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = json.loads((SAMPLE.parent / "processors.json").read_text())
    del config["processors"][0]["identifier"]
    (tmp_path / "p.json").write_text(json.dumps(config))
    monkeypatch.setenv("LDIF_PROCESSORS_PATH", str(tmp_path / "p.json"))
    await put_export()
    with pytest.raises(
        ProcessorConfigurationError, match=r"processors\.0: inboundFactSheet processor needs identifier"
    ):
        await fire_timer()
    assert emulator_runs(ldif_env) == []


async def test_binding_matching_no_configuration_is_named(
    ldif_env: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LDIF_CONNECTOR_ID", "cmdb-exports")
    await put_export()
    with pytest.raises(BindingMismatchError, match="connectorId \\(LDIF 'cmdb-exports'"):
        await fire_timer()
    assert emulator_runs(ldif_env) == []


async def test_missing_export_says_which_key(ldif_env: RunningEmulator) -> None:
    from shared.errors import InputError

    with pytest.raises(InputError, match=r"exports/cmdb_export\.csv"):
        await fire_timer()
    assert emulator_runs(ldif_env) == []

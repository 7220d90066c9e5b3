"""Faults on create, start and status; the deadline; once per night. Core with an injected sleep/clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from functions.ldif_sync.config import PROCESSORS_BY_SOURCE, SyncConfig
from functions.ldif_sync.content_source import FileExportSource
from functions.ldif_sync.core import LdifSyncFailed, SyncDeps, run_nightly_sync
from functions.ldif_sync.ldif import LdifHeader, render_ldif
from local.emulator import RunningEmulator
from shared.leanix import LeanIXClient, LeanIXError
from shared.platform.local_blobs import LocalBlobStore
from shared.platform.local_state import LocalStateStore
from tests.ldif.conftest import EXPORT_KEY, SAMPLE_CSV, FakeSleep, emulator_runs, fast_client

NIGHT = datetime(2026, 3, 1, 2, 30, tzinfo=UTC)
RUNS = r"/synchronizationRuns$"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stores(tmp_path: Path) -> tuple[LocalStateStore, LocalBlobStore, Clock]:
    clock = Clock()
    return LocalStateStore(tmp_path / "state.sqlite", clock=clock), LocalBlobStore(tmp_path / "blobs"), clock


async def sync(
    emulator: RunningEmulator,
    stores: tuple[LocalStateStore, LocalBlobStore, Clock],
    invocation_id: str = "night-1",
    **overrides: float,
) -> dict[str, object]:
    state, blobs, _ = stores
    await blobs.put(EXPORT_KEY, SAMPLE_CSV)
    config = SyncConfig(
        processors_json=PROCESSORS_BY_SOURCE["file"].read_bytes(),
        poll_initial_seconds=1.0,
        poll_max_seconds=2.0,
        **overrides,  # type: ignore[arg-type]
    )
    async with fast_client(emulator, FakeSleep()) as client:
        deps = SyncDeps(
            client, state, blobs, FileExportSource(blobs, EXPORT_KEY), invocation_id, now=lambda: NIGHT
        )
        return await run_nightly_sync(deps, config)


@pytest.fixture
def fast_runs(emulator: RunningEmulator) -> RunningEmulator:
    emulator.state.update_config(run_step_delay_seconds=0.0)
    return emulator


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 503},
        {"kind": "status", "status": 429},
        {"kind": "drop"},
    ],
    ids=["500", "503", "429", "dropped"],
)
async def test_faults_on_create_are_retried_and_create_one_run(
    fast_runs: RunningEmulator, stores, fault
) -> None:  # type: ignore[no-untyped-def]
    fast_runs.add_fault(method="POST", path=RUNS, times=2, **fault)
    summary = await sync(fast_runs, stores)
    assert summary["status"] == "FINISHED"
    assert len(emulator_runs(fast_runs)) == 1


@pytest.mark.parametrize("status", [500, 429])
async def test_faults_on_status_are_retried(fast_runs: RunningEmulator, stores, status: int) -> None:  # type: ignore[no-untyped-def]
    fast_runs.add_fault(method="GET", path=r"/status$", status=status, kind="status", times=3)
    assert (await sync(fast_runs, stores))["status"] == "FINISHED"


async def test_run_created_by_a_lost_attempt_is_adopted_and_started_once(
    fast_runs: RunningEmulator,
    stores,  # type: ignore[no-untyped-def]
) -> None:
    # An earlier create reached LeanIX but its answer was lost (here: created unstarted, then 502).
    marker = f"leanix-functions ldif_sync {NIGHT.date().isoformat()} night1"
    header = LdifHeader(
        connector_type="leanix-functions",
        connector_id="cmdb-export",
        connector_version="1.0.0",
        description=marker,
    )
    async with fast_client(fast_runs, FakeSleep()) as client:
        await client.integration.upsert_configuration(json.loads(PROCESSORS_BY_SOURCE["file"].read_bytes()))
        lost = await client.integration.create_run(render_ldif(header, []), start=False)
    fast_runs.add_fault(method="POST", path=RUNS, status=502, kind="status", times=1)
    fast_runs.add_fault(method="POST", path=r"/start$", status=503, kind="status", times=2)
    summary = await sync(fast_runs, stores)
    assert summary["runIds"] == [lost.id]
    (run,) = emulator_runs(fast_runs)
    assert run["status"] == "FINISHED"


async def test_status_that_never_ends_fails_at_the_deadline_with_a_report(
    emulator: RunningEmulator,
    stores,  # type: ignore[no-untyped-def]
) -> None:
    emulator.state.update_config(run_step_delay_seconds=30.0)  # stays PENDING for the whole test
    try:
        with pytest.raises(LdifSyncFailed, match="did not finish before the deadline") as failure:
            await sync(emulator, stores, run_deadline_seconds=20.0)
        assert failure.value.status == "DEADLINE_EXCEEDED"
        _, blobs, _ = stores
        report = json.loads(await blobs.get(failure.value.report_key))
        assert report["status"] == "DEADLINE_EXCEEDED"
        assert report["runIds"] == failure.value.run_ids
        assert len(emulator_runs(emulator)) == 1
    finally:
        async with fast_client(emulator, FakeSleep()) as client:
            for run in emulator_runs(emulator):
                await client.integration.stop_run(run["id"])


async def test_lock_held_by_another_invocation_exits_and_a_crashed_lock_expires(
    fast_runs: RunningEmulator,
    stores,  # type: ignore[no-untyped-def]
) -> None:
    state, _, clock = stores
    lock = f"ldif-sync:lock:{NIGHT.date().isoformat()}"
    assert await state.acquire_lock(lock, "crashed-invocation", 7200)
    skipped = await sync(fast_runs, stores)
    assert skipped["status"] == "SKIPPED"
    assert "lock" in str(skipped["reason"])
    assert emulator_runs(fast_runs) == []
    clock.now += 7201  # the crashed invocation never released it: the TTL frees it
    assert (await sync(fast_runs, stores))["status"] == "FINISHED"


async def test_done_marker_keeps_later_triggers_out_even_after_a_failed_run(
    fast_runs: RunningEmulator,
    stores,  # type: ignore[no-untyped-def]
) -> None:
    await sync(fast_runs, stores)
    again = await sync(fast_runs, stores, invocation_id="night-1-redelivered")
    assert again["status"] == "SKIPPED"
    assert "already ran" in str(again["reason"])
    assert len(emulator_runs(fast_runs)) == 1


async def test_done_marker_is_written_as_soon_as_the_run_exists(
    emulator: RunningEmulator,
    stores,  # type: ignore[no-untyped-def]
) -> None:
    # A host that dies while polling (Lambda/Functions timeout) never reaches a `finally`: the
    # marker must already be there, or a trigger after the lock's TTL starts a second run.
    state, blobs, _ = stores
    done_key = f"ldif-sync:done:{NIGHT.date().isoformat()}"
    seen: list[object] = []

    async def probe(seconds: float) -> None:
        seen.append(await state.get(done_key))

    emulator.state.update_config(run_step_delay_seconds=30.0)  # stays PENDING: the sync polls
    await blobs.put(EXPORT_KEY, SAMPLE_CSV)
    config = SyncConfig(
        processors_json=PROCESSORS_BY_SOURCE["file"].read_bytes(),
        poll_initial_seconds=1.0,
        poll_max_seconds=2.0,
        run_deadline_seconds=5.0,
    )
    try:
        async with fast_client(emulator, probe) as client:
            deps = SyncDeps(
                client, state, blobs, FileExportSource(blobs, EXPORT_KEY), "night-1", now=lambda: NIGHT
            )
            with pytest.raises(LdifSyncFailed):
                await run_nightly_sync(deps, config)
        assert seen, "the sync never polled"
        assert all(marker is not None for marker in seen)
    finally:
        async with fast_client(emulator, FakeSleep()) as client:
            for run in emulator_runs(emulator):
                await client.integration.stop_run(run["id"])


async def test_status_unreachable_after_retries_fails_with_the_run_id_and_a_report(
    fast_runs: RunningEmulator,
    stores,  # type: ignore[no-untyped-def]
) -> None:
    fast_runs.add_fault(method="GET", path=r"/status$", status=503, kind="status", times=50)
    with pytest.raises(LdifSyncFailed, match="could not follow") as failure:
        await sync(fast_runs, stores)
    (run,) = emulator_runs(fast_runs)
    assert failure.value.run_ids == [run["id"]]
    assert run["id"] in str(failure.value)
    _, blobs, _ = stores
    report = json.loads(await blobs.get(failure.value.report_key))
    assert report["status"] == "FOLLOW_FAILED"
    assert report["runIds"] == [run["id"]]
    assert "503" in report["error"] or "Service" in report["error"]


async def test_a_stopped_run_says_how_to_run_again_tonight(
    fast_runs: RunningEmulator,
    stores,  # type: ignore[no-untyped-def]
) -> None:
    # Invoking again alone would only be SKIPPED by the done marker: the message must name it.
    async def stop_then_sleep(seconds: float) -> None:
        async with fast_client(fast_runs, FakeSleep()) as client:
            for run in emulator_runs(fast_runs):
                if run["status"] not in ("STOPPED", "FINISHED", "FAILED"):
                    await client.integration.stop_run(run["id"])

    fast_runs.state.update_config(run_step_delay_seconds=30.0)
    state, blobs, _ = stores
    await blobs.put(EXPORT_KEY, SAMPLE_CSV)
    config = SyncConfig(processors_json=PROCESSORS_BY_SOURCE["file"].read_bytes(), poll_initial_seconds=1.0)
    async with fast_client(fast_runs, stop_then_sleep) as client:
        deps = SyncDeps(
            client, state, blobs, FileExportSource(blobs, EXPORT_KEY), "night-1", now=lambda: NIGHT
        )
        with pytest.raises(LdifSyncFailed) as failure:
            await run_nightly_sync(deps, config)
    assert failure.value.status == "STOPPED"
    assert f"ldif-sync:done:{NIGHT.date().isoformat()}" in str(failure.value)


@pytest.mark.parametrize("reached_leanix", [True, False], ids=["run-created", "no-run"])
async def test_create_sent_then_unreachable_never_starts_a_second_run_that_night(
    fast_runs: RunningEmulator,
    stores,  # type: ignore[no-untyped-def]
    reached_leanix: bool,
) -> None:
    # The first trigger's create is sent and its connection dropped, after LeanIX created the run
    # (`drop_after`) or before (`drop`); LeanIX then stays unreachable (listing runs fails through
    # every retry), so `create_run_once` gives up without a run id.
    state, blobs, _ = stores
    fast_runs.add_fault(method="POST", path=RUNS, kind="drop_after" if reached_leanix else "drop", times=1)
    fast_runs.add_fault(method="GET", path=RUNS, status=503, kind="status", times=1000)
    await blobs.put(EXPORT_KEY, SAMPLE_CSV)
    config = SyncConfig(processors_json=PROCESSORS_BY_SOURCE["file"].read_bytes(), poll_initial_seconds=1.0)
    async with fast_client(fast_runs, FakeSleep()) as client:
        with pytest.raises(LeanIXError):
            await run_nightly_sync(night_deps(client, stores, "night-1"), config)
    fast_runs.clear_faults()  # LeanIX is back for the next trigger
    created = [r["id"] for r in emulator_runs(fast_runs)]
    assert len(created) == (1 if reached_leanix else 0)

    later = await sync(fast_runs, stores, invocation_id="night-1-redelivered")
    runs = emulator_runs(fast_runs)
    if reached_leanix:
        assert [r["id"] for r in runs] == created
        assert later["status"] == "SKIPPED"
        assert later["runIds"] == created
        assert created[0] in str(later["reason"])
        again = await sync(fast_runs, stores, invocation_id="night-1-third")
        assert again["status"] == "SKIPPED"
        assert "already ran" in str(again["reason"])
        assert len(emulator_runs(fast_runs)) == 1
    else:  # nothing reached LeanIX: the later trigger runs the night normally
        assert later["status"] == "FINISHED"
        assert len(runs) == 1
    assert await state.get(f"ldif-sync:done:{NIGHT.date().isoformat()}") is not None


def night_deps(client: LeanIXClient, stores, invocation_id: str) -> SyncDeps:  # type: ignore[no-untyped-def]
    state, blobs, _ = stores
    return SyncDeps(
        client, state, blobs, FileExportSource(blobs, EXPORT_KEY), invocation_id, now=lambda: NIGHT
    )


class HostDied(BaseException):
    """Stands for a Lambda/Functions timeout: nothing after it in the invocation runs normally."""


async def test_a_sync_whose_host_died_while_following_is_resumed_and_reported(
    emulator: RunningEmulator,
    stores,  # type: ignore[no-untyped-def]
) -> None:
    state, blobs, _ = stores

    async def die(seconds: float) -> None:
        raise HostDied

    emulator.state.update_config(run_step_delay_seconds=0.05)
    await blobs.put(EXPORT_KEY, SAMPLE_CSV)
    config = SyncConfig(processors_json=PROCESSORS_BY_SOURCE["file"].read_bytes())
    async with fast_client(emulator, die) as client:
        deps = SyncDeps(
            client, state, blobs, FileExportSource(blobs, EXPORT_KEY), "night-1", now=lambda: NIGHT
        )
        with pytest.raises(HostDied):
            await run_nightly_sync(deps, config)
    assert [key for key in await blobs.list() if key.endswith("report.json")] == []

    async def short_sleep(seconds: float) -> None:
        import asyncio

        await asyncio.sleep(min(seconds, 0.02))

    async with fast_client(emulator, short_sleep) as client:
        deps = SyncDeps(
            client, state, blobs, FileExportSource(blobs, EXPORT_KEY), "night-2", now=lambda: NIGHT
        )
        resumed = await run_nightly_sync(deps, config)
        assert resumed["status"] == "FINISHED"
        assert resumed["resumed"] is True
        report = json.loads(await blobs.get(str(resumed["report"])))
        assert report["runStatuses"] == ["FINISHED"]
        assert report["counts"]["processed"] > 0
        # Reported now: the next trigger of the night is a plain no-op.
        deps = SyncDeps(
            client, state, blobs, FileExportSource(blobs, EXPORT_KEY), "night-3", now=lambda: NIGHT
        )
        assert (await run_nightly_sync(deps, config))["status"] == "SKIPPED"
    assert len(emulator_runs(emulator)) == 1  # followed again, never created again


async def test_a_resumed_run_that_failed_fails_the_function_with_its_report(
    emulator: RunningEmulator,
    stores,  # type: ignore[no-untyped-def]
) -> None:
    state, blobs, _ = stores
    night = NIGHT.date().isoformat()
    header = LdifHeader(
        connector_type="leanix-functions", connector_id="cmdb-export", connector_version="1.0.0"
    )
    emulator.state.update_config(run_step_delay_seconds=30.0)  # still running when it is stopped
    async with fast_client(emulator, FakeSleep()) as client:
        await client.integration.upsert_configuration(json.loads(PROCESSORS_BY_SOURCE["file"].read_bytes()))
        run = await client.integration.create_run(render_ldif(header, []), start=True)
        await client.integration.stop_run(run.id)
    await state.put_if_absent(
        f"ldif-sync:done:{night}", {"runIds": [run.id], "report": "ldif-sync/lost/report.json"}, 3600
    )
    with pytest.raises(LdifSyncFailed, match="STOPPED") as failed:
        await sync(emulator, stores, invocation_id="night-2")
    assert failed.value.report_key == "ldif-sync/lost/report.json"
    report = json.loads(await blobs.get("ldif-sync/lost/report.json"))
    assert (report["status"], report["resumed"]) == ("STOPPED", True)

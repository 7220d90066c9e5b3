"""The nightly LDIF sync, cloud-neutral: `run_nightly_sync()`.

One invocation: take the night's lock, validate the processor configuration and the binding, open
the source, stream the LDIF, upsert the configuration only when it changed, create the run once
(`start=true`; above a size threshold via `withUrlInput` or as chunks), poll it to a terminal state
with a deadline, read progress and warnings, archive the LDIF and a run report in the blob store,
emit a run metric, and fail loudly when the run did not finish.

Once per night: the lock `ldif-sync:lock:<date>` (TTL longer than the run deadline, so a crashed
invocation's lock expires) and, after a run was created, the marker `ldif-sync:done:<date>`. The
lock is released at the end; the marker (checked under the lock) keeps later triggers of the same
night out, whatever the run's outcome, so timer re-deliveries never start a second run. A sync that
fails before creating a run (bad input) leaves no marker: fix the input and invoke it again.

A create that was sent but never answered (LeanIX unreachable through all retries) may still have
made a run, so before the first create the attempt's description marker is recorded under
`ldif-sync:pending:<date>`. A later trigger that finds it lists the runs first: a run carrying one
of those markers is adopted (the done marker is written, the summary is SKIPPED with its id; it is
not followed, its outcome is in LeanIX's admin page); if none does, the sync proceeds normally. If
the runs cannot be listed, the trigger fails without creating anything. Writing the done marker
clears the pending entry, so deleting the done marker still re-runs the night on purpose.

A host that dies while following a run (Lambda or Functions timeout, a crash) leaves the done marker
without a report. A later trigger (once the lock is free) resumes: it follows the marker's runs to
the end, writes the report where the lost invocation would have, and fails or succeeds as that
invocation would have. It never creates a run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from functions.ldif_sync.config import DONE_MARKER_TTL_SECONDS, SyncConfig
from functions.ldif_sync.content_source import ContentSource
from functions.ldif_sync.ldif import (
    CountingIterator,
    LdifContent,
    LdifHeader,
    ProcessingMode,
    ProcessorConfigurationError,
    check_binding,
    chunk_ldif,
    configurations_equal,
    load_processor_configuration,
    render_ldif,
    stream_ldif,
)
from functions.ldif_sync.submit import create_run_once, find_run, start_run_once
from shared.errors import BundleError
from shared.leanix import ConfigurationKey, LeanIXClient, LeanIXError, RunDeadlineExceeded, SyncRun
from shared.logging import get_logger, log_context
from shared.platform import BlobStore, NotFound, StateStore

logger = get_logger(__name__)

# The report keeps this many warnings verbatim; all of them are counted.
MAX_REPORTED_WARNINGS = 1000
MAX_REPORTED_ARCHIVE_CANDIDATES = 1000
RUN_METRICS = ("duration_seconds", "warnings", "items")
RUN_DIMENSIONS = ("connectorId", "status")


class LdifSyncFailed(BundleError):
    """The run FAILED, was STOPPED or passed its deadline; the message says what to check."""

    def __init__(self, message: str, *, status: str, run_ids: list[str], report_key: str) -> None:
        super().__init__(message)
        self.status = status
        self.run_ids = run_ids
        self.report_key = report_key


@dataclass
class SyncDeps:
    """The collaborators of one sync: client, ports, source, and the wall clock (UTC)."""

    client: LeanIXClient
    state: StateStore
    blobs: BlobStore
    source: ContentSource
    invocation_id: str
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class _Built:
    """A streamed LDIF document and what we learned while streaming it."""

    document: bytes
    items: int
    ids: set[str] | None


def _build_document(header: LdifHeader, contents: Iterable[LdifContent], collect_ids: bool) -> _Built:
    """Stream the LDIF into one bytes buffer: the items themselves are never held in a list."""
    ids: set[str] | None = set() if collect_ids else None

    def tracked() -> Iterator[LdifContent]:
        for content in contents:
            if ids is not None:
                ids.add(content.id)
            yield content

    counting = CountingIterator(tracked())
    buffer = bytearray()
    for piece in stream_ldif(header, counting):
        buffer += piece
    return _Built(bytes(buffer), counting.count, ids)


def _count(contents: Iterable[LdifContent]) -> int:
    return sum(1 for _ in contents)


def _header(config: SyncConfig, processors: dict[str, Any], marker: str, run_date: str) -> LdifHeader:
    """The LDIF header: binding from settings where set, else from the processor configuration."""
    custom = {"syncedBy": "leanix-functions", "source": config.source_name, **config.custom_fields}
    return LdifHeader(
        connector_type=config.connector_type or processors["connectorType"],
        connector_id=config.connector_id or processors["connectorId"],
        connector_version=config.connector_version or processors["connectorVersion"],
        processing_mode=ProcessingMode(
            config.processing_mode or processors.get("processingMode") or "partial"
        ),
        description=marker,
        custom_fields=custom,
    )


def _check_full_mode(header: LdifHeader, processors: dict[str, Any]) -> None:
    if header.processing_mode is not ProcessingMode.FULL:
        return
    ratio = (processors.get("deletionScope") or {}).get("maximumDeletionRatio") or {}
    if not any(value is not None for value in ratio.values()):
        raise ProcessorConfigurationError(
            "processingMode 'full' archives what the LDIF no longer contains: set "
            "deletionScope.maximumDeletionRatio (e.g. factSheets: 10) in the processor configuration"
        )


async def ensure_configuration(client: LeanIXClient, processors: dict[str, Any]) -> bool:
    """PUT the processor configuration unless the workspace's equals it. True when it was written."""
    key = ConfigurationKey(
        connector_type=processors["connectorType"],
        connector_id=processors["connectorId"],
        connector_version=processors["connectorVersion"],
        processing_direction=processors["processingDirection"],
        processing_mode=processors.get("processingMode") or "partial",
    )
    current = await client.integration.get_configuration(key)
    if isinstance(current, list):  # the spec allows a list; the binding selects one
        current = current[0] if current else None
    if isinstance(current, dict) and configurations_equal(current, processors):
        return False
    await client.integration.upsert_configuration(processors)
    return True


async def _archive_candidates(
    client: LeanIXClient, processors: dict[str, Any], id_prefix: str, sent: set[str]
) -> list[dict[str, Any]]:
    """Full mode: ACTIVE fact sheets of this source (by external-id prefix) the LDIF no longer has."""
    types = [str(p["type"]) for p in processors["processors"] if p.get("processorType") == "inboundFactSheet"]
    found: list[dict[str, Any]] = []
    for fs_type in dict.fromkeys(types):
        async for node in client.graphql.iter_fact_sheets(
            "id name type status externalId { externalId }", fact_sheet_type=fs_type
        ):
            external = (node.get("externalId") or {}).get("externalId") or ""
            if node.get("status", "ACTIVE") != "ACTIVE" or not external.startswith(id_prefix):
                continue
            if external not in sent:
                found.append(
                    {"id": node["id"], "name": node.get("name"), "type": fs_type, "externalId": external}
                )
    return found


@dataclass
class _RunResult:
    run: SyncRun
    progress: dict[str, Any]
    warnings: list[dict[str, Any]]
    warning_count: int


async def _follow(client: LeanIXClient, run: SyncRun, config: SyncConfig) -> _RunResult:
    """Poll to a terminal state (raises `RunDeadlineExceeded`), then read progress and all warnings."""
    final = await client.integration.wait_until_finished(
        run.id,
        deadline_seconds=config.run_deadline_seconds,
        initial_interval=config.poll_initial_seconds,
        max_interval=config.poll_max_seconds,
    )
    progress = await client.integration.run_progress(run.id)
    kept: list[dict[str, Any]] = []
    count = 0
    async for warning in client.integration.iter_run_warnings(run.id):
        count += 1
        if len(kept) < MAX_REPORTED_WARNINGS:
            kept.append(warning)
    return _RunResult(final, progress, kept, count)


async def run_nightly_sync(deps: SyncDeps, config: SyncConfig) -> dict[str, Any]:
    """Run tonight's sync once; return a summary (also when another trigger already ran it).

    Raises `ProcessorConfigurationError`, `BindingMismatchError`, `InputError` subclasses (export,
    mapping) before any run is created; `LdifSyncFailed` when the run FAILED, was STOPPED or
    passed `run_deadline_seconds` (after the report is written); `LeanIXError` when LeanIX stayed
    unreachable through the retries.
    """
    run_date = deps.now().date().isoformat()
    lock = f"ldif-sync:lock:{run_date}"
    done_key = f"ldif-sync:done:{run_date}"
    pending_key = f"ldif-sync:pending:{run_date}"
    if not await deps.state.acquire_lock(lock, deps.invocation_id, config.lock_ttl_seconds):
        logger.info("another invocation holds tonight's LDIF sync lock; exiting")
        return {"status": "SKIPPED", "reason": f"another invocation holds the lock {lock}", "date": run_date}
    try:
        # Checked under the lock: a trigger that raced the finishing run sees its marker here.
        done = await deps.state.get(done_key)
        if done is not None:
            resumed = await _resume_unreported(deps, config, run_date, done, done_key)
            if resumed is not None:
                return resumed
            logger.info("tonight's LDIF sync already ran; exiting")
            reason = f"tonight's sync already ran ({done_key})"
            return {"status": "SKIPPED", "reason": reason, "date": run_date}
        adopted = await _adopt_pending_run(deps, run_date, done_key, pending_key)
        if adopted is not None:
            return adopted
        summary = await _sync(deps, config, run_date, done_key, pending_key)
    finally:
        await deps.state.release_lock(lock, deps.invocation_id)
    return summary


async def _adopt_pending_run(
    deps: SyncDeps, run_date: str, done_key: str, pending_key: str
) -> dict[str, Any] | None:
    """An earlier trigger's create that may have reached LeanIX: adopt its run, or None to go on.

    Raises `LeanIXError` when the runs cannot be listed: creating one then could start a second run.
    """
    pending = await deps.state.get(pending_key)
    markers = [str(m) for m in pending.get("markers", [])] if isinstance(pending, dict) else []
    if not markers:
        return None
    run = await find_run(deps.client, markers)
    if run is None:
        return None  # no earlier create reached LeanIX: tonight's sync has not run yet
    logger.warning(
        "adopting the run an earlier trigger tonight created but could not confirm",
        extra=log_context(run_id=run.id),
    )
    if (run.status or "").upper() == "CREATED":
        await start_run_once(deps.client, run.id)
    await deps.state.put_if_absent(done_key, {"runIds": [run.id], "adopted": True}, DONE_MARKER_TTL_SECONDS)
    await deps.state.delete(pending_key)
    reason = f"adopted run {run.id}, created by an earlier trigger tonight ({pending_key}); not followed"
    return {"status": "SKIPPED", "reason": reason, "date": run_date, "runIds": [run.id]}


def _verdict(results: list[_RunResult], failure: Exception | None) -> tuple[str, list[str]]:
    """The sync's status (FINISHED, FAILED, STOPPED, DEADLINE_EXCEEDED, FOLLOW_FAILED) and each run's."""
    statuses = [(r.run.status or "UNKNOWN").upper() for r in results]
    if isinstance(failure, RunDeadlineExceeded):
        return "DEADLINE_EXCEEDED", statuses
    if failure is not None:
        return "FOLLOW_FAILED", statuses
    return next((s for s in statuses if s != "FINISHED"), "FINISHED"), statuses


def _run_counts(results: list[_RunResult]) -> dict[str, int]:
    return {
        "processed": sum(int(r.progress.get("processedContentCount") or 0) for r in results),
        "errors": sum(int(r.progress.get("errorCount") or 0) for r in results),
        "warnings": sum(r.warning_count for r in results),
    }


def _kept_warnings(results: list[_RunResult]) -> list[dict[str, Any]]:
    return [w for r in results for w in r.warnings][:MAX_REPORTED_WARNINGS]


async def _resume_unreported(
    deps: SyncDeps, config: SyncConfig, run_date: str, done: Any, done_key: str
) -> dict[str, Any] | None:
    """Tonight's runs exist but their report does not (the invocation died while following them):
    follow them to the end and write that report. None when there is nothing to resume.

    Raises `LdifSyncFailed` as the lost invocation would have; `LeanIXError` when LeanIX stays
    unreachable (nothing is written, so the next trigger resumes again).
    """
    if not isinstance(done, dict) or not isinstance(done.get("report"), str) or not done.get("runIds"):
        return None  # an adopted run, or a marker of an older version: nothing to report on
    report_key: str = done["report"]
    try:
        await deps.blobs.get(report_key)
        return None  # reported: tonight's sync is complete
    except NotFound:
        pass
    run_ids = [str(run_id) for run_id in done["runIds"]]
    logger.warning(
        "tonight's LDIF sync ended without a report; following its runs again",
        extra=log_context(runs=run_ids, report=report_key),
    )
    results: list[_RunResult] = []
    failure: RunDeadlineExceeded | None = None
    try:
        for run_id in run_ids:
            results.append(await _follow(deps.client, SyncRun(id=run_id), config))
    except RunDeadlineExceeded as exc:
        failure = exc
    status, statuses = _verdict(results, failure)
    report: dict[str, Any] = {
        "status": status,
        "date": run_date,
        "runIds": run_ids,
        "runStatuses": statuses,
        "resumed": True,
        "counts": _run_counts(results),
        "warnings": _kept_warnings(results),
        "finishedAt": deps.now().isoformat(),
    }
    if failure is not None:
        report["error"] = str(failure)
    await deps.blobs.put(report_key, json.dumps(report, indent=2).encode("utf-8"), "application/json")
    if status != "FINISHED":
        raise LdifSyncFailed(
            _failure_message(status, run_ids, report_key, failure, done_key),
            status=status,
            run_ids=run_ids,
            report_key=report_key,
        )
    return {"status": status, "date": run_date, "runIds": run_ids, "report": report_key, "resumed": True}


async def _record_pending(deps: SyncDeps, pending_key: str, marker: str) -> None:
    """Add `marker` to tonight's pending creates (under the lock, so replace-by-delete is safe)."""
    pending = await deps.state.get(pending_key)
    markers = [str(m) for m in pending.get("markers", [])] if isinstance(pending, dict) else []
    await deps.state.delete(pending_key)
    await deps.state.put_if_absent(pending_key, {"markers": [*markers, marker]}, DONE_MARKER_TTL_SECONDS)


async def _sync(
    deps: SyncDeps, config: SyncConfig, run_date: str, done_key: str, pending_key: str
) -> dict[str, Any]:
    client = deps.client
    started_clock = client.clock()
    started_at = deps.now()
    attempt = deps.invocation_id.replace("-", "")[:16] or "run"
    marker = f"leanix-functions ldif_sync {run_date} {attempt}"
    folder = f"{config.archive_prefix}/{run_date}/{attempt}"
    ldif_key, report_key = f"{folder}/ldif.json", f"{folder}/report.json"

    # --- validate everything before LeanIX sees anything --------------------------------------
    processors = load_processor_configuration(config.processors_json)
    header = _header(config, processors, marker, run_date)
    check_binding(header, processors)
    _check_full_mode(header, processors)
    await deps.source.open()
    full = header.processing_mode is ProcessingMode.FULL
    # Building the whole document first also maps every row, so a malformed row fails here.
    built = await asyncio.to_thread(_build_document, header, deps.source.contents(), full)
    item_count = built.items

    configuration_updated = await ensure_configuration(client, processors)
    would_archive: list[dict[str, Any]] | None = None
    if full and built.ids is not None:
        would_archive = await _archive_candidates(client, processors, deps.source.id_prefix, built.ids)

    # --- submit ---------------------------------------------------------------------------------
    large = len(built.document) > config.url_input_threshold_bytes
    submission = "body"
    await deps.blobs.put(ldif_key, built.document, "application/json")
    url = await deps.blobs.read_url(ldif_key, 3600) if large and config.large_mode == "url" else None
    runs: list[SyncRun] = []
    results: list[_RunResult] = []
    failure: LeanIXError | None = None

    async def mark_done() -> None:
        # A run exists: no later trigger tonight may start another, whatever happens next. Written
        # before the run is followed, because a host that dies while polling runs no `finally`.
        await deps.state.put_if_absent(
            done_key, {"runIds": [r.id for r in runs], "report": report_key}, DONE_MARKER_TTL_SECONDS
        )
        await deps.state.delete(pending_key)  # the done marker now speaks for tonight

    # A create may reach LeanIX and still fail here: a later trigger looks for its run first.
    await _record_pending(deps, pending_key, marker)
    try:
        if large and url is not None:
            submission = "url"
            runs.append(
                await create_run_once(
                    client,
                    lambda: client.integration.create_run_with_url(url, start=True, test=config.test_run),
                    marker,
                )
            )
            await mark_done()
            results.append(await _follow(client, runs[-1], config))
        elif large:
            submission = "chunks"
            del built  # the chunks are rendered one at a time from the source again
            await _submit_chunks(deps, config, header, marker, runs, results, mark_done)
        else:
            create = _creator(client, built.document, config.test_run)
            runs.append(await create_run_once(client, create, marker))
            await mark_done()
            results.append(await _follow(client, runs[-1], config))
    except RunDeadlineExceeded as exc:
        failure = exc
    except LeanIXError as exc:
        if not runs:
            raise  # no run was created: nothing to report on, the error says what failed
        # The run exists but could not be followed: report it with its id instead of a bare error.
        failure = exc
    finally:
        if runs:
            await mark_done()

    # --- report, metric, verdict ---------------------------------------------------------------
    status, statuses = _verdict(results, failure)
    duration = round(client.clock() - started_clock, 3)
    warning_count = sum(r.warning_count for r in results)
    items = item_count
    report: dict[str, Any] = {
        "status": status,
        "date": run_date,
        "runIds": [r.id for r in runs],
        "runStatuses": statuses,
        "binding": {k: v for k, v in header.to_dict().items() if k not in ("customFields", "description")},
        "source": deps.source.name,
        "submission": submission,
        "test": config.test_run,
        "configurationUpdated": configuration_updated,
        "counts": {"items": items, **_run_counts(results)},
        "warnings": _kept_warnings(results),
        "durationSeconds": duration,
        "startedAt": started_at.isoformat(),
        "finishedAt": deps.now().isoformat(),
        "ldif": ldif_key,
    }
    if would_archive is not None:
        report["fullMode"] = {
            "wouldArchiveCount": len(would_archive),
            "wouldArchive": would_archive[:MAX_REPORTED_ARCHIVE_CANDIDATES],
        }
    if failure is not None:
        report["error"] = str(failure)
    report["metric"] = await _emit_metric(client, config, header, status, duration, warning_count, report)
    await deps.blobs.put(report_key, json.dumps(report, indent=2).encode("utf-8"), "application/json")
    logger.info(
        "LDIF sync ended",
        extra=log_context(status=status, runs=report["runIds"], report=report_key, warnings=warning_count),
    )
    if status != "FINISHED":
        raise LdifSyncFailed(
            _failure_message(status, report["runIds"], report_key, failure, done_key),
            status=status,
            run_ids=report["runIds"],
            report_key=report_key,
        )
    return {
        "status": status,
        "date": run_date,
        "runIds": report["runIds"],
        "report": report_key,
        "items": items,
        "warnings": warning_count,
        "configurationUpdated": configuration_updated,
    }


async def _submit_chunks(
    deps: SyncDeps,
    config: SyncConfig,
    header: LdifHeader,
    marker: str,
    runs: list[SyncRun],
    results: list[_RunResult],
    mark_done: Callable[[], Awaitable[None]],
) -> None:
    """Submit the LDIF as a series of chunk runs, one after another (LeanIX archives on the last)."""
    client = deps.client
    total = await asyncio.to_thread(_count, deps.source.contents())
    chunks = chunk_ldif(header, deps.source.contents(), config.chunk_items, total=total)
    index = 0
    while True:
        chunk = await asyncio.to_thread(next, chunks, None)
        if chunk is None:
            return
        chunk_header, items = chunk
        index += 1
        chunk_marker = f"{marker} chunk {index}"
        document = render_ldif(chunk_header.model_copy(update={"description": chunk_marker}), items)
        del items
        runs.append(await create_run_once(client, _creator(client, document, config.test_run), chunk_marker))
        await mark_done()
        result = await _follow(client, runs[-1], config)
        results.append(result)
        if (result.run.status or "").upper() != "FINISHED":
            return  # later chunks would build on a failed one


def _creator(client: LeanIXClient, document: bytes, test: bool) -> Callable[[], Awaitable[SyncRun]]:
    """The create call for one LDIF document (started at once)."""
    return lambda: client.integration.create_run(document, start=True, test=test)


async def _emit_metric(
    client: LeanIXClient,
    config: SyncConfig,
    header: LdifHeader,
    status: str,
    duration: float,
    warnings: int,
    report: dict[str, Any],
) -> dict[str, Any]:
    """Write the run metric; a metrics outage is reported, never fatal to the sync."""
    try:
        schema = await client.metrics.ensure_schema(config.metrics_schema, RUN_METRICS, RUN_DIMENSIONS)
        timestamp = datetime.fromtimestamp(client.clock(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        point = {
            "timestamp": timestamp,
            "connectorId": header.connector_id,
            "status": status,
            "duration_seconds": duration,
            "warnings": warnings,
            "items": report["counts"]["items"],
        }
        await client.metrics.post_point_v2(schema.key, point)
    except LeanIXError as exc:
        logger.warning("could not write the LDIF sync run metric: %s", exc)
        return {"written": False, "error": str(exc)}
    return {"written": True, "schema": config.metrics_schema, "timestamp": timestamp}


def _failure_message(
    status: str, run_ids: list[str], report_key: str, failure: Exception | None, done_key: str
) -> str:
    runs = ", ".join(run_ids) or "(none)"
    # Tonight's marker makes a plain re-invoke a no-op: say how to run again on purpose.
    again = f"to run again tonight, delete the state key {done_key} and invoke ldif_sync"
    if status == "DEADLINE_EXCEEDED":
        return (
            f"the Integration API run {runs} did not finish before the deadline: {failure}; "
            f"see the report {report_key}; {again} (only once that run has ended)"
        )
    if status == "FOLLOW_FAILED":
        return (
            f"could not follow the Integration API run {runs} (or submit its next chunk): {failure}; check "
            f"its status in the LeanIX Integration API admin page; see the report {report_key}; "
            f"{again} (only once that run has ended)"
        )
    if status == "STOPPED":
        return (
            f"the Integration API run {runs} was STOPPED before it finished: see the report {report_key}; "
            f"check who stopped it in the LeanIX Integration API admin page; {again}"
        )
    return (
        f"the Integration API run {runs} {status}: see the report {report_key} for its warnings; check the "
        "processor configuration's binding and processors (a binding that matches no configuration fails "
        f"the run) and the export's data; {again}"
    )

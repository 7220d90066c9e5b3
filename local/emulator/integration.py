"""The emulated Integration API v1 (`/services/integration-api/v1`, leanix-api.md §6).

Processor configurations are bound by the five fields connectorType, connectorId, connectorVersion,
processingDirection and processingMode. A run is an asyncio task on the server's loop going
CREATED -> PENDING -> IN_PROGRESS -> FINISHED | FAILED | STOPPED, with `run_step_delay_seconds`
between states so clients really poll. The processors (local/emulator/ldif.py) write through the
Workspace API, so webhook events fire as they would in LeanIX.

Choices (see the report): the create-run response is an object `{id, status, description}` (as real
clients parse it), not the array the spec declares; `GET /configurations` needs the binding (the
spec answers one `ProcessorConfiguration`), `/_emulator/integration/configurations` lists them all;
`withUrlInput` fetches http(s) URLs and `file://` URLs under the system temp folder when the run is
created; progress `status` integers are CREATED 0, PENDING 1, IN_PROGRESS 2, FINISHED 3, STOPPED 4,
FAILED 5; `full` mode archives ACTIVE fact sheets this connector (connectorType + connectorId) wrote
in earlier runs, of the deletion-scope types (FactSheetTypes facets of `deletionScope.factSheets`,
else the types of its inboundFactSheet processors), that the LDIF no longer contains; without
`maximumDeletionRatio.factSheets` there is no limit. Chunked runs (`chunkInformation`) archive only
on the last chunk, counting everything the chunk series touched.
"""

from __future__ import annotations

import asyncio
import copy
import json
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from local.emulator.ldif import InboundProcessing, RunOutcome, outbound_ldif, scope_types
from local.emulator.service_http import (
    ApiError,
    caller,
    handles_api_errors,
    iso_millis,
    parse_bool,
    parse_int,
    read_json,
    read_json_object,
    utc_now,
)
from shared.logging import get_logger

BASE = "/services/integration-api/v1"
BINDING = ("connectorType", "connectorId", "connectorVersion", "processingDirection", "processingMode")
TERMINAL = ("FINISHED", "FAILED", "STOPPED")
PROGRESS_STATUS = {"CREATED": 0, "PENDING": 1, "IN_PROGRESS": 2, "FINISHED": 3, "STOPPED": 4, "FAILED": 5}
_STRING_MAX = 500
_log = get_logger(__name__)

Binding = tuple[str, str, str, str, str]


@dataclass
class SyncRun:
    """One synchronization run and everything the API reports about it."""

    id: str
    ldif: dict[str, Any]
    config: dict[str, Any] | None
    user_id: str
    status: str = "CREATED"
    test: bool = False
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    outcome: RunOutcome = field(default_factory=RunOutcome)
    task: asyncio.Task[None] | None = None
    failure: str | None = None

    def status_json(self) -> dict[str, Any]:
        """The §6.3 `StatusResponse`."""
        return {"id": self.id, "status": self.status, "description": str(self.ldif.get("description") or "")}


@dataclass
class IntegrationState:
    """Configurations, runs and the per-connector ownership the full mode needs."""

    configurations: dict[Binding, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, SyncRun] = field(default_factory=dict)
    # (connectorType, connectorId) -> fact sheet ids its runs created or updated.
    owned: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # (connectorType, connectorId) -> ids touched by the chunks of the current chunk series.
    chunk_touched: dict[tuple[str, str], set[str]] = field(default_factory=dict)


def integration_state(emulator: Any) -> IntegrationState:
    """The emulator's Integration API slot, created on first use."""
    state = getattr(emulator, "integration", None)
    if not isinstance(state, IntegrationState):
        state = IntegrationState()
        emulator.integration = state
    return state


# ---------------------------------------------------------------------------------------------------
# validation


def _check_string(body: dict[str, Any], name: str, required: bool = True) -> None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, f"'{name}' is required.", name)
        return
    if not isinstance(value, str) or (required and not value):
        raise ApiError(400, f"'{name}' must be a non-empty string.", name)
    if len(value) > _STRING_MAX:
        raise ApiError(400, f"'{name}' must be at most {_STRING_MAX} characters.", name)


def _check_binding(body: dict[str, Any], what: str) -> None:
    for name in ("connectorType", "connectorId", "connectorVersion"):
        _check_string(body, name)
    if body.get("processingDirection") not in ("inbound", "outbound"):
        raise ApiError(
            400, f"{what}: 'processingDirection' must be 'inbound' or 'outbound'.", "processingDirection"
        )
    mode = body.get("processingMode", "partial")
    if mode not in ("partial", "full"):
        raise ApiError(400, f"{what}: 'processingMode' must be 'partial' or 'full'.", "processingMode")
    if body["processingDirection"] == "outbound" and mode != "partial":
        raise ApiError(
            400, f"{what}: outbound processing supports only processingMode 'partial'.", "processingMode"
        )


def binding_of(body: dict[str, Any]) -> Binding:
    """The five binding fields of an LDIF or a configuration (processingMode defaults to partial)."""
    return (
        str(body["connectorType"]),
        str(body["connectorId"]),
        str(body["connectorVersion"]),
        str(body["processingDirection"]),
        str(body.get("processingMode") or "partial"),
    )


def validate_configuration(body: Any) -> dict[str, Any]:
    """Validate a `ProcessorConfiguration` (400 with the reason otherwise); returns a normalised copy."""
    if not isinstance(body, dict):
        raise ApiError(400, "A processor configuration must be a JSON object.")
    _check_binding(body, "Processor configuration")
    processors = body.get("processors", [])
    if not isinstance(processors, list):
        raise ApiError(400, "'processors' must be a list.", "processors")
    for index, processor in enumerate(processors):
        if not isinstance(processor, dict) or not isinstance(processor.get("processorType"), str):
            raise ApiError(
                400, f"processors[{index}] must be an object with a 'processorType'.", "processors"
            )
    for name in ("deletionScope", "variables"):
        if name in body and body[name] is not None and not isinstance(body[name], dict):
            raise ApiError(400, f"'{name}' must be an object.", name)
    config = copy.deepcopy(body)
    config["processingMode"] = body.get("processingMode") or "partial"
    config.setdefault("processors", [])
    return config


def validate_ldif(body: Any) -> dict[str, Any]:
    """Validate an LDIF (§6.4) and return a copy; 400 with the reason otherwise."""
    if not isinstance(body, dict):
        raise ApiError(400, "The LDIF must be a JSON object.")
    _check_binding(body, "LDIF")
    _check_string(body, "lxVersion")
    _check_string(body, "description", required=False)
    _check_string(body, "lxWorkspace", required=False)
    custom = body.get("customFields")
    if custom is not None and not isinstance(custom, dict):
        raise ApiError(400, "'customFields' must be an object.", "customFields")
    chunk = body.get("chunkInformation")
    if chunk is not None:
        if not isinstance(chunk, dict):
            raise ApiError(400, "'chunkInformation' must be an object.", "chunkInformation")
        for key in ("firstDataObject", "lastDataObject", "maxDataObject"):
            value = chunk.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ApiError(400, f"chunkInformation.{key} must be an integer >= 0.", "chunkInformation")
    content = body.get("content", [])
    if not isinstance(content, list):
        raise ApiError(400, "'content' must be a list.", "content")
    for index, item in enumerate(content):
        if not isinstance(item, dict):
            raise ApiError(400, f"content[{index}] must be an object {{type, id, data}}.", "content")
        for key in ("type", "id"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise ApiError(
                    400, f"content[{index}].{key} is required and must be a non-empty string.", "content"
                )
        if not isinstance(item.get("data"), dict):
            raise ApiError(400, f"content[{index}].data is required and must be an object.", "content")
    ldif = copy.deepcopy(body)
    ldif["processingMode"] = body.get("processingMode") or "partial"
    ldif.setdefault("content", [])
    return ldif


def binding_message(ldif: dict[str, Any]) -> str:
    """The failure message of an LDIF whose binding matches no configuration (names all five fields)."""
    values = ", ".join(
        f"{name}={ldif.get(name, 'partial' if name == 'processingMode' else None)!r}" for name in BINDING
    )
    return (
        "No processor configuration matches this LDIF. connectorType, connectorId, connectorVersion, "
        f"processingDirection and processingMode must match a configuration exactly (LDIF has {values})."
    )


# ---------------------------------------------------------------------------------------------------
# run execution


def _full_mode_deletion(
    emulator: Any, state: IntegrationState, run: SyncRun, config: dict[str, Any], outcome: RunOutcome
) -> None:
    """Archive the connector's fact sheets the LDIF no longer contains, unless the ratio forbids it."""
    key = (str(run.ldif["connectorType"]), str(run.ldif["connectorId"]))
    touched = set(outcome.touched)
    chunk = run.ldif.get("chunkInformation")
    if isinstance(chunk, dict):
        series = state.chunk_touched.setdefault(key, set())
        if chunk.get("firstDataObject", 0) == 0:
            series.clear()
        series |= touched
        last, maximum = chunk.get("lastDataObject"), chunk.get("maxDataObject")
        if last is not None and maximum is not None and last < maximum:
            return  # not the last chunk: deletion waits for the whole series
        touched = set(series)
        series.clear()
    scope = config.get("deletionScope") if isinstance(config.get("deletionScope"), dict) else {}
    types: list[str] = []
    for entry in scope.get("factSheets") or []:
        if isinstance(entry, dict):
            types.extend(scope_types(entry.get("scope")))
    if not types:
        types = [
            str(p.get("type"))
            for p in config.get("processors") or []
            if isinstance(p, dict) and p.get("processorType") == "inboundFactSheet"
        ]
    workspace = emulator.workspace
    owned = [
        fs
        for fs_id in state.owned.get(key, set())
        if (fs := workspace.get(fs_id)) is not None and fs.status == "ACTIVE" and fs.type in types
    ]
    candidates = [fs for fs in owned if fs.id not in touched]
    if not candidates:
        return
    ratio_limits = (
        scope.get("maximumDeletionRatio") if isinstance(scope.get("maximumDeletionRatio"), dict) else {}
    )
    limit = ratio_limits.get("factSheets")
    ratio = 100.0 * len(candidates) / len(owned)
    if isinstance(limit, int | float) and not isinstance(limit, bool) and ratio > limit:
        outcome.failed = (
            f"Deletion refused: {len(candidates)} of {len(owned)} fact sheets in the deletion scope "
            f"({ratio:.0f}%) would be archived, above "
            f"deletionScope.maximumDeletionRatio.factSheets = {limit}%."
        )
        outcome.warn(outcome.failed, category="deletion", status="ERROR")
        return
    if run.test:
        return
    for fs in candidates:
        workspace.archive(fs.id, user_id=run.user_id)
        outcome.archived.append(fs.id)


def execute(emulator: Any, state: IntegrationState, run: SyncRun) -> None:
    """Process a run synchronously (the caller handles states and delays); fills `run.outcome`."""
    outcome = run.outcome
    config = run.config
    if config is None:
        outcome.failed = binding_message(run.ldif)
        outcome.warn(outcome.failed, category="configuration", status="ERROR")
        return
    workspace = emulator.workspace
    if run.ldif["processingDirection"] == "outbound":
        outbound_ldif(workspace, run.ldif, config, outcome)
        return
    processing = InboundProcessing(workspace, run.ldif, config, run.user_id, run.test, outcome)
    for level, processors in processing.run_levels():
        outcome.run_level_index = level
        outcome.processed_content = 0
        for content in run.ldif.get("content") or []:
            if run.status == "STOPPED":
                return
            processing.process_content(processors, content)
            outcome.processed_content += 1
    key = (str(run.ldif["connectorType"]), str(run.ldif["connectorId"]))
    if not run.test:
        state.owned.setdefault(key, set()).update(outcome.touched)
    if run.ldif.get("processingMode") == "full":
        _full_mode_deletion(emulator, state, run, config, outcome)


async def drive(emulator: Any, state: IntegrationState, run: SyncRun) -> None:
    """The run's state machine, as an asyncio task: PENDING -> IN_PROGRESS -> terminal state."""
    try:
        await asyncio.sleep(emulator.config.run_step_delay_seconds)
        if run.status == "STOPPED":
            return
        run.status = "IN_PROGRESS"
        await asyncio.sleep(emulator.config.run_step_delay_seconds)
        if run.status == "STOPPED":
            return
        execute(emulator, state, run)
        await asyncio.sleep(emulator.config.run_step_delay_seconds)
        if run.status == "STOPPED":
            return
        run.status = "FAILED" if run.outcome.failed else "FINISHED"
    except Exception as exc:  # a processor bug must end the run, not leave it IN_PROGRESS forever
        _log.exception("integration run %s crashed", run.id)
        run.outcome.warn(f"Internal error: {type(exc).__name__}: {exc}", category="internal", status="ERROR")
        run.status = "FAILED"
    finally:
        if run.status in TERMINAL:
            run.finished_at = iso_millis(utc_now())


def start_run(emulator: Any, state: IntegrationState, run: SyncRun, test: bool) -> None:
    """Move a CREATED run to PENDING and start its task on the running loop."""
    run.status = "PENDING"
    run.test = run.test or test
    run.started_at = iso_millis(utc_now())
    run.task = emulator.spawn(drive(emulator, state, run), name=f"sync-run-{run.id}")


def find_configuration(state: IntegrationState, ldif: dict[str, Any]) -> dict[str, Any] | None:
    """The stored configuration whose binding equals the LDIF's."""
    return state.configurations.get(binding_of(ldif))


def _read_temp_file(url: str, path_text: str) -> bytes:
    """Read a local LDIF file; only paths below the system temp folder (tests, the demo) are allowed."""
    temp_root = Path(tempfile.gettempdir()).resolve()
    path = Path(path_text).resolve()
    if not path.is_relative_to(temp_root):
        raise ApiError(400, f"file:// URLs must point below {temp_root}.", "url")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ApiError(400, f"Cannot read the LDIF at {url}: {exc.strerror}.", "url") from exc


async def fetch_ldif(url: Any) -> Any:
    """Download an LDIF from an http(s) URL or a `file://` URL under the system temp folder."""
    if not isinstance(url, str) or not url:
        raise ApiError(400, "'url' is required: the http(s) or file:// URL of the LDIF.", "url")
    parsed = urlparse(url)
    if parsed.scheme == "file":
        raw = _read_temp_file(url, unquote(parsed.path))
    elif parsed.scheme in ("http", "https"):
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                response = await client.get(url)
        except httpx.HTTPError as exc:
            raise ApiError(400, f"Cannot download the LDIF from {url}: {type(exc).__name__}.", "url") from exc
        if response.status_code != 200:
            raise ApiError(
                400, f"Downloading the LDIF from {url} answered HTTP {response.status_code}.", "url"
            )
        raw = response.content
    else:
        raise ApiError(400, "'url' must be an http(s):// or file:// URL.", "url")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"The LDIF at {url} is not valid JSON.", "url") from exc


# ---------------------------------------------------------------------------------------------------
# routes


def routes(emulator: Any) -> list[BaseRoute]:
    """The Integration API routes plus `/_emulator/runs` and `/_emulator/integration/configurations`."""

    def admin(request: Request) -> str:
        who = caller(request)
        if who.role.upper() != "ADMIN":
            raise ApiError(403, "The user is not allowed to use this endpoint.")
        return who.user_id

    def binding_params(request: Request) -> Binding:
        params = request.query_params
        missing = [n for n in BINDING[:4] if not params.get(n)]
        if missing:
            raise ApiError(
                400,
                "Not all necessary fields are set in parameters: connectorType, connectorId, "
                "connectorVersion, processingDirection (and optionally processingMode); "
                f"missing {', '.join(missing)}.",
                missing[0],
            )
        mode = params.get("processingMode") or "partial"
        if params["processingDirection"] not in ("inbound", "outbound") or mode not in ("partial", "full"):
            raise ApiError(
                400, "processingDirection must be inbound|outbound and processingMode partial|full."
            )
        return (
            params["connectorType"],
            params["connectorId"],
            params["connectorVersion"],
            params["processingDirection"],
            mode,
        )

    def run_of(request: Request) -> SyncRun:
        run = integration_state(emulator).runs.get(request.path_params["id"])
        if run is None:
            raise ApiError(404, "No synchronization run with the given id exists.", "id")
        return run

    def new_run(ldif: dict[str, Any], config: dict[str, Any] | None, user_id: str, test: bool) -> SyncRun:
        state = integration_state(emulator)
        run = SyncRun(str(uuid.uuid4()), ldif, config, user_id, test=test, created_at=iso_millis(utc_now()))
        state.runs[run.id] = run
        return run

    def start_flags(request: Request) -> tuple[bool, bool]:
        start = parse_bool(request.query_params.get("start"), "start")
        test = parse_bool(request.query_params.get("test"), "test")
        if test and not start:
            raise ApiError(400, "The 'test' parameter requires 'start=true' as well.", "test")
        return start, test

    @handles_api_errors
    async def get_configuration(request: Request) -> Response:
        admin(request)
        config = integration_state(emulator).configurations.get(binding_params(request))
        if config is None:
            raise ApiError(404, "No such processor configuration found.")
        return JSONResponse(config)

    @handles_api_errors
    async def put_configuration(request: Request) -> Response:
        admin(request)
        config = validate_configuration(await read_json(request))
        integration_state(emulator).configurations[binding_of(config)] = config
        return Response(status_code=204)

    @handles_api_errors
    async def delete_configuration(request: Request) -> Response:
        admin(request)
        removed = integration_state(emulator).configurations.pop(binding_params(request), None)
        if removed is None:
            raise ApiError(404, "No such processor configuration found.")
        return Response(status_code=204)

    @handles_api_errors
    async def list_runs(request: Request) -> Response:
        admin(request)
        return JSONResponse([r.status_json() for r in integration_state(emulator).runs.values()])

    @handles_api_errors
    async def create_run(request: Request) -> Response:
        user_id = admin(request)
        start, test = start_flags(request)
        ldif = validate_ldif(await read_json(request))
        state = integration_state(emulator)
        run = new_run(ldif, find_configuration(state, ldif), user_id, test)
        if start:
            start_run(emulator, state, run, test)
        # Real clients parse one object here, although the spec declares an array (leanix-api.md §6.6).
        return JSONResponse(run.status_json())

    @handles_api_errors
    async def create_run_with_config(request: Request) -> Response:
        user_id = admin(request)
        start, test = start_flags(request)
        body = await read_json_object(request)
        ldif = validate_ldif(body.get("input"))
        config = validate_configuration(body.get("processorConfiguration"))
        state = integration_state(emulator)
        run = new_run(ldif, config, user_id, test)
        if start:
            start_run(emulator, state, run, test)
        return JSONResponse({"id": run.id})

    @handles_api_errors
    async def create_run_with_url(request: Request) -> Response:
        user_id = admin(request)
        start, test = start_flags(request)
        body = await read_json_object(request)
        ldif = validate_ldif(await fetch_ldif(body.get("url")))
        state = integration_state(emulator)
        config = find_configuration(state, ldif)
        run = new_run(ldif, config, user_id, test)
        if start:
            start_run(emulator, state, run, test)
        answer: dict[str, Any] = {"id": run.id}
        if config is not None:
            answer["processorConfiguration"] = config
        return JSONResponse(answer)

    @handles_api_errors
    async def start(request: Request) -> Response:
        admin(request)
        run = run_of(request)
        test = parse_bool(request.query_params.get("test"), "test")
        if run.status != "CREATED":
            raise ApiError(
                400,
                "The synchronization run was already started earlier. "
                "It is not possible to start the same synchronization run twice.",
            )
        start_run(emulator, integration_state(emulator), run, test)
        return JSONResponse(run.status_json())

    @handles_api_errors
    async def stop(request: Request) -> Response:
        admin(request)
        run = run_of(request)
        if run.status not in ("PENDING", "IN_PROGRESS"):
            raise ApiError(
                400,
                f"The synchronization run is {run.status}; only pending or running runs can be stopped.",
            )
        run.status = "STOPPED"
        run.finished_at = iso_millis(utc_now())
        return JSONResponse(run.status_json())

    @handles_api_errors
    async def status(request: Request) -> Response:
        admin(request)
        return JSONResponse(run_of(request).status_json())

    @handles_api_errors
    async def progress(request: Request) -> Response:
        admin(request)
        run = run_of(request)
        outcome = run.outcome
        errors = sum(1 for w in outcome.warnings if w.get("status") == "ERROR")
        outbound = run.ldif.get("processingDirection") == "outbound"
        return JSONResponse(
            {
                "processedContentCount": 0 if outbound else outcome.processed_content,
                "errorCount": errors,
                "graphQLRequestCount": outcome.write_requests,
                "runLevelIndex": outcome.run_level_index,
                "status": PROGRESS_STATUS[run.status],
                "contentsCount": outcome.processed_content if outbound else 0,
                "warningsCount": len(outcome.warnings),
                "itemsInScopeCount": outcome.processed_content
                if outbound
                else len(run.ldif.get("content") or []),
            }
        )

    @handles_api_errors
    async def warnings(request: Request) -> Response:
        admin(request)
        run = run_of(request)
        offset = parse_int(request.query_params.get("offset"), "offset", 0, 0)
        limit = parse_int(request.query_params.get("limit"), "limit", 100, 1, 100)
        return JSONResponse(run.outcome.warnings[offset : offset + limit])

    @handles_api_errors
    async def results(request: Request) -> Response:
        admin(request)
        run = run_of(request)
        if run.status != "FINISHED" or run.outcome.result is None:
            return Response(status_code=204)
        return JSONResponse(run.outcome.result)

    @handles_api_errors
    async def results_url(request: Request) -> Response:
        admin(request)
        run = run_of(request)
        if run.status != "FINISHED" or run.outcome.result is None:
            return JSONResponse(None)
        return JSONResponse(f"{str(request.base_url).rstrip('/')}{BASE}/synchronizationRuns/{run.id}/results")

    async def inspect_runs(request: Request) -> Response:
        runs = integration_state(emulator).runs.values()
        return JSONResponse(
            [
                {
                    **run.status_json(),
                    "binding": dict(zip(BINDING, binding_of(run.ldif), strict=True)),
                    "test": run.test,
                    "createdAt": run.created_at,
                    "startedAt": run.started_at,
                    "finishedAt": run.finished_at,
                    "failure": run.outcome.failed,
                    "warnings": run.outcome.warnings,
                    "created": run.outcome.created,
                    "archived": run.outcome.archived,
                    "touched": sorted(run.outcome.touched),
                    "writeRequests": run.outcome.write_requests,
                }
                for run in runs
            ]
        )

    async def inspect_configurations(request: Request) -> Response:
        return JSONResponse(list(integration_state(emulator).configurations.values()))

    runs_path = f"{BASE}/synchronizationRuns"
    return [
        Route(f"{BASE}/configurations", get_configuration, methods=["GET"]),
        Route(f"{BASE}/configurations", put_configuration, methods=["PUT"]),
        Route(f"{BASE}/configurations", delete_configuration, methods=["DELETE"]),
        Route(runs_path, list_runs, methods=["GET"]),
        Route(runs_path, create_run, methods=["POST"]),
        Route(f"{runs_path}/withConfig", create_run_with_config, methods=["POST"]),
        Route(f"{runs_path}/withUrlInput", create_run_with_url, methods=["POST"]),
        Route(f"{runs_path}/{{id}}/start", start, methods=["POST"]),
        Route(f"{runs_path}/{{id}}/stop", stop, methods=["POST"]),
        Route(f"{runs_path}/{{id}}/status", status, methods=["GET"]),
        Route(f"{runs_path}/{{id}}/progress", progress, methods=["GET"]),
        Route(f"{runs_path}/{{id}}/warnings", warnings, methods=["GET"]),
        Route(f"{runs_path}/{{id}}/results", results, methods=["GET"]),
        Route(f"{runs_path}/{{id}}/resultsUrl", results_url, methods=["GET"]),
        Route("/_emulator/runs", inspect_runs, methods=["GET"]),
        Route("/_emulator/integration/configurations", inspect_configurations, methods=["GET"]),
    ]

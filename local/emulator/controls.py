"""The `/_emulator/...` control routes: reset, seed, faults, config, clock and inspection.

They need no authentication and never share a path with LeanIX; every route calls a method of
`Emulator` (or reads its state), so in-process tests can do the same without HTTP.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from local.emulator.faults import FaultError
from local.emulator.state import FactSheet, PatchError

if TYPE_CHECKING:
    from local.emulator.state import Emulator

PREFIX = "/_emulator"
_CONFIG_FIELDS = (
    "rate_limit_per_minute",
    "token_lifetime_seconds",
    "webhook_retry_interval_seconds",
    "webhook_delivery_timeout_seconds",
    "run_step_delay_seconds",
)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": "ERROR", "message": message}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any] | JSONResponse:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "body must be JSON")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    return body


def fact_sheet_summary(emulator: Emulator, fs: FactSheet) -> dict[str, Any]:
    """A fact sheet with its write count, tag names and relations, for inspection."""
    ws = emulator.workspace
    return {
        "id": fs.id,
        "type": fs.type,
        "name": fs.name,
        "rev": fs.rev,
        "status": fs.status,
        "fields": fs.fields,
        "tags": [ws._tag_dict(t) for t in fs.tag_ids],
        "relations": [
            {
                "id": rel.id,
                "type": seen_as,
                "factSheetId": rel.target_id if rel.source_id == fs.id else rel.source_id,
            }
            for rel, seen_as in ws.relations_of(fs.id)
        ],
        "writeCount": fs.write_count,
    }


def config_dict(emulator: Emulator) -> dict[str, Any]:
    config = emulator.config
    return {name: getattr(config, name) for name in (*_CONFIG_FIELDS, "seed", "workspace_name")}


def routes(emulator: Emulator) -> list[BaseRoute]:
    """The control routes bound to `emulator`."""

    async def reset(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, JSONResponse):
            return body
        seed = body.get("seed", emulator.config.seed)
        try:
            emulator.reset(str(seed))
        except ValueError as exc:
            return _error(400, str(exc))
        return JSONResponse({"status": "OK", "seed": seed, "api_token": emulator.api_token})

    async def add_faults(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, JSONResponse):
            return body
        specs = body.get("faults", [body])
        if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
            return _error(400, "faults must be a list of objects")
        try:
            ids = [emulator.add_fault(**spec) for spec in specs]
        except (FaultError, TypeError) as exc:
            return _error(400, str(exc))
        return JSONResponse({"status": "OK", "ids": ids})

    async def list_faults(_request: Request) -> Response:
        return JSONResponse({"faults": emulator.faults.list()})

    async def clear_faults(_request: Request) -> Response:
        emulator.clear_faults()
        return JSONResponse({"status": "OK"})

    async def get_config(_request: Request) -> Response:
        return JSONResponse(config_dict(emulator))

    async def set_config(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, JSONResponse):
            return body
        unknown = set(body) - set(_CONFIG_FIELDS)
        if unknown:
            return _error(400, f"unknown or read-only config fields: {', '.join(sorted(unknown))}")
        for name, value in body.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                return _error(400, f"{name} must be a non-negative number")
        emulator.update_config(**body)
        return JSONResponse(config_dict(emulator))

    async def list_fact_sheets(request: Request) -> Response:
        fs_type = request.query_params.get("type")
        sheets = emulator.workspace.list_fact_sheets(fs_type)
        return JSONResponse(
            {"total": len(sheets), "data": [fact_sheet_summary(emulator, fs) for fs in sheets]}
        )

    async def get_fact_sheet(request: Request) -> Response:
        fs = emulator.workspace.get(request.path_params["fs_id"])
        if fs is None:
            return _error(404, "fact sheet not found")
        return JSONResponse(fact_sheet_summary(emulator, fs))

    async def stats(_request: Request) -> Response:
        s = emulator.stats
        return JSONResponse(
            {
                "requests": s.requests,
                "rate_limited": s.rate_limited,
                "faults_injected": s.faults_injected,
                "tokens_issued": s.tokens_issued,
                "writes": emulator.workspace.total_writes,
                "fact_sheets": len(emulator.workspace.fact_sheets),
            }
        )

    async def trigger_event(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            emulator.workspace.trigger_event(
                str(body.get("factSheetId")),
                str(body.get("eventType", "FACT_SHEET_UPDATED")),
                user_id=str(body.get("userId", emulator.admin.id)),
            )
        except PatchError as exc:
            return _error(404 if exc.error_type == "NOT_FOUND" else 400, exc.message)
        return JSONResponse({"status": "OK"})

    async def advance_clock(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, JSONResponse):
            return body
        seconds = body.get("advance_seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            return _error(400, "advance_seconds must be a non-negative number")
        emulator.advance_time(float(seconds))
        return JSONResponse({"status": "OK", "now": emulator.now()})

    async def bulk(request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, JSONResponse):
            return body
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= 200_000:
            return _error(400, "count must be an integer between 1 and 200000")
        try:
            ids = emulator.bulk_create(str(body.get("type", "Application")), count)
        except PatchError as exc:
            return _error(400, exc.message)
        return JSONResponse({"status": "OK", "created": len(ids)})

    async def info(_request: Request) -> Response:
        return JSONResponse(
            {
                "base_url": emulator.base_url,
                "workspace_id": emulator.workspace.id,
                "api_token": emulator.api_token,
            }
        )

    return [
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/faults", add_faults, methods=["POST"]),
        Route(f"{PREFIX}/faults", list_faults, methods=["GET"]),
        Route(f"{PREFIX}/faults", clear_faults, methods=["DELETE"]),
        Route(f"{PREFIX}/config", get_config, methods=["GET"]),
        Route(f"{PREFIX}/config", set_config, methods=["POST"]),
        Route(f"{PREFIX}/factsheets", list_fact_sheets, methods=["GET"]),
        Route(f"{PREFIX}/factsheets/{{fs_id}}", get_fact_sheet, methods=["GET"]),
        Route(f"{PREFIX}/stats", stats, methods=["GET"]),
        Route(f"{PREFIX}/events/trigger", trigger_event, methods=["POST"]),
        Route(f"{PREFIX}/clock", advance_clock, methods=["POST"]),
        Route(f"{PREFIX}/bulk", bulk, methods=["POST"]),
        Route(f"{PREFIX}/info", info, methods=["GET"]),
    ]

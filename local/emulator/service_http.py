"""Small HTTP helpers shared by the emulator's service modules (webhooks, metrics, Integration API).

LeanIX REST services answer errors with a BasicResponse-shaped body; the emulator uses
`{"status": "ERROR", "type": "BasicResponse", "message": ..., "errors": [ApiError], "total": 0}`
(the `"ERROR"` status is the assumption written in leanix-api.md "Open points").
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

Endpoint = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """Raised inside an endpoint to answer a 4xx with a BasicResponse-shaped JSON body."""

    def __init__(self, status_code: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.field = field


def error_response(status_code: int, message: str, field: str | None = None) -> JSONResponse:
    """The BasicResponse-shaped error body every service module answers with."""
    return JSONResponse(
        {
            "status": "ERROR",
            "type": "BasicResponse",
            "message": message,
            "errors": [{"value": field, "messages": [message]}],
            "total": 0,
        },
        status_code=status_code,
    )


def ok_envelope(data: Any, type_name: str, total: int | None = None) -> dict[str, Any]:
    """The BasicResponse success envelope (`status` "OK" plus `data`)."""
    if total is None:
        total = len(data) if isinstance(data, list) else 1
    return {"status": "OK", "type": type_name, "message": None, "errors": [], "total": total, "data": data}


def handles_api_errors(endpoint: Endpoint) -> Endpoint:
    """Turn an `ApiError` raised by the endpoint into its JSON error response."""

    @wraps(endpoint)
    async def wrapper(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ApiError as exc:
            return error_response(exc.status_code, exc.message, exc.field)

    return wrapper


async def read_json(request: Request) -> Any:
    """Parse the request body as JSON; a malformed body is a 400, never a 500."""
    raw = await request.body()
    if not raw.strip():
        raise ApiError(400, "The request body is empty; a JSON document is required.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}") from exc


async def read_json_object(request: Request) -> dict[str, Any]:
    """Parse the request body as a JSON object (400 otherwise)."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


class Caller:
    """The authenticated principal, as the auth middleware left it on `request.state.principal`."""

    def __init__(self, user_id: str, role: str, workspace_id: str) -> None:
        self.user_id = user_id
        self.role = role
        self.workspace_id = workspace_id


def caller(request: Request) -> Caller:
    """Read the principal the auth middleware attached; 401 when there is none."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise ApiError(401, "Authentication required: send 'Authorization: Bearer <access token>'.")
    if isinstance(principal, dict):
        return Caller(
            str(principal.get("user_id", "")),
            str(principal.get("role", "")),
            str(principal.get("workspace_id", "")),
        )
    return Caller(
        str(getattr(principal, "user_id", "")),
        str(getattr(principal, "role", "")),
        str(getattr(principal, "workspace_id", "")),
    )


def parse_bool(value: str | None, name: str, default: bool = False) -> bool:
    """Parse a `true`/`false` query parameter (400 on anything else)."""
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ApiError(400, f"Query parameter '{name}' must be true or false, got {value!r}.", name)


def parse_int(value: str | None, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    """Parse an integer query parameter within bounds (400 otherwise)."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ApiError(400, f"Query parameter '{name}' must be an integer, got {value!r}.", name) from exc
    if number < minimum or (maximum is not None and number > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise ApiError(400, f"Query parameter '{name}' must be at least {minimum}{upper}.", name)
    return number


def parse_timestamp(value: Any, name: str) -> datetime:
    """Parse an ISO-8601 date-time (a trailing `Z` allowed) into an aware UTC datetime (400 otherwise)."""
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"'{name}' must be an ISO-8601 date-time string.", name)
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        # Far-out offsets near year 1 or 9999 overflow on conversion: a 400, not a 500.
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ApiError(400, f"'{name}' is not an ISO-8601 date-time: {value!r}.", name) from exc


def iso_millis(moment: datetime) -> str:
    """Canonical wire form of a timestamp: UTC with milliseconds and `Z` (`2026-03-01T00:00:00.000Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_micros(moment: datetime) -> str:
    """A timestamp with microseconds and `Z`, as LeanIX webhook payloads carry them."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)

"""`create_app`: the emulator's Starlette application (LeanIX paths behind the gateway, plus controls)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from local.emulator import controls, graphql_api, integration, metrics, mtm, webhooks
from local.emulator.config import EmulatorConfig
from local.emulator.faults import gateway
from local.emulator.state import Emulator


class EmulatorApp(Starlette):
    """A Starlette app whose outermost layer is the gateway (faults, auth, rate limit).

    The gateway runs before Starlette's own middleware, so it sees uvicorn's raw `send` and can
    drop a connection without any HTTP response.
    """

    def __init__(self, emulator: Emulator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await gateway(self.emulator, scope, receive, send, super().__call__)


async def _http_error(_request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "Internal error"
    return JSONResponse(
        {"status": "ERROR", "type": "BasicResponse", "message": detail, "errors": [], "total": 0},
        status_code=status,
    )


def create_app(config: EmulatorConfig | None = None, emulator: Emulator | None = None) -> EmulatorApp:
    """A new emulator app; pass `emulator` to serve an existing one. The app exposes `.emulator`."""
    emulator = emulator or Emulator(config or EmulatorConfig())
    route_list = [
        *mtm.routes(emulator),
        *graphql_api.routes(emulator),
        *webhooks.routes(emulator),
        *metrics.routes(emulator),
        *integration.routes(emulator),
        *controls.routes(emulator),
    ]
    return EmulatorApp(emulator, routes=route_list, exception_handlers={HTTPException: _http_error})

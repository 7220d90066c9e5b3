"""Helpers for the emulator service tests (webhooks, metrics, Integration API): authenticated clients."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fixtures.emulator import AsgiEmulator, fetch_bearer


@asynccontextmanager
async def admin_client(emulator: AsgiEmulator) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client carrying the seeded admin's bearer token."""
    async with emulator.client() as client:
        bearer = await fetch_bearer(client, emulator.api_token)
        client.headers["Authorization"] = f"Bearer {bearer}"
        yield client


@asynccontextmanager
async def http_admin_client(base_url: str, api_token: str) -> AsyncIterator[httpx.AsyncClient]:
    """A real-HTTP client (loopback) carrying the admin's bearer token."""
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=10.0) as client:
        bearer = await fetch_bearer(client, api_token)
        client.headers["Authorization"] = f"Bearer {bearer}"
        yield client


class Receiver:
    """A webhook target: a Starlette app on a uvicorn thread (127.0.0.1, free port) that records calls.

    `statuses` are answered in order (then 200). Tests wait with `await receiver.wait_for(n)`, which
    blocks on a threading condition in a worker thread, so the test's own loop keeps running.
    """

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.calls: list[dict[str, Any]] = []
        self._condition = threading.Condition()

        async def hook(request: Request) -> Response:
            body = await request.body()
            with self._condition:
                self.calls.append(
                    {
                        "method": request.method,
                        "headers": dict(request.headers),
                        "body": json.loads(body or b"null"),
                    }
                )
                status = self.statuses.pop(0) if self.statuses else 200
                self._condition.notify_all()
            return Response(status_code=status)

        app = Starlette(routes=[Route("/hook", hook, methods=["POST", "PUT", "PATCH"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        started = threading.Event()
        for _ in range(1000):  # uvicorn on port 0 starts in ~10 ms
            if self._server.started:
                started.set()
                break
            started.wait(0.01)
        assert self._server.started, "receiver did not start"
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    async def wait_for(self, count: int, limit_s: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least `count` calls arrived (fails after `limit_s` as a safety net only)."""

        def block() -> bool:
            with self._condition:
                return self._condition.wait_for(lambda: len(self.calls) >= count, limit_s)

        assert await asyncio.to_thread(block), f"only {len(self.calls)} of {count} deliveries arrived"
        with self._condition:
            return list(self.calls)

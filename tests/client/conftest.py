"""A fake LeanIX behind `httpx.MockTransport`, a fake clock, and a client factory."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from shared.leanix import LeanIXClient, RetryPolicy, StaticTokenSource
from shared.leanix.auth import TOKEN_PATH

API_TOKEN = "LXT_unit-test-api-token-0123456789"
WORKSPACE_ID = "0f3e5c1a-0000-4000-8000-000000000001"
USER_ID = "6a1c2b7e-0000-4000-8000-000000000002"
HOST = "https://acme.leanix.net"

Handler = Callable[[httpx.Request], httpx.Response]


def make_jwt(serial: int, *, exp: int = 2_000_000_000) -> str:
    """An unsigned JWT with LeanIX's documented claim layout."""

    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = {
        "sub": USER_ID,
        "exp": exp,
        "jti": f"jti-{serial}",
        "instanceUrl": HOST,
        "principal": {"id": USER_ID, "permission": {"workspaceId": WORKSPACE_ID, "role": "ADMIN"}},
    }
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl{serial}"


class FakeClock:
    """Unix-seconds clock that only moves when told to (or when the fake sleep is awaited)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeLeanIX:
    """Routes by (method, path); the token endpoint accepts `valid_tokens` and issues numbered JWTs."""

    valid_tokens: set[str] = field(default_factory=lambda: {API_TOKEN})
    expires_in: int = 3599
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    exchanges: int = 0
    issued: list[str] = field(default_factory=list)
    token_status: int | None = None  # force an answer from the token endpoint

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes[(method, path)] = handler
            return handler

        return register

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == TOKEN_PATH:
            # Hand control to other tasks mid-exchange, as a real network round trip would.
            await asyncio.sleep(0)
            return self._token(request)
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return httpx.Response(404, json={"status": "ERROR", "message": "no such route"})
        return handler(request)

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.exchanges += 1
        if self.token_status is not None:
            return httpx.Response(self.token_status, json={"error": "server_error"})
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        user, _, token = base64.b64decode(encoded).decode().partition(":") if encoded else ("", "", "")
        body = request.content.decode()
        if scheme != "Basic" or user != "apitoken" or token not in self.valid_tokens:
            return httpx.Response(
                401, json={"error": "unauthorized", "error_description": f"bad token {token}"}
            )
        if "grant_type=client_credentials" not in body:
            return httpx.Response(400, json={"error": "invalid_request"})
        bearer = make_jwt(len(self.issued) + 1)
        self.issued.append(bearer)
        return httpx.Response(
            200,
            json={"access_token": bearer, "token_type": "bearer", "expires_in": self.expires_in, "scope": ""},
        )

    def bearer_of(self, request: httpx.Request) -> str:
        return request.headers.get("authorization", "").removeprefix("Bearer ")


@pytest.fixture
def fake() -> FakeLeanIX:
    return FakeLeanIX()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ClientFactory = Callable[..., LeanIXClient]


@pytest.fixture
def make_client(fake: FakeLeanIX, clock: FakeClock) -> ClientFactory:
    def build(**kwargs: Any) -> LeanIXClient:
        kwargs.setdefault("retry_policy", RetryPolicy(jitter=0.0))
        kwargs.setdefault("token_source", StaticTokenSource(API_TOKEN))
        source = kwargs.pop("token_source")
        return LeanIXClient(
            HOST,
            source,
            transport=httpx.MockTransport(fake.handler),
            sleep=clock.sleep,
            clock=clock,
            **kwargs,
        )

    return build

"""Fault injection and the per-user rate limit of the emulator.

Faults match requests by a regex on the path (and optionally the method) and fire either for the
next `times` matching requests or with a `probability` drawn from a seeded random generator.
Kinds: `status` (an HTTP error, optionally with `Retry-After`), `latency` (added delay, then the
request proceeds), `drop` (the connection closes without an HTTP response, before the request is
handled), `drop_after` (the request is handled, then the connection closes instead of the answer: the
client cannot tell whether it took effect) and `expired_token` (401 as if the bearer token had expired).
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from local.emulator.auth import TOKEN_PATH, authenticate_bearer, basic_error

if TYPE_CHECKING:
    from local.emulator.state import Emulator

FAULT_KINDS = ("status", "latency", "drop", "drop_after", "expired_token")


class FaultError(ValueError):
    """An invalid fault specification (becomes a 400 on `/_emulator/faults`)."""


@dataclass
class FaultSpec:
    id: str
    kind: str
    path: str = ".*"
    method: str | None = None
    status: int = 503
    retry_after: int | None = None
    latency_seconds: float = 0.0
    times: int | None = None
    probability: float | None = None
    seed: int | None = None
    message: str | None = None
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise FaultError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        try:
            self._pattern = re.compile(self.path)
        except re.error as exc:
            raise FaultError(f"path is not a valid regex: {exc}") from None
        if not 100 <= int(self.status) <= 599:
            raise FaultError("status must be an HTTP status code")
        if self.times is not None and int(self.times) < 1:
            raise FaultError("times must be >= 1")
        if self.probability is not None and not 0.0 <= float(self.probability) <= 1.0:
            raise FaultError("probability must be between 0 and 1")
        if self.times is None and self.probability is None:
            self.times = 1
        if self.latency_seconds < 0 or self.latency_seconds > 60:
            raise FaultError("latency_seconds must be between 0 and 60")
        self._random = random.Random(self.seed)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self._pattern.search(path) is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "path": self.path,
            "method": self.method,
            "status": self.status,
            "retry_after": self.retry_after,
            "latency_seconds": self.latency_seconds,
            "times": self.times,
            "probability": self.probability,
            "seed": self.seed,
            "fired": self.fired,
        }


_SPEC_FIELDS = {
    "kind": str,
    "path": str,
    "method": str,
    "status": int,
    "retry_after": int,
    "latency_seconds": float,
    "times": int,
    "probability": float,
    "seed": int,
    "message": str,
}


class FaultRegistry:
    """The active faults, checked in the order they were added; thread-safe."""

    def __init__(self) -> None:
        self._faults: list[FaultSpec] = []
        self._lock = threading.Lock()

    def add(self, **spec: Any) -> str:
        """Validate and register a fault; raises `FaultError` on a bad spec. Returns the fault id."""
        unknown = set(spec) - set(_SPEC_FIELDS)
        if unknown:
            raise FaultError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key, value in spec.items():
            if value is None:
                continue
            caster = _SPEC_FIELDS[key]
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise FaultError(f"{key} has an invalid value")
            try:
                values[key] = caster(value)
            except (TypeError, ValueError):
                raise FaultError(f"{key} has an invalid value") from None
        if "kind" not in values:
            raise FaultError("kind is required")
        fault = FaultSpec(id=str(uuid.uuid4()), **values)
        with self._lock:
            self._faults.append(fault)
        return fault.id

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def take(self, method: str, path: str) -> FaultSpec | None:
        """The first fault that fires for this request (consuming one of its `times`), or None."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.probability is not None and fault._random.random() >= fault.probability:
                    continue
                fault.fired += 1
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None


class RateLimiter:
    """A token bucket per user: `limit_per_minute` capacity, refilled continuously."""

    def __init__(self, limit_per_minute: int, clock: Callable[[], float] = time.time) -> None:
        self._limit = max(1, int(limit_per_minute))
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def set_limit(self, limit_per_minute: int) -> None:
        with self._lock:
            self._limit = max(1, int(limit_per_minute))
            self._buckets.clear()

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def acquire(self, user_id: str) -> int | None:
        """Take one request from the user's bucket: None if allowed, else seconds to wait (>= 1)."""
        rate = self._limit / 60.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(user_id, (float(self._limit), now))
            tokens = min(float(self._limit), tokens + max(0.0, now - last) * rate)
            if tokens >= 1.0:
                self._buckets[user_id] = (tokens - 1.0, now)
                return None
            self._buckets[user_id] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))


# --------------------------------------------------------------------------- the gateway

RATE_LIMIT_MESSAGE = "USER_INTERVAL_REQUEST_LIMIT_EXCEEDED"


class DroppedConnection(Exception):
    """Raised in-process (no socket to close) so the test transport surfaces a connection error."""


async def gateway(emulator: Emulator, scope: Scope, receive: Receive, send: Send, inner: ASGIApp) -> None:
    """Faults, bearer authentication and the per-user rate limit in front of every LeanIX path.

    `/_emulator/...` paths pass straight through; the token endpoint gets faults but no bearer
    check. The principal of an authenticated request lands on `request.state.principal`.
    """
    path: str = scope.get("path", "")
    if scope["type"] != "http" or not path.startswith("/services/"):
        await inner(scope, receive, send)
        return
    emulator.stats.requests += 1
    fault = emulator.faults.take(scope.get("method", "GET"), path)
    if fault is not None:
        emulator.stats.faults_injected += 1
        if fault.kind == "latency":
            await asyncio.sleep(fault.latency_seconds)
        elif fault.kind == "drop":
            await _drop_connection(send)
            return
        elif fault.kind == "drop_after":
            send = _answer_dropped(send)
        elif fault.kind == "status":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            message = fault.message or (
                RATE_LIMIT_MESSAGE if fault.status == 429 else f"Injected fault: HTTP {fault.status}"
            )
            await basic_error(fault.status, message, headers)(scope, receive, send)
            return
        else:  # expired_token
            await _unauthorized(path, "The access token has expired")(scope, receive, send)
            return
    if path.rstrip("/") == TOKEN_PATH:
        await inner(scope, receive, send)
        return
    authorization = Headers(scope=scope).get("authorization")
    principal = authenticate_bearer(emulator, authorization)
    if isinstance(principal, str):
        await _unauthorized(path, principal)(scope, receive, send)
        return
    wait = emulator.rate_limiter.acquire(principal.user_id)
    if wait is not None:
        emulator.stats.rate_limited += 1
        response = basic_error(
            429, f"HTTP 429 Too Many Requests. {RATE_LIMIT_MESSAGE}", {"Retry-After": str(wait)}
        )
        await response(scope, receive, send)
        return
    scope.setdefault("state", {})["principal"] = principal
    await inner(scope, receive, send)


def _unauthorized(path: str, reason: str) -> JSONResponse:
    if path.rstrip("/") == TOKEN_PATH:
        return JSONResponse({"error": "unauthorized", "error_description": reason}, status_code=401)
    return basic_error(401, reason, {"WWW-Authenticate": "Bearer"})


def _answer_dropped(send: Send) -> Send:
    """A `send` that closes the connection where the handler's answer would start, and sends nothing."""
    dropped = False

    async def dropping(message: Message) -> None:
        nonlocal dropped
        if dropped:
            return
        if message["type"] == "http.response.start":
            dropped = True
            await _drop_connection(send)
            return
        await send(message)

    return dropping


async def _drop_connection(send: Send) -> None:
    # Under uvicorn the raw `send` is a bound method of the request cycle, which owns the socket:
    # abort it so the client sees the connection close with no HTTP response at all.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise DroppedConnection("emulator dropped the connection (injected fault)")
    transport.abort()
    # Let uvicorn notice the disconnect before the app returns, so it does not try a 500.
    for _ in range(3):
        await asyncio.sleep(0)

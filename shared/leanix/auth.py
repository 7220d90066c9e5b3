"""Authentication: API token sources, the access token, and the `httpx.Auth` that keeps a bearer fresh.

LeanIX services take `Authorization: Bearer <access token>`; the access token comes from exchanging
the API token at MTM `/oauth2/token`. `MTMAuth` caches it until 60 s before expiry, refreshes it
once for any number of concurrent callers, and on a 401/403 from a service refreshes once and
replays the request once (LeanIX sources disagree on which of the two an expired bearer gets).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx
from pydantic import Field, SecretStr

from shared.leanix.errors import (
    AuthenticationError,
    BadRequestError,
    PermissionDeniedError,
    TokenExchangeError,
)
from shared.leanix.models import LeanIXModel
from shared.logging import get_logger, register_secret

TOKEN_PATH = "/services/mtm/v1/oauth2/token"  # noqa: S105 (a URL path, not a secret)
REFRESH_MARGIN_SECONDS = 60.0
REPLAY_STATUSES = frozenset({401, 403})

logger = get_logger(__name__)


@runtime_checkable
class ApiTokenSource(Protocol):
    """Where the API token comes from. After `invalidate()`, `get_token()` must re-read it (rotation)."""

    async def get_token(self) -> str: ...

    def invalidate(self) -> None: ...


class StaticTokenSource:
    """A token fixed at construction (from settings). `invalidate()` has nothing to re-read."""

    def __init__(self, token: str) -> None:
        register_secret(token)
        self._token = token

    async def get_token(self) -> str:
        return self._token

    def invalidate(self) -> None:
        """Nothing to re-read: a static token stays what it is."""

    def __repr__(self) -> str:
        return "StaticTokenSource(token=[REDACTED])"


class AccessToken(LeanIXModel):
    """The MTM token endpoint's answer. `access_token` is a `SecretStr`, so a repr never shows it."""

    access_token: SecretStr = Field(alias="access_token")
    token_type: str = Field(default="bearer", alias="token_type")
    expires_in: float = Field(default=3599.0, alias="expires_in")
    scope: str | None = None
    expired: bool | None = None


@dataclass(frozen=True)
class TokenClaims:
    """The claims of an access token that the bundle uses (decoded without verifying the signature)."""

    workspace_id: str | None = None
    user_id: str | None = None
    instance_url: str | None = None
    expires_at: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def decode_jwt_claims(token: str) -> TokenClaims:
    """Decode a JWT's payload (base64url JSON) by hand; returns empty claims when it is not a JWT.

    The signature is not verified: LeanIX issued the token to us over TLS, and we only read our own
    workspace id, user id and instance URL from it.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return TokenClaims()
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        raw = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError):
        return TokenClaims()
    if not isinstance(raw, dict):
        return TokenClaims()
    principal = raw.get("principal")
    principal = principal if isinstance(principal, dict) else {}
    permission = principal.get("permission")
    permission = permission if isinstance(permission, dict) else {}
    exp = raw.get("exp")
    return TokenClaims(
        workspace_id=_str_or_none(permission.get("workspaceId")),
        user_id=_str_or_none(principal.get("id")),
        instance_url=_str_or_none(raw.get("instanceUrl")),
        expires_at=float(exp) if isinstance(exp, int | float) else None,
        raw=raw,
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


TokenExchange = Callable[[str], Awaitable[AccessToken]]


class BearerCache:
    """Access tokens shared by every client of a process, keyed by host and API token.

    Functions build a client per invocation (an httpx client belongs to one event loop); without
    this, every invocation would exchange the API token again. Keys hold a digest of the API
    token, never the token; a rotated token has a new digest, so it never meets an old bearer.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(host: str, api_token: str) -> tuple[str, str]:
        return host, hashlib.sha256(api_token.encode()).hexdigest()

    def get(self, key: tuple[str, str], valid_after: float) -> tuple[str, float] | None:
        """The cached `(bearer, expires_at)` when it is still valid after `valid_after`."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[1] <= valid_after:
            return None
        return entry

    def put(self, key: tuple[str, str], bearer: str, expires_at: float) -> None:
        with self._lock:
            self._entries[key] = (bearer, expires_at)

    def discard(self, bearer: str) -> None:
        """Forget `bearer` wherever it is cached (LeanIX refused it)."""
        with self._lock:
            for key in [k for k, (value, _) in self._entries.items() if value == bearer]:
                del self._entries[key]

    def __repr__(self) -> str:
        return f"BearerCache(entries={len(self._entries)})"


PROCESS_BEARERS = BearerCache()


class MTMAuth(httpx.Auth):
    """Bearer auth from an API token: cached, single-flight refresh, one refresh+replay on 401/403.

    `exchange` performs the HTTP exchange of an API token (the client passes one that posts Basic
    `apitoken:<token>` and `grant_type=client_credentials` to `{base}/services/mtm/v1/oauth2/token`
    with the bundle's retry policy). When the exchange is refused (400/401/403), the token source is
    invalidated and re-read once, so a token rotated by another process is picked up without a
    restart; a second refusal raises `TokenExchangeError`.
    """

    def __init__(
        self,
        token_source: ApiTokenSource,
        exchange: TokenExchange,
        *,
        host: str,
        clock: Callable[[], float] = time.time,
        refresh_margin: float = REFRESH_MARGIN_SECONDS,
        token_hint: str = "",
        shared_cache: BearerCache | None = None,
    ) -> None:
        self._source = token_source
        self._shared = shared_cache
        self._exchange = exchange
        self._host = host
        self._clock = clock
        self._margin = refresh_margin
        self._token_hint = token_hint
        self._lock = asyncio.Lock()
        self._bearer: str | None = None
        self._expires_at = 0.0
        self._claims = TokenClaims()
        self.exchange_count = 0

    @property
    def claims(self) -> TokenClaims:
        """Claims of the current access token (empty before the first exchange)."""
        return self._claims

    def invalidate_bearer(self) -> None:
        """Forget the cached access token; the next request exchanges again."""
        self._bearer = None
        self._expires_at = 0.0

    async def bearer(self) -> str:
        """A valid access token, exchanging the API token when none is cached or it is about to expire."""
        current = self._bearer
        if current is not None and self._clock() < self._expires_at - self._margin:
            return current
        if self._shared is not None and current is None:
            api_token = await self._source.get_token()
            cached = self._shared.get(BearerCache.key(self._host, api_token), self._clock() + self._margin)
            if cached is not None:
                self._adopt(*cached)
                return cached[0]
        return await self._refresh(stale=current)

    def _adopt(self, bearer: str, expires_at: float) -> None:
        register_secret(bearer)
        self._bearer = bearer
        self._expires_at = expires_at
        self._claims = decode_jwt_claims(bearer)

    async def _refresh(self, stale: str | None) -> str:
        async with self._lock:
            # Another caller may have refreshed while we waited for the lock: reuse its token.
            if (
                self._bearer is not None
                and self._bearer != stale
                and self._clock() < self._expires_at - self._margin
            ):
                return self._bearer
            if stale is not None and self._shared is not None:
                self._shared.discard(stale)
            api_token, token = await self._exchange_with_reread()
            bearer = token.access_token.get_secret_value()
            self._adopt(bearer, self._clock() + token.expires_in)
            if self._shared is not None:
                self._shared.put(BearerCache.key(self._host, api_token), bearer, self._expires_at)
            return bearer

    async def _exchange_with_reread(self) -> tuple[str, AccessToken]:
        """`(api_token, access token)`: the exchange, re-reading the API token once if refused."""
        refused = (BadRequestError, AuthenticationError, PermissionDeniedError)
        api_token = await self._source.get_token()
        register_secret(api_token)
        self.exchange_count += 1
        try:
            return api_token, await self._exchange(api_token)
        except refused:
            logger.warning("LeanIX refused the API token; re-reading it once in case it was rotated")
        self._source.invalidate()
        api_token = await self._source.get_token()
        register_secret(api_token)
        self.exchange_count += 1
        try:
            return api_token, await self._exchange(api_token)
        except refused as error:
            raise TokenExchangeError(
                self._host, status_code=error.status_code, where=self._token_hint
            ) from None

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # Buffer a streamed body first so the replay below sends it again (httpx only does this for
        # auth classes that keep its default flow).
        await request.aread()
        bearer = await self.bearer()
        request.headers["Authorization"] = f"Bearer {bearer}"
        response = yield request
        if response.status_code in REPLAY_STATUSES:
            # Read the refused body first: that hands its pooled connection back, which the refresh
            # exchange below may need (many concurrent 401s would otherwise exhaust the pool).
            await response.aread()
            logger.info(
                "LeanIX answered %d to %s %s; refreshing the access token and replaying once",
                response.status_code,
                request.method,
                request.url.path,
            )
            fresh = await self._refresh(stale=bearer)
            request.headers["Authorization"] = f"Bearer {fresh}"
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Any:
        raise RuntimeError("MTMAuth works with httpx.AsyncClient only")

    def __repr__(self) -> str:
        return f"MTMAuth(host={self._host!r})"

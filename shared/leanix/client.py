"""`LeanIXClient`: one async httpx client with auth, rate limit, retries and error mapping in one place.

Every request of every sub-client (`mtm`, `graphql`, `webhooks`, `metrics`, `integration`) goes
through `LeanIXClient.request()`, which waits for the rate limiter, sends with `MTMAuth`, retries
per the bundle's `RetryPolicy`, and turns failures into the `shared.leanix.errors` tree.
"""

from __future__ import annotations

import asyncio
import hashlib
import json as jsonlib
import time
from collections.abc import Callable, Mapping
from functools import lru_cache
from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import ValidationError

from shared.errors import ConfigurationError
from shared.leanix.auth import (
    PROCESS_BEARERS,
    TOKEN_PATH,
    AccessToken,
    ApiTokenSource,
    BearerCache,
    MTMAuth,
    StaticTokenSource,
    TokenClaims,
)
from shared.leanix.errors import (
    APIConnectionError,
    APITimeoutError,
    LeanIXError,
    status_error_from_response,
)
from shared.leanix.graphql import GraphQLClient
from shared.leanix.integration import IntegrationClient
from shared.leanix.metrics import MetricsClient
from shared.leanix.mtm import MTMClient
from shared.leanix.ratelimit import RateLimiter, shared_rate_limiter
from shared.leanix.retry import RetryPolicy, Sleep, is_retryable_error, parse_retry_after, retry_async
from shared.leanix.webhooks import WebhooksClient
from shared.logging import get_logger, redact, register_secret
from shared.settings import Settings, normalize_leanix_host
from shared.tls import verifying_tls_context

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
USER_AGENT = "leanix-functions/0.1"
# High enough that a client built without a limiter never throttles a test or the bench.
UNLIMITED_REQUESTS_PER_MINUTE = 6_000_000

logger = get_logger(__name__)


class LeanIXClient:
    """Async client for one LeanIX workspace host. Use as `async with LeanIXClient(...) as client:`."""

    def __init__(
        self,
        base_url: str,
        token_source: ApiTokenSource,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        retry_policy: RetryPolicy | None = None,
        rate_limiter: RateLimiter | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        token_hint: str = "",
        bearer_cache: BearerCache | None = None,
    ) -> None:
        """`bearer_cache` shares access tokens between clients (`from_settings` uses the process's)."""
        try:
            self.base_url = normalize_leanix_host(base_url)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        if not self.base_url:
            raise ConfigurationError("the LeanIX base URL is empty: set LEANIX_HOST")
        self.retry_policy = retry_policy or RetryPolicy()
        self.rate_limiter = rate_limiter or RateLimiter(
            UNLIMITED_REQUESTS_PER_MINUTE, clock=clock, sleep=sleep
        )
        self._sleep = sleep
        self._clock = clock
        # TLS verification is always on: one verifying context per process (a custom transport,
        # e.g. ASGI in tests, brings its own).
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            verify=verifying_tls_context(),
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
        )
        self.auth = MTMAuth(
            token_source,
            self._exchange_for_auth,
            host=self.base_url,
            clock=clock,
            token_hint=token_hint,
            shared_cache=bearer_cache,
        )
        self.mtm = MTMClient(self)
        self.graphql = GraphQLClient(self)
        self.webhooks = WebhooksClient(self)
        self.metrics = MetricsClient(self)
        self.integration = IntegrationClient(self)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        token_source: ApiTokenSource | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> LeanIXClient:
        """Build a client from the bundle settings, sharing the process-wide rate limiter.

        Raises `ConfigurationError` when `LEANIX_HOST` is unset, or when no token source is given
        and `LEANIX_API_TOKEN` is unset.
        """
        if not settings.leanix_host:
            raise ConfigurationError(
                "LEANIX_HOST is not set: set it to your workspace host (e.g. acme.leanix.net) or to the "
                "local emulator's URL (e.g. http://127.0.0.1:8080)"
            )
        if token_source is None:
            secret = settings.leanix_api_token.get_secret_value() if settings.leanix_api_token else ""
            if not secret:
                raise ConfigurationError(
                    "LEANIX_API_TOKEN is not set: create a technical user in LeanIX (Administration > "
                    "Technical Users) and set its API token, or configure the secret store"
                )
            token_source = StaticTokenSource(secret)
            user_key = hashlib.sha256(secret.encode()).hexdigest()[:16]
        else:
            # A secret-store source serves the one technical user of this process.
            user_key = "token-source"
        kwargs.setdefault(
            "rate_limiter",
            shared_rate_limiter(settings.leanix_host, user_key, settings.leanix_requests_per_minute),
        )
        kwargs.setdefault(
            "retry_policy",
            RetryPolicy(
                max_retries=settings.leanix_max_retries,
                budget_seconds=settings.leanix_retry_budget_seconds,
            ),
        )
        kwargs.setdefault("timeout", settings.leanix_timeout_seconds)
        kwargs.setdefault("bearer_cache", PROCESS_BEARERS)
        kwargs.setdefault(
            "token_hint",
            f"LEANIX_API_TOKEN or the secret store entry {settings.leanix_token_secret_name!r}",
        )
        return cls(settings.leanix_host, token_source, transport=transport, **kwargs)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"LeanIXClient(base_url={self.base_url!r})"

    @property
    def clock(self) -> Callable[[], float]:
        """The injected clock (Unix seconds), for sub-clients that poll."""
        return self._clock

    @property
    def sleep(self) -> Sleep:
        """The injected async sleep, for sub-clients that poll."""
        return self._sleep

    async def token_claims(self) -> TokenClaims:
        """Claims of the current access token (workspace id, technical user id, instance URL)."""
        await self.auth.bearer()
        return self.auth.claims

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        authenticated: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109 (per-request httpx timeout, like httpx's own API)
        retry: bool = True,
        auth: httpx.Auth | None = None,
    ) -> httpx.Response:
        """Send one logical request: rate limit, auth, retries, and error mapping.

        `idempotent` defaults to True for GET/PUT/DELETE and False otherwise; a non-idempotent
        request is only retried when the server certainly did not act on it (see `retry.py`).
        Returns the 2xx response; raises `APIStatusError` subclasses, `APIConnectionError` /
        `APITimeoutError`, or `TokenExchangeError`.
        """
        method = method.upper()
        is_idempotent = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        request_auth: httpx.Auth | None = auth or (self.auth if authenticated else None)
        sent = False

        async def attempt() -> httpx.Response:
            nonlocal sent
            sent = False
            await self.rate_limiter.acquire()
            if authenticated and auth is None:
                # Get the bearer before sending, so a failed exchange counts as "not sent".
                await self.auth.bearer()
            sent = True
            try:
                response = await self._http.request(
                    method,
                    _absolute_url(self.base_url, path),
                    params=_clean_params(params),
                    json=json,
                    data=data,
                    content=content,
                    headers=headers,
                    auth=request_auth,
                    timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
                )
            except httpx.TimeoutException as exc:
                raise APITimeoutError(
                    f"LeanIX at {self.base_url} did not answer {method} {path} in time: check the "
                    "network and LEANIX_TIMEOUT_SECONDS"
                ) from exc
            except httpx.RequestError as exc:  # transport errors, and undecodable bodies
                raise APIConnectionError(
                    redact(
                        f"could not reach LeanIX at {self.base_url} for {method} {path} "
                        f"({type(exc).__name__}: {exc}): check LEANIX_HOST and the network"
                    )
                ) from exc
            logger.debug("%s %s -> %d", method, path, response.status_code)
            if response.is_success:
                return response
            retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock())
            raise status_error_from_response(response, retry_after=retry_after)

        if not retry:
            return await attempt()
        return await retry_async(
            attempt,
            policy=self.retry_policy,
            is_retryable=lambda error: is_retryable_error(error, idempotent=is_idempotent or not sent),
            sleep=self._sleep,
            clock=self._clock,
            description=f"{method} {path}",
        )

    async def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """`request()` and parse the JSON body; None for 204 or an empty body."""
        response = await self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise LeanIXError(
                f"LeanIX answered {method} {path} with a body that is not JSON "
                f"(content type {response.headers.get('content-type', 'unknown')!r})"
            ) from None

    async def exchange_api_token(self, api_token: str, *, retry: bool = True) -> AccessToken:
        """POST the API token to MTM `/oauth2/token` (Basic `apitoken:<token>`) and parse the answer."""
        register_secret(api_token)
        body = await self.request_json(
            "POST",
            TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            authenticated=False,
            auth=httpx.BasicAuth("apitoken", api_token),
            idempotent=True,  # exchanging a token changes nothing on the server
            retry=retry,
        )
        unexpected = f"the LeanIX token endpoint at {self.base_url} answered an unexpected body"
        if not isinstance(body, dict):
            raise LeanIXError(unexpected)
        try:
            token = AccessToken.model_validate(body)
        except ValidationError:
            # pydantic's message quotes the input, which may hold a token: name the fields only.
            raise LeanIXError(f"{unexpected} (no valid access_token and expires_in)") from None
        register_secret(token.access_token.get_secret_value())
        return token

    async def _exchange_for_auth(self, api_token: str) -> AccessToken:
        # No retry loop here: the request() that needed the token retries the whole attempt.
        return await self.exchange_api_token(api_token, retry=False)


@lru_cache(maxsize=512)
def _absolute_url(base_url: str, path: str) -> httpx.URL:
    """`base_url` joined with `path`, parsed once per path.

    httpx re-parses and merges a relative URL on every request, about a fifth of the client's CPU
    per call; the parsed result is the same URL httpx would build (`httpx.URL` is immutable).
    """
    if "://" in path:
        return httpx.URL(path)
    return httpx.URL(f"{base_url}/{path.lstrip('/')}")


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Drop None values and spell booleans as LeanIX expects (`true`/`false`)."""
    if params is None:
        return None
    cleaned: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        cleaned[key] = jsonlib.dumps(value) if isinstance(value, bool) else value
    return cleaned

"""What every function invocation starts from: settings, logging, the platform ports and the client.

Entry points (`azure.py`, `aws.py`, the local host) call `get_runtime()` and hand its parts to
`core.py`. The LeanIX API token is read through the secret store, with the store's short cache, so a
running function picks up a rotated token without a restart: on a refused token exchange the client
calls `invalidate()` and re-reads once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from shared.errors import ConfigurationError
from shared.leanix import LeanIXClient
from shared.logging import register_secret, setup_logging
from shared.platform import PENDING, NotFound, Platform, SecretStore, build_platform
from shared.settings import Settings, get_settings
from shared.token_document import NotATokenError, parse_token_document


class SecretStoreTokenSource:
    """The API token as the secret store's `current` version (the `ApiTokenSource` protocol).

    The stored value is a token document or a bare token (`shared.token_document`). Falls back to
    `LEANIX_API_TOKEN` only when the store has no such secret yet (a first deployment that still
    passes the token as a plain or Key Vault-referenced app setting).

    After LeanIX refused the token it returned (`invalidate()`), the next read bypasses the cache;
    if `current` still holds the refused token, a staged `pending` token is used instead: a
    single-user rotation sits between `create` (the old token is dead) and `finish`.
    """

    def __init__(self, secrets: SecretStore, name: str, fallback: str | None = None) -> None:
        self._secrets = secrets
        self._name = name
        self._fallback = fallback or None
        self._last: str | None = None
        self._refused: str | None = None

    async def get_token(self) -> str:
        try:
            value = await self._secrets.get_current(self._name)
        except NotFound:
            if self._fallback:
                return self._fallback
            raise ConfigurationError(
                f"no LeanIX API token: the secret {self._name!r} (LEANIX_TOKEN_SECRET_NAME) does not exist "
                "in the secret store and LEANIX_API_TOKEN is not set"
            ) from None
        where = f"the current version of secret {self._name!r}"
        token = parse_token_document(value, where).api_token
        if self._refused is not None and token == self._refused:
            token = await self._pending_instead(token)
        self._last = token
        register_secret(token)
        return token

    async def _pending_instead(self, refused: str) -> str:
        pending = await self._secrets.get_stage(self._name, PENDING)
        if pending is None:
            return refused
        try:
            candidate = parse_token_document(pending.value).api_token
        except NotATokenError:
            return refused
        return candidate

    def invalidate(self) -> None:
        self._refused = self._last
        self._secrets.invalidate(self._name)

    def __repr__(self) -> str:
        return f"SecretStoreTokenSource(name={self._name!r})"


@dataclass(frozen=True)
class Runtime:
    """The per-process collaborators of a function: settings and ports; clients are per invocation."""

    settings: Settings
    platform: Platform

    def token_source(self) -> SecretStoreTokenSource:
        fallback = self.settings.leanix_api_token
        return SecretStoreTokenSource(
            self.platform.secrets,
            self.settings.leanix_token_secret_name,
            fallback.get_secret_value() if fallback else None,
        )

    def client(self) -> LeanIXClient:
        """A new client for one invocation (an httpx client belongs to one event loop)."""
        return LeanIXClient.from_settings(self.settings, token_source=self.token_source())


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    """The process-wide runtime: settings read once, logging set up once, ports built once."""
    settings = get_settings()
    setup_logging(settings.log_level, settings.secret_values())
    register_secret(*settings.secret_values())
    return Runtime(settings=settings, platform=build_platform(settings))


def reset_runtime() -> None:
    """Forget the cached settings and runtime (tests and the demo change the environment)."""
    get_settings.cache_clear()
    get_runtime.cache_clear()

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
from shared.platform import NotFound, Platform, SecretStore, build_platform
from shared.settings import Settings, get_settings


class SecretStoreTokenSource:
    """The API token as the secret store's `current` version (the `ApiTokenSource` protocol).

    Falls back to `LEANIX_API_TOKEN` only when the store has no such secret yet (a first deployment
    that still passes the token as a plain or Key Vault-referenced app setting).
    """

    def __init__(self, secrets: SecretStore, name: str, fallback: str | None = None) -> None:
        self._secrets = secrets
        self._name = name
        self._fallback = fallback or None

    async def get_token(self) -> str:
        try:
            token = await self._secrets.get_current(self._name)
        except NotFound:
            if self._fallback:
                return self._fallback
            raise ConfigurationError(
                f"no LeanIX API token: the secret {self._name!r} (LEANIX_TOKEN_SECRET_NAME) does not exist "
                "in the secret store and LEANIX_API_TOKEN is not set"
            ) from None
        register_secret(token)
        return token

    def invalidate(self) -> None:
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

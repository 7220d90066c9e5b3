"""boto3 clients created on first use, and the translation of AWS errors into the port's errors.

boto3 reads `AWS_ENDPOINT_URL` (and per-service variants) itself, so the same code talks to AWS or
to a moto server. Creating a client costs ~100 ms, so an adapter builds its client only when first
called; the lock makes that safe from the worker threads `asyncio.to_thread` uses.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.errors import PlatformError


class LazyClient:
    """One boto3 client for `service` in `region`, created on first `get()`."""

    def __init__(self, service: str, region: str, client: Any | None = None) -> None:
        self._service = service
        self._region = region
        self._client = client
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LazyClient(service={self._service!r}, region={self._region!r})"

    def get(self) -> Any:
        """The client (created once)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3  # imported here so the local platform never loads it

                    session: Any = boto3.session.Session(region_name=self._region)
                    self._client = session.client(self._service)
        return self._client


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore `ClientError` (`""` for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def platform_error(action: str, exc: BaseException, hint: str) -> PlatformError:
    """A PlatformError naming what failed, the AWS error code and what to check (never a value)."""
    code = error_code(exc) or type(exc).__name__
    return PlatformError(f"{action} failed ({code}): {hint}")

"""A short in-process cache of current secret values, shared by every SecretStore adapter.

A minute is long enough to spare the secret service a call per request and short enough that a
rotated token reaches every instance soon; `invalidate` drops a value at once (e.g. after a 401).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable

from shared.platform.errors import NotFound
from shared.platform.ports import StagedSecret

DEFAULT_TTL_SECONDS = 60.0


class SecretCache:
    """Name -> value with expiry. Values never appear in its repr."""

    def __init__(
        self, ttl_seconds: float = DEFAULT_TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str | None:
        """The cached value, or None when absent or expired."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                return None
            expires, value = entry
            if self._clock() >= expires:
                del self._entries[name]
                return None
            return value

    def put(self, name: str, value: str) -> None:
        with self._lock:
            self._entries[name] = (self._clock() + self._ttl, value)

    def invalidate(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)

    def __repr__(self) -> str:
        return f"SecretCache(names={sorted(self._entries)!r})"


async def cached_current(
    cache: SecretCache,
    name: str,
    read_current: Callable[[], Awaitable[StagedSecret | None]],
    missing_message: str,
) -> str:
    """`SecretStore.get_current` for every adapter: the cached value, else the `current` version.

    Raises NotFound with `missing_message` when no version carries `current`.
    """
    cached = cache.get(name)
    if cached is not None:
        return cached
    staged = await read_current()
    if staged is None:
        raise NotFound(missing_message)
    cache.put(name, staged.value)
    return staged.value

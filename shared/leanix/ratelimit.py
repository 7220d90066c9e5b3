"""A client-side token bucket, so a burst stays under LeanIX's per-user limit instead of bouncing off 429s.

LeanIX allows 1800 requests per minute per user (human or technical); the bundle defaults to 1500
(`LEANIX_REQUESTS_PER_MINUTE`). One limiter is shared by every request of a client, and
`shared_rate_limiter` shares one per process and per (host, user), because the limit is per user.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

DEFAULT_REQUESTS_PER_MINUTE = 1500


class RateLimiter:
    """Token bucket: `requests_per_minute` sustained, up to `burst` requests at once.

    Each `acquire()` reserves the next free slot and sleeps until it, so concurrent callers are
    spaced evenly and served in arrival order.
    """

    def __init__(
        self,
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be positive")
        self.rate_per_second = requests_per_minute / 60.0
        # Default burst: one second's worth of requests (at least one).
        self.burst = burst if burst is not None else max(1, int(self.rate_per_second))
        if self.burst < 1:
            raise ValueError("burst must be at least 1")
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._updated = clock()

    async def acquire(self) -> float:
        """Wait for permission to send one request; returns the seconds waited."""
        # No await between reading and updating the bucket, so no lock is needed on one event loop.
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate_per_second)
        self._updated = now
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        wait = -self._tokens / self.rate_per_second
        try:
            await self._sleep(wait)
        except asyncio.CancelledError:
            # Give the reserved slot back, or callers after a cancelled burst wait for slots no one uses.
            self._tokens += 1.0
            raise
        return wait


_shared: dict[tuple[str, str], RateLimiter] = {}


def shared_rate_limiter(host: str, user_key: str, requests_per_minute: float) -> RateLimiter:
    """The process-wide limiter for one LeanIX user on one host (created on first use)."""
    key = (host, user_key)
    limiter = _shared.get(key)
    if limiter is None:
        limiter = RateLimiter(requests_per_minute)
        _shared[key] = limiter
    return limiter

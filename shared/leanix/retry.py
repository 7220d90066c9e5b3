"""The one retry policy of the bundle, and the one retry loop (`retry_async`) that applies it.

What is retried: HTTP 408, 429 and 5xx, and `httpx.TransportError` (connection errors, timeouts,
dropped connections). `Retry-After` (seconds or an HTTP-date) is honoured up to a bound;
otherwise the delay is capped exponential backoff with jitter. A total budget stops the loop, after
which the last error is raised unchanged.

Non-idempotent requests (a POST that creates something) must not run twice. They are retried only
when the server certainly did not act on them: 429, 408, 503 with `Retry-After`, and connection
errors raised before the request was sent (`ConnectError`, `ConnectTimeout`, `PoolTimeout`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

import httpx

from shared.leanix.errors import APIConnectionError, APIStatusError

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Errors raised before any byte of the request left this machine: safe to retry any request.
NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. `jitter` is the fraction a backoff delay may shrink by."""

    max_retries: int = 5
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    budget_seconds: float = 120.0
    jitter: float = 0.25

    def backoff(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Capped exponential delay before retry `retry_number` (0-based), reduced by up to `jitter`."""
        delay = min(self.initial_delay * 2.0**retry_number, self.max_delay)
        return float(delay * (1.0 - self.jitter * rand()))

    def delay_for(
        self, retry_number: int, retry_after: float | None, rand: Callable[[], float] = random.random
    ) -> float:
        """The delay before the next attempt: `Retry-After` (bounded) when given, else backoff."""
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        return self.backoff(retry_number, rand)


NO_RETRY = RetryPolicy(max_retries=0)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP-date; None if absent/invalid.

    `now` is the current time as a Unix timestamp (used for the HTTP-date form).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - datetime.fromtimestamp(now, UTC).timestamp())


def is_retryable_error(error: BaseException, *, idempotent: bool) -> bool:
    """Whether the bundle's policy retries this error (see the module docstring for the rules)."""
    if isinstance(error, APIStatusError):
        status = error.status_code
        if status not in RETRYABLE_STATUS:
            return False
        if idempotent:
            return True
        return status in (408, 429) or (status == 503 and error.retry_after is not None)
    if isinstance(error, APIConnectionError):
        error = error.__cause__ or error
    if isinstance(error, httpx.TransportError):
        return idempotent or isinstance(error, NOT_SENT_ERRORS)
    return False


def retry_after_of(error: BaseException) -> float | None:
    """The server-requested delay carried by an error, if any."""
    return error.retry_after if isinstance(error, APIStatusError) else None


async def retry_async(
    op: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    is_retryable: Callable[[BaseException], bool],
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.time,
    retry_after: Callable[[BaseException], float | None] = retry_after_of,
    rand: Callable[[], float] = random.random,
    description: str = "operation",
) -> T:
    """Run `op`, retrying errors `is_retryable` accepts, within `policy`'s count and time budget.

    Raises the last error when it is not retryable, when `max_retries` is used up, or when the
    next wait would exceed `budget_seconds` (measured both by `clock` and by the sum of sleeps, so
    an injected sleep that does not advance the clock still spends the budget).
    """
    started = clock()
    slept = 0.0
    retry_number = 0
    while True:
        try:
            return await op()
        except Exception as error:
            if not is_retryable(error) or retry_number >= policy.max_retries:
                raise
            delay = policy.delay_for(retry_number, retry_after(error), rand)
            spent = max(clock() - started, slept)
            if spent + delay > policy.budget_seconds:
                logger.warning(
                    "retry budget of %.1f s exhausted for %s after %d attempts",
                    policy.budget_seconds,
                    description,
                    retry_number + 1,
                )
                raise
            logger.warning(
                "retrying %s in %.2f s (attempt %d of %d): %s",
                description,
                delay,
                retry_number + 2,
                policy.max_retries + 1,
                type(error).__name__,
            )
            await sleep(delay)
            slept += delay
            retry_number += 1

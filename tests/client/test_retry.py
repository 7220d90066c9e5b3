"""The one retry policy: Retry-After, backoff, budget, what is and is not retried."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from shared.leanix import (
    APIConnectionError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
    parse_retry_after,
    retry_async,
)

from .conftest import ClientFactory, FakeClock, FakeLeanIX

PATH = "/services/webhooks/v1/subscriptions"


def sequence(fake: FakeLeanIX, method: str, *answers: httpx.Response | Exception) -> list[int]:
    """Route `method PATH` to answer `answers` in order (the last one repeats); returns a call counter."""
    calls = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        answer = answers[min(calls[0], len(answers) - 1)]
        calls[0] += 1
        if isinstance(answer, Exception):
            raise answer
        return answer

    fake.route(method, PATH)(handler)
    return calls


def ok() -> httpx.Response:
    return httpx.Response(200, json={"status": "OK", "data": []})


async def test_retry_after_in_seconds_is_honoured(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    calls = sequence(fake, "GET", httpx.Response(429, headers={"Retry-After": "7"}), ok())
    async with make_client() as client:
        await client.request("GET", PATH)
    assert calls[0] == 2
    assert clock.sleeps == [7.0]


async def test_retry_after_as_http_date_is_honoured(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    when = datetime.fromtimestamp(clock.now + 12, UTC)
    calls = sequence(
        fake, "GET", httpx.Response(503, headers={"Retry-After": format_datetime(when, usegmt=True)}), ok()
    )
    async with make_client() as client:
        await client.request("GET", PATH)
    assert calls[0] == 2
    assert clock.sleeps == [pytest.approx(12.0)]


async def test_retry_after_above_the_bound_is_capped(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    sequence(fake, "GET", httpx.Response(429, headers={"Retry-After": "3600"}), ok())
    async with make_client(retry_policy=RetryPolicy(jitter=0.0, max_retry_after=60.0)) as client:
        await client.request("GET", PATH)
    assert clock.sleeps == [60.0]


async def test_backoff_without_retry_after_is_exponential_and_capped(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    sequence(fake, "GET", *[httpx.Response(500)] * 5, ok())
    policy = RetryPolicy(max_retries=5, initial_delay=0.5, max_delay=4.0, jitter=0.0)
    async with make_client(retry_policy=policy) as client:
        await client.request("GET", PATH)
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_jitter_only_shortens_the_backoff() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0, jitter=0.5)
    assert policy.backoff(10, rand=lambda: 0.0) == 8.0
    assert policy.backoff(10, rand=lambda: 1.0) == 4.0


async def test_budget_exhausted_raises_the_last_error(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    calls = sequence(fake, "GET", httpx.Response(503, headers={"Retry-After": "40"}))
    policy = RetryPolicy(max_retries=10, budget_seconds=100.0, jitter=0.0)
    async with make_client(retry_policy=policy) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.request("GET", PATH)
    assert clock.sleeps == [40.0, 40.0]  # a third wait would pass 100 s
    assert calls[0] == 3
    assert caught.value.status_code == 503


async def test_max_retries_exhausted_raises_the_last_error(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    calls = sequence(fake, "GET", httpx.Response(429))
    async with make_client(retry_policy=RetryPolicy(max_retries=2, jitter=0.0)) as client:
        with pytest.raises(RateLimitError):
            await client.request("GET", PATH)
    assert calls[0] == 3


async def test_connection_error_is_retried(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    calls = sequence(fake, "GET", httpx.RemoteProtocolError("peer closed connection"), ok())
    async with make_client() as client:
        response = await client.request("GET", PATH)
    assert response.status_code == 200
    assert calls[0] == 2


async def test_connection_error_that_persists_becomes_api_connection_error(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    sequence(fake, "GET", httpx.ConnectError("connection refused"))
    async with make_client(retry_policy=RetryPolicy(max_retries=1, jitter=0.0)) as client:
        with pytest.raises(APIConnectionError, match="check LEANIX_HOST"):
            await client.request("GET", PATH)


async def test_non_retryable_400_is_not_retried(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    calls = sequence(fake, "GET", httpx.Response(400, json={"message": "bad"}), ok())
    async with make_client() as client:
        with pytest.raises(BadRequestError):
            await client.request("GET", PATH)
    assert calls[0] == 1
    assert clock.sleeps == []


async def test_non_idempotent_post_is_not_retried_after_a_500(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    calls = sequence(fake, "POST", httpx.Response(500), ok())
    async with make_client() as client:
        with pytest.raises(InternalServerError):
            await client.request("POST", PATH, json={})
    assert calls[0] == 1


async def test_non_idempotent_post_is_not_retried_after_the_connection_dropped(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    calls = sequence(fake, "POST", httpx.RemoteProtocolError("dropped"), ok())
    async with make_client() as client:
        with pytest.raises(APIConnectionError):
            await client.request("POST", PATH, json={})
    assert calls[0] == 1


@pytest.mark.parametrize(
    "first",
    [
        httpx.Response(429),
        httpx.Response(503, headers={"Retry-After": "1"}),
        httpx.ConnectError("refused before sending"),
    ],
    ids=["429", "503-with-retry-after", "connect-error"],
)
async def test_non_idempotent_post_is_retried_when_the_server_did_not_act(
    first: httpx.Response | Exception, fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    calls = sequence(fake, "POST", first, ok())
    async with make_client() as client:
        await client.request("POST", PATH, json={})
    assert calls[0] == 2


def test_parse_retry_after_forms() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("5", now) == 5.0
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None
    past = format_datetime(datetime.fromtimestamp(now - 30, UTC), usegmt=True)
    assert parse_retry_after(past, now) == 0.0


async def test_retry_async_is_reusable_for_any_operation(clock: FakeClock) -> None:
    attempts = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise TimeoutError("transient")
        return "done"

    result = await retry_async(
        flaky,
        policy=RetryPolicy(initial_delay=1.0, jitter=0.0),
        is_retryable=lambda error: isinstance(error, TimeoutError),
        sleep=clock.sleep,
        clock=clock,
    )
    assert result == "done"
    assert clock.sleeps == [1.0, 2.0]

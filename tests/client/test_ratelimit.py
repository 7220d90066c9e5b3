"""The token bucket spaces requests evenly once the burst is spent."""

from __future__ import annotations

import asyncio

import httpx

from shared.leanix import RateLimiter, shared_rate_limiter

from .conftest import ClientFactory, FakeClock, FakeLeanIX


async def test_requests_beyond_the_burst_are_spaced_by_the_rate(clock: FakeClock) -> None:
    limiter = RateLimiter(60, burst=2, clock=clock, sleep=clock.sleep)  # one per second
    waits = [await limiter.acquire() for _ in range(5)]
    assert waits == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert clock.sleeps == [1.0, 1.0, 1.0]


async def test_concurrent_callers_reserve_successive_slots(clock: FakeClock) -> None:
    recorded: list[float] = []

    async def record_only(seconds: float) -> None:
        recorded.append(seconds)

    # The clock stands still: all four arrive at the same instant.
    limiter = RateLimiter(120, burst=1, clock=clock, sleep=record_only)  # one per 0.5 s
    waits = await asyncio.gather(*(limiter.acquire() for _ in range(4)))
    assert sorted(waits) == [0.0, 0.5, 1.0, 1.5]


async def test_an_idle_bucket_refills_up_to_the_burst(clock: FakeClock) -> None:
    limiter = RateLimiter(60, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await limiter.acquire()
    clock.now += 100  # long idle: refills to 3, not 100
    waits = [await limiter.acquire() for _ in range(4)]
    assert waits == [0.0, 0.0, 0.0, 1.0]


async def test_client_waits_for_the_limiter_before_each_request(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    fake.route("GET", "/x")(lambda request: httpx.Response(200, json={}))
    limiter = RateLimiter(60, burst=1, clock=clock, sleep=clock.sleep)
    async with make_client(rate_limiter=limiter) as client:
        await client.request("GET", "/x")  # token exchange + request: two slots
        await client.request("GET", "/x")
    assert clock.sleeps == [1.0, 1.0]


def test_default_stays_below_the_documented_per_user_limit() -> None:
    limiter = shared_rate_limiter("https://a.leanix.net", "user-1", 1500)
    assert limiter.rate_per_second * 60 < 1800
    assert shared_rate_limiter("https://a.leanix.net", "user-1", 1500) is limiter
    assert shared_rate_limiter("https://a.leanix.net", "user-2", 1500) is not limiter


async def test_a_cancelled_waiter_gives_its_slot_back(clock: FakeClock) -> None:
    parked = asyncio.Event()  # never set: the first ten waiters sleep until cancelled

    async def sleep(seconds: float) -> None:
        if len(clock.sleeps) < 10:
            clock.sleeps.append(seconds)
            await parked.wait()
        else:
            await clock.sleep(seconds)

    limiter = RateLimiter(60, burst=1, clock=clock, sleep=sleep)  # one per second
    await limiter.acquire()
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(10)]
    await asyncio.sleep(0)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    clock.now += 1.0  # one second later the bucket holds one request again
    assert await limiter.acquire() == 0.0

"""MTMAuth: exchange, caching, single flight, refresh-and-replay, rotation pick-up, claims."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.leanix import AuthenticationError, InternalServerError, TokenExchangeError
from shared.leanix.auth import TOKEN_PATH, decode_jwt_claims

from .conftest import API_TOKEN, HOST, USER_ID, WORKSPACE_ID, ClientFactory, FakeClock, FakeLeanIX

PING = "/services/pathfinder/v1/ping"


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"status": "OK"})


class RotatingSource:
    """A token source whose stored token changes after a rotation; counts reads and invalidations."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.reads = 0
        self.invalidations = 0

    async def get_token(self) -> str:
        token = self.tokens[min(self.invalidations, len(self.tokens) - 1)]
        self.reads += 1
        return token

    def invalidate(self) -> None:
        self.invalidations += 1


async def test_exchange_sends_basic_apitoken_and_client_credentials(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    fake.route("GET", PING)(ok)
    async with make_client() as client:
        await client.request("GET", PING)
    (exchange,) = fake.calls("POST", TOKEN_PATH)
    assert (
        exchange.headers["authorization"]
        == "Basic " + base64.b64encode(f"apitoken:{API_TOKEN}".encode()).decode()
    )
    assert exchange.content == b"grant_type=client_credentials"
    (ping,) = fake.calls("GET", PING)
    assert fake.bearer_of(ping) == fake.issued[0]


async def test_fifty_concurrent_calls_on_a_cold_client_cause_one_exchange(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    fake.route("GET", PING)(ok)
    async with make_client() as client:
        await asyncio.gather(*(client.request("GET", PING) for _ in range(50)))
    assert fake.exchanges == 1
    assert len(fake.calls("GET", PING)) == 50


async def test_token_is_cached_until_60_seconds_before_expiry_then_refreshed(
    fake: FakeLeanIX, clock: FakeClock, make_client: ClientFactory
) -> None:
    fake.expires_in = 3600
    fake.route("GET", PING)(ok)
    async with make_client() as client:
        await client.request("GET", PING)
        clock.now += 3600 - 60 - 1  # one second before the refresh margin
        await client.request("GET", PING)
        assert fake.exchanges == 1
        clock.now += 1  # now inside the last 60 s
        await client.request("GET", PING)
    assert fake.exchanges == 2
    pings = fake.calls("GET", PING)
    assert fake.bearer_of(pings[1]) == fake.issued[0]
    assert fake.bearer_of(pings[2]) == fake.issued[1]


@pytest.mark.parametrize("status", [401, 403])
async def test_expired_bearer_on_a_service_refreshes_once_and_replays(
    status: int, fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    seen: list[str] = []

    @fake.route("GET", PING)
    def first_bearer_expired(request: httpx.Request) -> httpx.Response:
        seen.append(fake.bearer_of(request))
        if fake.bearer_of(request) == fake.issued[0]:
            return httpx.Response(status, json={"status": "ERROR"})
        return httpx.Response(200, json={"status": "OK"})

    async with make_client() as client:
        response = await client.request("GET", PING)
    assert response.status_code == 200
    assert fake.exchanges == 2
    assert seen == fake.issued


class StreamingTransport(httpx.AsyncBaseTransport):
    """Like a network transport, reads a request body by iterating its stream (no buffering)."""

    def __init__(self, fake: FakeLeanIX) -> None:
        self.fake = fake

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        return await self.fake.handler(
            httpx.Request(request.method, request.url, headers=request.headers, content=body)
        )


async def test_a_streamed_body_is_sent_again_on_the_replay(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    bodies: list[bytes] = []

    @fake.route("POST", PING)
    def first_bearer_expired(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if fake.bearer_of(request) == fake.issued[0]:
            return httpx.Response(401, json={"status": "ERROR"})
        return httpx.Response(200, json={"status": "OK"})

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"part": 1,'
        yield b' "part2": 2}'

    async with make_client() as client:
        client._http._transport = StreamingTransport(fake)
        response = await client._http.post(PING, content=chunks(), auth=client.auth)
    assert response.status_code == 200
    assert bodies == [b'{"part": 1, "part2": 2}'] * 2


async def test_service_still_refusing_after_the_replay_raises_without_looping(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    fake.route("GET", PING)(lambda request: httpx.Response(401, json={"status": "ERROR"}))
    async with make_client() as client:
        with pytest.raises(AuthenticationError):
            await client.request("GET", PING)
    assert len(fake.calls("GET", PING)) == 2  # the original and exactly one replay
    assert fake.exchanges == 2


async def test_refused_exchange_invalidates_rereads_once_and_raises_token_exchange_error(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    fake.valid_tokens = set()
    fake.route("GET", PING)(ok)
    source = RotatingSource([API_TOKEN])
    async with make_client(token_source=source) as client:
        with pytest.raises(TokenExchangeError) as caught:
            await client.request("GET", PING)
    assert source.invalidations == 1
    assert source.reads == 2
    assert fake.exchanges == 2
    assert fake.calls("GET", PING) == []
    text = str(caught.value) + repr(caught.value)
    assert "rejected by " + HOST in text
    assert "rotated" in text
    assert API_TOKEN not in text


async def test_rotated_token_is_picked_up_without_restart(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    new_token = "LXT_rotated-token-9876543210"
    fake.valid_tokens = {new_token}
    fake.route("GET", PING)(ok)
    source = RotatingSource([API_TOKEN, new_token])
    async with make_client(token_source=source) as client:
        response = await client.request("GET", PING)
    assert response.status_code == 200
    assert source.invalidations == 1
    assert fake.exchanges == 2


async def test_token_endpoint_outage_is_retried_and_not_reported_as_a_bad_token(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    fake.token_status = 503
    fake.route("GET", PING)(ok)
    source = RotatingSource([API_TOKEN])
    async with make_client(token_source=source) as client:
        with pytest.raises(InternalServerError):
            await client.request("GET", PING)
    assert source.invalidations == 0
    assert fake.exchanges == 6  # first try + max_retries (5)


async def test_claims_expose_workspace_user_and_instance(make_client: ClientFactory) -> None:
    async with make_client() as client:
        claims = await client.token_claims()
    assert claims.workspace_id == WORKSPACE_ID
    assert claims.user_id == USER_ID
    assert claims.instance_url == HOST


def test_decode_jwt_claims_tolerates_a_non_jwt() -> None:
    assert decode_jwt_claims("not-a-jwt").workspace_id is None
    assert decode_jwt_claims("a.!!!.c").raw == {}


class TrackedStream(httpx.AsyncByteStream):
    """A response body that records whether it was read to the end or closed (connection released)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body

    async def aclose(self) -> None:
        self.released = True


async def test_refused_response_is_released_before_the_refresh_exchange(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    # The refresh needs a pooled connection of its own: if the 401 still held one, enough
    # concurrent 401s would exhaust the pool and every refresh would wait for a PoolTimeout.
    refused: list[TrackedStream] = []
    released_at_refresh: list[bool] = []
    plain = fake.handler

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH and refused:
            released_at_refresh.append(all(stream.released for stream in refused))
        if request.url.path == PING and not refused:
            refused.append(TrackedStream(b'{"status": "ERROR"}'))
            return httpx.Response(401, stream=refused[-1])
        return await plain(request)

    fake.route("GET", PING)(ok)
    async with make_client() as client:
        client._http._transport = httpx.MockTransport(handler)
        response = await client.request("GET", PING)
    assert response.status_code == 200
    assert released_at_refresh == [True]


async def test_cancelled_first_caller_does_not_leave_the_others_waiting(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    fake.route("GET", PING)(ok)
    first_exchange_started = asyncio.Event()
    never = asyncio.Event()
    exchanges = [0]
    plain = fake.handler

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            exchanges[0] += 1
            if exchanges[0] == 1:  # the first caller's exchange hangs until it is cancelled
                first_exchange_started.set()
                await never.wait()
        return await plain(request)

    async with make_client() as client:
        client._http._transport = httpx.MockTransport(handler)
        first = asyncio.create_task(client.request("GET", PING))
        await first_exchange_started.wait()
        others = [asyncio.create_task(client.request("GET", PING)) for _ in range(5)]
        await asyncio.sleep(0)  # let them queue behind the first caller's refresh
        first.cancel()
        for _ in range(1000):  # event-loop turns, not time: a hanging waiter never finishes
            if all(task.done() for task in others):
                break
            await asyncio.sleep(0)
        assert all(task.done() for task in others)
        answers = [task.result() for task in others]
    assert [a.status_code for a in answers] == [200] * 5
    assert first.cancelled()
    assert fake.exchanges == 1  # exactly one more exchange (by one waiter) served all five


async def test_a_token_answer_without_an_access_token_raises_a_leanix_error(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    from shared.leanix import LeanIXError

    fake.route("GET", PING)(ok)
    plain = fake.handler

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == TOKEN_PATH:
            return httpx.Response(200, json={"token_type": "bearer", "expires_in": "soon"})
        return await plain(request)

    async with make_client() as client:
        client._http._transport = httpx.MockTransport(handler)
        with pytest.raises(LeanIXError, match="token endpoint"):
            await client.request("GET", PING)

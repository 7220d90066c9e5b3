"""Access tokens shared by the clients of one process (functions build a client per invocation)."""

from __future__ import annotations

import httpx

from shared.leanix import BearerCache, StaticTokenSource
from tests.client.conftest import API_TOKEN, ClientFactory, FakeClock, FakeLeanIX

GRAPHQL = "/services/pathfinder/v1/graphql"
QUERY = "{ allFactSheets(first: 1) { totalCount } }"


def _answer_graphql(fake: FakeLeanIX, refuse: set[str] | None = None) -> None:
    @fake.route("POST", GRAPHQL)
    def graphql(request: httpx.Request) -> httpx.Response:
        if refuse and fake.bearer_of(request) in refuse:
            return httpx.Response(401, json={"status": "ERROR", "message": "expired"})
        return httpx.Response(200, json={"data": {"allFactSheets": {"totalCount": 1}}})


async def test_clients_sharing_a_cache_exchange_the_api_token_once(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    _answer_graphql(fake)
    cache = BearerCache()
    for _ in range(5):
        async with make_client(bearer_cache=cache) as client:
            await client.graphql.execute(QUERY)
    assert fake.exchanges == 1
    assert {fake.bearer_of(r) for r in fake.calls("POST", GRAPHQL)} == {fake.issued[0]}


async def test_clients_without_a_shared_cache_each_exchange(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    _answer_graphql(fake)
    for _ in range(3):
        async with make_client() as client:
            await client.graphql.execute(QUERY)
    assert fake.exchanges == 3


async def test_a_refused_bearer_leaves_the_shared_cache(fake: FakeLeanIX, make_client: ClientFactory) -> None:
    cache = BearerCache()
    _answer_graphql(fake)
    async with make_client(bearer_cache=cache) as first:
        await first.graphql.execute(QUERY)
    _answer_graphql(fake, refuse={fake.issued[0]})
    async with make_client(bearer_cache=cache) as second:
        await second.graphql.execute(QUERY)  # 401, refresh, replay
    async with make_client(bearer_cache=cache) as third:
        await third.graphql.execute(QUERY)
    assert fake.exchanges == 2
    assert fake.bearer_of(fake.calls("POST", GRAPHQL)[-1]) == fake.issued[1]


async def test_a_rotated_api_token_never_meets_the_old_bearer(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    rotated = "LXT_rotated-api-token-9876543210"
    fake.valid_tokens.add(rotated)
    _answer_graphql(fake)
    cache = BearerCache()
    async with make_client(bearer_cache=cache) as client:
        await client.graphql.execute(QUERY)
    async with make_client(bearer_cache=cache, token_source=StaticTokenSource(rotated)) as client:
        await client.graphql.execute(QUERY)
    assert fake.exchanges == 2
    assert repr(cache) == "BearerCache(entries=2)"
    assert API_TOKEN not in repr(cache)


async def test_a_shared_bearer_near_expiry_is_not_reused(
    fake: FakeLeanIX, make_client: ClientFactory, clock: FakeClock
) -> None:
    _answer_graphql(fake)
    cache = BearerCache()
    async with make_client(bearer_cache=cache) as client:
        await client.graphql.execute(QUERY)
    clock.now += fake.expires_in - 30  # inside the 60 s refresh margin
    async with make_client(bearer_cache=cache) as client:
        await client.graphql.execute(QUERY)
    assert fake.exchanges == 2

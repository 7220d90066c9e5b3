"""MTM: technical users (paging, replaceToken) and the standalone token exchange."""

from __future__ import annotations

import httpx
import pytest

from shared.leanix import TokenExchangeError
from shared.leanix.mtm import MTM_PATH

from .conftest import ClientFactory, FakeLeanIX

NEW_TOKEN = "LXT_brand-new-token-abcdef123456"


def user(i: int) -> dict[str, object]:
    return {"id": f"u{i}", "userName": f"bot-{i}", "permissionRole": "ADMIN", "workspaceId": "ws"}


async def test_list_technical_users_pages_until_total(fake: FakeLeanIX, make_client: ClientFactory) -> None:
    users = [user(i) for i in range(5)]
    pages: list[str] = []

    @fake.route("GET", f"{MTM_PATH}/technicalusers")
    def page(request: httpx.Request) -> httpx.Response:
        number, size = int(request.url.params["page"]), int(request.url.params["size"])
        pages.append(request.url.params["page"])
        chunk = users[(number - 1) * size : number * size]
        return httpx.Response(200, json={"status": "OK", "total": 5, "data": chunk})

    async with make_client() as client:
        got = await client.mtm.list_technical_users(page_size=2)
    assert [u.id for u in got] == ["u0", "u1", "u2", "u3", "u4"]
    assert pages == ["1", "2", "3"]


async def test_replace_token_returns_the_new_token_but_never_shows_it_in_repr(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    body = user(1) | {"apiTokenData": {"id": "t", "token": NEW_TOKEN, "expiry": "2026-12-31T23:59:59Z"}}
    fake.route("PUT", f"{MTM_PATH}/technicalusers/u1/replaceToken")(
        lambda request: httpx.Response(200, json={"status": "OK", "data": body})
    )
    async with make_client() as client:
        technical_user = await client.mtm.replace_token("u1")
    assert technical_user.api_token == NEW_TOKEN
    assert technical_user.api_token_data is not None
    assert technical_user.api_token_data.expiry is not None
    assert technical_user.api_token_data.expiry.year == 2026
    assert NEW_TOKEN not in repr(technical_user)
    assert NEW_TOKEN not in str(technical_user.model_dump())


async def test_replace_token_is_never_replayed(fake: FakeLeanIX, make_client: ClientFactory) -> None:
    calls = [0]

    @fake.route("PUT", f"{MTM_PATH}/technicalusers/u1/replaceToken")
    def flaky(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        return httpx.Response(502)

    async with make_client() as client:
        with pytest.raises(Exception, match="502"):
            await client.mtm.replace_token("u1")
    assert calls[0] == 1


async def test_exchange_token_of_a_foreign_token(fake: FakeLeanIX, make_client: ClientFactory) -> None:
    fake.valid_tokens.add(NEW_TOKEN)
    async with make_client() as client:
        token = await client.mtm.exchange_token(NEW_TOKEN)
        assert token.access_token.get_secret_value() == fake.issued[-1]
        assert fake.issued[-1] not in repr(token)
        with pytest.raises(TokenExchangeError) as caught:
            await client.mtm.exchange_token("LXT_unknown-token-000000")
    assert "LXT_unknown-token-000000" not in str(caught.value)

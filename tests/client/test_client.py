"""Client construction and the status-to-error map."""

from __future__ import annotations

import httpx
import pytest

from shared.errors import BundleError, ConfigurationError
from shared.leanix import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    LeanIXClient,
    LeanIXError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StaticTokenSource,
    UnprocessableEntityError,
    error_class_for_status,
)
from shared.leanix.ratelimit import RateLimiter
from shared.settings import load_settings

from .conftest import API_TOKEN, ClientFactory, FakeLeanIX


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (599, InternalServerError),
        (418, APIStatusError),
    ],
)
def test_status_to_error_class(status: int, cls: type[APIStatusError]) -> None:
    assert error_class_for_status(status) is cls
    assert issubclass(cls, LeanIXError)
    assert issubclass(cls, BundleError)


async def test_status_error_carries_status_request_id_and_trimmed_body(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    fake.route("GET", "/services/mtm/v1/technicalusers/x")(
        lambda request: httpx.Response(404, headers={"x-request-id": "req-123"}, text="missing " + "z" * 5000)
    )
    async with make_client() as client:
        with pytest.raises(NotFoundError) as caught:
            await client.mtm.get_technical_user("x")
    error = caught.value
    assert error.status_code == 404
    assert error.request_id == "req-123"
    assert error.body.startswith("missing")
    assert len(error.body) <= 500
    assert "/services/mtm/v1/technicalusers/x" in str(error)


def test_from_settings_requires_a_host() -> None:
    with pytest.raises(ConfigurationError, match="LEANIX_HOST"):
        LeanIXClient.from_settings(load_settings(LEANIX_API_TOKEN=API_TOKEN))


def test_from_settings_requires_a_token_when_no_source_is_given() -> None:
    with pytest.raises(ConfigurationError, match="LEANIX_API_TOKEN"):
        LeanIXClient.from_settings(load_settings(LEANIX_HOST="acme.leanix.net"))


async def test_from_settings_uses_settings_and_shares_the_rate_limiter() -> None:
    settings = load_settings(
        LEANIX_HOST="acme.leanix.net",
        LEANIX_API_TOKEN=API_TOKEN,
        LEANIX_REQUESTS_PER_MINUTE=600,
        LEANIX_MAX_RETRIES=2,
    )
    async with LeanIXClient.from_settings(settings) as first, LeanIXClient.from_settings(settings) as second:
        assert first.base_url == "https://acme.leanix.net"
        assert first.rate_limiter is second.rate_limiter
        assert isinstance(first.rate_limiter, RateLimiter)
        assert first.rate_limiter.rate_per_second == 10
        assert first.retry_policy.max_retries == 2


def test_plain_http_is_refused_for_a_non_loopback_host() -> None:
    with pytest.raises(ConfigurationError, match="https"):
        LeanIXClient("http://acme.leanix.net", token_source=None)  # type: ignore[arg-type]


async def test_a_body_that_cannot_be_decoded_raises_a_leanix_error(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    # httpx.DecodingError is a RequestError but not a TransportError: it must still join the tree.
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.DecodingError("bad gzip", request=request)

    fake.route("GET", "/services/pathfinder/v1/ping")(broken)
    async with make_client() as client:
        with pytest.raises(LeanIXError) as caught:
            await client.request("GET", "/services/pathfinder/v1/ping")
    assert API_TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    "path",
    ["/services/pathfinder/v1/graphql", "services/mtm/v1/x", "/a b/ü?x=1", "/s/%2F/x", "/r/x/../y"],
)
async def test_request_urls_are_the_ones_httpx_would_build_from_the_base_url(path: str) -> None:
    seen: list[httpx.URL] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={})

    async with LeanIXClient(
        "https://acme.leanix.net",
        StaticTokenSource(API_TOKEN),
        transport=httpx.MockTransport(record),
    ) as client:
        await client.request("GET", path, params={"page": 2, "flag": True}, authenticated=False)
    expected = httpx.AsyncClient(base_url="https://acme.leanix.net").build_request(
        "GET", path, params={"page": 2, "flag": "true"}
    )
    assert seen == [expected.url]

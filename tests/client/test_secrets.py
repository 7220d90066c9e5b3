"""No exception text, repr or log line carries the API token or the bearer."""

from __future__ import annotations

import logging

import httpx
import pytest

from shared.leanix import APIStatusError, LeanIXError, StaticTokenSource

from .conftest import API_TOKEN, ClientFactory, FakeLeanIX

PATH = "/services/pathfinder/v1/echo"


async def test_no_error_or_log_line_contains_the_token_or_the_bearer(
    fake: FakeLeanIX, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    @fake.route("GET", PATH)
    def echo_credentials(request: httpx.Request) -> httpx.Response:
        # A hostile or buggy server that echoes the credentials it received back in its error body.
        bearer = fake.bearer_of(request)
        return httpx.Response(
            500,
            json={
                "message": f"failed for token {API_TOKEN} with Authorization: Bearer {bearer}",
                "raw": bearer,
            },
        )

    errors: list[BaseException] = []
    async with make_client() as client:
        with pytest.raises(APIStatusError) as caught:
            await client.request("GET", PATH)
        errors.append(caught.value)
        fake.valid_tokens = set()
        client.auth.invalidate_bearer()
        with pytest.raises(LeanIXError) as refused:
            await client.request("GET", PATH)
        errors.append(refused.value)

    secrets = [API_TOKEN, *fake.issued]
    assert fake.issued, "the scenario must have issued at least one bearer"
    texts = [str(e) for e in errors] + [repr(e) for e in errors] + [getattr(e, "body", "") for e in errors]
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert any("500" in t for t in texts)


def test_token_source_and_client_reprs_hide_the_token(make_client: ClientFactory) -> None:
    client = make_client()
    assert API_TOKEN not in repr(StaticTokenSource(API_TOKEN))
    assert API_TOKEN not in repr(client) + repr(client.auth)

"""MTM token endpoint and technical users of the emulator, over plain httpx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import jwt

from tests.fixtures.emulator import TOKEN_PATH, AsgiEmulator, basic_auth_header, fetch_bearer

USERS = "/services/mtm/v1/technicalusers"


async def test_token_exchange_with_basic_auth_and_form_grant(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        response = await client.post(
            TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            headers=basic_auth_header(emulator_asgi.api_token),
        )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3599
    assert body["expired"] is False
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["principal"]["permission"]["workspaceId"] == emulator_asgi.workspace_id
    assert claims["principal"]["permission"]["role"] == "ADMIN"
    assert claims["sub"] == claims["principal"]["id"]
    assert {"exp", "jti", "iss", "instanceUrl"} <= set(claims)
    assert set(claims["principal"]) >= {"id", "username", "role", "status", "account", "permission"}


async def test_token_exchange_with_grant_type_in_query(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        response = await client.post(
            f"{TOKEN_PATH}?grant_type=client_credentials", headers=basic_auth_header(emulator_asgi.api_token)
        )
    assert response.status_code == 200
    assert response.json()["access_token"]


async def test_token_exchange_with_client_id_and_secret_in_form(emulator_asgi: AsgiEmulator) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": "apitoken",
        "client_secret": emulator_asgi.api_token,
    }
    async with emulator_asgi.client() as client:
        response = await client.post(TOKEN_PATH, data=form)
    assert response.status_code == 200


async def test_unknown_token_gets_oauth_style_401(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        response = await client.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=basic_auth_header("LXT_unknown")
        )
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "LXT_unknown" not in response.text


async def test_missing_grant_type_is_400(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        response = await client.post(TOKEN_PATH, headers=basic_auth_header(emulator_asgi.api_token))
    assert response.status_code == 400


async def test_api_token_past_its_expiry_is_refused(emulator_asgi: AsgiEmulator) -> None:
    user = emulator_asgi.state.create_technical_user(
        "short-lived", "ADMIN", expiry=datetime.now(UTC) + timedelta(seconds=60)
    )
    async with emulator_asgi.client() as client:
        assert (await fetch_bearer(client, user.token)).count(".") == 2
        emulator_asgi.state.advance_time(120)
        response = await client.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=basic_auth_header(user.token)
        )
    assert response.status_code == 401


async def test_expired_bearer_gets_401_on_services(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        bearer = await fetch_bearer(client, emulator_asgi.api_token)
        headers = {"Authorization": f"Bearer {bearer}"}
        assert (await client.get(USERS, headers=headers)).status_code == 200
        emulator_asgi.state.advance_time(3601)
        response = await client.get(USERS, headers=headers)
    assert response.status_code == 401
    assert response.json()["status"] == "ERROR"


async def test_missing_or_garbage_bearer_gets_401(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        assert (await client.get(USERS)).status_code == 401
        assert (await client.get(USERS, headers={"Authorization": "Bearer not-a-jwt"})).status_code == 401
        assert (await client.get(USERS, headers={"Authorization": "Basic abc"})).status_code == 401


async def test_create_user_returns_token_once_and_it_works(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        headers = {"Authorization": f"Bearer {await fetch_bearer(client, emulator_asgi.api_token)}"}
        created = await client.post(
            USERS,
            json={
                "userName": "ci-bot",
                "permissionRole": "ADMIN",
                "apiTokenData": {"expiry": "2099-12-31T23:59:59Z", "description": "CI"},
            },
            headers=headers,
        )
        assert created.status_code == 200
        data = created.json()["data"]
        token = data["apiTokenData"]["token"]
        assert token.startswith("LXT_")
        fetched = await client.get(f"{USERS}/{data['id']}", headers=headers)
        assert "token" not in fetched.json()["data"]["apiTokenData"]
        assert fetched.json()["data"]["apiTokenData"]["expiry"] == "2099-12-31T23:59:59Z"
        assert await fetch_bearer(client, token)


async def test_replace_token_invalidates_the_old_token_at_once(emulator_asgi: AsgiEmulator) -> None:
    user = emulator_asgi.state.create_technical_user(
        "rotated", "ADMIN", expiry=datetime(2099, 1, 1, tzinfo=UTC)
    )
    old_token = user.token
    async with emulator_asgi.client() as client:
        headers = {"Authorization": f"Bearer {await fetch_bearer(client, emulator_asgi.api_token)}"}
        response = await client.put(f"{USERS}/{user.id}/replaceToken", headers=headers)
        assert response.status_code == 200
        data = response.json()["data"]
        new_token = data["apiTokenData"]["token"]
        assert new_token != old_token
        assert data["apiTokenData"]["expiry"] == "2099-01-01T00:00:00Z"
        refused = await client.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=basic_auth_header(old_token)
        )
        assert refused.status_code == 401
        assert await fetch_bearer(client, new_token)


async def test_technical_user_list_pages_with_total(emulator_asgi: AsgiEmulator) -> None:
    for index in range(4):
        emulator_asgi.state.create_technical_user(f"user-{index}", "VIEWER")
    async with emulator_asgi.client() as client:
        headers = {"Authorization": f"Bearer {await fetch_bearer(client, emulator_asgi.api_token)}"}
        first = (await client.get(USERS, params={"page": 1, "size": 2}, headers=headers)).json()
        third = (await client.get(USERS, params={"page": 3, "size": 2}, headers=headers)).json()
        bad = await client.get(USERS, params={"size": 1000}, headers=headers)
    assert first["total"] == 5
    assert len(first["data"]) == 2
    assert len(third["data"]) == 1
    assert bad.status_code == 400


async def test_unknown_user_is_404_and_non_admin_is_403(emulator_asgi: AsgiEmulator) -> None:
    member = emulator_asgi.state.create_technical_user("member", "MEMBER")
    async with emulator_asgi.client() as client:
        admin = {"Authorization": f"Bearer {await fetch_bearer(client, emulator_asgi.api_token)}"}
        assert (await client.get(f"{USERS}/nope", headers=admin)).status_code == 404
        assert (await client.put(f"{USERS}/nope/replaceToken", headers=admin)).status_code == 404
        not_admin = {"Authorization": f"Bearer {await fetch_bearer(client, member.token)}"}
        assert (await client.get(USERS, headers=not_admin)).status_code == 403
        assert (await client.put(f"{USERS}/{member.id}/replaceToken", headers=not_admin)).status_code == 403


async def test_create_user_rejects_bad_bodies_with_400(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        headers = {"Authorization": f"Bearer {await fetch_bearer(client, emulator_asgi.api_token)}"}
        for body in (
            b"{",
            b"[]",
            b'{"userName": "x"}',
            b'{"userName": "x", "permissionRole": "ADMIN", "x": 1}',
        ):
            response = await client.post(USERS, content=body, headers=headers)
            assert response.status_code == 400, body


def test_real_http_token_exchange(emulator: object) -> None:
    from local.emulator import RunningEmulator

    assert isinstance(emulator, RunningEmulator)
    with httpx.Client(base_url=emulator.base_url) as client:
        response = client.post(
            TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            headers=basic_auth_header(emulator.api_token),
        )
    assert response.status_code == 200

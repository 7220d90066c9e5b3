"""Rate limit, fault injection and the `/_emulator/` controls."""

from __future__ import annotations

import httpx
import pytest

from local.emulator import RunningEmulator
from local.emulator.faults import DroppedConnection, FaultRegistry
from tests.fixtures.emulator import GRAPHQL_PATH, TOKEN_PATH, AsgiEmulator, basic_auth_header, fetch_bearer

USERS = "/services/mtm/v1/technicalusers"


async def test_rate_limit_answers_429_with_retry_after(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        config = await client.post("/_emulator/config", json={"rate_limit_per_minute": 3})
        assert config.json()["rate_limit_per_minute"] == 3
        headers = {"Authorization": f"Bearer {await fetch_bearer(client, emulator_asgi.api_token)}"}
        statuses = [(await client.get(USERS, headers=headers)).status_code for _ in range(3)]
        limited = await client.get(USERS, headers=headers)
        stats = (await client.get("/_emulator/stats")).json()
        emulator_asgi.state.advance_time(60)  # the bucket refills with emulator time, no sleep
        after_refill = await client.get(USERS, headers=headers)
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert "USER_INTERVAL_REQUEST_LIMIT_EXCEEDED" in limited.json()["message"]
    assert stats["rate_limited"] == 1
    assert after_refill.status_code == 200


async def test_rate_limit_is_per_user(emulator_asgi: AsgiEmulator) -> None:
    other = emulator_asgi.state.create_technical_user("other", "ADMIN")
    emulator_asgi.state.update_config(rate_limit_per_minute=1)
    async with emulator_asgi.client() as client:
        first = {"Authorization": f"Bearer {await fetch_bearer(client, emulator_asgi.api_token)}"}
        second = {"Authorization": f"Bearer {await fetch_bearer(client, other.token)}"}
        assert (await client.get(USERS, headers=first)).status_code == 200
        assert (await client.get(USERS, headers=first)).status_code == 429
        assert (await client.get(USERS, headers=second)).status_code == 200


async def test_status_fault_fires_for_the_next_n_matching_requests(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        headers = {"Authorization": f"Bearer {await fetch_bearer(client, emulator_asgi.api_token)}"}
        added = await client.post(
            "/_emulator/faults",
            json={"kind": "status", "status": 503, "retry_after": 2, "path": "technicalusers$", "times": 2},
        )
        assert added.status_code == 200
        other_path = await client.post(
            GRAPHQL_PATH, json={"query": "{allTagGroups{totalCount}}"}, headers=headers
        )
        first = await client.get(USERS, headers=headers)
        second = await client.get(USERS, headers=headers)
        third = await client.get(USERS, headers=headers)
    assert other_path.status_code == 200
    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.headers["Retry-After"] == "2"


async def test_status_fault_without_retry_after_and_with_method(emulator_asgi: AsgiEmulator) -> None:
    emulator_asgi.add_fault(kind="status", status=429, path="graphql", method="POST")
    async with emulator_asgi.client() as client:
        headers = {"Authorization": f"Bearer {await fetch_bearer(client, emulator_asgi.api_token)}"}
        response = await client.post(
            GRAPHQL_PATH, json={"query": "{allTagGroups{totalCount}}"}, headers=headers
        )
    assert response.status_code == 429
    assert "Retry-After" not in response.headers


async def test_latency_fault_delays_then_serves(emulator_asgi: AsgiEmulator) -> None:
    emulator_asgi.add_fault(kind="latency", latency_seconds=0.01, path="oauth2/token")
    async with emulator_asgi.client() as client:
        assert await fetch_bearer(client, emulator_asgi.api_token)
    assert emulator_asgi.state.stats.faults_injected == 1
    assert emulator_asgi.state.faults.list() == []


async def test_expired_token_fault_answers_401(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        headers = {"Authorization": f"Bearer {await fetch_bearer(client, emulator_asgi.api_token)}"}
        emulator_asgi.add_fault(kind="expired_token", path="technicalusers")
        expired = await client.get(USERS, headers=headers)
        again = await client.get(USERS, headers=headers)
    assert expired.status_code == 401
    assert "expired" in expired.json()["message"]
    assert again.status_code == 200


async def test_drop_fault_in_process_surfaces_as_an_exception(emulator_asgi: AsgiEmulator) -> None:
    emulator_asgi.add_fault(kind="drop", path="oauth2/token")
    async with emulator_asgi.client() as client:
        with pytest.raises(DroppedConnection):
            await client.post(
                TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=basic_auth_header("x")
            )
        assert await fetch_bearer(client, emulator_asgi.api_token)


def test_drop_fault_over_real_http_closes_without_response(emulator: RunningEmulator) -> None:
    emulator.add_fault(kind="drop", path="oauth2/token")
    with httpx.Client(base_url=emulator.base_url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(TOKEN_PATH, data={"grant_type": "client_credentials"}, headers=basic_auth_header("x"))
        ok = client.post(
            TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            headers=basic_auth_header(emulator.api_token),
        )
    assert ok.status_code == 200


def test_probability_faults_are_reproducible_with_a_seed() -> None:
    def pattern() -> list[bool]:
        registry = FaultRegistry()
        registry.add(kind="status", probability=0.5, seed=7)
        return [registry.take("GET", "/services/x") is not None for _ in range(40)]

    first = pattern()
    assert first == pattern()
    assert 5 < sum(first) < 35


async def test_invalid_fault_specs_are_400(emulator_asgi: AsgiEmulator) -> None:
    bad = [
        {"kind": "explode"},
        {"kind": "status", "path": "("},
        {"kind": "status", "status": 42},
        {"kind": "status", "probability": 2},
        {"kind": "status", "unknown": 1},
        {"status": 500},
        {"faults": "nope"},
    ]
    async with emulator_asgi.client() as client:
        for spec in bad:
            assert (await client.post("/_emulator/faults", json=spec)).status_code == 400, spec
        assert (await client.post("/_emulator/faults", content=b"{")).status_code == 400
        assert (await client.get("/_emulator/faults")).json() == {"faults": []}


async def test_controls_reset_inspect_and_clear(emulator_asgi: AsgiEmulator) -> None:
    ws = emulator_asgi.state.workspace
    app = ws.list_fact_sheets("Application")[0]
    ws.apply_patches(app.id, [{"op": "replace", "path": "/description", "value": "changed"}])
    async with emulator_asgi.client() as client:
        one = (await client.get(f"/_emulator/factsheets/{app.id}")).json()
        apps = (await client.get("/_emulator/factsheets", params={"type": "Application"})).json()
        assert (await client.get("/_emulator/factsheets/nope")).status_code == 404
        await client.post("/_emulator/faults", json={"faults": [{"kind": "status"}, {"kind": "drop"}]})
        assert len((await client.get("/_emulator/faults")).json()["faults"]) == 2
        await client.delete("/_emulator/faults")
        assert (await client.get("/_emulator/faults")).json()["faults"] == []
        token_before = emulator_asgi.api_token
        reset = await client.post("/_emulator/reset", json={"seed": "empty"})
        assert (await client.post("/_emulator/reset", json={"seed": "nope"})).status_code == 400
    assert one["writeCount"] == 1
    assert apps["total"] == 50
    assert reset.status_code == 200
    assert emulator_asgi.state.workspace.list_fact_sheets() == []
    assert emulator_asgi.state.workspace.tag_group_by_name("TIME") is not None
    assert emulator_asgi.api_token == token_before


async def test_trigger_event_reaches_listeners(emulator_asgi: AsgiEmulator) -> None:
    seen: list[str] = []
    emulator_asgi.state.workspace.add_listener(lambda event: seen.append(event.event_type))
    app = emulator_asgi.state.workspace.list_fact_sheets("Application")[0]
    async with emulator_asgi.client() as client:
        ok = await client.post("/_emulator/events/trigger", json={"factSheetId": app.id})
        missing = await client.post("/_emulator/events/trigger", json={"factSheetId": "nope"})
    assert ok.status_code == 200
    assert missing.status_code == 404
    assert seen == ["FACT_SHEET_UPDATED"]


async def test_config_rejects_unknown_and_negative_values(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        assert (await client.post("/_emulator/config", json={"nope": 1})).status_code == 400
        assert (await client.post("/_emulator/config", json={"rate_limit_per_minute": -1})).status_code == 400
        assert (await client.post("/_emulator/clock", json={"advance_seconds": "x"})).status_code == 400


def test_drop_after_fault_applies_the_request_and_loses_the_answer(emulator: RunningEmulator) -> None:
    create = """mutation { createFactSheet(input: {name: "Lost Answer", type: Application}) {
        factSheet { id } } }"""
    with httpx.Client(base_url=emulator.base_url) as client:
        token = client.post(
            TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            headers=basic_auth_header(emulator.api_token),
        ).json()["access_token"]
        emulator.add_fault(kind="drop_after", method="POST", path="graphql", times=1)
        with pytest.raises(httpx.RemoteProtocolError):
            client.post(GRAPHQL_PATH, json={"query": create}, headers={"Authorization": f"Bearer {token}"})
    names = [fs.name for fs in emulator.state.workspace.list_fact_sheets("Application")]
    assert names.count("Lost Answer") == 1  # applied once, though the client never heard back

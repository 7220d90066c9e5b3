"""Integration API of the emulator: configurations, runs, processors, full mode, outbound results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.emulator import EmulatorConfig
from local.emulator.ldif import ExpressionError, evaluate
from tests.emulator.services_support import admin_client
from tests.fixtures.emulator import AsgiEmulator, fetch_bearer

BASE = "/services/integration-api/v1"
RUNS = f"{BASE}/synchronizationRuns"
BINDING = {
    "connectorType": "ciExample",
    "connectorId": "ci-apps",
    "connectorVersion": "1.0.0",
    "processingDirection": "inbound",
    "processingMode": "partial",
}
EXTERNAL = {"external": {"id": {"expr": "${content.id}"}, "type": {"expr": "externalId"}}}


def inbound_config(mode: str = "partial", deletion: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        **BINDING,
        "processingMode": mode,
        "processors": [
            {
                "processorType": "inboundFactSheet",
                "processorName": "Apps",
                "type": "Application",
                "filter": {"exactType": "App"},
                "identifier": EXTERNAL,
                "run": 0,
                "updates": [
                    {"key": {"expr": "name"}, "values": [{"expr": "${data.name}"}]},
                    {"key": {"expr": "description"}, "values": [{"expr": "Owner: ${data.owner.team}"}]},
                ],
            },
            {
                "processorType": "inboundFactSheet",
                "processorName": "Components",
                "type": "ITComponent",
                "filter": {"type": "^IT.*"},
                "identifier": EXTERNAL,
                "run": 0,
                "updates": [{"key": {"expr": "name"}, "values": [{"expr": "${data.name}"}]}],
            },
            {
                "processorType": "inboundRelation",
                "processorName": "Runs on",
                "type": "relApplicationToITComponent",
                "filter": {"exactType": "App"},
                "from": EXTERNAL,
                "to": {"external": {"id": {"expr": "${data.runsOn}"}, "type": {"expr": "externalId"}}},
                "run": 1,
            },
            {
                "processorType": "inboundTag",
                "processorName": "Tags",
                "filter": {"exactType": "App"},
                "forEach": "${data.tags}",
                "factSheets": {"external": {"ids": "${content.id}", "type": {"expr": "externalId"}}},
                "run": 1,
                "updates": [
                    {"key": {"expr": "name"}, "values": [{"expr": "${integration.valueOfForEach}"}]},
                    {"key": {"expr": "group.name"}, "values": [{"expr": "${header.customFields.tagGroup}"}]},
                ],
            },
        ],
    }
    if deletion is not None:
        config["deletionScope"] = deletion
    return config


def app_content(ext_id: str, name: str, tags: list[str] | None = None) -> dict[str, Any]:
    data = {"name": name, "owner": {"team": "team-a"}, "runsOn": "itc-1", "tags": tags or []}
    return {"type": "App", "id": ext_id, "data": data}


def ldif(content: list[dict[str, Any]], mode: str = "partial", **extra: Any) -> dict[str, Any]:
    return {
        **BINDING,
        "processingMode": mode,
        "lxVersion": "1.0.0",
        "description": "test import",
        "customFields": {"tagGroup": "CI Tags"},
        "content": content,
        **extra,
    }


STANDARD_CONTENT = [
    {"type": "ITServer", "id": "itc-1", "data": {"name": "Server One"}},
    app_content("app-1", "Billing", ["Critical", "Cloud"]),
    app_content("app-2", "Payroll", ["Cloud"]),
]


@pytest.fixture
def emu() -> AsgiEmulator:
    return AsgiEmulator(EmulatorConfig(seed="demo", run_step_delay_seconds=0.0))


async def finish(emu: AsgiEmulator, client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """Await the run's task (no sleeping), then read its status through the API."""
    task = emu.state.integration.runs[run_id].task
    assert task is not None
    await task
    response = await client.get(f"{RUNS}/{run_id}/status")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def run_ldif(emu: AsgiEmulator, client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    created = await client.post(RUNS, params={"start": "true"}, json=body)
    assert created.status_code == 200
    assert set(created.json()) == {"id", "status", "description"}
    return await finish(emu, client, created.json()["id"])


async def put_config(client: httpx.AsyncClient, config: dict[str, Any]) -> None:
    response = await client.put(f"{BASE}/configurations", json=config)
    assert response.status_code == 204


async def test_configuration_upsert_get_and_delete(emu: AsgiEmulator) -> None:
    async with admin_client(emu) as client:
        await put_config(client, inbound_config())
        got = await client.get(f"{BASE}/configurations", params=BINDING)
        assert got.status_code == 200
        assert got.json()["processors"][0]["processorName"] == "Apps"
        await put_config(client, {**inbound_config(), "processors": []})
        assert (await client.get(f"{BASE}/configurations", params=BINDING)).json()["processors"] == []
        partial = await client.get(f"{BASE}/configurations", params={"connectorType": "ciExample"})
        assert partial.status_code == 400
        assert (await client.delete(f"{BASE}/configurations", params=BINDING)).status_code == 204
        assert (await client.get(f"{BASE}/configurations", params=BINDING)).status_code == 404
        assert (await client.delete(f"{BASE}/configurations", params=BINDING)).status_code == 404
        invalid = await client.put(
            f"{BASE}/configurations", json={**BINDING, "processingDirection": "sideways"}
        )
        assert invalid.status_code == 400


async def test_inbound_run_creates_fact_sheets_relations_and_tags_then_changes_nothing(
    emu: AsgiEmulator,
) -> None:
    workspace = emu.state.workspace
    async with admin_client(emu) as client:
        await put_config(client, inbound_config())
        status = await run_ldif(emu, client, ldif(STANDARD_CONTENT))
        assert status["status"] == "FINISHED"
        assert status["description"] == "test import"
        billing = workspace.find_by_external_id("Application", "app-1")
        server = workspace.find_by_external_id("ITComponent", "itc-1")
        assert billing is not None
        assert server is not None
        assert billing.name == "Billing"
        assert billing.fields["description"] == "Owner: team-a"
        assert [
            rel.target_id for rel, _ in workspace.relations_of(billing.id, "relApplicationToITComponent")
        ] == [server.id]
        tag_names = sorted(workspace.tags[t].name for t in billing.tag_ids)
        assert tag_names == ["Cloud", "Critical"]
        group = workspace.tag_group_by_name("CI Tags")
        assert group is not None
        assert all(workspace.tags[t].tag_group_id == group.id for t in billing.tag_ids)
        warnings = (await client.get(f"{RUNS}/{status['id']}/warnings")).json()
        assert warnings == []

        writes_before = workspace.total_writes
        revs_before = {fs.id: fs.rev for fs in workspace.list_fact_sheets()}
        again = await run_ldif(emu, client, ldif(STANDARD_CONTENT))
        assert again["status"] == "FINISHED"
        assert workspace.total_writes == writes_before
        assert {fs.id: fs.rev for fs in workspace.list_fact_sheets()} == revs_before
        progress = (await client.get(f"{RUNS}/{again['id']}/progress")).json()
        assert progress["graphQLRequestCount"] == 0
        assert progress["status"] == 3


async def test_content_a_processor_cannot_apply_becomes_a_warning(emu: AsgiEmulator) -> None:
    async with admin_client(emu) as client:
        await put_config(client, inbound_config())
        content = [{"type": "App", "id": "app-9", "data": {"owner": {}, "runsOn": "missing", "tags": []}}]
        status = await run_ldif(emu, client, ldif(content))
        assert status["status"] == "FINISHED"
        warnings = (await client.get(f"{RUNS}/{status['id']}/warnings")).json()
        messages = " | ".join(w["message"] for w in warnings)
        assert "No value for key 'name'" in messages
        assert "give no 'name'" in messages
        assert all(w["content"] == "app-9" for w in warnings)
        first = (await client.get(f"{RUNS}/{status['id']}/warnings", params={"offset": 1, "limit": 1})).json()
        assert first == warnings[1:2]


async def test_binding_mismatch_fails_the_run_naming_the_five_fields(emu: AsgiEmulator) -> None:
    async with admin_client(emu) as client:
        await put_config(client, inbound_config())
        status = await run_ldif(emu, client, ldif(STANDARD_CONTENT, connectorVersion="2.0.0"))
        assert status["status"] == "FAILED"
        warnings = (await client.get(f"{RUNS}/{status['id']}/warnings")).json()
        message = warnings[0]["message"]
        for name in (
            "connectorType",
            "connectorId",
            "connectorVersion",
            "processingDirection",
            "processingMode",
        ):
            assert name in message
        assert "'2.0.0'" in message
    assert emu.state.workspace.find_by_external_id("Application", "app-1") is None


async def test_full_mode_archives_missing_fact_sheets_within_the_ratio(emu: AsgiEmulator) -> None:
    deletion = {"maximumDeletionRatio": {"factSheets": 50}}
    apps = [app_content(f"app-{i}", f"App {i}") for i in range(4)]
    async with admin_client(emu) as client:
        await put_config(client, inbound_config("full", deletion))
        assert (await run_ldif(emu, client, ldif(apps, mode="full")))["status"] == "FINISHED"
        status = await run_ldif(emu, client, ldif(apps[:3], mode="full"))
        assert status["status"] == "FINISHED"
    gone = emu.state.workspace.find_by_external_id("Application", "app-3")
    assert gone is not None
    assert gone.status == "ARCHIVED"
    kept = emu.state.workspace.find_by_external_id("Application", "app-0")
    assert kept is not None
    assert kept.status == "ACTIVE"


async def test_full_mode_refuses_deletion_above_maximum_ratio(emu: AsgiEmulator) -> None:
    deletion = {
        "maximumDeletionRatio": {"factSheets": 50},
        "factSheets": [
            {"scope": {"facetFilters": [{"facetKey": "FactSheetTypes", "keys": ["Application"]}]}}
        ],
    }
    apps = [app_content(f"app-{i}", f"App {i}") for i in range(4)]
    async with admin_client(emu) as client:
        await put_config(client, inbound_config("full", deletion))
        await run_ldif(emu, client, ldif(apps, mode="full"))
        status = await run_ldif(emu, client, ldif(apps[:1], mode="full"))
        assert status["status"] == "FAILED"
        warnings = (await client.get(f"{RUNS}/{status['id']}/warnings")).json()
    assert any("maximumDeletionRatio" in w["message"] and "75%" in w["message"] for w in warnings)
    for i in range(4):
        fs = emu.state.workspace.find_by_external_id("Application", f"app-{i}")
        assert fs is not None
        assert fs.status == "ACTIVE"


async def test_double_start_is_400_and_stop_of_finished_run_is_400(emu: AsgiEmulator) -> None:
    async with admin_client(emu) as client:
        await put_config(client, inbound_config())
        created = (await client.post(RUNS, json=ldif(STANDARD_CONTENT))).json()
        assert created["status"] == "CREATED"
        assert emu.state.workspace.find_by_external_id("Application", "app-1") is None
        assert (await client.post(f"{RUNS}/{created['id']}/start")).status_code == 200
        second = await client.post(f"{RUNS}/{created['id']}/start")
        assert second.status_code == 400
        assert "twice" in second.json()["message"]
        assert (await finish(emu, client, created["id"]))["status"] == "FINISHED"
        assert (await client.post(f"{RUNS}/{created['id']}/stop")).status_code == 400
        assert (await client.post(f"{RUNS}/unknown/start")).status_code == 404


async def test_stopping_a_pending_run_stops_it_before_any_write(emu: AsgiEmulator) -> None:
    async with admin_client(emu) as client:
        await put_config(client, inbound_config())
        created = (await client.post(RUNS, params={"start": "true"}, json=ldif(STANDARD_CONTENT))).json()
        assert created["status"] == "PENDING"
        assert (await client.post(f"{RUNS}/{created['id']}/stop")).status_code == 200
        assert (await finish(emu, client, created["id"]))["status"] == "STOPPED"
    assert emu.state.workspace.find_by_external_id("Application", "app-1") is None


async def test_test_run_changes_nothing(emu: AsgiEmulator) -> None:
    async with admin_client(emu) as client:
        await put_config(client, inbound_config())
        created = await client.post(
            RUNS, params={"start": "true", "test": "true"}, json=ldif(STANDARD_CONTENT)
        )
        assert (await finish(emu, client, created.json()["id"]))["status"] == "FINISHED"
        only_test = await client.post(RUNS, params={"test": "true"}, json=ldif(STANDARD_CONTENT))
        assert only_test.status_code == 400
    assert emu.state.workspace.find_by_external_id("Application", "app-1") is None


async def test_outbound_results_are_204_until_finished_then_the_result_ldif(emu: AsgiEmulator) -> None:
    outbound = {**BINDING, "connectorId": "export", "processingDirection": "outbound"}
    config = {
        **outbound,
        "scope": {"facetFilters": [{"facetKey": "FactSheetTypes", "keys": ["Application"]}]},
        "processors": [
            {"processorType": "outboundFactSheet", "processorName": "Apps", "fields": ["name", "description"]}
        ],
    }
    async with admin_client(emu) as client:
        await put_config(client, config)
        created = (await client.post(RUNS, json={**outbound, "lxVersion": "1.0.0"})).json()
        not_ready = await client.get(f"{RUNS}/{created['id']}/results")
        assert not_ready.status_code == 204
        assert (await client.post(f"{RUNS}/{created['id']}/start")).status_code == 200
        assert (await finish(emu, client, created["id"]))["status"] == "FINISHED"
        result = await client.get(f"{RUNS}/{created['id']}/results")
    assert result.status_code == 200
    body = result.json()
    assert body["processingDirection"] == "outbound"
    apps = emu.state.workspace.list_fact_sheets("Application", include_archived=False)
    assert len(body["content"]) == len(apps) > 0
    assert {c["type"] for c in body["content"]} == {"Application"}
    assert set(body["content"][0]["data"]) == {"name", "description"}


async def test_run_with_config_and_with_url_input(emu: AsgiEmulator, tmp_path: Path) -> None:
    ldif_file = tmp_path / "input.json"
    ldif_file.write_text(json.dumps(ldif(STANDARD_CONTENT)), encoding="utf-8")
    async with admin_client(emu) as client:
        with_config = await client.post(
            f"{RUNS}/withConfig",
            params={"start": "true"},
            json={"input": ldif(STANDARD_CONTENT[:1]), "processorConfiguration": inbound_config()},
        )
        assert with_config.status_code == 200
        assert (await finish(emu, client, with_config.json()["id"]))["status"] == "FINISHED"
        assert emu.state.workspace.find_by_external_id("ITComponent", "itc-1") is not None

        await put_config(client, inbound_config())
        by_url = await client.post(
            f"{RUNS}/withUrlInput", params={"start": "true"}, json={"url": ldif_file.as_uri()}
        )
        assert by_url.status_code == 200
        assert by_url.json()["processorConfiguration"]["connectorId"] == "ci-apps"
        assert (await finish(emu, client, by_url.json()["id"]))["status"] == "FINISHED"
        assert emu.state.workspace.find_by_external_id("Application", "app-2") is not None

        outside = await client.post(f"{RUNS}/withUrlInput", json={"url": "file:///etc/hostname"})
        assert outside.status_code == 400


async def test_non_admin_users_get_403(emu: AsgiEmulator) -> None:
    member = emu.state.create_technical_user("member-bot", "MEMBER")
    async with emu.client() as client:
        bearer = await fetch_bearer(client, member.token)
        response = await client.get(f"{RUNS}", headers={"Authorization": f"Bearer {bearer}"})
    assert response.status_code == 403
    assert response.json()["message"] == "The user is not allowed to use this endpoint."


async def test_run_events_reach_webhook_listeners(emu: AsgiEmulator) -> None:
    seen: list[str] = []
    emu.state.workspace.add_listener(lambda event: seen.append(event.event_type))
    async with admin_client(emu) as client:
        await put_config(client, inbound_config())
        await run_ldif(emu, client, ldif(STANDARD_CONTENT))
    assert seen.count("FACT_SHEET_CREATED") == 3
    assert "RELATION_CREATED" in seen
    assert "FACT_SHEET_TAG_ADDED" in seen


def test_expressions_cover_paths_concatenation_and_methods() -> None:
    context = {
        "content": {"id": "a-1", "type": "App"},
        "data": {"x": {"y": "deep"}, "tags": ["t1", "t2"], "n": 3},
        "header": {"customFields": {"env": "prod"}},
        "integration": {"valueOfForEach": "v"},
    }
    assert evaluate("${content.id}", context) == "a-1"
    assert evaluate("${data.tags}", context) == ["t1", "t2"]
    assert evaluate("${data.tags[1]}", context) == "t2"
    assert evaluate("${data.x.y}-${header.customFields.env}", context) == "deep-prod"
    assert evaluate("${content.type += '/' += content.id}", context) == "App/a-1"
    assert evaluate("${header.customFields.env.toUpperCase()}", context) == "PROD"
    assert evaluate("${data.missing.deeper}", context) is None
    assert evaluate("plain", context) == "plain"
    assert evaluate("n=${data.n}", context) == "n=3"
    for unsupported in ("${__import__('os')}", "${data.x()}", "${1 * 2}", "${data.tags[data.n]}"):
        with pytest.raises(ExpressionError):
            evaluate(unsupported, context)

"""ACCEPTANCE: every Integration API response the emulator sends validates against the OpenAPI spec.

The spec is loaded as reference/SOURCES.md explains; `$ref`s resolve against the spec document itself.
The documented exception: `POST /synchronizationRuns` answers one StatusResponse object, not an array.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft7Validator

from local.emulator import EmulatorConfig
from tests import HANDBOOK
from tests.emulator.services_support import admin_client
from tests.emulator.test_integration import BINDING, STANDARD_CONTENT, inbound_config, ldif
from tests.fixtures.emulator import AsgiEmulator

SPEC_PATH = Path(
    os.environ.get("LEANIX_HANDBOOK", str(HANDBOOK)), "reference", "integration-api.openapi.yaml"
)
BASE = "/services/integration-api/v1"


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    with SPEC_PATH.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    return loaded


class Contract:
    """Checks one response against the spec operation for (method, path template)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.checked: set[tuple[str, str]] = set()

    def schema_validator(self, schema: dict[str, Any]) -> Draft7Validator:
        # Resolve `#/components/...` against the spec itself by carrying its components in the root.
        return Draft7Validator({**schema, "components": self.spec["components"]})

    def check(
        self, method: str, template: str, response: httpx.Response, schema: dict[str, Any] | None = None
    ) -> None:
        operation = self.spec["paths"][template][method.lower()]
        responses = operation["responses"]
        declared = responses.get(response.status_code, responses.get(str(response.status_code)))
        if declared is None:
            declared = responses.get("default")
        assert declared is not None, f"{method} {template} answered {response.status_code}, not in the spec"
        content_schema = schema
        if content_schema is None:
            content_schema = declared.get("content", {}).get("application/json", {}).get("schema")
        if content_schema is not None:
            errors = sorted(self.schema_validator(content_schema).iter_errors(response.json()), key=str)
            assert not errors, f"{method} {template}: {errors[0].message}"
        self.checked.add((method.upper(), template))


async def test_every_integration_api_response_validates_against_the_spec(spec: dict[str, Any]) -> None:
    emu = AsgiEmulator(EmulatorConfig(seed="demo", run_step_delay_seconds=0.0))
    contract = Contract(spec)
    status_item = {"$ref": "#/components/schemas/StatusResponse"}
    runs = f"{BASE}/synchronizationRuns"

    async def finish(run_id: str) -> None:
        task = emu.state.integration.runs[run_id].task
        assert task is not None
        await task

    async with admin_client(emu) as client:
        response = await client.put(f"{BASE}/configurations", json=inbound_config())
        contract.check("PUT", "/configurations", response)
        response = await client.get(f"{BASE}/configurations", params=BINDING)
        contract.check("GET", "/configurations", response)

        response = await client.post(runs, json=ldif(STANDARD_CONTENT))
        contract.check("POST", "/synchronizationRuns", response, schema=status_item)  # documented exception
        run_id = response.json()["id"]
        for suffix in ("results", "resultsUrl", "progress", "status", "warnings"):
            contract.check(
                "GET", f"/synchronizationRuns/{{id}}/{suffix}", await client.get(f"{runs}/{run_id}/{suffix}")
            )
        contract.check("POST", "/synchronizationRuns/{id}/stop", await client.post(f"{runs}/{run_id}/stop"))
        contract.check("POST", "/synchronizationRuns/{id}/start", await client.post(f"{runs}/{run_id}/start"))
        contract.check("POST", "/synchronizationRuns/{id}/start", await client.post(f"{runs}/{run_id}/start"))
        await finish(run_id)
        for suffix in ("results", "resultsUrl", "progress", "status", "warnings"):
            contract.check(
                "GET", f"/synchronizationRuns/{{id}}/{suffix}", await client.get(f"{runs}/{run_id}/{suffix}")
            )
        for suffix in ("progress", "status", "results", "resultsUrl"):
            contract.check(
                "GET", f"/synchronizationRuns/{{id}}/{suffix}", await client.get(f"{runs}/not-a-run/{suffix}")
            )
        contract.check(
            "POST", "/synchronizationRuns/{id}/start", await client.post(f"{runs}/not-a-run/start")
        )
        contract.check("POST", "/synchronizationRuns/{id}/stop", await client.post(f"{runs}/not-a-run/stop"))

        pending = (await client.post(runs, params={"start": "true"}, json=ldif(STANDARD_CONTENT))).json()
        contract.check(
            "POST", "/synchronizationRuns/{id}/stop", await client.post(f"{runs}/{pending['id']}/stop")
        )
        await finish(pending["id"])

        response = await client.post(
            f"{runs}/withConfig",
            params={"start": "true"},
            json={"input": ldif(STANDARD_CONTENT), "processorConfiguration": inbound_config()},
        )
        contract.check("POST", "/synchronizationRuns/withConfig", response)
        await finish(response.json()["id"])

        outbound = {**BINDING, "connectorId": "export", "processingDirection": "outbound"}
        await client.put(
            f"{BASE}/configurations",
            json={**outbound, "processors": [{"processorType": "outboundFactSheet", "fields": ["name"]}]},
        )
        out_run = (
            await client.post(runs, params={"start": "true"}, json={**outbound, "lxVersion": "1.0.0"})
        ).json()
        await finish(out_run["id"])
        contract.check(
            "GET", "/synchronizationRuns/{id}/results", await client.get(f"{runs}/{out_run['id']}/results")
        )
        contract.check(
            "GET",
            "/synchronizationRuns/{id}/resultsUrl",
            await client.get(f"{runs}/{out_run['id']}/resultsUrl"),
        )

        contract.check("GET", "/synchronizationRuns", await client.get(runs))

        delete_params = {**outbound, "processingMode": "partial"}
        contract.check(
            "DELETE", "/configurations", await client.delete(f"{BASE}/configurations", params=delete_params)
        )
        contract.check(
            "DELETE", "/configurations", await client.delete(f"{BASE}/configurations", params=delete_params)
        )
        contract.check("DELETE", "/configurations", await client.delete(f"{BASE}/configurations"))

    implemented = {
        ("GET", "/configurations"),
        ("PUT", "/configurations"),
        ("DELETE", "/configurations"),
        ("GET", "/synchronizationRuns"),
        ("POST", "/synchronizationRuns"),
        ("POST", "/synchronizationRuns/{id}/start"),
        ("POST", "/synchronizationRuns/{id}/stop"),
        ("GET", "/synchronizationRuns/{id}/status"),
        ("GET", "/synchronizationRuns/{id}/progress"),
        ("GET", "/synchronizationRuns/{id}/results"),
        ("GET", "/synchronizationRuns/{id}/resultsUrl"),
        ("GET", "/synchronizationRuns/{id}/warnings"),
        ("POST", "/synchronizationRuns/withConfig"),
    }
    assert implemented <= contract.checked


async def test_with_url_input_response_validates(spec: dict[str, Any], tmp_path: Path) -> None:
    emu = AsgiEmulator(EmulatorConfig(seed="demo", run_step_delay_seconds=0.0))
    contract = Contract(spec)
    source = tmp_path / "ldif.json"
    source.write_text(json.dumps(ldif(STANDARD_CONTENT)), encoding="utf-8")
    async with admin_client(emu) as client:
        await client.put(f"{BASE}/configurations", json=inbound_config())
        response = await client.post(
            f"{BASE}/synchronizationRuns/withUrlInput", json={"url": source.as_uri()}
        )
        contract.check("POST", "/synchronizationRuns/withUrlInput", response)
        assert "processorConfiguration" in response.json()

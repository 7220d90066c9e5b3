"""Hypothesis fuzz of the emulator's service JSON endpoints (in-process ASGI): no input yields a 500."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.emulator import EmulatorConfig
from tests.fixtures.emulator import AsgiEmulator, fetch_bearer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "measurement", "workspaceId", "time", "tags", "fields", "k", "v", "s", "name", "attributes", "type",
        "timestamp", "eur", "connectorType", "connectorId", "connectorVersion", "processingDirection",
        "processingMode", "lxVersion", "content", "processors", "input", "processorConfiguration", "url",
        "deliveryType", "tagSets", "ignoreError", "targetUrl", "targetMethod", "payloadMode", "offset",
    ]
)  # fmt: skip
bodies = st.one_of(json_values, st.dictionaries(KEYS, json_values, max_size=8))
ENDPOINTS = [
    ("POST", "/services/metrics/v1/points"),
    ("POST", "/services/metrics/v2/schemas"),
    ("PUT", "/services/integration-api/v1/configurations"),
    ("POST", "/services/integration-api/v1/synchronizationRuns?start=true"),
    ("POST", "/services/integration-api/v1/synchronizationRuns/withConfig?start=true"),
    ("POST", "/services/integration-api/v1/synchronizationRuns/withUrlInput"),
    ("POST", "/services/webhooks/v1/subscriptions"),
    ("POST", "/services/webhooks/v1/events"),
]


class Harness:
    """One emulator and one bearer for all examples; each example runs on a fresh event loop."""

    def __init__(self) -> None:
        self.emu = AsgiEmulator(EmulatorConfig(seed="empty", run_step_delay_seconds=0.0))
        self.bearer = asyncio.run(self._bearer())

    async def _bearer(self) -> str:
        async with self.emu.client() as client:
            return await fetch_bearer(client, self.emu.api_token)

    def send(self, method: str, path: str, body: Any, raw: bytes | None = None) -> int:
        async def go() -> int:
            async with self.emu.client(headers={"Authorization": f"Bearer {self.bearer}"}) as client:
                # json.dumps (not httpx's json=) so NaN/Infinity reach the server as Python emits them.
                content = raw if raw is not None else json.dumps(body).encode()
                headers = {"Content-Type": "application/json"}
                response = await client.request(method, path, content=content, headers=headers)
                if path.endswith("/schemas") and response.status_code == 201:
                    schema = response.json()["uuid"]
                    await client.post(f"/services/metrics/v2/schemas/{schema}/points", json=body)
                return response.status_code

        return asyncio.run(go())


HARNESS: Harness | None = None


def harness() -> Harness:
    global HARNESS
    if HARNESS is None:
        HARNESS = Harness()
    return HARNESS


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
def test_json_endpoints_never_answer_500(endpoint: tuple[str, str], body: Any) -> None:
    method, path = endpoint
    status = harness().send(method, path, body)
    assert status < 500, (method, path, body)


@settings(max_examples=40, deadline=None)
@given(endpoint=st.sampled_from(ENDPOINTS), raw=st.binary(max_size=40))
def test_malformed_bodies_are_4xx(endpoint: tuple[str, str], raw: bytes) -> None:
    method, path = endpoint
    status = harness().send(method, path, None, raw=raw)
    assert status < 500


def test_v2_points_fuzz_against_a_schema() -> None:
    async def go() -> None:
        h = harness()
        async with h.emu.client(headers={"Authorization": f"Bearer {h.bearer}"}) as client:
            created = await client.post(
                "/services/metrics/v2/schemas",
                json={
                    "name": "fuzz",
                    "attributes": [{"name": "eur", "type": "metric"}, {"name": "d", "type": "dimension"}],
                },
            )
            uuid = created.json()["uuid"] if created.status_code == 201 else None
            assert uuid is not None
            for body in (
                {"timestamp": "0001-01-01T00:00:00+14:00", "eur": 1},
                {"timestamp": 5},
                [],
                {"eur": 1e400},
            ):
                response = await client.post(
                    f"/services/metrics/v2/schemas/{uuid}/points",
                    content=json.dumps(body).encode(),
                )
                assert response.status_code == 400

    asyncio.run(go())

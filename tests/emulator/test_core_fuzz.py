"""Hypothesis fuzzing of the emulator's token, GraphQL and MTM JSON endpoints: never a 500."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.emulator import EmulatorConfig, create_app
from local.emulator.app import EmulatorApp
from tests.fixtures.emulator import GRAPHQL_PATH, TOKEN_PATH, basic_auth_header

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


class Client:
    """A synchronous face over `httpx.ASGITransport` (hypothesis drives sync tests)."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.headers: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as client:
                headers = {**self.headers, **kwargs.pop("headers", {})}
                return await client.request(method, path, headers=headers, **kwargs)

        return asyncio.run(send())

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture(scope="module")
def client() -> Client:
    app = create_app(EmulatorConfig(seed="empty", rate_limit_per_minute=1_000_000))
    fuzz_client = Client(app)
    response = fuzz_client.post(
        TOKEN_PATH,
        data={"grant_type": "client_credentials"},
        headers=basic_auth_header(app.emulator.api_token),
    )
    fuzz_client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return fuzz_client


@FUZZ
@given(
    body=st.binary(max_size=200) | st.text(max_size=100).map(str.encode),
    auth=st.text(max_size=60),
    query=st.text(max_size=40),
    content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain", ""]),
)
def test_token_endpoint_never_500(
    client: Client, body: bytes, auth: str, query: str, content_type: str
) -> None:
    printable = "".join(c for c in auth if c.isascii() and c.isprintable())
    headers = {"Authorization": printable, "Content-Type": content_type}
    response = client.post(TOKEN_PATH, content=body, headers=headers, params={"grant_type": query})
    assert response.status_code < 500


graphql_fragments = st.sampled_from(
    [
        "{",
        "}",
        "allFactSheets",
        "factSheet(id: $id)",
        "(first: -1)",
        '(after: "x")',
        "{ edges { node { id } } }",
        "mutation",
        'updateFactSheet(id: "x", patches: [{op: add, path: "/tags", value: "["}])',
        "... on Application { functionalSuitability }",
        "query($id: ID!)",
        "allTags",
        "totalCount",
        'createTag(name: "")',
        'createFactSheet(input: {name: "", type: Application})',
    ]
)


@FUZZ
@given(
    parts=st.lists(graphql_fragments | st.text(max_size=10), max_size=8),
    variables=json_values,
    operation=st.none() | st.text(max_size=5) | st.integers(),
)
def test_graphql_endpoint_never_500(client: Client, parts: list[str], variables: Any, operation: Any) -> None:
    body = {"query": " ".join(parts), "variables": variables, "operationName": operation}
    response = client.post(GRAPHQL_PATH, content=json.dumps(body))
    assert response.status_code < 500
    assert response.status_code in (200, 400)


patch_values = st.one_of(
    st.none(),
    st.text(max_size=30),
    json_values.map(json.dumps),
    st.sampled_from(['{"factSheetId": "x"}', '[{"tagId": "x"}]', '[{"tagName": ""}]', '{"phases": [{}]}']),
)
patch_paths = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "/name",
            "/tags",
            "/status",
            "/externalId",
            "/lifecycle",
            "/lifecycle/plan",
            "/relToParent/new_1",
            "/relApplicationToITComponent/new_1",
            "/functionalSuitability",
            "/description",
            "/relToChild/x",
        ]
    ),
)


@FUZZ
@given(
    patches=st.lists(
        st.fixed_dictionaries(
            {"op": st.sampled_from(["add", "replace", "remove"]), "path": patch_paths, "value": patch_values}
        ),
        max_size=4,
    ),
    rev=st.none() | st.integers(min_value=-5, max_value=5),
)
def test_update_fact_sheet_patches_never_500(client: Client, patches: list[dict[str, Any]], rev: Any) -> None:
    created = client.post(
        GRAPHQL_PATH,
        json={"query": 'mutation{createFactSheet(input:{name:"Fuzz", type: Application}){factSheet{id}}}'},
    )
    fs_id = created.json()["data"]["createFactSheet"]["factSheet"]["id"]
    query = (
        "mutation($id: ID!, $rev: Long, $p: [Patch]!)"
        "{updateFactSheet(id:$id, rev:$rev, patches:$p){factSheet{id rev}}}"
    )
    response = client.post(
        GRAPHQL_PATH, json={"query": query, "variables": {"id": fs_id, "rev": rev, "p": patches}}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None or body["data"]["updateFactSheet"] is None or "errors" not in body


@FUZZ
@given(
    method_path=st.sampled_from(
        [
            ("POST", "/services/mtm/v1/technicalusers"),
            ("GET", "/services/mtm/v1/technicalusers"),
            ("PUT", "/services/mtm/v1/technicalusers/x/replaceToken"),
            ("GET", "/services/mtm/v1/technicalusers/x"),
            ("POST", "/_emulator/faults"),
            ("POST", "/_emulator/config"),
            ("POST", "/_emulator/events/trigger"),
            ("POST", "/_emulator/bulk"),
        ]
    ),
    body=json_values,
    params=st.dictionaries(
        st.sampled_from(["page", "size", "queryUserName"]), st.text(max_size=6), max_size=3
    ),
)
def test_mtm_and_control_json_endpoints_never_500(
    client: Client, method_path: tuple[str, str], body: Any, params: dict[str, str]
) -> None:
    method, path = method_path
    response = client.request(method, path, content=json.dumps(body), params=params)
    assert response.status_code < 500
    client.delete("/_emulator/faults")
    client.post("/_emulator/config", json={"rate_limit_per_minute": 1_000_000})

"""Pathfinder GraphQL of the emulator, spoken with plain httpx (no client library)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from local.emulator import RunningEmulator
from local.emulator.state import ChangeEvent
from tests.fixtures.emulator import GRAPHQL_PATH, AsgiEmulator, fetch_bearer

PAGE_QUERY = """
query Page($first: Int, $after: String) {
  allFactSheets(first: $first, after: $after, factSheetType: Application) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name } }
  }
}"""
UPDATE = """
mutation Update($id: ID!, $rev: Long, $patches: [Patch]!) {
  result: updateFactSheet(id: $id, rev: $rev, comment: "test", patches: $patches) {
    factSheet { id rev name status tags { id name tagGroup { name } }
      ... on Application {
        functionalSuitability
        relApplicationToITComponent { edges { node { id factSheet { id name } } } }
      }
    }
  }
}"""


class Gql:
    def __init__(self, client: httpx.AsyncClient, bearer: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {bearer}"}

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return await self.client.post(
            GRAPHQL_PATH, json={"query": query, "variables": variables or {}}, headers=self.headers
        )

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def _gql(emu: AsgiEmulator, client: httpx.AsyncClient) -> Gql:
    return Gql(client, await fetch_bearer(client, emu.api_token))


def _first_app(emu: AsgiEmulator) -> Any:
    return emu.state.workspace.list_fact_sheets("Application")[0]


async def test_paging_5000_fact_sheets_over_real_http(emulator: RunningEmulator) -> None:
    emulator.state.bulk_create("Application", 5000)
    expected = len(emulator.state.workspace.list_fact_sheets("Application"))
    seen: list[str] = []
    async with httpx.AsyncClient(base_url=emulator.base_url, timeout=30) as client:
        gql = Gql(client, await fetch_bearer(client, emulator.api_token))
        after: str | None = ""  # the first page may be sent as "", null or omitted
        while True:
            data = (await gql(PAGE_QUERY, {"first": 1000, "after": after}))["data"]["allFactSheets"]
            assert data["totalCount"] == expected
            seen.extend(edge["node"]["id"] for edge in data["edges"])
            if not data["pageInfo"]["hasNextPage"]:
                break
            after = data["pageInfo"]["endCursor"]
    assert len(seen) == expected
    assert len(set(seen)) == expected


async def test_page_after_the_last_cursor_is_empty(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        gql = await _gql(emulator_asgi, client)
        page = (await gql(PAGE_QUERY, {"first": 50, "after": None}))["data"]["allFactSheets"]
        assert page["pageInfo"]["hasNextPage"] is False
        rest = (await gql(PAGE_QUERY, {"first": 50, "after": page["pageInfo"]["endCursor"]}))["data"]
    assert rest["allFactSheets"]["edges"] == []


async def test_invalid_cursor_is_a_graphql_error(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        body = await (await _gql(emulator_asgi, client))(PAGE_QUERY, {"first": 5, "after": "%%%"})
    assert body["errors"][0]["message"].startswith("Invalid cursor")


async def test_stale_rev_gives_revision_clash_with_http_200(emulator_asgi: AsgiEmulator) -> None:
    app = _first_app(emulator_asgi)
    patches = [{"op": "replace", "path": "/description", "value": "new"}]
    async with emulator_asgi.client() as client:
        gql = await _gql(emulator_asgi, client)
        body = await gql(UPDATE, {"id": app.id, "rev": app.rev - 1, "patches": patches})
    assert body["data"] == {"result": None}
    error = body["errors"][0]
    assert (
        error["message"] == f"DB revision of Fact Sheet has changed: {app.rev} instead of given {app.rev - 1}"
    )
    assert error["extensions"]["errorType"] == "REVISION_CLASH"
    assert error["errorType"] == "REVISION_CLASH"
    assert error["path"] == ["result"]
    assert app.write_count == 0


async def test_update_bumps_rev_once_and_a_no_op_changes_nothing(emulator_asgi: AsgiEmulator) -> None:
    app = _first_app(emulator_asgi)
    rev = app.rev
    events: list[ChangeEvent] = []
    emulator_asgi.state.workspace.add_listener(events.append)
    patches = [{"op": "replace", "path": "/functionalSuitability", "value": "perfect"}]
    async with emulator_asgi.client() as client:
        gql = await _gql(emulator_asgi, client)
        first = await gql(UPDATE, {"id": app.id, "rev": rev, "patches": patches})
        second = await gql(UPDATE, {"id": app.id, "patches": patches})
    assert first["data"]["result"]["factSheet"]["rev"] == rev + 1
    assert first["data"]["result"]["factSheet"]["functionalSuitability"] == "perfect"
    assert second["data"]["result"]["factSheet"]["rev"] == rev + 1
    assert app.write_count == 1
    assert [e.event_type for e in events] == ["FACT_SHEET_UPDATED"]
    assert events[0].fact_sheet["id"] == app.id
    assert events[0].payload_type == "FactSheetUpdatedEvent"


async def test_tag_patches_add_remove_replace_and_single_select_guard(emulator_asgi: AsgiEmulator) -> None:
    ws = emulator_asgi.state.workspace
    app = _first_app(emulator_asgi)
    invest = ws.find_tag("TIME", "Invest")
    migrate = ws.find_tag("TIME", "Migrate")
    assert invest is not None
    assert migrate is not None

    def tags(op: str, *ids: str) -> list[dict[str, str]]:
        return [{"op": op, "path": "/tags", "value": json.dumps([{"tagId": i} for i in ids])}]

    async with emulator_asgi.client() as client:
        gql = await _gql(emulator_asgi, client)
        added = await gql(UPDATE, {"id": app.id, "patches": tags("add", invest.id)})
        names = {t["name"] for t in added["data"]["result"]["factSheet"]["tags"]}
        assert "Invest" in names
        clash = await gql(UPDATE, {"id": app.id, "patches": tags("add", migrate.id)})
        assert clash["data"]["result"] is None
        assert clash["errors"][0]["extensions"]["errorType"] == "CONSTRAINT_VIOLATION"
        swapped = await gql(
            UPDATE, {"id": app.id, "patches": tags("remove", invest.id) + tags("add", migrate.id)}
        )
        names = {t["name"] for t in swapped["data"]["result"]["factSheet"]["tags"]}
        assert "Migrate" in names
        assert "Invest" not in names
        replaced = await gql(UPDATE, {"id": app.id, "patches": tags("replace", invest.id)})
        assert [t["name"] for t in replaced["data"]["result"]["factSheet"]["tags"]] == ["Invest"]
        by_name = [{"op": "add", "path": "/tags", "value": json.dumps([{"tagName": "Fresh"}])}]
        created = await gql(UPDATE, {"id": app.id, "patches": by_name})
    fresh = [t for t in created["data"]["result"]["factSheet"]["tags"] if t["name"] == "Fresh"]
    assert fresh
    assert fresh[0]["tagGroup"] is None


async def test_archive_hides_the_fact_sheet_and_emits_archived(emulator_asgi: AsgiEmulator) -> None:
    app = _first_app(emulator_asgi)
    events: list[ChangeEvent] = []
    emulator_asgi.state.workspace.add_listener(events.append)
    archive = [{"op": "replace", "path": "/status", "value": "ARCHIVED"}]
    async with emulator_asgi.client() as client:
        gql = await _gql(emulator_asgi, client)
        result = await gql(UPDATE, {"id": app.id, "patches": archive})
        page = (await gql(PAGE_QUERY, {"first": 100}))["data"]["allFactSheets"]
        trash = await gql(
            '{allFactSheets(filter:{facetFilters:[{facetKey:"TrashBin",keys:["archived"]}]}){edges{node{id}}}}'
        )
    assert result["data"]["result"]["factSheet"]["status"] == "ARCHIVED"
    assert app.id not in {e["node"]["id"] for e in page["edges"]}
    assert [e["node"]["id"] for e in trash["data"]["allFactSheets"]["edges"]] == [app.id]
    assert [e.event_type for e in events] == ["FACT_SHEET_ARCHIVED"]


async def test_relation_add_and_remove(emulator_asgi: AsgiEmulator) -> None:
    ws = emulator_asgi.state.workspace
    app = ws.create_fact_sheet("Application", "Lonely App")
    itc = ws.list_fact_sheets("ITComponent")[0]
    add = [
        {
            "op": "add",
            "path": "/relApplicationToITComponent/new_1",
            "value": json.dumps({"factSheetId": itc.id}),
        }
    ]
    async with emulator_asgi.client() as client:
        gql = await _gql(emulator_asgi, client)
        added = await gql(UPDATE, {"id": app.id, "patches": add})
        edges = added["data"]["result"]["factSheet"]["relApplicationToITComponent"]["edges"]
        assert [e["node"]["factSheet"]["id"] for e in edges] == [itc.id]
        rel_id = edges[0]["node"]["id"]
        assert rel_id not in (app.id, itc.id)
        duplicate = await gql(UPDATE, {"id": app.id, "patches": add})
        assert "already exists" in duplicate["errors"][0]["message"]
        inverse = await gql(
            "query($id: ID!){factSheet(id:$id){... on ITComponent{"
            "relITComponentToApplication{edges{node{factSheet{id}}}}}}}",
            {"id": itc.id},
        )
        inverse_ids = [
            e["node"]["factSheet"]["id"]
            for e in inverse["data"]["factSheet"]["relITComponentToApplication"]["edges"]
        ]
        assert app.id in inverse_ids
        remove = [{"op": "remove", "path": f"/relApplicationToITComponent/{rel_id}"}]
        removed = await gql(UPDATE, {"id": app.id, "patches": remove})
    assert removed["data"]["result"]["factSheet"]["relApplicationToITComponent"]["edges"] == []


async def test_invalid_patch_values_are_graphql_errors_and_change_nothing(
    emulator_asgi: AsgiEmulator,
) -> None:
    app = _first_app(emulator_asgi)
    rev = app.rev
    bad_patches = [
        [{"op": "replace", "path": "/functionalSuitability", "value": "excellent"}],
        [{"op": "replace", "path": "/noSuchField", "value": "x"}],
        [{"op": "add", "path": "/tags", "value": "not json"}],
        [{"op": "replace", "path": "/status", "value": "GONE"}],
        [{"op": "add", "path": "/relApplicationToITComponent/new_1", "value": '{"factSheetId": "missing"}'}],
        [
            {"op": "replace", "path": "/description", "value": "would change"},
            {"op": "replace", "path": "/technicalSuitability", "value": "nope"},
        ],
    ]
    async with emulator_asgi.client() as client:
        gql = await _gql(emulator_asgi, client)
        for patches in bad_patches:
            body = await gql(UPDATE, {"id": app.id, "patches": patches})
            assert body["data"]["result"] is None, patches
            assert body["errors"], patches
    assert app.rev == rev
    assert app.fields.get("description") != "would change"


async def test_invalid_queries_get_errors_never_500(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        gql = await _gql(emulator_asgi, client)
        syntax = await gql("{ allFactSheets(")
        unknown = await gql("{ allFactSheets { edges { node { id noSuchField } } } }")
        outside_fragment = await gql("{ allFactSheets { edges { node { functionalSuitability } } } }")
        not_json = await client.post(GRAPHQL_PATH, content=b"{", headers=gql.headers)
        no_query = await client.post(GRAPHQL_PATH, json={"variables": {}}, headers=gql.headers)
    for body in (syntax, unknown, outside_fragment):
        assert body["data"] is None
        assert body["errors"][0]["message"]
    assert syntax["errors"][0]["locations"]
    assert not_json.status_code == 400
    assert no_query.status_code == 400


async def test_create_fact_sheet_with_patches_and_external_id_lookup(emulator_asgi: AsgiEmulator) -> None:
    mutation = """mutation($patches: [Patch]) {
      createFactSheet(input: {name: "Billing", type: Application}, patches: $patches) {
        factSheet { id rev name type
          ... on Application { externalId { externalId } technicalSuitability } } } }"""
    patches = [
        {"op": "replace", "path": "/externalId", "value": json.dumps({"externalId": "SN-4711"})},
        {"op": "replace", "path": "/technicalSuitability", "value": "adequate"},
    ]
    async with emulator_asgi.client() as client:
        gql = await _gql(emulator_asgi, client)
        body = await gql(mutation, {"patches": patches})
        again = await gql(mutation, {"patches": patches})
    fs = body["data"]["createFactSheet"]["factSheet"]
    assert fs["rev"] == 1
    assert fs["externalId"] == {"externalId": "SN-4711"}
    assert fs["technicalSuitability"] == "adequate"
    found = emulator_asgi.state.workspace.find_by_external_id("Application", "SN-4711")
    assert found is not None
    assert found.id == fs["id"]
    assert again["errors"][0]["extensions"]["errorType"] == "CONSTRAINT_VIOLATION"


async def test_tags_and_tag_groups(emulator_asgi: AsgiEmulator) -> None:
    async with emulator_asgi.client() as client:
        gql = await _gql(emulator_asgi, client)
        time_tags = await gql('{allTags(filter:{tagGroupName:"TIME"}){edges{node{name tagGroup{name}}}}}')
        group = await gql(
            'mutation{createTagGroup(name:"Cost", mode:SINGLE, restrictToFactSheetTypes:[Application])'
            "{id name mode}}"
        )
        group_id = group["data"]["createTagGroup"]["id"]
        tag = await gql(
            'mutation($g: ID){createTag(name:"High", color:"#ff0000", tagGroupId:$g)'
            "{id name tagGroup{name}}}",
            {"g": group_id},
        )
        groups = await gql("{allTagGroups{edges{node{name mode tags{edges{node{name}}}}}}}")
    names = sorted(e["node"]["name"] for e in time_tags["data"]["allTags"]["edges"])
    assert names == ["Eliminate", "Invest", "Migrate", "Tolerate"]
    assert group["data"]["createTagGroup"]["mode"] == "SINGLE"
    assert tag["data"]["createTag"]["tagGroup"]["name"] == "Cost"
    cost = [g["node"] for g in groups["data"]["allTagGroups"]["edges"] if g["node"]["name"] == "Cost"]
    assert [t["node"]["name"] for t in cost[0]["tags"]["edges"]] == ["High"]


async def test_facet_filters_and_full_text_search(emulator_asgi: AsgiEmulator) -> None:
    query = """query($filter: FilterInput){allFactSheets(filter:$filter){totalCount edges{node{id name}}}}"""
    ws = emulator_asgi.state.workspace
    linked = {
        rel.source_id for rel in ws.relations.values() if rel.type.name == "relApplicationToITComponent"
    }
    async with emulator_asgi.client() as client:
        gql = await _gql(emulator_asgi, client)
        with_itc = await gql(
            query,
            {
                "filter": {
                    "facetFilters": [
                        {"facetKey": "FactSheetTypes", "keys": ["Application"]},
                        {
                            "facetKey": "relApplicationToITComponent",
                            "operator": "NOR",
                            "keys": ["__missing__"],
                        },
                    ]
                }
            },
        )
        text = await gql(query, {"filter": {"fullTextSearch": "salesforce"}})
        too_many = await gql(query, {"filter": {"ids": [str(i) for i in range(1025)]}})
    ids = {e["node"]["id"] for e in with_itc["data"]["allFactSheets"]["edges"]}
    assert ids == linked
    assert {e["node"]["name"] for e in text["data"]["allFactSheets"]["edges"]} == {
        "Salesforce Sales Cloud",
        "Salesforce Service Cloud",
        "Salesforce Marketing Cloud",
    }
    assert too_many["errors"]


async def test_viewer_cannot_write(emulator_asgi: AsgiEmulator) -> None:
    viewer = emulator_asgi.state.create_technical_user("viewer", "VIEWER")
    app = _first_app(emulator_asgi)
    async with emulator_asgi.client() as client:
        gql = Gql(client, await fetch_bearer(client, viewer.token))
        body = await gql(
            UPDATE, {"id": app.id, "patches": [{"op": "replace", "path": "/name", "value": "x"}]}
        )
    assert body["data"]["result"] is None
    assert body["errors"][0]["extensions"]["errorType"] == "ACCESS_DENIED"

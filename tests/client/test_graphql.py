"""GraphQL: errors in an HTTP 200, revision clashes, Relay paging, patches."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from shared.leanix import GraphQLError, Patch, RevisionClash, tag_ids_patch
from shared.leanix.graphql import GRAPHQL_PATH

from .conftest import ClientFactory, FakeLeanIX


def answer(fake: FakeLeanIX, body: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=body)

    fake.route("POST", GRAPHQL_PATH)(handler)
    return sent


async def test_errors_in_an_http_200_raise_graphql_error(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    answer(fake, {"data": None, "errors": [{"message": "Validation error: no field 'x'", "locations": []}]})
    async with make_client() as client:
        with pytest.raises(GraphQLError, match="no field 'x'") as caught:
            await client.graphql.execute("{ x }")
    assert not isinstance(caught.value, RevisionClash)
    assert caught.value.errors[0]["message"].startswith("Validation error")


@pytest.mark.parametrize(
    "error",
    [
        {
            "message": "DB revision of Fact Sheet has changed: 9 instead of given 8",
            "extensions": {"errorType": "REVISION_CLASH"},
        },
        {"message": "DB revision of Fact Sheet has changed", "errorType": "REVISION_CLASH"},
    ],
    ids=["extensions", "top-level"],
)
async def test_revision_clash_raises_revision_clash(
    error: dict[str, Any], fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    answer(fake, {"data": {"result": None}, "errors": [error]})
    async with make_client() as client:
        with pytest.raises(RevisionClash) as caught:
            await client.graphql.update_fact_sheet(
                "fs-1", [Patch(op="replace", path="/name", value="X")], rev=8
            )
    assert caught.value.error_types == ["REVISION_CLASH"]


@pytest.mark.parametrize("errors", [None, []])
async def test_null_or_empty_errors_are_success(
    errors: Any, fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    answer(fake, {"data": {"factSheet": {"id": "fs-1", "rev": 3}}, "errors": errors})
    async with make_client() as client:
        assert await client.graphql.get_fact_sheet("fs-1") == {"id": "fs-1", "rev": 3}


async def test_iter_fact_sheets_follows_cursors_across_three_pages(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    pages = {
        None: (["a", "b"], True, "c1"),
        "c1": (["c", "d"], True, "c2"),
        "c2": (["e"], False, "c3"),
    }
    afters: list[Any] = []

    @fake.route("POST", GRAPHQL_PATH)
    def page(request: httpx.Request) -> httpx.Response:
        variables = json.loads(request.content)["variables"]
        afters.append(variables["after"])
        ids, more, cursor = pages[variables["after"]]
        return httpx.Response(
            200,
            json={
                "data": {
                    "allFactSheets": {
                        "totalCount": 5,
                        "pageInfo": {"hasNextPage": more, "endCursor": cursor},
                        "edges": [{"node": {"id": i}} for i in ids],
                    }
                }
            },
        )

    async with make_client() as client:
        ids = [
            node["id"]
            async for node in client.graphql.iter_fact_sheets(fact_sheet_type="Application", page_size=2)
        ]
    assert ids == ["a", "b", "c", "d", "e"]
    assert afters == [None, "c1", "c2"]


async def test_iter_fact_sheets_filters_by_type_and_stops_on_a_stuck_cursor(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    body = {"data": {"allFactSheets": {"pageInfo": {"hasNextPage": True, "endCursor": None}, "edges": []}}}
    sent = answer(fake, body)
    async with make_client() as client:
        with pytest.raises(Exception, match="no new cursor"):
            _ = [n async for n in client.graphql.iter_fact_sheets(fact_sheet_type="Application")]
    facets = sent[0]["variables"]["filter"]["facetFilters"]
    assert facets == [{"facetKey": "FactSheetTypes", "operator": "OR", "keys": ["Application"]}]


async def test_update_fact_sheet_sends_rev_comment_and_string_patches(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    sent = answer(fake, {"data": {"result": {"factSheet": {"id": "fs-1", "rev": 13}}}})
    async with make_client() as client:
        result = await client.graphql.update_fact_sheet(
            "fs-1", [tag_ids_patch("replace", ["t1", "t2"])], rev=12, comment="TIME"
        )
    assert result == {"id": "fs-1", "rev": 13}
    variables = sent[0]["variables"]
    assert variables["rev"] == 12
    assert variables["comment"] == "TIME"
    assert variables["patches"] == [
        {"op": "replace", "path": "/tags", "value": '[{"tagId":"t1"},{"tagId":"t2"}]'}
    ]
    assert "updateFactSheet" in sent[0]["query"]


async def test_a_mutation_is_not_replayed_after_a_server_error(
    fake: FakeLeanIX, make_client: ClientFactory
) -> None:
    calls = [0]

    @fake.route("POST", GRAPHQL_PATH)
    def fail(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        return httpx.Response(502)

    async with make_client() as client:
        with pytest.raises(Exception, match="502"):
            await client.graphql.create_fact_sheet("Billing", "Application")
        assert calls[0] == 1  # a mutation is sent once
        calls[0] = 0
        with pytest.raises(Exception, match="502"):
            await client.graphql.execute("{ allTags { edges { node { id } } } }")
    assert calls[0] == 6  # a query is retried (1 + 5)


async def test_tag_groups_flatten_their_tag_connection(fake: FakeLeanIX, make_client: ClientFactory) -> None:
    node = {
        "id": "g1",
        "name": "TIME",
        "mode": "SINGLE",
        "tags": {"edges": [{"node": {"id": "t1", "name": "Invest"}}]},
    }
    answer(fake, {"data": {"allTagGroups": {"edges": [{"node": node}]}}})
    async with make_client() as client:
        (group,) = await client.graphql.all_tag_groups()
    assert group.name == "TIME"
    assert [t.name for t in group.tags] == ["Invest"]

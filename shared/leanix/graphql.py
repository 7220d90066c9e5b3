"""Pathfinder GraphQL (`/services/pathfinder/v1/graphql`): queries, paging, patches, tags.

Shapes follow reference/graphql-shapes.md. GraphQL failures arrive as HTTP 200 with `errors`;
they raise `GraphQLError`, or `RevisionClash` for `REVISION_CLASH` (re-read `rev` and retry).
Queries are retried like any idempotent request; mutations only where a replay is harmless
(see `update_fact_sheet`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import field_validator

from shared.leanix.errors import GraphQLError, LeanIXError, RevisionClash, error_type
from shared.leanix.models import LeanIXModel

if TYPE_CHECKING:
    from shared.leanix.client import LeanIXClient

GRAPHQL_PATH = "/services/pathfinder/v1/graphql"
DEFAULT_FACT_SHEET_FIELDS = "id rev name displayName type"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

PatchOp = Literal["add", "replace", "remove"]


class Patch(LeanIXModel):
    """One `updateFactSheet` patch. `value` is always a string (objects and arrays JSON-encoded)."""

    op: PatchOp
    path: str
    value: str | None = None

    @classmethod
    def json_value(cls, op: PatchOp, path: str, value: Any) -> Patch:
        """A patch whose `value` is `value` JSON-encoded (for objects, arrays, relations, tags)."""
        return cls(op=op, path=path, value=json.dumps(value, separators=(",", ":")))


def tag_ids_patch(op: PatchOp, tag_ids: Iterable[str]) -> Patch:
    """A `/tags` patch adding, removing or replacing tags by id."""
    return Patch.json_value(op, "/tags", [{"tagId": tag_id} for tag_id in tag_ids])


class Tag(LeanIXModel):
    """A tag; `tag_group` is None for ungrouped ("other") tags."""

    id: str
    name: str
    color: str | None = None
    description: str | None = None
    status: str | None = None
    tag_group: TagGroupRef | None = None


class TagGroupRef(LeanIXModel):
    """The tag group a tag belongs to, as nested in a tag."""

    id: str | None = None
    name: str | None = None
    short_name: str | None = None
    mode: str | None = None


class TagGroup(LeanIXModel):
    """A tag group with its tags (the connection is flattened into a list)."""

    id: str
    name: str
    short_name: str | None = None
    mode: str | None = None
    description: str | None = None
    restrict_to_fact_sheet_types: list[str] | None = None
    tags: list[Tag] = []

    @field_validator("tags", mode="before")
    @classmethod
    def _flatten_connection(cls, value: Any) -> Any:
        return _nodes(value) if isinstance(value, dict) else (value or [])


Tag.model_rebuild()

TAG_FIELDS = "id name color description status tagGroup { id name shortName mode }"
TAG_GROUP_FIELDS = (
    "id name shortName mode description restrictToFactSheetTypes"
    " tags { edges { node { id name color status } } }"
)


def _nodes(connection: Any) -> list[Any]:
    """The nodes of a Relay connection (`{edges: [{node}]}`), tolerating a plain list."""
    if isinstance(connection, list):
        return connection
    if not isinstance(connection, dict):
        return []
    return [edge.get("node") for edge in connection.get("edges") or [] if isinstance(edge, dict)]


def raise_for_errors(body: Any) -> dict[str, Any]:
    """Return `body["data"]`, raising `RevisionClash` / `GraphQLError` when `errors` is non-empty."""
    if not isinstance(body, dict):
        raise LeanIXError("LeanIX GraphQL answered a body that is not a JSON object")
    errors = body.get("errors")
    data = body.get("data")
    if errors:
        entries = [e if isinstance(e, dict) else {"message": str(e)} for e in errors]
        if any(error_type(e) == "REVISION_CLASH" for e in entries):
            raise RevisionClash(entries, data)
        raise GraphQLError(entries, data)
    return data if isinstance(data, dict) else {}


class GraphQLClient:
    """Pathfinder GraphQL. Reached as `client.graphql`."""

    def __init__(self, client: LeanIXClient) -> None:
        self._client = client

    async def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        mutation: bool = False,
        idempotent: bool | None = None,
        operation_name: str | None = None,
    ) -> dict[str, Any]:
        """Run a query or mutation and return `data`.

        Queries are retried on transient failures; a mutation is retried only after failures that
        happened before it was sent, unless `idempotent=True` says a replay is harmless.
        Raises `GraphQLError` / `RevisionClash` for errors in an HTTP 200.
        """
        payload: dict[str, Any] = {"query": query, "variables": variables or {}}
        if operation_name:
            payload["operationName"] = operation_name
        safe = (not mutation) if idempotent is None else idempotent
        body = await self._client.request_json("POST", GRAPHQL_PATH, json=payload, idempotent=safe)
        return raise_for_errors(body)

    async def iter_fact_sheets(
        self,
        fields: str = DEFAULT_FACT_SHEET_FIELDS,
        *,
        fact_sheet_type: str | None = None,
        filter: dict[str, Any] | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every fact sheet node matching the filter, page by page (`first`/`after` cursors).

        `fields` is the node selection (may include `... on Application { ... }`);
        `fact_sheet_type` adds a `FactSheetTypes` facet filter.
        """
        query_filter = dict(filter or {})
        if fact_sheet_type:
            facets = list(query_filter.get("facetFilters") or [])
            facets.append({"facetKey": "FactSheetTypes", "operator": "OR", "keys": [fact_sheet_type]})
            query_filter["facetFilters"] = facets
        query = (
            "query AllFactSheets($first: Int, $after: String, $filter: FilterInput) {"
            " allFactSheets(first: $first, after: $after, filter: $filter) {"
            " totalCount pageInfo { hasNextPage endCursor } edges { node { " + fields + " } } } }"
        )
        after: str | None = None
        while True:
            variables: dict[str, Any] = {"first": page_size, "after": after}
            variables["filter"] = query_filter or None
            data = await self.execute(query, variables)
            connection = data.get("allFactSheets") or {}
            for node in _nodes(connection):
                if isinstance(node, dict):
                    yield node
            page_info = connection.get("pageInfo") or {}
            if not page_info.get("hasNextPage"):
                return
            cursor = page_info.get("endCursor")
            if not cursor or cursor == after:
                raise LeanIXError(
                    "LeanIX GraphQL reported more fact sheets but no new cursor; stopping to avoid a loop"
                )
            after = cursor

    async def get_fact_sheet(
        self, fact_sheet_id: str, fields: str = DEFAULT_FACT_SHEET_FIELDS
    ) -> dict[str, Any] | None:
        """One fact sheet by id, or None when it does not exist."""
        query = "query FactSheet($id: ID!) { factSheet(id: $id) { " + fields + " } }"
        data = await self.execute(query, {"id": fact_sheet_id})
        node = data.get("factSheet")
        return node if isinstance(node, dict) else None

    async def update_fact_sheet(
        self,
        fact_sheet_id: str,
        patches: Sequence[Patch],
        *,
        rev: int | None = None,
        comment: str | None = None,
        validate_only: bool = False,
        fields: str = "id rev",
    ) -> dict[str, Any]:
        """Apply patches to a fact sheet and return the updated `factSheet` selection.

        With `rev`, LeanIX rejects a stale write with `RevisionClash`. Retried after a transient
        failure only when a replay is harmless: with `rev` (a replay of an applied write is
        rejected as a clash) or when every patch is a `replace` (same end state).
        """
        query = (
            "mutation UpdateFactSheet($id: ID!, $rev: Long, $patches: [Patch]!, $comment: String,"
            " $validateOnly: Boolean) { result: updateFactSheet(id: $id, rev: $rev, patches: $patches,"
            " comment: $comment, validateOnly: $validateOnly) { factSheet { " + fields + " } } }"
        )
        variables = {
            "id": fact_sheet_id,
            "rev": rev,
            "patches": [p.model_dump(exclude_none=True) for p in patches],
            "comment": comment,
            "validateOnly": validate_only,
        }
        idempotent = rev is not None or all(p.op == "replace" for p in patches)
        data = await self.execute(query, variables, mutation=True, idempotent=idempotent)
        return _fact_sheet_of(data.get("result"), "updateFactSheet")

    async def create_fact_sheet(
        self,
        name: str,
        fact_sheet_type: str,
        patches: Sequence[Patch] = (),
        *,
        validate_only: bool = False,
        fields: str = "id rev name type",
    ) -> dict[str, Any]:
        """Create a fact sheet (`input` holds only name and type; everything else goes in patches)."""
        _check_identifier(fact_sheet_type, "fact sheet type")
        query = (
            "mutation CreateFactSheet($input: BaseFactSheetInput!, $patches: [Patch],"
            " $validateOnly: Boolean) {"
            " result: createFactSheet(input: $input, patches: $patches, validateOnly: $validateOnly)"
            " { factSheet { " + fields + " } } }"
        )
        variables = {
            "input": {"name": name, "type": fact_sheet_type},
            "patches": [p.model_dump(exclude_none=True) for p in patches],
            "validateOnly": validate_only,
        }
        data = await self.execute(query, variables, mutation=True)
        return _fact_sheet_of(data.get("result"), "createFactSheet")

    async def all_tags(self, tag_group_name: str | None = None) -> list[Tag]:
        """Every tag, or those of one tag group."""
        if tag_group_name is None:
            query = "query AllTags { allTags { edges { node { " + TAG_FIELDS + " } } } }"
            data = await self.execute(query)
        else:
            query = (
                "query TagsOfGroup($group: String) { allTags(filter: {tagGroupName: $group}) {"
                " edges { node { " + TAG_FIELDS + " } } } }"
            )
            data = await self.execute(query, {"group": tag_group_name})
        return [Tag.model_validate(n) for n in _nodes(data.get("allTags")) if isinstance(n, dict)]

    async def all_tag_groups(self) -> list[TagGroup]:
        """Every tag group with its tags."""
        query = "query AllTagGroups { allTagGroups { edges { node { " + TAG_GROUP_FIELDS + " } } } }"
        data = await self.execute(query)
        return [TagGroup.model_validate(n) for n in _nodes(data.get("allTagGroups")) if isinstance(n, dict)]

    async def create_tag(
        self,
        name: str,
        *,
        tag_group_id: str | None = None,
        description: str | None = None,
        color: str | None = None,
    ) -> Tag:
        """Create a tag (ungrouped when `tag_group_id` is None)."""
        query = (
            "mutation CreateTag($name: String!, $tagGroupId: ID, $description: String, $color: String) {"
            " createTag(name: $name, tagGroupId: $tagGroupId, description: $description, color: $color)"
            " { " + TAG_FIELDS + " } }"
        )
        variables = {"name": name, "tagGroupId": tag_group_id, "description": description, "color": color}
        data = await self.execute(query, variables, mutation=True)
        return Tag.model_validate(data.get("createTag"))

    async def create_tag_group(
        self,
        name: str,
        *,
        mode: Literal["SINGLE", "MULTIPLE"] = "SINGLE",
        short_name: str | None = None,
        description: str | None = None,
        restrict_to_fact_sheet_types: Sequence[str] | None = None,
    ) -> TagGroup:
        """Create a tag group (SINGLE mode: at most one of its tags per fact sheet)."""
        query = (
            "mutation CreateTagGroup($name: String!, $mode: TagGroupModeEnum!, $shortName: String,"
            " $description: String, $types: [FactSheetType!]) { createTagGroup(name: $name, mode: $mode,"
            " shortName: $shortName, description: $description, restrictToFactSheetTypes: $types)"
            " { " + TAG_GROUP_FIELDS + " } }"
        )
        variables = {
            "name": name,
            "mode": mode,
            "shortName": short_name,
            "description": description,
            "types": list(restrict_to_fact_sheet_types) if restrict_to_fact_sheet_types else None,
        }
        data = await self.execute(query, variables, mutation=True)
        return TagGroup.model_validate(data.get("createTagGroup"))


def _fact_sheet_of(result: Any, operation: str) -> dict[str, Any]:
    if not isinstance(result, dict) or not isinstance(result.get("factSheet"), dict):
        raise LeanIXError(f"LeanIX GraphQL {operation} answered without a factSheet")
    fact_sheet: dict[str, Any] = result["factSheet"]
    return fact_sheet


def _check_identifier(value: str, what: str) -> None:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"{what} must be a GraphQL name like 'Application', got {value!r}")

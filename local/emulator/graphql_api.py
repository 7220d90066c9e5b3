"""Pathfinder GraphQL (`/services/pathfinder/v1/graphql`) on graphql-core, shapes per graphql-shapes.md.

The schema is built from SDL generated for the out-of-the-box fact sheet types. Resolvers are
plain attributes and methods of small view classes (graphql-core's default resolver calls them),
so a page of thousands of fact sheets costs little more than the fields it selects.
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
    execute,
    parse,
    validate,
)
from graphql.language import IntValueNode, StringValueNode, ValueNode
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from local.emulator.state import (
    BUSINESS_CRITICALITY,
    FACT_SHEET_TYPES,
    FUNCTIONAL_SUITABILITY,
    LIFECYCLE_PHASES,
    RELATION_NAMES,
    TECHNICAL_SUITABILITY,
    FactSheet,
    PatchError,
    Principal,
    Tag,
    TagGroup,
    Workspace,
    iso,
    relation_names_for,
)

if TYPE_CHECKING:
    from local.emulator.state import Emulator

GRAPHQL_PATH = "/services/pathfinder/v1/graphql"
MAX_PAGE = 20_000
MAX_IDS = 1024

_BASE_FIELDS = """
  id: ID!
  rev: Long!
  name: String
  displayName: String
  fullName: String
  type: String!
  description: String
  status: String
  level: Int
  lxState: String
  category: String
  alias: String
  createdAt: String
  updatedAt: String
  externalId: ExternalId
  lifecycle: Lifecycle
  tags: [Tag]
  subscriptions: EmptyConnection
  documents: EmptyConnection
  completion: Completion
  naFields: [String]
"""
_TYPE_FIELDS = {
    "Application": """
  release: String
  functionalSuitability: ApplicationFunctionalSuitability
  technicalSuitability: ApplicationTechnicalSuitability
  businessCriticality: ApplicationBusinessCriticality
""",
    "ITComponent": "  release: String\n",
    "Interface": "  release: String\n",
}


def _sdl() -> str:
    def enum(name: str, values: tuple[str, ...]) -> str:
        return f"enum {name} {{ {' '.join(values)} }}\n"

    parts = [
        "scalar Long\n",
        enum("FactSheetType", FACT_SHEET_TYPES),
        enum("FacetOperator", ("OR", "AND", "NOR")),
        enum("PatchOperation", ("add", "replace", "remove")),
        enum("TagGroupModeEnum", ("SINGLE", "MULTIPLE")),
        enum("SortMode", ("BY_FIELD",)),
        enum("SortOrder", ("asc", "desc")),
        enum("ApplicationFunctionalSuitability", FUNCTIONAL_SUITABILITY),
        enum("ApplicationTechnicalSuitability", TECHNICAL_SUITABILITY),
        enum("ApplicationBusinessCriticality", BUSINESS_CRITICALITY),
        """
input Patch { op: PatchOperation!, path: String!, value: String }
input FacetFilterInput { facetKey: String!, operator: FacetOperator, keys: [String] }
input FilterInput { facetFilters: [FacetFilterInput], fullTextSearch: String, quickSearch: String, ids: [ID] }
input Sorting { mode: SortMode, key: String, order: SortOrder }
input BaseFactSheetInput { name: String!, type: FactSheetType! }
input TagQueryFilters { tagGroupName: String, nameSubstring: String }

type PageInfo { hasNextPage: Boolean!, hasPreviousPage: Boolean!, startCursor: String, endCursor: String }
type ExternalId { externalId: String, comment: String, externalUrl: String, status: String, type: String,
  externalVersion: String }
type LifecyclePhase { phase: String, startDate: String, milestoneId: ID }
type Lifecycle { asString: String, phases: [LifecyclePhase] }
type Completion { completion: Float, percentage: Int }
type EmptyEdge { node: String }
type EmptyConnection { totalCount: Int, edges: [EmptyEdge] }
type Tag { id: ID!, name: String!, description: String, color: String, status: String, tagGroup: TagGroup }
type TagEdge { node: Tag, cursor: String }
type TagConnection { totalCount: Int!, pageInfo: PageInfo!, edges: [TagEdge] }
type TagGroup { id: ID!, name: String!, shortName: String, description: String, mode: TagGroupModeEnum,
  mandatory: Boolean, restrictToFactSheetTypes: [FactSheetType], tags: TagConnection }
type TagGroupEdge { node: TagGroup, cursor: String }
type TagGroupConnection { totalCount: Int!, pageInfo: PageInfo!, edges: [TagGroupEdge] }
type FactSheetRelation { id: ID!, type: String, factSheet: BaseFactSheet, activeFrom: String,
  activeUntil: String, description: String, costTotalAnnual: Float, technicalSuitability: String,
  functionalSuitability: String, supportType: String, serviceLevel: String }
type FactSheetRelationEdge { node: FactSheetRelation, cursor: String }
type FactSheetRelationConnection { totalCount: Int!, edges: [FactSheetRelationEdge] }
type FactSheetEdge { node: BaseFactSheet, cursor: String }
type FactSheetConnection { totalCount: Int!, pageInfo: PageInfo!, edges: [FactSheetEdge] }
type FactSheetMutationResult { factSheet: BaseFactSheet }
""",
        f"interface BaseFactSheet {{{_BASE_FIELDS}}}\n",
    ]
    for fs_type in FACT_SHEET_TYPES:
        rels = "".join(f"  {name}: FactSheetRelationConnection\n" for name in relation_names_for(fs_type))
        own = _TYPE_FIELDS.get(fs_type, "")
        parts.append(f"type {fs_type} implements BaseFactSheet {{{_BASE_FIELDS}{own}{rels}}}\n")
    parts.append(
        """
type Query {
  allFactSheets(first: Int, after: String, filter: FilterInput, factSheetType: FactSheetType,
                sort: [Sorting]): FactSheetConnection
  factSheet(id: ID!): BaseFactSheet
  allTags(filter: TagQueryFilters, first: Int, after: String): TagConnection
  allTagGroups(first: Int, after: String, sort: [Sorting]): TagGroupConnection
}
type Mutation {
  createFactSheet(input: BaseFactSheetInput!, patches: [Patch],
                  validateOnly: Boolean = false): FactSheetMutationResult
  updateFactSheet(id: ID!, rev: Long, comment: String, patches: [Patch]!,
                  validateOnly: Boolean = false): FactSheetMutationResult
  createTag(name: String!, description: String, color: String, tagGroupId: ID, validateOnly: Boolean): Tag
  createTagGroup(name: String!, shortName: String, description: String, mode: TagGroupModeEnum!,
                 mandatory: Boolean = false, restrictToFactSheetTypes: [FactSheetType!],
                 mandatoryForFactSheetTypes: [FactSheetType!], validateOnly: Boolean): TagGroup
}
"""
    )
    return "".join(parts)


def _long_value(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise GraphQLError(f"Long cannot represent value: {value!r}")
    try:
        return int(value)
    except ValueError:
        raise GraphQLError(f"Long cannot represent value: {value!r}") from None


def _long_literal(node: ValueNode, _variables: Any = None) -> int:
    if isinstance(node, IntValueNode | StringValueNode):
        return _long_value(node.value)
    raise GraphQLError("Long must be an integer")


def build_pathfinder_schema() -> GraphQLSchema:
    """The GraphQL schema with the Long scalar and the fact sheet type resolution wired in."""
    schema = build_schema(_sdl())
    long_type = schema.type_map["Long"]
    assert isinstance(long_type, GraphQLScalarType)
    long_type.serialize = _long_value  # type: ignore[method-assign]
    long_type.parse_value = _long_value  # type: ignore[method-assign]
    long_type.parse_literal = _long_literal  # type: ignore[method-assign,assignment]
    base = schema.type_map["BaseFactSheet"]
    base.resolve_type = lambda view, _info, _type: view.fs.type  # type: ignore[attr-defined]
    return schema


SCHEMA = build_pathfinder_schema()


# --------------------------------------------------------------------------- views


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:{index}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    """Index after which a page starts; absent, null and "" all mean the first page."""
    if not cursor:
        return -1
    try:
        text = base64.b64decode(cursor, validate=True).decode()
        prefix, _, number = text.partition(":")
        if prefix != "cursor":
            raise ValueError(prefix)
        return int(number)
    except ValueError:
        raise GraphQLError(f"Invalid cursor: {cursor!r}") from None


def _page(items: list[Any], first: int | None, after: str | None) -> tuple[list[tuple[int, Any]], bool]:
    if first is not None and first < 0:
        raise GraphQLError("first must not be negative")
    start = _decode_cursor(after) + 1
    size = MAX_PAGE if first is None else min(first, MAX_PAGE)
    chunk = [(start + i, item) for i, item in enumerate(items[start : start + size])]
    return chunk, start + size < len(items)


def _connection(items: list[Any], first: int | None, after: str | None, wrap: Any) -> dict[str, Any]:
    chunk, has_next = _page(items, first, after)
    edges = [{"node": wrap(item), "cursor": _cursor(index)} for index, item in chunk]
    return {
        "totalCount": len(items),
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": bool(chunk) and chunk[0][0] > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
        "edges": edges,
    }


class TagGroupView:
    def __init__(self, ws: Workspace, group: TagGroup) -> None:
        self.ws = ws
        self.group = group
        self.id = group.id
        self.name = group.name
        self.shortName = group.short_name
        self.description = group.description
        self.mode = group.mode
        self.mandatory = group.mandatory
        self.restrictToFactSheetTypes = group.restrict_to_fact_sheet_types

    def tags(self, _info: Any) -> dict[str, Any]:
        tags = self.ws.tags_in_group(self.group.id)
        return _connection(tags, None, None, lambda t: tag_view(self.ws, t))


def tag_view(ws: Workspace, tag: Tag) -> dict[str, Any]:
    group = ws.tag_groups.get(tag.tag_group_id) if tag.tag_group_id else None
    return {
        "id": tag.id,
        "name": tag.name,
        "description": tag.description,
        "color": tag.color,
        "status": tag.status,
        "tagGroup": TagGroupView(ws, group) if group else None,
    }


class FactSheetView:
    """One fact sheet as GraphQL sees it; relation fields resolve through `__getattr__`."""

    def __init__(self, ws: Workspace, fs: FactSheet) -> None:
        self.ws = ws
        self.fs = fs
        self.id = fs.id
        self.rev = fs.rev
        self.name = fs.name
        self.type = fs.type
        self.status = fs.status
        fields = fs.fields
        self.description = fields.get("description")
        self.lxState = fields.get("lxState", "DRAFT")
        self.category = fields.get("category")
        self.alias = fields.get("alias")
        self.release = fields.get("release")
        self.functionalSuitability = fields.get("functionalSuitability")
        self.technicalSuitability = fields.get("technicalSuitability")
        self.businessCriticality = fields.get("businessCriticality")
        self.externalId = fields.get("externalId")
        self.createdAt = iso(fs.created_at)
        self.updatedAt = iso(fs.updated_at)
        self.naFields: list[str] = []
        self.subscriptions = {"totalCount": 0, "edges": []}
        self.documents = {"totalCount": 0, "edges": []}
        self.completion = {"completion": 0.0, "percentage": 0}

    @property
    def fullName(self) -> str:
        return f"{self.fs.name} {self.release}" if self.release else self.fs.name

    def _parent(self) -> FactSheet | None:
        for rel, seen_as in self.ws.relations_of(self.fs.id, "relToParent"):
            if seen_as == "relToParent":
                return self.ws.get(rel.target_id)
        return None

    @property
    def displayName(self) -> str:
        names = [self.fullName]
        parent, seen = self._parent(), {self.fs.id}
        while parent is not None and parent.id not in seen:
            seen.add(parent.id)
            names.append(FactSheetView(self.ws, parent).fullName)
            parent = FactSheetView(self.ws, parent)._parent()
        return " / ".join(reversed(names))

    @property
    def level(self) -> int:
        return self.displayName.count(" / ") + 1

    @property
    def lifecycle(self) -> dict[str, Any] | None:
        data = self.fs.fields.get("lifecycle")
        if not data or not data.get("phases"):
            return None
        return {"asString": current_phase(data), "phases": data["phases"]}

    @property
    def tags(self) -> list[dict[str, Any]]:
        return [tag_view(self.ws, self.ws.tags[t]) for t in self.fs.tag_ids if t in self.ws.tags]

    def __getattr__(self, name: str) -> Any:
        if name not in RELATION_NAMES:
            raise AttributeError(name)

        def resolve(_info: Any) -> dict[str, Any]:
            edges = []
            for rel, _seen in self.ws.relations_of(self.fs.id, name):
                other_id = rel.target_id if rel.source_id == self.fs.id else rel.source_id
                other = self.ws.get(other_id)
                node = {key: rel.attributes.get(key) for key in _RELATION_ATTRIBUTES}
                node.update(id=rel.id, type=name, factSheet=FactSheetView(self.ws, other) if other else None)
                edges.append({"node": node, "cursor": rel.id})
            return {"totalCount": len(edges), "edges": edges}

        return resolve


_RELATION_ATTRIBUTES = (
    "activeFrom",
    "activeUntil",
    "description",
    "costTotalAnnual",
    "technicalSuitability",
    "functionalSuitability",
    "supportType",
    "serviceLevel",
)


def current_phase(lifecycle: dict[str, Any]) -> str | None:
    """The latest lifecycle phase whose start date is not in the future."""
    today = datetime.now(UTC).date().isoformat()
    current = None
    for phase in lifecycle.get("phases", []):
        if phase["startDate"] <= today:
            current = phase["phase"]
    return current


# --------------------------------------------------------------------------- filters


def _facet_values(ws: Workspace, fs: FactSheet, key: str) -> set[str]:
    if key == "FactSheetTypes":
        return {fs.type}
    if key == "TrashBin":
        return {"archived"} if fs.status == "ARCHIVED" else set()
    if key == "lifecycle":
        data = fs.fields.get("lifecycle")
        phase = current_phase(data) if data else None
        return {phase} if phase else set()
    if key in ("lxState", "functionalSuitability", "technicalSuitability", "businessCriticality", "category"):
        value = fs.fields.get(key, "DRAFT" if key == "lxState" else None)
        return {str(value)} if value is not None else set()
    if key in RELATION_NAMES:
        return {
            rel.target_id if rel.source_id == fs.id else rel.source_id
            for rel, _ in ws.relations_of(fs.id, key)
        }
    if key == "Subscriptions":
        return set()
    group = ws.tag_group_by_name(key)
    if group is not None:
        tags = [ws.tags[t] for t in fs.tag_ids if t in ws.tags and ws.tags[t].tag_group_id == group.id]
        return {t.id for t in tags} | {t.name for t in tags}
    raise GraphQLError(f"Unknown facet key: {key}")


def _facet_matches(values: set[str], operator: str, keys: list[str]) -> bool:
    def hit(key: str) -> bool:
        return not values if key == "__missing__" else key in values

    if operator == "AND":
        return all(hit(k) for k in keys)
    if operator == "NOR":
        return not any(hit(k) for k in keys)
    return any(hit(k) for k in keys) if keys else True


def filter_fact_sheets(
    ws: Workspace, fs_type: str | None, filter_input: dict[str, Any] | None
) -> list[FactSheet]:
    """The fact sheets `allFactSheets` selects, in creation order (archived ones only via TrashBin)."""
    filter_input = filter_input or {}
    facets = [f for f in filter_input.get("facetFilters") or [] if f is not None]
    ids = filter_input.get("ids")
    if ids is not None and len(ids) > MAX_IDS:
        raise GraphQLError(f"At most {MAX_IDS} ids may be given in a filter")
    text = (filter_input.get("fullTextSearch") or filter_input.get("quickSearch") or "").strip().lower()
    sheets = ws.list_fact_sheets(fs_type)
    if ids is not None:
        wanted = set(ids)
        sheets = [fs for fs in sheets if fs.id in wanted]
    wants_trash = any(f.get("facetKey") == "TrashBin" for f in facets)
    if not wants_trash:
        sheets = [fs for fs in sheets if fs.status == "ACTIVE"]
    if text:
        sheets = [
            fs
            for fs in sheets
            if text in fs.name.lower() or text in str(fs.fields.get("description") or "").lower()
        ]
    for facet in facets:
        key = facet.get("facetKey")
        operator = facet.get("operator") or "OR"
        keys = [k for k in facet.get("keys") or [] if k is not None]
        sheets = [fs for fs in sheets if _facet_matches(_facet_values(ws, fs, key), operator, keys)]
    return sheets


def _sort(sheets: list[FactSheet], sort: list[dict[str, Any]] | None) -> list[FactSheet]:
    for spec in reversed([s for s in sort or [] if s]):
        key = spec.get("key") or "displayName"
        reverse = spec.get("order") == "desc"
        if key in ("name", "displayName", "fullName"):
            sheets = sorted(sheets, key=lambda fs: fs.name.lower(), reverse=reverse)
        elif key in ("updatedAt", "createdAt"):
            attr = "updated_at" if key == "updatedAt" else "created_at"
            sheets = sorted(sheets, key=lambda fs: getattr(fs, attr), reverse=reverse)
        else:
            raise GraphQLError(f"Unsupported sort key: {key}")
    return sheets


# --------------------------------------------------------------------------- root resolvers


class Context:
    def __init__(self, emulator: Emulator, principal: Principal) -> None:
        self.emulator = emulator
        self.ws = emulator.workspace
        self.principal = principal


def _error(exc: PatchError) -> GraphQLError:
    return GraphQLError(exc.message, extensions={"errorType": exc.error_type})


def _require_writer(ctx: Context) -> None:
    if ctx.principal.role not in ("ADMIN", "MEMBER"):
        raise GraphQLError(
            "The user is not allowed to change fact sheets", extensions={"errorType": "ACCESS_DENIED"}
        )


def _patch_dicts(patches: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    return [dict(p) for p in patches if p is not None]


class QueryRoot:
    def allFactSheets(
        self,
        info: Any,
        first: int | None = None,
        after: str | None = None,
        filter: dict[str, Any] | None = None,
        factSheetType: str | None = None,
        sort: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        ctx: Context = info.context
        sheets = _sort(filter_fact_sheets(ctx.ws, factSheetType, filter), sort)
        return _connection(sheets, first, after, lambda fs: FactSheetView(ctx.ws, fs))

    def factSheet(self, info: Any, id: str) -> FactSheetView | None:
        ctx: Context = info.context
        fs = ctx.ws.get(id)
        return FactSheetView(ctx.ws, fs) if fs else None

    def allTags(
        self,
        info: Any,
        filter: dict[str, Any] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> dict[str, Any]:
        ctx: Context = info.context
        tags = list(ctx.ws.tags.values())
        filter = filter or {}
        if filter.get("tagGroupName") is not None:
            group = ctx.ws.tag_group_by_name(filter["tagGroupName"])
            tags = [t for t in tags if group is not None and t.tag_group_id == group.id]
        if filter.get("nameSubstring"):
            needle = filter["nameSubstring"].lower()
            tags = [t for t in tags if needle in t.name.lower()]
        return _connection(tags, first, after, lambda t: tag_view(ctx.ws, t))

    def allTagGroups(
        self, info: Any, first: int | None = None, after: str | None = None, sort: Any = None
    ) -> dict[str, Any]:
        ctx: Context = info.context
        groups = list(ctx.ws.tag_groups.values())
        if sort:
            groups.sort(
                key=lambda g: g.name.lower(), reverse=any(s and s.get("order") == "desc" for s in sort)
            )
        return _connection(groups, first, after, lambda g: TagGroupView(ctx.ws, g))


class MutationRoot:
    def createFactSheet(
        self,
        info: Any,
        input: dict[str, Any],
        patches: list[dict[str, Any] | None] | None = None,
        validateOnly: bool = False,
    ) -> dict[str, Any]:
        ctx: Context = info.context
        _require_writer(ctx)
        try:
            fs = ctx.ws.create_fact_sheet(
                input["type"],
                input["name"],
                user_id=ctx.principal.user_id,
                patches=_patch_dicts(patches or []),
                validate_only=bool(validateOnly),
            )
        except PatchError as exc:
            raise _error(exc) from None
        return {"factSheet": FactSheetView(ctx.ws, fs)}

    def updateFactSheet(
        self,
        info: Any,
        id: str,
        patches: list[dict[str, Any] | None],
        rev: int | None = None,
        comment: str | None = None,
        validateOnly: bool = False,
    ) -> dict[str, Any]:
        ctx: Context = info.context
        _require_writer(ctx)
        try:
            fs = ctx.ws.apply_patches(
                id,
                _patch_dicts(patches),
                user_id=ctx.principal.user_id,
                rev=rev,
                validate_only=bool(validateOnly),
            )
        except PatchError as exc:
            raise _error(exc) from None
        return {"factSheet": FactSheetView(ctx.ws, fs)}

    def createTag(
        self,
        info: Any,
        name: str,
        description: str | None = None,
        color: str | None = None,
        tagGroupId: str | None = None,
        validateOnly: bool | None = False,
    ) -> dict[str, Any]:
        ctx: Context = info.context
        _require_writer(ctx)
        try:
            if validateOnly:
                if tagGroupId is not None and tagGroupId not in ctx.ws.tag_groups:
                    raise PatchError(f"Tag group {tagGroupId} not found", "NOT_FOUND")
                tag = Tag(id="", name=name, tag_group_id=tagGroupId, description=description, color=color)
            else:
                tag = ctx.ws.create_tag(name, tag_group_id=tagGroupId, description=description, color=color)
        except PatchError as exc:
            raise _error(exc) from None
        return tag_view(ctx.ws, tag)

    def createTagGroup(
        self,
        info: Any,
        name: str,
        mode: str,
        shortName: str | None = None,
        description: str | None = None,
        mandatory: bool = False,
        restrictToFactSheetTypes: list[str] | None = None,
        mandatoryForFactSheetTypes: list[str] | None = None,
        validateOnly: bool | None = False,
    ) -> TagGroupView:
        ctx: Context = info.context
        _require_writer(ctx)
        if validateOnly:
            group = TagGroup(id="", name=name, short_name=shortName, description=description, mode=mode)
            return TagGroupView(ctx.ws, group)
        try:
            group = ctx.ws.create_tag_group(
                name,
                mode=mode,
                short_name=shortName,
                description=description,
                restrict_to_fact_sheet_types=restrictToFactSheetTypes or [],
                mandatory=bool(mandatory),
            )
        except PatchError as exc:
            raise _error(exc) from None
        return TagGroupView(ctx.ws, group)


_QUERY_ROOT = QueryRoot()
_MUTATION_ROOT = MutationRoot()


# --------------------------------------------------------------------------- HTTP


class _DocumentCache:
    """Parsed and validated documents by query text; clients send the same few queries over and over."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[DocumentNode | None, list[GraphQLError]]] = OrderedDict()

    def get(self, query: str) -> tuple[DocumentNode | None, list[GraphQLError]]:
        cached = self._items.get(query)
        if cached is not None:
            self._items.move_to_end(query)
            return cached
        try:
            document: DocumentNode | None = parse(query, max_tokens=50_000)
            errors = validate(SCHEMA, document) if document else []
        except GraphQLError as exc:
            document, errors = None, [exc]
        result = (document if not errors else None, list(errors))
        self._items[query] = result
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return result


_DOCUMENTS = _DocumentCache()


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"data": None, "errors": [{"message": message}]}, status_code=400)


def _format_errors(errors: list[GraphQLError]) -> list[dict[str, Any]]:
    formatted = []
    for error in errors:
        entry = error.formatted
        error_type = (entry.get("extensions") or {}).get("errorType")
        if error_type:
            entry["errorType"] = error_type  # clients read either place (graphql-shapes.md §6)
        formatted.append(dict(entry))
    return formatted


def run_graphql(
    emulator: Emulator,
    principal: Principal,
    query: str,
    variables: dict[str, Any] | None = None,
    operation_name: str | None = None,
) -> dict[str, Any]:
    """Execute one GraphQL request against the emulator's workspace; returns the response body."""
    document, errors = _DOCUMENTS.get(query)
    if document is None:
        return {"data": None, "errors": _format_errors(errors)}
    context = Context(emulator, principal)
    with context.ws.lock:
        root = _MUTATION_ROOT if _is_mutation(document, operation_name) else _QUERY_ROOT
        result = execute(
            SCHEMA,
            document,
            root_value=root,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
        )
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = _format_errors(list(result.errors))
    return body


def _is_mutation(document: DocumentNode, operation_name: str | None) -> bool:
    for definition in document.definitions:
        name = getattr(definition, "name", None)
        operation = getattr(definition, "operation", None)
        if operation is None:
            continue
        if operation_name is None or (name is not None and name.value == operation_name):
            return bool(operation.value == "mutation")
    return False


def routes(emulator: Emulator) -> list[BaseRoute]:
    """The Pathfinder GraphQL route bound to `emulator`."""

    async def graphql_endpoint(request: Request) -> Response:
        principal: Principal | None = getattr(request.state, "principal", None)
        if principal is None:  # the gateway authenticates every /services path; be safe anyway
            return JSONResponse({"errors": [{"message": "Unauthorized"}]}, status_code=401)
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return _bad_request("The request body must be JSON: {query, variables, operationName}")
        if not isinstance(body, dict):
            return _bad_request("The request body must be a JSON object")
        query = body.get("query")
        variables = body.get("variables")
        operation_name = body.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return _bad_request("'query' must be a non-empty string")
        if variables is not None and not isinstance(variables, dict):
            return _bad_request("'variables' must be an object")
        if operation_name is not None and not isinstance(operation_name, str):
            return _bad_request("'operationName' must be a string")
        return JSONResponse(run_graphql(emulator, principal, query, variables, operation_name))

    return [Route(GRAPHQL_PATH, graphql_endpoint, methods=["POST"])]


__all__ = ["GRAPHQL_PATH", "LIFECYCLE_PHASES", "SCHEMA", "routes", "run_graphql"]

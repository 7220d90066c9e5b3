"""LDIF processing for the emulated Integration API: a small safe `${...}` interpreter and processors.

Expressions (a tiny, safe subset of the JUEL LeanIX uses; no eval):
- a template is text with `${...}` parts; a template that is exactly one `${...}` keeps the value's
  type (a list stays a list), otherwise the parts are concatenated as text (None -> "");
- inside `${...}`: paths `content.id`, `content.type`, `data.x.y`, `header.customFields.x`,
  `integration.valueOfForEach`, `variables.x`, list indexes `data.tags[0]`, string literals
  ('x' or "x"), concatenation with `+` or `+=`, and the no-argument methods `toLowerCase()`,
  `toUpperCase()`, `trim()`. Anything else raises `ExpressionError` (a run warning, never a crash).

Processors apply content through the Workspace API (so webhook events fire): `inboundFactSheet`,
`inboundRelation`, `inboundTag`; outbound runs use `outboundFactSheet`. Content a processor cannot
apply becomes a `Warning` entry; nothing here raises past `process_inbound`/`process_outbound`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from local.emulator.state import FACT_SHEET_TYPES, RELATION_NAMES, FactSheet, PatchError, Workspace

_TEMPLATE = re.compile(r"\$\{(.*?)\}", re.DOTALL)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<num>\d+)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>\+=|\+|\.|\[|\]|\(|\))
    )""",
    re.VERBOSE,
)
_METHODS: dict[str, Callable[[str], str]] = {
    "toLowerCase": str.lower,
    "toUpperCase": str.upper,
    "trim": str.strip,
}


class ExpressionError(Exception):
    """An expression the emulator's interpreter does not understand."""


def _tokens(source: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    source = source.rstrip()
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            raise ExpressionError(f"Unsupported expression syntax near {source[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent: expr := term (('+' | '+=') term)*; term := literal | path (. [] () suffixes)."""

    def __init__(self, tokens: list[tuple[str, str]], context: dict[str, Any]) -> None:
        self.tokens = tokens
        self.index = 0
        self.context = context

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ExpressionError("Unexpected end of expression")
        self.index += 1
        return token

    def expect(self, op: str) -> None:
        kind, text = self.take()
        if kind != "op" or text != op:
            raise ExpressionError(f"Expected {op!r}, found {text!r}")

    def parse(self) -> Any:
        value = self.term()
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in ("+", "+="):
            self.take()
            right = self.term()
            value = _concat(value, right)
        if self.peek() is not None:
            raise ExpressionError(f"Unexpected {self.peek()[1]!r} in expression")  # type: ignore[index]
        return value

    def term(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return _unquote(text)
        if kind == "num":
            return int(text)
        if kind != "name":
            raise ExpressionError(f"Unexpected {text!r} in expression")
        if text in ("null",):
            return None
        if text in ("true", "false"):
            return text == "true"
        value: Any = self.context.get(text)
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in (".", "["):
            self.take()
            if token[1] == ".":
                kind, name = self.take()
                if kind != "name":
                    raise ExpressionError(f"Expected a property name after '.', found {name!r}")
                nxt = self.peek()
                if nxt is not None and nxt == ("op", "("):
                    self.take()
                    self.expect(")")
                    method = _METHODS.get(name)
                    if method is None:
                        raise ExpressionError(f"Unsupported method {name}()")
                    value = None if value is None else method(str(value))
                else:
                    value = value.get(name) if isinstance(value, dict) else None
            else:
                index = self.parse_index()
                if isinstance(value, list) and -len(value) <= index < len(value):
                    value = value[index]
                elif isinstance(value, dict):
                    value = value.get(str(index))
                else:
                    value = None
        return value

    def parse_index(self) -> int:
        kind, text = self.take()
        if kind != "num":
            raise ExpressionError(f"Only numeric list indexes are supported, found {text!r}")
        self.expect("]")
        return int(text)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _concat(left: Any, right: Any) -> Any:
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left + right
    return _as_text(left) + _as_text(right)


def evaluate_inner(source: str, context: dict[str, Any]) -> Any:
    """Evaluate the inside of one `${...}`."""
    tokens = _tokens(source)
    if not tokens:
        raise ExpressionError("Empty expression ${}")
    return _Parser(tokens, context).parse()


def evaluate(template: Any, context: dict[str, Any]) -> Any:
    """Evaluate a template; a lone `${...}` keeps its value's type, anything else becomes text."""
    if template is None:
        return None
    if not isinstance(template, str):
        raise ExpressionError(f"An expression must be a string, got {type(template).__name__}")
    whole = _TEMPLATE.fullmatch(template.strip())
    if whole is not None and template.strip().count("${") == 1:
        return evaluate_inner(whole.group(1), context)
    if "${" not in template:
        return template
    parts: list[str] = []
    position = 0
    for match in _TEMPLATE.finditer(template):
        parts.append(template[position : match.start()])
        parts.append(_as_text(evaluate_inner(match.group(1), context)))
        position = match.end()
    rest = template[position:]
    if "${" in rest:
        raise ExpressionError(f"Unterminated ${{ in {template!r}")
    parts.append(rest)
    return "".join(parts)


def expr_of(template: Any) -> Any:
    """The expression of a `{expr: ...}` template, or the template itself when it is a plain string."""
    if isinstance(template, dict):
        return template.get("expr")
    return template


# ---------------------------------------------------------------------------------------------------
# runs


@dataclass
class RunOutcome:
    """What processing a run produced: warnings, counters, touched fact sheets, result LDIF."""

    warnings: list[dict[str, Any]] = field(default_factory=list)
    processed_content: int = 0
    run_level_index: int = 0
    write_requests: int = 0
    touched: set[str] = field(default_factory=set)
    created: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    result: dict[str, Any] | None = None
    failed: str | None = None

    def warn(
        self,
        message: str,
        *,
        processor: tuple[str, int] | None = None,
        content: str | None = None,
        category: str = "processing",
        status: str = "WARNING",
    ) -> None:
        """Record a §6.3 `Warning`."""
        entry: dict[str, Any] = {"message": message, "category": category, "status": status}
        if processor is not None:
            entry["processor"] = {"name": processor[0], "index": processor[1]}
        if content is not None:
            entry["content"] = content
        self.warnings.append(entry)


def header_context(ldif: dict[str, Any]) -> dict[str, Any]:
    """The `header` object expressions see: the LDIF without its content."""
    header = {k: v for k, v in ldif.items() if k != "content"}
    header.setdefault("customFields", {})
    return header


def _matches_filter(processor: dict[str, Any], content: dict[str, Any]) -> bool:
    flt = processor.get("filter")
    if not isinstance(flt, dict):
        return True
    exact = flt.get("exactType")
    if exact is not None and content.get("type") != exact:
        return False
    for key, value in (("type", content.get("type")), ("id", content.get("id"))):
        pattern = flt.get(key)
        if pattern is not None:
            try:
                if not isinstance(pattern, str) or re.fullmatch(pattern, str(value)) is None:
                    return False
            except re.error as exc:
                raise ExpressionError(f"filter.{key} is not a valid regular expression: {exc}") from exc
    return True


def _foreach_values(processor: dict[str, Any], context: dict[str, Any]) -> list[Any]:
    expression = processor.get("forEach")
    if expression is None:
        return [None]
    value = evaluate(expression, context)
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.items())
    return value if isinstance(value, list) else [value]


class InboundProcessing:
    """Applies one inbound LDIF with one processor configuration to a workspace."""

    def __init__(
        self,
        workspace: Workspace,
        ldif: dict[str, Any],
        config: dict[str, Any],
        user_id: str,
        dry_run: bool,
        outcome: RunOutcome,
    ) -> None:
        self.workspace = workspace
        self.ldif = ldif
        self.config = config
        self.user_id = user_id
        self.dry_run = dry_run
        self.outcome = outcome
        self.header = header_context(ldif)
        variables = config.get("variables")
        self.variables = dict(variables) if isinstance(variables, dict) else {}

    def run_levels(self) -> list[tuple[int, list[tuple[int, dict[str, Any]]]]]:
        """Enabled processors grouped by `run` level, in level order then list order."""
        levels: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        processors = self.config.get("processors") or []
        for index, processor in enumerate(processors):
            if not isinstance(processor, dict) or processor.get("enabled", True) is False:
                continue
            level = processor.get("run", 0)
            level = level if isinstance(level, int) and not isinstance(level, bool) and level >= 0 else 0
            levels.setdefault(level, []).append((index, processor))
        return sorted(levels.items())

    def process_content(
        self, level_processors: list[tuple[int, dict[str, Any]]], content: dict[str, Any]
    ) -> None:
        """Run every processor of one level over one content entry (warnings, never exceptions)."""
        for index, processor in level_processors:
            name = str(
                processor.get("processorName") or processor.get("processorType") or f"processor-{index}"
            )
            where = (name, index)
            content_id = str(content.get("id"))
            try:
                if not _matches_filter(processor, content):
                    continue
                base = {
                    "content": content,
                    "data": content.get("data") or {},
                    "header": self.header,
                    "variables": self.variables,
                    "integration": {},
                }
                for item in _foreach_values(processor, base):
                    context = dict(base)
                    context["integration"] = {"valueOfForEach": item}
                    self._apply(processor, context, where, content_id)
            except (ExpressionError, PatchError) as exc:
                self.outcome.warn(str(exc), processor=where, content=content_id)

    def _apply(
        self, processor: dict[str, Any], ctx: dict[str, Any], where: tuple[str, int], cid: str
    ) -> None:
        kind = processor.get("processorType")
        if kind == "inboundFactSheet":
            self._fact_sheet(processor, ctx, where, cid)
        elif kind == "inboundRelation":
            self._relation(processor, ctx, where, cid)
        elif kind == "inboundTag":
            self._tag(processor, ctx, where, cid)
        else:
            raise ExpressionError(f"Processor type {kind!r} is not supported by the emulator")

    # -------------------------------------------------------------- helpers
    def _updates(self, processor: dict[str, Any], ctx: dict[str, Any]) -> list[tuple[str, list[Any], bool]]:
        result: list[tuple[str, list[Any], bool]] = []
        for update in processor.get("updates") or []:
            if not isinstance(update, dict):
                raise ExpressionError("Each entry of 'updates' must be an object {key, values}")
            key = evaluate(expr_of(update.get("key")), ctx)
            if not isinstance(key, str) or not key:
                raise ExpressionError("An update key must evaluate to a non-empty string")
            values: list[Any] = []
            for template in update.get("values") or []:
                value = evaluate(expr_of(template), ctx)
                if isinstance(value, list):
                    values.extend(v for v in value if v is not None)
                elif value is not None and value != "":
                    values.append(value)
            result.append((key, values, bool(update.get("optional", False))))
        return result

    def _resolve(
        self, identifier: Any, fs_types: list[str], ctx: dict[str, Any]
    ) -> tuple[FactSheet | None, str]:
        """Find a fact sheet by an identifier template; returns (fact sheet or None, external id or '')."""
        if not isinstance(identifier, dict):
            raise ExpressionError("An identifier must be an object with 'external' or 'internal'")
        if "internal" in identifier:
            fs_id = evaluate(expr_of(identifier["internal"]), ctx)
            if not isinstance(fs_id, str) or not fs_id:
                raise ExpressionError("The internal identifier evaluated to nothing")
            fs = self.workspace.get(fs_id)
            if fs is None:
                raise PatchError(f"No fact sheet with internal id {fs_id}", "NOT_FOUND")
            return fs, ""
        external = identifier.get("external")
        if not isinstance(external, dict):
            raise ExpressionError("An identifier must be an object with 'external' or 'internal'")
        ext_type = evaluate(expr_of(external.get("type")), ctx) or "externalId"
        if ext_type != "externalId":
            raise ExpressionError(f"External id field {ext_type!r} is not supported (only 'externalId')")
        ext_id = evaluate(expr_of(external.get("id")), ctx)
        if ext_id is None or ext_id == "":
            raise ExpressionError("The external id evaluated to nothing")
        ext_text = _as_text(ext_id)
        for fs_type in fs_types:
            fs = self.workspace.find_by_external_id(fs_type, ext_text)
            if fs is not None:
                return fs, ext_text
        return None, ext_text

    def _patch(self, fs: FactSheet, patches: list[dict[str, Any]]) -> None:
        if not patches or self.dry_run:
            return
        before = fs.rev
        self.workspace.apply_patches(fs.id, patches, user_id=self.user_id)
        if fs.rev != before:  # count real writes only: an unchanged patch set is not a write
            self.outcome.write_requests += 1

    # -------------------------------------------------------------- processors
    def _fact_sheet(
        self, processor: dict[str, Any], ctx: dict[str, Any], where: tuple[str, int], cid: str
    ) -> None:
        fs_type = evaluate(processor.get("type"), ctx)
        if fs_type not in FACT_SHEET_TYPES:
            raise ExpressionError(f"Unknown fact sheet type {fs_type!r} in processor 'type'")
        fs, ext_id = self._resolve(processor.get("identifier"), [fs_type], ctx)
        if processor.get("mode") == "delete":
            if fs is not None and fs.status == "ACTIVE" and not self.dry_run:
                self.workspace.archive(fs.id, user_id=self.user_id)
                self.outcome.archived.append(fs.id)
            return
        name: str | None = None
        patches: list[dict[str, Any]] = []
        for key, values, optional in self._updates(processor, ctx):
            if not values:
                if not optional:
                    self.outcome.warn(f"No value for key '{key}'", processor=where, content=cid)
                continue
            text = _as_text(values[0])
            if key == "name":
                name = text
            patches.append({"op": "replace", "path": f"/{key}", "value": text})
        if fs is None:
            if not ext_id:
                return
            if not name:
                raise PatchError(f"Cannot create {fs_type} '{ext_id}': the updates give no 'name'")
            other = [p for p in patches if p["path"] != "/name"]
            if self.dry_run:
                self.workspace.create_fact_sheet(
                    fs_type, name, external_id=ext_id, patches=other, validate_only=True
                )
                return
            self.outcome.write_requests += 1
            created = self.workspace.create_fact_sheet(
                fs_type, name, external_id=ext_id, patches=other, user_id=self.user_id
            )
            self.outcome.created.append(created.id)
            self.outcome.touched.add(created.id)
            return
        if fs.status == "ARCHIVED":
            # The source sends it again: bring it back, as a full sync would.
            patches.insert(0, {"op": "replace", "path": "/status", "value": "ACTIVE"})
        self.outcome.touched.add(fs.id)
        self._patch(fs, patches)

    def _relation(
        self, processor: dict[str, Any], ctx: dict[str, Any], where: tuple[str, int], cid: str
    ) -> None:
        rel_name = evaluate(processor.get("type"), ctx)
        if rel_name not in RELATION_NAMES:
            raise ExpressionError(f"Unknown relation type {rel_name!r}")
        rel_type, forward = RELATION_NAMES[rel_name]
        from_types = [(rel_type.source_type if forward else rel_type.target_type)]
        to_types = [(rel_type.target_type if forward else rel_type.source_type)]
        source, source_ext = self._resolve(
            processor.get("from"), [t for t in from_types if t] or list(FACT_SHEET_TYPES), ctx
        )
        target, target_ext = self._resolve(
            processor.get("to"), [t for t in to_types if t] or list(FACT_SHEET_TYPES), ctx
        )
        if source is None or target is None:
            missing = source_ext if source is None else target_ext
            raise PatchError(f"Relation {rel_name}: no fact sheet with external id {missing!r}", "NOT_FOUND")
        attributes = {key: _as_text(values[0]) for key, values, _ in self._updates(processor, ctx) if values}
        value = json.dumps({"factSheetId": target.id, **attributes})
        for rel, _seen in self.workspace.relations_of(source.id, rel_name):
            other = rel.target_id if rel.source_id == source.id else rel.source_id
            if other == target.id:
                if attributes and any(rel.attributes.get(k) != v for k, v in attributes.items()):
                    self._patch(source, [{"op": "replace", "path": f"/{rel_name}/{rel.id}", "value": value}])
                return
        self._patch(source, [{"op": "add", "path": f"/{rel_name}/new_1", "value": value}])

    def _tag(self, processor: dict[str, Any], ctx: dict[str, Any], where: tuple[str, int], cid: str) -> None:
        values = {key: values for key, values, _ in self._updates(processor, ctx)}
        names = values.get("name") or []
        if not names:
            raise ExpressionError("inboundTag needs an update with key 'name'")
        tag_name = _as_text(names[0])
        group_name = _as_text(values["group.name"][0]) if values.get("group.name") else None
        targets = self._tag_targets(processor.get("factSheets"), ctx)
        if not targets:
            raise PatchError(f"Tag '{tag_name}': no fact sheet matches 'factSheets'", "NOT_FOUND")
        if self.dry_run:
            return
        if group_name is not None and self.workspace.tag_group_by_name(group_name) is None:
            mode = _as_text(values["group.mode"][0]).upper() if values.get("group.mode") else "MULTIPLE"
            restrict = [_as_text(v) for v in values.get("group.restrictToFactSheetTypes", [])]
            self.workspace.create_tag_group(group_name, mode=mode, restrict_to_fact_sheet_types=restrict)
        tag = self.workspace.find_or_create_tag(group_name, tag_name)
        for fs in targets:
            if tag.id not in fs.tag_ids:
                self._patch(fs, [{"op": "add", "path": "/tags", "value": json.dumps([{"tagId": tag.id}])}])

    def _tag_targets(self, selector: Any, ctx: dict[str, Any]) -> list[FactSheet]:
        if not isinstance(selector, dict):
            raise ExpressionError("inboundTag needs 'factSheets' with 'external' or 'internal'")
        found: list[FactSheet] = []
        if "internal" in selector:
            internal = selector["internal"]
            raw = evaluate(internal.get("ids") if isinstance(internal, dict) else internal, ctx)
            for fs_id in raw if isinstance(raw, list) else [raw]:
                fs = self.workspace.get(_as_text(fs_id))
                if fs is not None:
                    found.append(fs)
            return found
        external = selector.get("external")
        if not isinstance(external, dict):
            raise ExpressionError("inboundTag needs 'factSheets' with 'external' or 'internal'")
        ext_type = evaluate(expr_of(external.get("type")), ctx) or "externalId"
        if ext_type != "externalId":
            raise ExpressionError(f"External id field {ext_type!r} is not supported (only 'externalId')")
        raw = evaluate(expr_of(external.get("ids")), ctx)
        for ext_id in raw if isinstance(raw, list) else [raw]:
            for fs_type in FACT_SHEET_TYPES:
                fs = self.workspace.find_by_external_id(fs_type, _as_text(ext_id))
                if fs is not None:
                    found.append(fs)
        return found


def scope_types(scope: Any) -> list[str]:
    """Fact sheet types named by a scope's `FactSheetTypes` facet filter (empty: no restriction)."""
    types: list[str] = []
    if isinstance(scope, dict):
        scope = scope.get("facetFilters", [])
    if isinstance(scope, list):
        for facet in scope:
            if isinstance(facet, dict) and facet.get("facetKey") == "FactSheetTypes":
                types.extend(str(k) for k in facet.get("keys") or [])
    return types


def outbound_ldif(
    workspace: Workspace, ldif: dict[str, Any], config: dict[str, Any], outcome: RunOutcome
) -> None:
    """Build the result LDIF of an outbound run from its `outboundFactSheet` processors."""
    content: list[dict[str, Any]] = []
    seen: set[str] = set()
    config_types = scope_types(config.get("scope"))
    for index, processor in enumerate(config.get("processors") or []):
        if not isinstance(processor, dict) or processor.get("enabled", True) is False:
            continue
        name = str(processor.get("processorName") or f"processor-{index}")
        if processor.get("processorType") != "outboundFactSheet":
            outcome.warn(
                f"Processor type {processor.get('processorType')!r} is not supported", processor=(name, index)
            )
            continue
        types = scope_types(processor.get("scope")) or config_types
        flt = processor.get("filter") if isinstance(processor.get("filter"), dict) else {}
        fields = [f for f in processor.get("fields") or [] if isinstance(f, str)]
        for fs in workspace.list_fact_sheets(include_archived=False):
            if types and fs.type not in types:
                continue
            try:
                if not _matches_filter({"filter": flt}, {"type": fs.type, "id": fs.id}):
                    continue
            except ExpressionError as exc:
                outcome.warn(str(exc), processor=(name, index))
                break
            if fs.id in seen:
                continue
            seen.add(fs.id)
            data: dict[str, Any] = {"name": fs.name}
            for field_name in fields:
                data[field_name] = _fact_sheet_value(workspace, fs, field_name)
            content.append({"type": fs.type, "id": fs.id, "data": data})
    outcome.processed_content = len(content)
    outcome.result = {
        "connectorType": ldif.get("connectorType"),
        "connectorId": ldif.get("connectorId"),
        "connectorVersion": ldif.get("connectorVersion"),
        "lxVersion": ldif.get("lxVersion", "1.0.0"),
        "lxWorkspace": workspace.id,
        "description": ldif.get("description", ""),
        "processingDirection": "outbound",
        "processingMode": "partial",
        "content": content,
    }


def _fact_sheet_value(workspace: Workspace, fs: FactSheet, name: str) -> Any:
    if name == "name":
        return fs.name
    if name == "id":
        return fs.id
    if name == "type":
        return fs.type
    if name == "status":
        return fs.status
    if name == "tags":
        return [workspace.tags[t].name for t in fs.tag_ids if t in workspace.tags]
    if name == "externalId":
        return fs.external_id
    return fs.fields.get(name)

"""The in-memory workspace of the emulator and the `Emulator` object that owns it.

Every change to fact sheets, tags and relations goes through `Workspace` methods. Each change that
really changes something bumps the fact sheet's `rev` and write counter and emits `ChangeEvent`s
to the listeners (`Workspace.add_listener`); a patch that changes nothing emits nothing.

Listeners are called synchronously while the workspace lock is held; a listener that needs async
work schedules it on the running loop. `Emulator.reset()` builds a new `Workspace` and clears the
per-module state slots (`webhooks`, `metrics`, `integration`), so services must always reach the
workspace through `emulator.workspace` and re-initialise their slot lazily.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from local.emulator.config import EmulatorConfig

if TYPE_CHECKING:
    from local.emulator.faults import FaultRegistry, RateLimiter

FACT_SHEET_TYPES = (
    "Application",
    "ITComponent",
    "BusinessCapability",
    "Interface",
    "DataObject",
    "Provider",
    "UserGroup",
    "Project",
    "Process",
    "TechnicalStack",
    "BusinessContext",
)

FUNCTIONAL_SUITABILITY = ("unreasonable", "insufficient", "appropriate", "perfect")
TECHNICAL_SUITABILITY = ("inappropriate", "unreasonable", "adequate", "fullyAppropriate")
BUSINESS_CRITICALITY = ("administrativeService", "businessOperational", "businessCritical", "missionCritical")
LIFECYCLE_PHASES = ("plan", "phaseIn", "active", "phaseOut", "endOfLife")
LX_STATES = ("APPROVED", "BROKEN_QUALITY_SEAL", "DRAFT", "REJECTED")

# Field name -> (kind, allowed enum values or None, types that have it or None for all).
FIELD_SPECS: dict[str, tuple[str, tuple[str, ...] | None, tuple[str, ...] | None]] = {
    "description": ("string", None, None),
    "alias": ("string", None, None),
    "release": ("string", None, ("Application", "ITComponent", "Interface")),
    "lxState": ("enum", LX_STATES, None),
    "lifecycle": ("lifecycle", None, None),
    "externalId": ("externalId", None, None),
    "functionalSuitability": ("enum", FUNCTIONAL_SUITABILITY, ("Application",)),
    "technicalSuitability": ("enum", TECHNICAL_SUITABILITY, ("Application",)),
    "businessCriticality": ("enum", BUSINESS_CRITICALITY, ("Application",)),
    "category": ("string", None, ("ITComponent", "Application", "Project", "Provider")),
}


@dataclass(frozen=True)
class RelationType:
    """A relation as seen from its source side, with the name of its inverse on the target side."""

    name: str
    source_type: str | None  # None: any type (relToParent etc. need both sides of one type)
    target_type: str | None
    inverse: str
    to_one: bool = False


_RELATIONS = (
    RelationType("relApplicationToITComponent", "Application", "ITComponent", "relITComponentToApplication"),
    RelationType(
        "relApplicationToBusinessCapability",
        "Application",
        "BusinessCapability",
        "relBusinessCapabilityToApplication",
    ),
    RelationType("relApplicationToUserGroup", "Application", "UserGroup", "relUserGroupToApplication"),
    RelationType("relApplicationToProcess", "Application", "Process", "relProcessToApplication"),
    RelationType("relApplicationToDataObject", "Application", "DataObject", "relDataObjectToApplication"),
    RelationType("relApplicationToProject", "Application", "Project", "relProjectToApplication"),
    RelationType(
        "relApplicationToBusinessContext", "Application", "BusinessContext", "relBusinessContextToApplication"
    ),
    RelationType(
        "relProviderApplicationToInterface", "Application", "Interface", "relInterfaceToProviderApplication"
    ),
    RelationType("relInterfaceToITComponent", "Interface", "ITComponent", "relITComponentToInterface"),
    RelationType("relInterfaceToDataObject", "Interface", "DataObject", "relDataObjectToInterface"),
    RelationType("relITComponentToProvider", "ITComponent", "Provider", "relProviderToITComponent"),
    RelationType(
        "relITComponentToTechnologyStack", "ITComponent", "TechnicalStack", "relTechnologyStackToITComponent"
    ),
    RelationType("relToParent", None, None, "relToChild", to_one=True),
    RelationType("relToSuccessor", None, None, "relToPredecessor"),
    RelationType("relToRequires", None, None, "relToRequiredBy"),
)
# Every relation name, source side and inverse side, mapped to (relation type, seen from the source?).
RELATION_NAMES: dict[str, tuple[RelationType, bool]] = {}
for _rel in _RELATIONS:
    RELATION_NAMES[_rel.name] = (_rel, True)
    RELATION_NAMES[_rel.inverse] = (_rel, False)

EVENT_PAYLOAD_TYPES = {
    "FACT_SHEET_CREATED": "FactSheetCreatedEvent",
    "FACT_SHEET_UPDATED": "FactSheetUpdatedEvent",
    "FACT_SHEET_ARCHIVED": "FactSheetArchivedEvent",
    "FACT_SHEET_TAG_ADDED": "FactSheetTagAddedEvent",
    "FACT_SHEET_TAG_REMOVED": "FactSheetTagRemovedEvent",
    "RELATION_CREATED": "RelationCreatedEvent",
    "RELATION_UPDATED": "RelationUpdatedEvent",
    "RELATION_DELETED": "RelationDeletedEvent",
}


def relation_names_for(fs_type: str) -> list[str]:
    """Relation field names (both directions) that a fact sheet of `fs_type` has."""
    names = []
    for name, (rel, forward) in RELATION_NAMES.items():
        side = rel.source_type if forward else rel.target_type
        if side is None or side == fs_type:
            names.append(name)
    return names


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class PatchError(Exception):
    """A patch or mutation the workspace refuses; becomes a GraphQL error (never a 500)."""

    def __init__(self, message: str, error_type: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type


class RevisionClash(PatchError):
    def __init__(self, current: int, given: int) -> None:
        super().__init__(
            f"DB revision of Fact Sheet has changed: {current} instead of given {given}", "REVISION_CLASH"
        )
        self.current = current
        self.given = given


class NotFound(PatchError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "NOT_FOUND")


@dataclass
class TagGroup:
    id: str
    name: str
    short_name: str | None = None
    description: str | None = None
    mode: str = "MULTIPLE"  # SINGLE | MULTIPLE
    mandatory: bool = False
    restrict_to_fact_sheet_types: list[str] = field(default_factory=list)


@dataclass
class Tag:
    id: str
    name: str
    tag_group_id: str | None = None
    description: str | None = None
    color: str | None = None
    status: str = "ACTIVE"


@dataclass
class Relation:
    id: str
    type: RelationType
    source_id: str
    target_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class FactSheet:
    id: str
    type: str
    name: str
    rev: int = 1
    status: str = "ACTIVE"
    fields: dict[str, Any] = field(default_factory=dict)
    tag_ids: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    created_by: str | None = None
    write_count: int = 0

    @property
    def external_id(self) -> str | None:
        ext = self.fields.get("externalId")
        return ext.get("externalId") if isinstance(ext, dict) else None


@dataclass(frozen=True)
class ChangeEvent:
    """One workspace change, as the webhooks module turns it into deliveries."""

    event_type: str
    payload_type: str
    fact_sheet: dict[str, Any]
    user_id: str
    transaction_sequence_number: int
    created_at: datetime
    workspace_id: str
    relation: dict[str, Any] | None = None
    tag: dict[str, Any] | None = None


Listener = Callable[[ChangeEvent], None]


@dataclass
class _Staged:
    """A copy of a fact sheet's mutable parts; patches apply here and commit only if all succeed."""

    name: str
    status: str
    fields: dict[str, Any]
    tag_ids: list[str]
    new_relations: list[Relation] = field(default_factory=list)
    replaced_relations: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed_relations: set[str] = field(default_factory=set)
    new_tags: list[Tag] = field(default_factory=list)


class Workspace:
    """One LeanIX workspace: fact sheets, tag groups, tags and relations, with change events."""

    def __init__(self, workspace_id: str, name: str = "emulated-workspace") -> None:
        self.id = workspace_id
        self.name = name
        self.lock = threading.RLock()
        self.fact_sheets: dict[str, FactSheet] = {}  # insertion order = paging order
        self._ids_by_type: dict[str, list[str]] = {}
        self._by_external_id: dict[tuple[str, str], str] = {}
        self.tag_groups: dict[str, TagGroup] = {}
        self.tags: dict[str, Tag] = {}
        self.relations: dict[str, Relation] = {}
        self._relations_by_fs: dict[str, list[str]] = {}
        self._listeners: list[Listener] = []
        self._sequence = 0
        self.total_writes = 0
        self.silent = False  # seeding and bulk creation do not emit events

    # ----------------------------------------------------------------- listeners
    def add_listener(self, callback: Listener) -> None:
        """Call `callback(event)` for every change from now on (synchronously, under the lock)."""
        with self.lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        with self.lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def next_sequence_number(self) -> int:
        with self.lock:
            self._sequence += 1
            return self._sequence

    def _emit(self, event_type: str, fs: FactSheet, user_id: str, **extra: Any) -> None:
        if self.silent:
            return
        event = ChangeEvent(
            event_type=event_type,
            payload_type=EVENT_PAYLOAD_TYPES.get(event_type, "FactSheetUpdatedEvent"),
            fact_sheet=self.webhook_fact_sheet(fs),
            user_id=user_id,
            transaction_sequence_number=self.next_sequence_number(),
            created_at=utcnow(),
            workspace_id=self.id,
            **extra,
        )
        for listener in list(self._listeners):
            listener(event)

    # ----------------------------------------------------------------- reads
    def get(self, fs_id: str) -> FactSheet | None:
        return self.fact_sheets.get(fs_id)

    def require(self, fs_id: str) -> FactSheet:
        fs = self.fact_sheets.get(fs_id)
        if fs is None:
            raise NotFound(f"Fact Sheet {fs_id} not found")
        return fs

    def find_by_external_id(self, fs_type: str, external_id: str) -> FactSheet | None:
        """The fact sheet of `fs_type` whose `externalId.externalId` equals `external_id`."""
        fs_id = self._by_external_id.get((fs_type, external_id))
        return self.fact_sheets.get(fs_id) if fs_id else None

    def find_by_name(self, fs_type: str, name: str) -> FactSheet | None:
        for fs_id in self._ids_by_type.get(fs_type, []):
            fs = self.fact_sheets[fs_id]
            if fs.name == name:
                return fs
        return None

    def list_fact_sheets(self, fs_type: str | None = None, include_archived: bool = True) -> list[FactSheet]:
        """Fact sheets in creation order, optionally of one type and without archived ones."""
        with self.lock:
            if fs_type is None:
                sheets = list(self.fact_sheets.values())
            else:
                sheets = [self.fact_sheets[i] for i in self._ids_by_type.get(fs_type, [])]
        if include_archived:
            return sheets
        return [fs for fs in sheets if fs.status == "ACTIVE"]

    def relations_of(self, fs_id: str, rel_name: str | None = None) -> list[tuple[Relation, str]]:
        """Relations touching `fs_id` as `(relation, name seen from fs_id)`, optionally one name only."""
        result = []
        for rel_id in self._relations_by_fs.get(fs_id, []):
            rel = self.relations[rel_id]
            seen_as = rel.type.name if rel.source_id == fs_id else rel.type.inverse
            if rel_name is None or rel_name == seen_as:
                result.append((rel, seen_as))
        return result

    def tag_group_by_name(self, name: str) -> TagGroup | None:
        for group in self.tag_groups.values():
            if group.name == name:
                return group
        return None

    def tags_in_group(self, group_id: str | None) -> list[Tag]:
        return [tag for tag in self.tags.values() if tag.tag_group_id == group_id]

    def find_tag(self, group_name: str | None, tag_name: str) -> Tag | None:
        group_id = None
        if group_name is not None:
            group = self.tag_group_by_name(group_name)
            if group is None:
                return None
            group_id = group.id
        for tag in self.tags_in_group(group_id):
            if tag.name == tag_name:
                return tag
        return None

    # ----------------------------------------------------------------- tags
    def create_tag_group(
        self,
        name: str,
        *,
        mode: str = "MULTIPLE",
        short_name: str | None = None,
        description: str | None = None,
        restrict_to_fact_sheet_types: Iterable[str] = (),
        mandatory: bool = False,
    ) -> TagGroup:
        """Create a tag group; names are unique."""
        if not name.strip():
            raise PatchError("Tag group name must not be empty")
        if mode not in ("SINGLE", "MULTIPLE"):
            raise PatchError(f"Invalid tag group mode: {mode}")
        with self.lock:
            if self.tag_group_by_name(name) is not None:
                raise PatchError(f"Tag group '{name}' already exists", "CONSTRAINT_VIOLATION")
            group = TagGroup(
                id=str(uuid.uuid4()),
                name=name,
                short_name=short_name,
                description=description,
                mode=mode,
                mandatory=mandatory,
                restrict_to_fact_sheet_types=list(restrict_to_fact_sheet_types),
            )
            self.tag_groups[group.id] = group
            return group

    def create_tag(
        self,
        name: str,
        *,
        tag_group_id: str | None = None,
        description: str | None = None,
        color: str | None = None,
    ) -> Tag:
        """Create a tag in a group (or ungrouped when `tag_group_id` is None); unique per group."""
        if not name.strip():
            raise PatchError("Tag name must not be empty")
        with self.lock:
            if tag_group_id is not None and tag_group_id not in self.tag_groups:
                raise NotFound(f"Tag group {tag_group_id} not found")
            if any(t.name == name for t in self.tags_in_group(tag_group_id)):
                raise PatchError(f"Tag '{name}' already exists in this group", "CONSTRAINT_VIOLATION")
            tag = Tag(
                id=str(uuid.uuid4()),
                name=name,
                tag_group_id=tag_group_id,
                description=description,
                color=color or "#1f77b4",
            )
            self.tags[tag.id] = tag
            return tag

    def find_or_create_tag(self, group_name: str | None, tag_name: str) -> Tag:
        """The tag `tag_name` in `group_name` (None = ungrouped), created (with its group) if missing."""
        with self.lock:
            tag = self.find_tag(group_name, tag_name)
            if tag is not None:
                return tag
            group_id = None
            if group_name is not None:
                group = self.tag_group_by_name(group_name) or self.create_tag_group(group_name)
                group_id = group.id
            return self.create_tag(tag_name, tag_group_id=group_id)

    # ----------------------------------------------------------------- writes
    def create_fact_sheet(
        self,
        fs_type: str,
        name: str,
        *,
        external_id: str | None = None,
        fields: dict[str, Any] | None = None,
        tags: Iterable[str] = (),
        user_id: str = "system",
        patches: list[dict[str, Any]] | None = None,
        validate_only: bool = False,
    ) -> FactSheet:
        """Create a fact sheet (one FACT_SHEET_CREATED event); `patches` apply as part of the creation.

        `fields` are raw field values (validated like patches); `tags` are tag ids.
        Raises `PatchError` (nothing created) on any invalid input.
        """
        if fs_type not in FACT_SHEET_TYPES:
            raise PatchError(f"Unknown fact sheet type: {fs_type}")
        if not isinstance(name, str) or not name.strip():
            raise PatchError("Fact sheet name must not be empty")
        with self.lock:
            fs = FactSheet(id=str(uuid.uuid4()), type=fs_type, name=name, created_by=user_id)
            staged = _Staged(name=name, status="ACTIVE", fields={}, tag_ids=[])
            for key, value in (fields or {}).items():
                staged.fields[key] = self._validate_field(fs, key, value)
            if external_id is not None:
                staged.fields["externalId"] = {"externalId": external_id, "type": "ExternalId"}
            for tag_id in tags:
                self._stage_tag(fs, staged, "add", [{"tagId": tag_id}])
            for patch in patches or []:
                self._apply_patch(fs, staged, patch)
            self._check_external_id(fs, staged)
            if validate_only:
                return fs
            self.fact_sheets[fs.id] = fs
            self._ids_by_type.setdefault(fs_type, []).append(fs.id)
            self._commit(fs, staged)
            fs.rev = 1
            fs.write_count = 1
            self.total_writes += 1
            self._emit("FACT_SHEET_CREATED", fs, user_id)
            for rel in staged.new_relations:
                self._emit("RELATION_CREATED", fs, user_id, relation=self._relation_dict(rel))
            return fs

    def apply_patches(
        self,
        fs_id: str,
        patches: list[dict[str, Any]],
        *,
        user_id: str = "system",
        rev: int | None = None,
        validate_only: bool = False,
    ) -> FactSheet:
        """Apply GraphQL-style patches atomically to a fact sheet.

        A patch is `{"op": "add"|"replace"|"remove", "path": "/field" | "/tags" | "/status" |
        "/rel<Name>/<relId or new_x>", "value": str | None}`. Raises `NotFound`, `RevisionClash`
        (when `rev` is given and stale) or `PatchError`; nothing changes then. A patch set that
        changes nothing leaves `rev` alone and emits nothing.
        """
        with self.lock:
            fs = self.require(fs_id)
            if rev is not None and rev != fs.rev:
                raise RevisionClash(fs.rev, rev)
            staged = _Staged(
                name=fs.name,
                status=fs.status,
                fields=copy.deepcopy(fs.fields),
                tag_ids=list(fs.tag_ids),
            )
            for patch in patches:
                self._apply_patch(fs, staged, patch)
            self._check_external_id(fs, staged)
            if validate_only:
                return fs
            old_tags = list(fs.tag_ids)
            old_status = fs.status
            changed = (
                staged.name != fs.name
                or staged.status != fs.status
                or staged.fields != fs.fields
                or staged.tag_ids != fs.tag_ids
                or bool(staged.new_relations or staged.removed_relations)
                or any(
                    self.relations[rid].attributes != attrs
                    for rid, attrs in staged.replaced_relations.items()
                )
            )
            if not changed:
                return fs
            removed_rel_dicts = [self._relation_dict(self.relations[rid]) for rid in staged.removed_relations]
            self._commit(fs, staged)
            fs.rev += 1
            fs.write_count += 1
            fs.updated_at = utcnow()
            self.total_writes += 1
            if fs.status == "ARCHIVED" and old_status != "ARCHIVED":
                main_event = "FACT_SHEET_ARCHIVED"
            elif fs.status == "ACTIVE" and old_status == "ARCHIVED":
                main_event = "FACT_SHEET_CREATED"  # LeanIX reports a recovery from archive as created
            else:
                main_event = "FACT_SHEET_UPDATED"
            self._emit(main_event, fs, user_id)
            for tag_id in fs.tag_ids:
                if tag_id not in old_tags:
                    self._emit("FACT_SHEET_TAG_ADDED", fs, user_id, tag=self._tag_dict(tag_id))
            for tag_id in old_tags:
                if tag_id not in fs.tag_ids:
                    self._emit("FACT_SHEET_TAG_REMOVED", fs, user_id, tag=self._tag_dict(tag_id))
            for rel in staged.new_relations:
                self._emit("RELATION_CREATED", fs, user_id, relation=self._relation_dict(rel))
            for rel_id in staged.replaced_relations:
                self._emit(
                    "RELATION_UPDATED", fs, user_id, relation=self._relation_dict(self.relations[rel_id])
                )
            for rel_dict in removed_rel_dicts:
                self._emit("RELATION_DELETED", fs, user_id, relation=rel_dict)
            return fs

    def trigger_event(
        self, fs_id: str, event_type: str = "FACT_SHEET_UPDATED", *, user_id: str = "system"
    ) -> None:
        """Emit an event for a fact sheet without changing it (to replay deliveries in tests and demos)."""
        if event_type not in EVENT_PAYLOAD_TYPES:
            raise PatchError(f"Unknown event type: {event_type}")
        with self.lock:
            self._emit(event_type, self.require(fs_id), user_id)

    def archive(self, fs_id: str, *, user_id: str = "system") -> FactSheet:
        return self.apply_patches(
            fs_id, [{"op": "replace", "path": "/status", "value": "ARCHIVED"}], user_id=user_id
        )

    def add_relation(
        self, source_id: str, rel_name: str, target_id: str, *, user_id: str = "system", **attributes: Any
    ) -> Relation:
        """Link two fact sheets (as a patch on the source); returns the new relation."""
        value = json.dumps({"factSheetId": target_id, **attributes})
        before = {rid for rid, _ in ((r.id, n) for r, n in self.relations_of(source_id, rel_name))}
        self.apply_patches(
            source_id, [{"op": "add", "path": f"/{rel_name}/new_1", "value": value}], user_id=user_id
        )
        for rel, _ in self.relations_of(source_id, rel_name):
            if rel.id not in before:
                return rel
        raise PatchError("relation was not created")  # pragma: no cover - apply_patches raised already

    def bulk_create(self, fs_type: str, count: int, name_prefix: str | None = None) -> list[str]:
        """Create `count` plain fact sheets fast and silently (no events): for paging tests and benches."""
        if fs_type not in FACT_SHEET_TYPES:
            raise PatchError(f"Unknown fact sheet type: {fs_type}")
        prefix = name_prefix or f"Bulk {fs_type}"
        ids = []
        now = utcnow()
        with self.lock:
            type_ids = self._ids_by_type.setdefault(fs_type, [])
            for index in range(count):
                fs = FactSheet(
                    id=str(uuid.uuid4()),
                    type=fs_type,
                    name=f"{prefix} {index + 1:05d}",
                    created_at=now,
                    updated_at=now,
                )
                fs.write_count = 1
                self.fact_sheets[fs.id] = fs
                type_ids.append(fs.id)
                ids.append(fs.id)
        return ids

    # ----------------------------------------------------------------- patch machinery
    def _apply_patch(self, fs: FactSheet, staged: _Staged, patch: Any) -> None:
        if not isinstance(patch, dict):
            raise PatchError("A patch must be an object with op, path and value")
        op = patch.get("op")
        path = patch.get("path")
        value = patch.get("value")
        if op not in ("add", "replace", "remove"):
            raise PatchError(f"Invalid patch op: {op!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            raise PatchError(f"Invalid patch path: {path!r}")
        if value is not None and not isinstance(value, str):
            raise PatchError("Patch value must be a string (JSON-encode objects and arrays)")
        parts = path[1:].split("/")
        head = parts[0]
        if head in RELATION_NAMES:
            self._stage_relation(fs, staged, op, head, parts[1:], value)
            return
        if len(parts) > 1 and head != "lifecycle":
            raise PatchError(f"Unknown path: {path}")
        if head == "name":
            if op == "remove" or not value or not value.strip():
                raise PatchError("Fact sheet name must not be empty")
            staged.name = value
        elif head == "status":
            if op == "remove" or value not in ("ACTIVE", "ARCHIVED"):
                raise PatchError(f"Invalid status: {value!r} (ACTIVE or ARCHIVED)")
            staged.status = value
        elif head == "tags":
            self._stage_tag(fs, staged, op, _parse_json(value, "tags") if op != "remove" or value else None)
        elif head == "lifecycle" and len(parts) == 2:
            phase = parts[1]
            if phase not in LIFECYCLE_PHASES:
                raise PatchError(f"Unknown lifecycle phase: {phase}")
            lifecycle = staged.fields.get("lifecycle") or {"phases": []}
            phases = [p for p in lifecycle["phases"] if p["phase"] != phase]
            if op != "remove":
                phases.append({"phase": phase, "startDate": _parse_date(value)})
            phases.sort(key=lambda p: LIFECYCLE_PHASES.index(p["phase"]))
            staged.fields["lifecycle"] = {"phases": phases} if phases else None
            if not phases:
                staged.fields.pop("lifecycle", None)
        else:
            if op == "remove" or value is None:
                self._field_spec(fs, head)
                staged.fields.pop(head, None)
            else:
                staged.fields[head] = self._validate_field(fs, head, value)

    def _field_spec(self, fs: FactSheet, name: str) -> tuple[str, tuple[str, ...] | None]:
        spec = FIELD_SPECS.get(name)
        if spec is None or (spec[2] is not None and fs.type not in spec[2]):
            raise PatchError(f"Unknown field '{name}' for fact sheet type {fs.type}")
        return spec[0], spec[1]

    def _validate_field(self, fs: FactSheet, name: str, value: Any) -> Any:
        kind, allowed = self._field_spec(fs, name)
        if kind == "string":
            if not isinstance(value, str):
                raise PatchError(f"Field '{name}' takes a string")
            return value
        if kind == "enum":
            if value not in (allowed or ()):
                raise PatchError(
                    f"Invalid value {value!r} for field '{name}'; allowed: {', '.join(allowed or ())}"
                )
            return value
        if kind == "externalId":
            data = _parse_json(value, name) if isinstance(value, str) else value
            if (
                not isinstance(data, dict)
                or not isinstance(data.get("externalId"), str)
                or not data["externalId"]
            ):
                raise PatchError(f"Field '{name}' takes a JSON object with a non-empty externalId")
            allowed_keys = {
                "externalId",
                "type",
                "externalUrl",
                "comment",
                "status",
                "externalVersion",
                "forceWrite",
            }
            unknown = set(data) - allowed_keys
            if unknown:
                raise PatchError(f"Unknown keys in {name}: {', '.join(sorted(unknown))}")
            data.pop("forceWrite", None)
            return data
        # lifecycle: {"phases": [{"phase": ..., "startDate": "YYYY-MM-DD"}]}
        data = _parse_json(value, name) if isinstance(value, str) else value
        if not isinstance(data, dict) or not isinstance(data.get("phases"), list):
            raise PatchError("Field 'lifecycle' takes a JSON object with a list of phases")
        phases = []
        for item in data["phases"]:
            if not isinstance(item, dict) or item.get("phase") not in LIFECYCLE_PHASES:
                raise PatchError(f"Invalid lifecycle phase: {item!r}")
            phases.append({"phase": item["phase"], "startDate": _parse_date(item.get("startDate"))})
        phases.sort(key=lambda p: LIFECYCLE_PHASES.index(p["phase"]))
        return {"phases": phases}

    def _check_external_id(self, fs: FactSheet, staged: _Staged) -> None:
        ext = staged.fields.get("externalId")
        if isinstance(ext, dict):
            other = self._by_external_id.get((fs.type, ext["externalId"]))
            if other is not None and other != fs.id:
                raise PatchError(
                    f"External id '{ext['externalId']}' is already used by another {fs.type}",
                    "CONSTRAINT_VIOLATION",
                )

    def _resolve_tag(self, fs: FactSheet, staged: _Staged, item: Any) -> Tag:
        if not isinstance(item, dict):
            raise PatchError("A tag entry must be an object with tagId or tagName")
        if "tagId" in item:
            tag = self.tags.get(str(item["tagId"])) or next(
                (t for t in staged.new_tags if t.id == item["tagId"]), None
            )
            if tag is None:
                raise PatchError(f"Tag {item['tagId']} not found", "NOT_FOUND")
            return tag
        name = item.get("tagName")
        if not isinstance(name, str) or not name.strip():
            raise PatchError("A tag entry must carry tagId or a non-empty tagName")
        # `tagGroupName` next to `tagName` is an emulator extension (unsourced); default: ungrouped.
        group_name = item.get("tagGroupName")
        group_id = None
        if group_name is not None:
            group = self.tag_group_by_name(str(group_name))
            if group is None:
                raise PatchError(f"Tag group '{group_name}' not found", "NOT_FOUND")
            group_id = group.id
        existing = next((t for t in self.tags_in_group(group_id) if t.name == name), None) or next(
            (t for t in staged.new_tags if t.name == name and t.tag_group_id == group_id), None
        )
        if existing is not None:
            return existing
        tag = Tag(id=str(uuid.uuid4()), name=name, tag_group_id=group_id, color="#1f77b4")
        staged.new_tags.append(tag)
        return tag

    def _stage_tag(self, fs: FactSheet, staged: _Staged, op: str, items: Any) -> None:
        if op == "remove" and items is None:
            staged.tag_ids = []
            return
        if not isinstance(items, list):
            raise PatchError("The /tags value must be a JSON array of {tagId} or {tagName} objects")
        tags = [self._resolve_tag(fs, staged, item) for item in items]
        if op == "remove":
            remove_ids = {t.id for t in tags}
            staged.tag_ids = [t for t in staged.tag_ids if t not in remove_ids]
            return
        new_ids = [] if op == "replace" else list(staged.tag_ids)
        for tag in tags:
            if tag.id in new_ids:
                continue
            group = self.tag_groups.get(tag.tag_group_id) if tag.tag_group_id else None
            if group is not None:
                if group.restrict_to_fact_sheet_types and fs.type not in group.restrict_to_fact_sheet_types:
                    raise PatchError(f"Tag group '{group.name}' is not available for {fs.type}")
                if group.mode == "SINGLE":
                    clash = [
                        tid
                        for tid in new_ids
                        if (t := self._any_tag(tid, staged)) and t.tag_group_id == group.id
                    ]
                    if clash:
                        raise PatchError(
                            f"A tag of the single-select tag group '{group.name}' is already set",
                            "CONSTRAINT_VIOLATION",
                        )
            new_ids.append(tag.id)
        staged.tag_ids = new_ids

    def _any_tag(self, tag_id: str, staged: _Staged) -> Tag | None:
        return self.tags.get(tag_id) or next((t for t in staged.new_tags if t.id == tag_id), None)

    def _stage_relation(
        self, fs: FactSheet, staged: _Staged, op: str, rel_name: str, rest: list[str], value: str | None
    ) -> None:
        rel_type, forward = RELATION_NAMES[rel_name]
        own_side = rel_type.source_type if forward else rel_type.target_type
        if own_side is not None and own_side != fs.type:
            raise PatchError(f"Unknown field '{rel_name}' for fact sheet type {fs.type}")
        if len(rest) != 1 or not rest[0]:
            raise PatchError(f"Relation path must be /{rel_name}/<relationId or new_x>")
        key = rest[0]
        if op == "remove":
            rel = self.relations.get(key)
            if rel is None or fs.id not in (rel.source_id, rel.target_id) or rel.type is not rel_type:
                raise PatchError(f"Relation {key} not found on {rel_name}", "NOT_FOUND")
            staged.removed_relations.add(key)
            return
        data = _parse_json(value, rel_name)
        if not isinstance(data, dict) or not isinstance(data.get("factSheetId"), str):
            raise PatchError(f"The {rel_name} value must be a JSON object with factSheetId")
        other = self.fact_sheets.get(data["factSheetId"])
        if other is None:
            raise PatchError(f"Fact Sheet {data['factSheetId']} not found", "NOT_FOUND")
        other_side = rel_type.target_type if forward else rel_type.source_type
        if other_side is not None and other.type != other_side:
            raise PatchError(f"{rel_name} must point to a {other_side}, not a {other.type}")
        if other_side is None and other.type != fs.type:
            raise PatchError(f"{rel_name} must point to a fact sheet of the same type ({fs.type})")
        if other.id == fs.id:
            raise PatchError("A fact sheet cannot be related to itself")
        attributes = {k: v for k, v in data.items() if k != "factSheetId"}
        source_id, target_id = (fs.id, other.id) if forward else (other.id, fs.id)
        if op == "replace" and not key.startswith("new_"):
            rel = self.relations.get(key)
            if rel is None or rel.type is not rel_type or fs.id not in (rel.source_id, rel.target_id):
                raise PatchError(f"Relation {key} not found on {rel_name}", "NOT_FOUND")
            if (rel.source_id, rel.target_id) != (source_id, target_id):
                staged.removed_relations.add(key)
            else:
                staged.replaced_relations[key] = attributes
                return
        existing = [
            r for r in self.relations.values() if r.type is rel_type and r.id not in staged.removed_relations
        ]
        pending = existing + staged.new_relations
        if any(r.source_id == source_id and r.target_id == target_id for r in pending):
            raise PatchError(f"Relation {rel_name} to {other.id} already exists", "CONSTRAINT_VIOLATION")
        if rel_type.to_one and any(r.source_id == source_id for r in pending):
            raise PatchError(f"{rel_type.name} allows one related fact sheet only", "CONSTRAINT_VIOLATION")
        staged.new_relations.append(
            Relation(
                id=str(uuid.uuid4()),
                type=rel_type,
                source_id=source_id,
                target_id=target_id,
                attributes=attributes,
            )
        )

    def _commit(self, fs: FactSheet, staged: _Staged) -> None:
        old_ext = fs.external_id
        fs.name = staged.name
        fs.status = staged.status
        fs.fields = staged.fields
        fs.tag_ids = staged.tag_ids
        for tag in staged.new_tags:
            if tag.id in fs.tag_ids:
                self.tags[tag.id] = tag
        if old_ext is not None:
            self._by_external_id.pop((fs.type, old_ext), None)
        if fs.external_id is not None:
            self._by_external_id[(fs.type, fs.external_id)] = fs.id
        for rel_id in staged.removed_relations:
            rel = self.relations.pop(rel_id)
            for side in (rel.source_id, rel.target_id):
                self._relations_by_fs[side].remove(rel_id)
        for rel_id, attrs in staged.replaced_relations.items():
            self.relations[rel_id].attributes = attrs
        for rel in staged.new_relations:
            self.relations[rel.id] = rel
            self._relations_by_fs.setdefault(rel.source_id, []).append(rel.id)
            self._relations_by_fs.setdefault(rel.target_id, []).append(rel.id)

    # ----------------------------------------------------------------- shapes
    def _tag_dict(self, tag_id: str) -> dict[str, Any]:
        tag = self.tags.get(tag_id)
        if tag is None:
            return {"id": tag_id}
        group = self.tag_groups.get(tag.tag_group_id) if tag.tag_group_id else None
        return {
            "id": tag.id,
            "name": tag.name,
            "tagGroup": {"id": group.id, "name": group.name} if group else None,
        }

    def _relation_dict(self, rel: Relation) -> dict[str, Any]:
        return {
            "id": rel.id,
            "type": rel.type.name,
            "fromId": rel.source_id,
            "toId": rel.target_id,
            "attributes": dict(rel.attributes),
        }

    def webhook_fact_sheet(self, fs: FactSheet) -> dict[str, Any]:
        """The fact sheet as LeanIX puts it into a webhook payload (leanix-api.md §4.4)."""
        fields = [{"name": k, "data": v} for k, v in sorted(fs.fields.items())]
        relations = [
            {
                "id": rel.id,
                "type": seen_as,
                "targetId": rel.target_id if rel.source_id == fs.id else rel.source_id,
            }
            for rel, seen_as in self.relations_of(fs.id)
        ]
        return {
            "id": fs.id,
            "rev": fs.rev,
            "name": fs.name,
            "displayName": fs.name,
            "fullName": fs.name,
            "type": fs.type,
            "level": 1,
            "status": fs.status,
            "lxState": fs.fields.get("lxState", "DRAFT"),
            "createdAt": iso(fs.created_at),
            "updatedAt": iso(fs.updated_at),
            "fields": fields,
            "naFields": [],
            "tags": [self._tag_dict(t) for t in fs.tag_ids],
            "relations": relations,
            "documents": [],
            "milestones": [],
            "subscriptions": [],
            "permittedReadACL": [],
            "permittedWriteACL": [],
            "lxExcludeFromQuota": False,
        }


def _parse_json(value: Any, what: str) -> Any:
    if not isinstance(value, str):
        raise PatchError(f"The {what} value must be a JSON-encoded string")
    try:
        return json.loads(value)
    except ValueError as exc:
        raise PatchError(f"The {what} value is not valid JSON: {exc.msg}") from None


def _parse_date(value: Any) -> str:
    if not isinstance(value, str):
        raise PatchError("A lifecycle startDate must be a YYYY-MM-DD string")
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise PatchError(f"Invalid date {value!r} (YYYY-MM-DD)") from None


# --------------------------------------------------------------------------- technical users


@dataclass
class TechnicalUser:
    """A technical user and its one API token (the token string is never part of repr)."""

    id: str
    user_name: str
    permission_role: str
    token: str = field(repr=False)
    token_id: str
    expiry: datetime | None = None
    token_description: str | None = None
    email: str | None = None
    customer_roles: str | None = None
    access_control_entities: str | None = None

    def as_data(self, emulator: Emulator, include_token: bool = False) -> dict[str, Any]:
        """`TechnicalUserData`; the token appears only when it was just created or replaced."""
        token_data: dict[str, Any] = {
            "id": self.token_id,
            "description": self.token_description,
            "expiry": iso(self.expiry) if self.expiry else None,
        }
        if include_token:
            token_data["token"] = self.token
        return {
            "id": self.id,
            "userName": self.user_name,
            "email": self.email,
            "permissionRole": self.permission_role,
            "customerRoles": self.customer_roles,
            "accessControlEntities": self.access_control_entities,
            "accountId": emulator.account_id,
            "workspaceId": emulator.workspace.id,
            "apiTokenData": token_data,
        }


def new_api_token() -> str:
    return "LXT_" + secrets.token_urlsafe(30).replace("-", "x").replace("_", "y")


@dataclass
class Stats:
    requests: int = 0
    rate_limited: int = 0
    faults_injected: int = 0
    tokens_issued: int = 0


class Emulator:
    """Owns the config, the workspace, technical users and the per-module state slots.

    Control methods (`reset`, `update_config`, `add_fault`, `clear_faults`, `bulk_create`,
    `advance_time`) are what `/_emulator/...` calls, and what in-process tests call directly.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        from local.emulator.faults import FaultRegistry, RateLimiter

        self.config = config or EmulatorConfig()
        self.account_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "leanix-emulator-account"))
        self.workspace_id = self.config.workspace_id or str(uuid.uuid4())
        self.signing_key = secrets.token_bytes(32)
        self.lock = threading.RLock()
        self._time_offset = 0.0
        self.base_url = "http://127.0.0.1"
        self.faults: FaultRegistry = FaultRegistry()
        self.rate_limiter: RateLimiter = RateLimiter(self.config.rate_limit_per_minute, clock=self.now)
        self.stats = Stats()
        self.workspace = Workspace(self.workspace_id, self.config.workspace_name)
        self.technical_users: dict[str, TechnicalUser] = {}
        self._users_by_token: dict[str, str] = {}
        self.admin: TechnicalUser
        # The seeded admin's token survives resets, so a running client keeps working.
        self.api_token = self.config.api_token or new_api_token()
        # Per-module state slots the services modules set on first use (cleared on reset).
        self.webhooks: Any = None
        self.metrics: Any = None
        self.integration: Any = None
        # Background tasks (webhook senders, sync-run drivers). The loop keeps only weak references,
        # so a task waiting on an event nobody will set would be garbage-collected while pending.
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tasks_lock = threading.Lock()
        self.reset(self.config.seed)

    # ----------------------------------------------------------------- background tasks
    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """Run `coro` as a task on the running loop and keep it referenced until it ends."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        with self._tasks_lock:
            self._tasks.add(task)
        task.add_done_callback(self._forget_task)
        return task

    def _forget_task(self, task: asyncio.Task[Any]) -> None:
        with self._tasks_lock:
            self._tasks.discard(task)

    def cancel_tasks(self) -> None:
        """Cancel every background task, from any thread (each is cancelled on its own loop)."""
        with self._tasks_lock:
            tasks = list(self._tasks)
        for task in tasks:
            cancel_task(task)

    async def aclose(self) -> None:
        """Cancel the background tasks of the running loop and wait until they have ended."""
        loop = asyncio.get_running_loop()
        with self._tasks_lock:
            tasks = [task for task in self._tasks if task.get_loop() is loop]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ----------------------------------------------------------------- time
    def now(self) -> float:
        """Emulator time in epoch seconds: wall clock plus whatever `advance_time` added."""
        return time.time() + self._time_offset

    def now_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now(), UTC)

    def advance_time(self, seconds: float) -> None:
        """Move the emulator's clock forward (token expiry, rate-limit refill) without sleeping."""
        with self.lock:
            self._time_offset += seconds

    # ----------------------------------------------------------------- controls
    def reset(self, seed: str | None = None) -> None:
        """Throw away all state and load `seed` ('demo' or 'empty'); keeps the admin's API token."""
        from local.emulator.seed import SEEDS, apply_seed

        seed = seed or self.config.seed
        if seed not in SEEDS:  # refuse before throwing the current state away
            raise ValueError(f"unknown seed {seed!r}; choose one of {', '.join(SEEDS)}")
        with self.lock:
            if self.webhooks is not None:
                self.webhooks.close()
            self.cancel_tasks()  # senders and run drivers of the state thrown away here
            self.workspace = Workspace(self.workspace_id, self.config.workspace_name)
            self.technical_users = {}
            self._users_by_token = {}
            self.webhooks = None
            self.metrics = None
            self.integration = None
            self.faults.clear()
            self.rate_limiter.reset()
            self.stats = Stats()
            self._time_offset = 0.0
            # A stable admin id keeps bearer tokens issued before a reset valid after it.
            self.admin = self.create_technical_user(
                "emulator-admin",
                "ADMIN",
                token=self.api_token,
                user_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"admin:{self.workspace_id}")),
            )
            self.workspace.silent = True
            try:
                apply_seed(self, seed)
            finally:
                self.workspace.silent = False
            # Write counters count what clients do, not the seed.
            for fs in self.workspace.fact_sheets.values():
                fs.write_count = 0
            self.workspace.total_writes = 0

    def update_config(self, **changes: Any) -> EmulatorConfig:
        """Change run-time knobs (e.g. `rate_limit_per_minute`); unknown names raise `ValueError`."""
        with self.lock:
            for key, value in changes.items():
                if not hasattr(self.config, key):
                    raise ValueError(f"unknown config field: {key}")
                setattr(
                    self.config, key, type(getattr(self.config, key))(value) if value is not None else None
                )
            self.rate_limiter.set_limit(self.config.rate_limit_per_minute)
            return self.config

    def add_fault(self, **spec: Any) -> str:
        """Register a fault (see `faults.FaultSpec`); returns its id."""
        return self.faults.add(**spec)

    def clear_faults(self) -> None:
        self.faults.clear()

    def bulk_create(self, fs_type: str, n: int) -> list[str]:
        """Create `n` fact sheets of `fs_type` quickly (no events)."""
        return self.workspace.bulk_create(fs_type, n)

    # ----------------------------------------------------------------- technical users
    def create_technical_user(
        self,
        user_name: str,
        permission_role: str,
        *,
        token: str | None = None,
        expiry: datetime | None = None,
        description: str | None = None,
        email: str | None = None,
        user_id: str | None = None,
    ) -> TechnicalUser:
        """Create a technical user with a fresh API token (or `token`)."""
        with self.lock:
            user = TechnicalUser(
                id=user_id or str(uuid.uuid4()),
                user_name=user_name,
                permission_role=permission_role,
                token=token or new_api_token(),
                token_id=str(uuid.uuid4()),
                expiry=expiry,
                token_description=description,
                email=email,
            )
            self.technical_users[user.id] = user
            self._users_by_token[user.token] = user.id
            return user

    def replace_token(self, user_id: str) -> TechnicalUser:
        """Give the user a new API token; the old one stops working at once. Expiry is kept."""
        with self.lock:
            user = self.technical_users[user_id]
            self._users_by_token.pop(user.token, None)
            user.token = new_api_token()
            user.token_id = str(uuid.uuid4())
            self._users_by_token[user.token] = user.id
            if user is self.admin:
                self.api_token = user.token
            return user

    def delete_technical_user(self, user_id: str) -> None:
        with self.lock:
            user = self.technical_users.pop(user_id)
            self._users_by_token.pop(user.token, None)

    def user_for_api_token(self, token: str) -> TechnicalUser | None:
        """The technical user whose current, unexpired API token is `token`."""
        user_id = self._users_by_token.get(token)
        if user_id is None:
            return None
        user = self.technical_users.get(user_id)
        if user is None:
            return None
        if user.expiry is not None and user.expiry.timestamp() <= self.now():
            return None
        return user


@dataclass
class Principal:
    """Who a request comes from, as the auth middleware puts it on `request.state.principal`."""

    user_id: str
    role: str
    workspace_id: str
    user_name: str = ""
    claims: dict[str, Any] = field(default_factory=dict, repr=False)


def cancel_task(task: asyncio.Task[Any]) -> None:
    """Cancel `task` on its own loop, whichever thread calls (a closed loop has nothing to cancel)."""
    if task.done():
        return
    loop = task.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is running:
        task.cancel()
    elif not loop.is_closed():
        with contextlib.suppress(RuntimeError):  # closed between the check and the call
            loop.call_soon_threadsafe(task.cancel)

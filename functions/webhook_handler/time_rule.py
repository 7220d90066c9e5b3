"""The TIME rule: classify an Application from its fits and plan the GraphQL patches. Pure: no I/O.

The matrix (reference/time-model.md) is data, not if-chains: each fit value maps to "high" or
"low", and the pair (functional high?, technical high?) maps to the class. The plan compares
before it writes, so an Application that is already right yields no update, and applying a plan
then planning again yields nothing (our own write never asks for another write).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.errors import ConfigurationError, InputError


class TimeClass(StrEnum):
    """Gartner TIME classes as LeanIX names them."""

    TOLERATE = "Tolerate"
    INVEST = "Invest"
    MIGRATE = "Migrate"
    ELIMINATE = "Eliminate"


# Fit value -> is it the "high" half of the axis (time-model.md).
FUNCTIONAL_FIT_IS_HIGH: dict[str, bool] = {
    "unreasonable": False,
    "insufficient": False,
    "appropriate": True,
    "perfect": True,
}
TECHNICAL_FIT_IS_HIGH: dict[str, bool] = {
    "inappropriate": False,
    "unreasonable": False,
    "adequate": True,
    "fullyAppropriate": True,
}
# (functional fit high, technical fit high) -> class.
TIME_MATRIX: dict[tuple[bool, bool], TimeClass] = {
    (False, True): TimeClass.TOLERATE,
    (True, True): TimeClass.INVEST,
    (True, False): TimeClass.MIGRATE,
    (False, False): TimeClass.ELIMINATE,
}


class UnknownFitValueError(InputError, ValueError):
    """A fit field holds a value outside the Application meta model's keys."""


def classify(functional: str | None, technical: str | None) -> TimeClass | None:
    """The TIME class of an Application, or None when either fit is missing (None or empty).

    Raises `UnknownFitValueError` naming the value when a fit is not one of the meta-model keys.
    """
    if not functional or not technical:
        return None
    functional_high = _fit_level(FUNCTIONAL_FIT_IS_HIGH, functional, "functional fit")
    technical_high = _fit_level(TECHNICAL_FIT_IS_HIGH, technical, "technical fit")
    return TIME_MATRIX[(functional_high, technical_high)]


def _fit_level(levels: dict[str, bool], value: str, what: str) -> bool:
    try:
        return levels[value]
    except KeyError:
        expected = ", ".join(levels)
        raise UnknownFitValueError(f"unknown {what} value {value!r}: expected one of {expected}") from None


class TargetMode(StrEnum):
    """Where the TIME class is stored (time-model.md, "Where it is stored")."""

    TAG_GROUP = "tag_group"
    FIELD = "field"


def _default_names() -> dict[TimeClass, str]:
    return {time_class: time_class.value for time_class in TimeClass}


def _default_field_values() -> dict[TimeClass, str]:
    # Single-select keys are lower camel case in LeanIX; the real keys are workspace configuration.
    return {time_class: time_class.value.lower() for time_class in TimeClass}


class TimeRuleConfig(BaseModel):
    """Where the TIME class goes and which fields hold the fits. Validated once, at start-up.

    JSON keys (the `TIME_RULE_CONFIG` setting): `mode` ("tag_group" or "field"), `tag_group`,
    `tag_names` ({class: tag name}), `field`, `field_values` ({class: field value}),
    `functional_field`, `technical_field`. Partial name maps are completed with the defaults.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: TargetMode = TargetMode.TAG_GROUP
    tag_group: str = "TIME"
    tag_names: dict[TimeClass, str] = Field(default_factory=_default_names)
    field: str = ""
    field_values: dict[TimeClass, str] = Field(default_factory=_default_field_values)
    functional_field: str = "functionalSuitability"
    technical_field: str = "technicalSuitability"

    @field_validator("tag_names", mode="before")
    @classmethod
    def _complete_tag_names(cls, value: Any) -> Any:
        return {**_default_names(), **value} if isinstance(value, dict) else value

    @field_validator("field_values", mode="before")
    @classmethod
    def _complete_field_values(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {**_default_field_values(), **value}
        return value

    @field_validator("tag_group", "field", "functional_field", "technical_field")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _check(self) -> TimeRuleConfig:
        for name in ("functional_field", "technical_field"):
            if not getattr(self, name):
                raise ValueError(f"{name} must not be empty")
        if self.functional_field == self.technical_field:
            raise ValueError("functional_field and technical_field must name different fields")
        if self.mode is TargetMode.TAG_GROUP:
            if not self.tag_group:
                raise ValueError("tag_group must not be empty in tag_group mode")
            _check_one_to_one(self.tag_names, "tag_names")
        else:
            if not self.field:
                raise ValueError("field must name the Application field that holds the TIME class")
            if self.field in {self.functional_field, self.technical_field}:
                raise ValueError(f"field {self.field!r} must not be one of the fit fields")
            _check_one_to_one(self.field_values, "field_values")
        return self


def _check_one_to_one(names: dict[TimeClass, str], setting: str) -> None:
    seen: dict[str, TimeClass] = {}
    for time_class in TimeClass:
        name = names[time_class].strip()
        if not name:
            raise ValueError(f"{setting}.{time_class.value} must not be empty")
        if name in seen:
            raise ValueError(
                f"{setting}: {seen[name].value} and {time_class.value} are both mapped to {name!r}; "
                "each class needs its own value"
            )
        seen[name] = time_class


def load_time_rule_config(raw: str | None) -> TimeRuleConfig:
    """Read the `TIME_RULE_CONFIG` JSON setting; empty or None gives the defaults (tag group "TIME").

    Raises `ConfigurationError` naming the setting and the problem.
    """
    if raw is None or not raw.strip():
        return TimeRuleConfig()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"TIME_RULE_CONFIG is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError("TIME_RULE_CONFIG must be a JSON object")
    try:
        return TimeRuleConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            location = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{location}: {message}" if location else message)
        raise ConfigurationError("TIME_RULE_CONFIG is invalid: " + "; ".join(problems)) from None


class TimeUpdate(BaseModel):
    """What `updateFactSheet` must do: the patches, the `rev` to lock on, and why."""

    model_config = ConfigDict(frozen=True)

    fact_sheet_id: str
    rev: int | None
    desired: TimeClass | None
    patches: list[dict[str, str | None]]
    reason: str


def plan_time_update(
    fact_sheet: dict[str, Any], config: TimeRuleConfig, tag_ids_by_name: dict[str, str]
) -> TimeUpdate | None:
    """Plan the write that makes an Application's TIME class match its fits; None when it already does.

    `fact_sheet` is the GraphQL Application (`id`, `rev`, the fit fields, `tags` with `tagGroup.name`,
    or the target field). `tag_ids_by_name` maps the TIME group's tag names to tag ids; it is only
    needed when a tag must be added. Tags of other groups are never touched. Raises
    `UnknownFitValueError` for an unknown fit value, `InputError` for a fact sheet without `id`, and
    `ConfigurationError` when the tag to add is missing from `tag_ids_by_name`.
    """
    fact_sheet_id = fact_sheet.get("id")
    if not isinstance(fact_sheet_id, str) or not fact_sheet_id:
        raise InputError("fact sheet has no 'id'; cannot plan a TIME update")
    rev = fact_sheet.get("rev")
    functional = fact_sheet.get(config.functional_field)
    technical = fact_sheet.get(config.technical_field)
    desired = classify(functional, technical)
    fits = f"{config.functional_field}={functional}, {config.technical_field}={technical}"
    if config.mode is TargetMode.TAG_GROUP:
        plan = _plan_tags(fact_sheet, config, tag_ids_by_name, desired)
    else:
        plan = _plan_field(fact_sheet, config, desired)
    if plan is None:
        return None
    patches, change = plan
    return TimeUpdate(
        fact_sheet_id=fact_sheet_id,
        rev=rev if isinstance(rev, int) and not isinstance(rev, bool) else None,
        desired=desired,
        patches=patches,
        reason=f"{fits} -> {desired.value if desired else 'no TIME class'}; {change}",
    )


def _plan_tags(
    fact_sheet: dict[str, Any],
    config: TimeRuleConfig,
    tag_ids_by_name: dict[str, str],
    desired: TimeClass | None,
) -> tuple[list[dict[str, str | None]], str] | None:
    current = [tag for tag in fact_sheet.get("tags") or [] if _in_group(tag, config.tag_group)]
    for tag in current:
        if not tag.get("id"):
            raise InputError(f"a {config.tag_group} tag on fact sheet {fact_sheet.get('id')} has no 'id'")
    wanted_name = config.tag_names[desired] if desired else None
    wanted_tags = [tag for tag in current if wanted_name is not None and tag.get("name") == wanted_name]
    # Keep one tag with the wanted name; every other tag of the group goes.
    remove_ids = [str(tag["id"]) for tag in current if not wanted_tags or tag is not wanted_tags[0]]
    add_needed = wanted_name is not None and not wanted_tags
    if not remove_ids and not add_needed:
        return None
    patches: list[dict[str, str | None]] = []
    # Remove before add: a SINGLE-mode tag group rejects a second tag of the group.
    if remove_ids:
        patches.append({"op": "remove", "path": "/tags", "value": _tag_refs(remove_ids)})
    if add_needed and wanted_name is not None:
        tag_id = tag_ids_by_name.get(wanted_name)
        if not tag_id:
            raise ConfigurationError(
                f"tag {wanted_name!r} was not found in tag group {config.tag_group!r}: create it in "
                "LeanIX or fix tag_names in TIME_RULE_CONFIG"
            )
        patches.append({"op": "add", "path": "/tags", "value": _tag_refs([tag_id])})
    before = sorted(str(tag.get("name")) for tag in current)
    after = [wanted_name] if wanted_name else []
    return patches, f"{config.tag_group} tags {before} -> {after}"


def _plan_field(
    fact_sheet: dict[str, Any], config: TimeRuleConfig, desired: TimeClass | None
) -> tuple[list[dict[str, str | None]], str] | None:
    current = fact_sheet.get(config.field)
    wanted = config.field_values[desired] if desired else None
    if current == wanted or (not current and wanted is None):
        return None
    # A single-select value is the plain key; `null` clears the field (graphql-shapes.md §5).
    patch: dict[str, str | None] = {"op": "replace", "path": f"/{config.field}", "value": wanted}
    return [patch], f"{config.field} {current!r} -> {wanted!r}"


def _in_group(tag: Any, group: str) -> bool:
    # Ungrouped tags have `tagGroup: null`; they are never ours, whatever their name.
    tag_group = tag.get("tagGroup") if isinstance(tag, dict) else None
    return isinstance(tag_group, dict) and tag_group.get("name") == group


def _tag_refs(tag_ids: list[str]) -> str:
    return json.dumps([{"tagId": tag_id} for tag_id in tag_ids], separators=(",", ":"))

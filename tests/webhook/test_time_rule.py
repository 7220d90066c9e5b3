"""The TIME rule: the matrix, its configuration, and the compare-before-write plan."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest

from functions.webhook_handler.time_rule import (
    TargetMode,
    TimeClass,
    TimeRuleConfig,
    TimeUpdate,
    UnknownFitValueError,
    classify,
    load_time_rule_config,
    plan_time_update,
)
from shared.errors import ConfigurationError, InputError

FUNCTIONAL = ["unreasonable", "insufficient", "appropriate", "perfect"]
TECHNICAL = ["inappropriate", "unreasonable", "adequate", "fullyAppropriate"]

# The matrix of time-model.md written out row by row, independent of the module's tables.
EXPECTED: dict[tuple[str, str], TimeClass] = {
    ("unreasonable", "inappropriate"): TimeClass.ELIMINATE,
    ("unreasonable", "unreasonable"): TimeClass.ELIMINATE,
    ("unreasonable", "adequate"): TimeClass.TOLERATE,
    ("unreasonable", "fullyAppropriate"): TimeClass.TOLERATE,
    ("insufficient", "inappropriate"): TimeClass.ELIMINATE,
    ("insufficient", "unreasonable"): TimeClass.ELIMINATE,
    ("insufficient", "adequate"): TimeClass.TOLERATE,
    ("insufficient", "fullyAppropriate"): TimeClass.TOLERATE,
    ("appropriate", "inappropriate"): TimeClass.MIGRATE,
    ("appropriate", "unreasonable"): TimeClass.MIGRATE,
    ("appropriate", "adequate"): TimeClass.INVEST,
    ("appropriate", "fullyAppropriate"): TimeClass.INVEST,
    ("perfect", "inappropriate"): TimeClass.MIGRATE,
    ("perfect", "unreasonable"): TimeClass.MIGRATE,
    ("perfect", "adequate"): TimeClass.INVEST,
    ("perfect", "fullyAppropriate"): TimeClass.INVEST,
}

TAG_IDS = {
    "Tolerate": "tag-tolerate",
    "Invest": "tag-invest",
    "Migrate": "tag-migrate",
    "Eliminate": "tag-eliminate",
}
OTHER_GROUP_TAG = {"id": "tag-cloud", "name": "Cloud", "tagGroup": {"name": "Hosting"}}
UNGROUPED_INVEST = {"id": "tag-loose", "name": "Invest", "tagGroup": None}


def time_tag(name: str) -> dict[str, Any]:
    return {"id": TAG_IDS[name], "name": name, "tagGroup": {"name": "TIME"}}


def application(
    functional: str | None, technical: str | None, tags: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": "app-1",
        "rev": 7,
        "functionalSuitability": functional,
        "technicalSuitability": technical,
        "tags": tags or [],
        **extra,
    }


def apply_plan(fact_sheet: dict[str, Any], update: TimeUpdate) -> dict[str, Any]:
    """Apply the patches the way the GraphQL API does (what the emulator must do too)."""
    result = copy.deepcopy(fact_sheet)
    names_by_id = {tag_id: name for name, tag_id in TAG_IDS.items()}
    for patch in update.patches:
        if patch["path"] == "/tags":
            assert patch["value"] is not None
            ids = [ref["tagId"] for ref in json.loads(patch["value"])]
            if patch["op"] == "remove":
                result["tags"] = [tag for tag in result["tags"] if tag["id"] not in ids]
            else:
                assert patch["op"] == "add"
                result["tags"] += [time_tag(names_by_id[tag_id]) for tag_id in ids]
        else:
            assert patch["op"] == "replace"
            result[patch["path"].removeprefix("/")] = patch["value"]
    result["rev"] += 1
    return result


# --- classify -------------------------------------------------------------------------------------


def test_expected_table_covers_all_sixteen_combinations() -> None:
    assert set(EXPECTED) == set(itertools.product(FUNCTIONAL, TECHNICAL))


@pytest.mark.parametrize(("functional", "technical"), sorted(EXPECTED))
def test_classify_follows_the_time_matrix(functional: str, technical: str) -> None:
    assert classify(functional, technical) is EXPECTED[(functional, technical)]


@pytest.mark.parametrize(
    ("functional", "technical"),
    [(None, "adequate"), ("perfect", None), (None, None), ("", "adequate"), ("perfect", "")],
)
def test_missing_fit_has_no_time_class(functional: str | None, technical: str | None) -> None:
    assert classify(functional, technical) is None


@pytest.mark.parametrize(
    ("functional", "technical", "bad"),
    [
        ("great", "adequate", "'great'"),
        ("perfect", "Adequate", "'Adequate'"),
        # `inappropriate` is a technical value only; `fullyAppropriate` likewise.
        ("inappropriate", "adequate", "functional fit value 'inappropriate'"),
        ("appropriate", "perfect", "technical fit value 'perfect'"),
    ],
)
def test_unknown_fit_value_is_named(functional: str, technical: str, bad: str) -> None:
    with pytest.raises(UnknownFitValueError, match=bad) as caught:
        classify(functional, technical)

    assert isinstance(caught.value, InputError)
    assert isinstance(caught.value, ValueError)


# --- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_empty_setting_gives_the_defaults(raw: str | None) -> None:
    config = load_time_rule_config(raw)

    assert config == TimeRuleConfig()
    assert config.mode is TargetMode.TAG_GROUP
    assert config.tag_group == "TIME"
    assert config.tag_names == {c: c.value for c in TimeClass}
    assert config.functional_field == "functionalSuitability"
    assert config.technical_field == "technicalSuitability"


def test_partial_tag_names_are_completed_with_the_defaults() -> None:
    config = load_time_rule_config('{"tag_group": "Gartner TIME", "tag_names": {"Invest": "Investieren"}}')

    assert config.tag_group == "Gartner TIME"
    assert config.tag_names[TimeClass.INVEST] == "Investieren"
    assert config.tag_names[TimeClass.TOLERATE] == "Tolerate"


def test_field_mode_config() -> None:
    config = load_time_rule_config(
        json.dumps({"mode": "field", "field": "timeClassification", "field_values": {"Migrate": "migration"}})
    )

    assert config.mode is TargetMode.FIELD
    assert config.field == "timeClassification"
    assert config.field_values[TimeClass.MIGRATE] == "migration"
    assert config.field_values[TimeClass.INVEST] == "invest"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            '{"tag_names": {"Tolerate": "Keep", "Eliminate": "Keep"}}',
            "Tolerate and Eliminate are both mapped to 'Keep'",
        ),
        ('{"tag_names": {"Invest": " "}}', "tag_names.Invest must not be empty"),
        ('{"tag_names": {"invest": "x"}}', "tag_names.invest"),
        ('{"mode": "field"}', "field must name the Application field"),
        ('{"mode": "field", "field": "   "}', "field must name"),
        ('{"mode": "field", "field": "t", "field_values": {"Invest": "x", "Migrate": "x"}}', "both mapped"),
        ('{"mode": "field", "field": "functionalSuitability"}', "must not be one of the fit fields"),
        ('{"mode": "label"}', "mode"),
        ('{"tag_group": ""}', "tag_group must not be empty"),
        ('{"functional_field": ""}', "functional_field must not be empty"),
        ('{"technical_field": "functionalSuitability"}', "must name different fields"),
        ('{"tag_grup": "TIME"}', "tag_grup"),
        ("{not json", "not valid JSON"),
        ('["TIME"]', "must be a JSON object"),
    ],
)
def test_bad_config_is_a_clear_configuration_error(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match="TIME_RULE_CONFIG") as caught:
        load_time_rule_config(raw)

    assert message in str(caught.value)


# --- plan: tag group mode -------------------------------------------------------------------------


def test_untagged_application_gets_its_tag() -> None:
    update = plan_time_update(application("perfect", "adequate"), TimeRuleConfig(), TAG_IDS)

    assert update is not None
    assert update.fact_sheet_id == "app-1"
    assert update.rev == 7
    assert update.desired is TimeClass.INVEST
    assert update.patches == [{"op": "add", "path": "/tags", "value": '[{"tagId":"tag-invest"}]'}]
    assert "Invest" in update.reason


def test_wrong_tag_is_removed_and_right_one_added_in_one_patch_list() -> None:
    fact_sheet = application("perfect", "inappropriate", [time_tag("Invest"), OTHER_GROUP_TAG])

    update = plan_time_update(fact_sheet, TimeRuleConfig(), TAG_IDS)

    assert update is not None
    assert update.desired is TimeClass.MIGRATE
    assert update.patches == [
        {"op": "remove", "path": "/tags", "value": '[{"tagId":"tag-invest"}]'},
        {"op": "add", "path": "/tags", "value": '[{"tagId":"tag-migrate"}]'},
    ]


def test_right_tag_means_no_write() -> None:
    fact_sheet = application("insufficient", "adequate", [OTHER_GROUP_TAG, time_tag("Tolerate")])

    assert plan_time_update(fact_sheet, TimeRuleConfig(), TAG_IDS) is None


def test_right_tag_plus_a_stale_one_removes_only_the_stale_one() -> None:
    fact_sheet = application("insufficient", "adequate", [time_tag("Eliminate"), time_tag("Tolerate")])

    update = plan_time_update(fact_sheet, TimeRuleConfig(), TAG_IDS)

    assert update is not None
    assert update.patches == [{"op": "remove", "path": "/tags", "value": '[{"tagId":"tag-eliminate"}]'}]


def test_missing_fit_without_time_tag_means_no_write() -> None:
    assert plan_time_update(application(None, "adequate", [OTHER_GROUP_TAG]), TimeRuleConfig(), {}) is None


def test_missing_fit_with_stale_time_tags_removes_them() -> None:
    fact_sheet = application("perfect", None, [time_tag("Invest"), OTHER_GROUP_TAG, time_tag("Migrate")])

    update = plan_time_update(fact_sheet, TimeRuleConfig(), {})

    assert update is not None
    assert update.desired is None
    assert update.patches == [
        {"op": "remove", "path": "/tags", "value": '[{"tagId":"tag-invest"},{"tagId":"tag-migrate"}]'}
    ]
    assert "no TIME class" in update.reason


def test_tags_outside_the_time_group_are_never_touched() -> None:
    fact_sheet = application("unreasonable", "inappropriate", [OTHER_GROUP_TAG, UNGROUPED_INVEST])

    update = plan_time_update(fact_sheet, TimeRuleConfig(), TAG_IDS)

    assert update is not None
    assert update.patches == [{"op": "add", "path": "/tags", "value": '[{"tagId":"tag-eliminate"}]'}]


def test_patch_values_are_json_encoded_strings() -> None:
    fact_sheet = application("perfect", "unreasonable", [time_tag("Tolerate")])

    update = plan_time_update(fact_sheet, TimeRuleConfig(), TAG_IDS)

    assert update is not None
    for patch in update.patches:
        assert isinstance(patch["value"], str)
        assert isinstance(json.loads(patch["value"]), list)


def test_custom_tag_group_and_names_are_used() -> None:
    config = TimeRuleConfig(tag_group="Gartner", tag_names={TimeClass.INVEST: "Grow"})
    fact_sheet = application("perfect", "adequate", [time_tag("Invest")])  # in group "TIME", not ours

    update = plan_time_update(fact_sheet, config, {"Grow": "tag-grow"})

    assert update is not None
    assert update.patches == [{"op": "add", "path": "/tags", "value": '[{"tagId":"tag-grow"}]'}]


def test_missing_tag_id_is_a_configuration_error_naming_the_tag() -> None:
    with pytest.raises(ConfigurationError, match="'Invest' was not found in tag group 'TIME'"):
        plan_time_update(application("perfect", "adequate"), TimeRuleConfig(), {"Tolerate": "t"})


def test_custom_fit_field_names_are_read() -> None:
    config = TimeRuleConfig(functional_field="businessFit", technical_field="itFit")
    fact_sheet = {"id": "a", "rev": 1, "businessFit": "perfect", "itFit": "inappropriate", "tags": []}

    update = plan_time_update(fact_sheet, config, TAG_IDS)

    assert update is not None
    assert update.desired is TimeClass.MIGRATE


def test_unknown_fit_value_in_a_fact_sheet_raises() -> None:
    with pytest.raises(UnknownFitValueError, match="'excellent'"):
        plan_time_update(application("excellent", "adequate"), TimeRuleConfig(), TAG_IDS)


def test_fact_sheet_without_id_is_an_input_error() -> None:
    fact_sheet = application("perfect", "adequate")
    del fact_sheet["id"]

    with pytest.raises(InputError, match="'id'"):
        plan_time_update(fact_sheet, TimeRuleConfig(), TAG_IDS)


def test_missing_rev_plans_without_optimistic_lock() -> None:
    fact_sheet = application("perfect", "adequate")
    del fact_sheet["rev"]

    update = plan_time_update(fact_sheet, TimeRuleConfig(), TAG_IDS)

    assert update is not None
    assert update.rev is None


# --- plan: field mode -----------------------------------------------------------------------------

FIELD_CONFIG = TimeRuleConfig(mode=TargetMode.FIELD, field="timeClassification")


def test_field_mode_replaces_the_field_with_the_plain_key() -> None:
    update = plan_time_update(
        application("perfect", "adequate", timeClassification="tolerate"), FIELD_CONFIG, {}
    )

    assert update is not None
    assert update.patches == [{"op": "replace", "path": "/timeClassification", "value": "invest"}]


def test_field_mode_right_value_means_no_write() -> None:
    fact_sheet = application("perfect", "adequate", [time_tag("Eliminate")], timeClassification="invest")

    # Tags are not this mode's business, even a TIME tag.
    assert plan_time_update(fact_sheet, FIELD_CONFIG, {}) is None


def test_field_mode_missing_fit_clears_a_stale_value() -> None:
    update = plan_time_update(application(None, "adequate", timeClassification="invest"), FIELD_CONFIG, {})

    assert update is not None
    assert update.patches == [{"op": "replace", "path": "/timeClassification", "value": None}]


@pytest.mark.parametrize("current", [None, ""])
def test_field_mode_missing_fit_and_empty_field_means_no_write(current: str | None) -> None:
    assert plan_time_update(application(None, None, timeClassification=current), FIELD_CONFIG, {}) is None


# --- idempotence ----------------------------------------------------------------------------------

STARTING_TAGS: list[list[dict[str, Any]]] = [
    [],
    [OTHER_GROUP_TAG],
    [UNGROUPED_INVEST],
    *[[time_tag(name)] for name in TAG_IDS],
    [time_tag("Invest"), time_tag("Eliminate"), OTHER_GROUP_TAG],
]


@pytest.mark.parametrize(("functional", "technical"), [*sorted(EXPECTED), (None, "adequate")])
@pytest.mark.parametrize("tags", STARTING_TAGS)
def test_tag_plan_applied_then_replanned_gives_nothing(
    functional: str | None, technical: str | None, tags: list[dict[str, Any]]
) -> None:
    fact_sheet = application(functional, technical, copy.deepcopy(tags))
    config = TimeRuleConfig()

    update = plan_time_update(fact_sheet, config, TAG_IDS)
    after = apply_plan(fact_sheet, update) if update else fact_sheet

    assert plan_time_update(after, config, TAG_IDS) is None
    time_tags = [tag["name"] for tag in after["tags"] if (tag["tagGroup"] or {}).get("name") == "TIME"]
    expected = EXPECTED.get((functional, technical)) if functional and technical else None
    assert time_tags == ([expected.value] if expected else [])
    # Other tags survive untouched.
    assert [t for t in after["tags"] if t not in map(time_tag, TAG_IDS)] == [
        t for t in tags if t not in map(time_tag, TAG_IDS)
    ]


@pytest.mark.parametrize(("functional", "technical"), [*sorted(EXPECTED), (None, None)])
@pytest.mark.parametrize("current", [None, "tolerate", "invest", "migrate", "eliminate"])
def test_field_plan_applied_then_replanned_gives_nothing(
    functional: str | None, technical: str | None, current: str | None
) -> None:
    fact_sheet = application(functional, technical, timeClassification=current)

    update = plan_time_update(fact_sheet, FIELD_CONFIG, {})
    after = apply_plan(fact_sheet, update) if update else fact_sheet

    assert plan_time_update(after, FIELD_CONFIG, {}) is None
    expected = EXPECTED.get((functional, technical)) if functional and technical else None
    assert after["timeClassification"] == (expected.value.lower() if expected else None)

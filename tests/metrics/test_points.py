"""Metric points: reading batches, validating points, bucketing and the v1/v2 shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.metrics_ingester.points import (
    MAX_BATCH_POINTS,
    MAX_BODY_BYTES,
    BatchResult,
    BatchTooLargeError,
    Bucket,
    MetricPoint,
    MetricsInputError,
    PointStatus,
    RawItem,
    UnreadableBatchError,
    parse_batch,
    schema_requirements,
    validate_batch,
    validate_point,
)
from shared.errors import InputError

NOW = datetime(2026, 3, 1, 13, 45, 30, 123456, tzinfo=UTC)
FS_ID = "95fbeddd-3a4b-4c5d-8e9f-0a1b2c3d4e5f"
WS_ID = "0f3e5c1a-1111-4222-8333-444455556666"


def good_point(**overrides: object) -> dict[str, object]:
    point: dict[str, object] = {
        "measurement": "cloud_costs",
        "time": "2026-03-01T13:45:30+01:00",
        "factSheetId": FS_ID,
        "tags": {"env": "prod"},
        "fields": {"eur": 1532.75},
    }
    point.update(overrides)
    return point


def check(value: object, bucket: Bucket = Bucket.HOUR) -> tuple[PointStatus, str | None, MetricPoint | None]:
    result = validate_point(0, RawItem(value), NOW, bucket)
    return result.status, result.reason, result.point


# --- parse_batch ---------------------------------------------------------------------------


def test_json_array_gives_one_item_per_element() -> None:
    items = parse_batch(json.dumps([good_point(), good_point()]).encode(), "application/json")
    assert [item.value["measurement"] for item in items] == ["cloud_costs", "cloud_costs"]


def test_single_object_is_a_batch_of_one() -> None:
    items = parse_batch(json.dumps(good_point()).encode(), None)
    assert len(items) == 1
    assert items[0].error is None


def test_ndjson_by_content_type_keeps_bad_line_as_rejection() -> None:
    body = b'{"measurement":"m","fields":{"x":1}}\nnot json\n\n{"measurement":"m","fields":{"x":2}}\n'
    items = parse_batch(body, "application/x-ndjson; charset=utf-8")
    assert len(items) == 3
    assert items[1].error is not None
    assert "line 2" in items[1].error
    result = validate_batch(items, NOW, Bucket.MINUTE)
    assert [r.status for r in result.results] == [
        PointStatus.ACCEPTED,
        PointStatus.REJECTED,
        PointStatus.ACCEPTED,
    ]
    assert result.http_status == 207


def test_ndjson_is_sniffed_without_content_type() -> None:
    body = b'{"measurement":"m","fields":{"x":1}}\n{"measurement":"m","fields":{"x":2}}'
    items = parse_batch(body, "application/json")
    assert [item.value["fields"]["x"] for item in items] == [1, 2]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   \n ", "empty"),
        (b"[]", "no points"),
        (b"not json at all", "not valid JSON"),
        (b"garbage\nmore garbage", "not valid JSON"),
        (b"42", "array of point objects"),
        (b"[1, 2, 3]", "array of point objects"),
        (b"\xff\xfe\x00", "UTF-8"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_unreadable_bodies_raise_a_clear_input_error(body: bytes, message: str) -> None:
    with pytest.raises(UnreadableBatchError, match=message) as info:
        parse_batch(body, None)
    assert isinstance(info.value, InputError)


def test_mixed_array_rejects_only_the_non_objects() -> None:
    items = parse_batch(json.dumps([good_point(), 5]).encode(), None)
    result = validate_batch(items, NOW, Bucket.HOUR)
    assert result.results[1].status is PointStatus.REJECTED
    assert "JSON object" in (result.results[1].reason or "")
    assert result.results[0].status is PointStatus.ACCEPTED


def test_oversized_body_is_refused_before_parsing() -> None:
    with pytest.raises(BatchTooLargeError, match=str(MAX_BODY_BYTES)):
        parse_batch(b" " * (MAX_BODY_BYTES + 1), None)


def test_too_many_points_is_a_distinct_error() -> None:
    body = ("[" + ",".join(["{}"] * (MAX_BATCH_POINTS + 1)) + "]").encode()
    with pytest.raises(BatchTooLargeError, match=str(MAX_BATCH_POINTS)):
        parse_batch(body, None)
    ndjson = "\n".join(["{}"] * (MAX_BATCH_POINTS + 1)).encode()
    with pytest.raises(BatchTooLargeError):
        parse_batch(ndjson, "application/x-ndjson")


def test_exactly_the_limit_is_accepted() -> None:
    body = ("[" + ",".join(["{}"] * MAX_BATCH_POINTS) + "]").encode()
    assert len(parse_batch(body, None)) == MAX_BATCH_POINTS


# --- validate_point ------------------------------------------------------------------------


def test_valid_point_is_normalized() -> None:
    status, reason, point = check(good_point(factSheetId=FS_ID.upper(), fields={"eur": 3, "note": "ok"}))
    assert status is PointStatus.ACCEPTED, reason
    assert point is not None
    assert point.fact_sheet_id == FS_ID
    assert point.fields == {"eur": 3.0, "note": "ok"}
    assert isinstance(point.fields["eur"], float)


@pytest.mark.parametrize(
    ("overrides", "reason_part"),
    [
        ({"fields": {"cpu": float("nan")}}, "fields.cpu: must be a finite number"),
        ({"fields": {"cpu": float("inf")}}, "fields.cpu: must be a finite number"),
        ({"fields": {"cpu": -float("inf")}}, "fields.cpu: must be a finite number"),
        ({"fields": {"cpu": 10**400}}, "fields.cpu: must be a finite number"),
        ({"fields": {"up": True}}, "fields.up: must be a number or a string"),
        ({"fields": {"x": [1]}}, "fields.x: must be a number or a string"),
        ({"fields": {}}, "fields: empty"),
        ({"fields": None}, "fields: missing"),
        ({"time": "2026-03-01T13:45:30"}, "time: has no zone"),
        ({"time": "2026-03-01"}, "time: has no zone"),
        ({"time": "yesterday"}, "time: not an ISO-8601"),
        ({"time": 1700000000}, "time: must be an ISO-8601 string"),
        ({"time": "1969-12-31T23:59:59Z"}, "time: before 1970"),
        ({"measurement": ""}, "measurement: must be"),
        ({"measurement": "bad name!"}, "measurement: must be"),
        ({"measurement": None}, "measurement: missing"),
        ({"factSheetId": "not-a-uuid"}, "factSheetId: not a UUID"),
        ({"factSheetId": 7}, "factSheetId: must be a UUID string"),
        ({"tags": {"env": 1}}, "tags.env: must be a string"),
        ({"tags": ["env"]}, "tags: must be an object"),
        ({"tags": {"factSheetId": FS_ID}}, "tags.factSheetId: reserved key"),
        ({"tags": {"eur": "x"}}, "fields.eur: a tag has the same key"),
        ({"feilds": {"x": 1}}, "feilds: unknown key"),
    ],
)
def test_bad_points_are_rejected_with_a_reason_naming_the_field(
    overrides: dict[str, object], reason_part: str
) -> None:
    status, reason, point = check(good_point(**overrides))
    assert status is PointStatus.REJECTED
    assert point is None
    assert reason is not None
    assert reason_part in reason


def test_missing_time_defaults_to_now_bucketed() -> None:
    value = good_point()
    del value["time"]
    _, _, point = check(value, Bucket.MINUTE)
    assert point is not None
    assert point.time == datetime(2026, 3, 1, 13, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        (Bucket.MINUTE, datetime(2026, 3, 1, 12, 45, tzinfo=UTC)),
        (Bucket.HOUR, datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        (Bucket.DAY, datetime(2026, 3, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_time_is_truncated_to_the_bucket_start_in_utc(bucket: Bucket, expected: datetime) -> None:
    _, _, point = check(good_point(time="2026-03-01T13:45:30.999+01:00"), bucket)
    assert point is not None
    assert point.time == expected
    assert point.time.tzinfo is UTC


def test_day_bucket_uses_the_utc_day_not_the_local_one() -> None:
    _, _, point = check(good_point(time="2026-03-02T00:30:00+02:00"), Bucket.DAY)
    assert point is not None
    assert point.time == datetime(2026, 3, 1, tzinfo=UTC)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="zone"):
        validate_point(0, RawItem(good_point()), datetime(2026, 3, 1), Bucket.HOUR)


# --- shapes --------------------------------------------------------------------------------


def accepted(value: dict[str, object], bucket: Bucket = Bucket.HOUR) -> MetricPoint:
    _, reason, point = check(value, bucket)
    assert point is not None, reason
    return point


def test_v1_shape_is_exact() -> None:
    point = accepted(good_point(tags={"zone": "a", "env": "prod"}, fields={"eur": 2, "cur": "EUR"}))
    assert point.to_v1(WS_ID) == {
        "measurement": "cloud_costs",
        "workspaceId": WS_ID,
        "time": "2026-03-01T12:00:00.000Z",
        "tags": [{"k": "factSheetId", "v": FS_ID}, {"k": "env", "v": "prod"}, {"k": "zone", "v": "a"}],
        "fields": [{"k": "cur", "s": "EUR"}, {"k": "eur", "v": 2.0}],
    }


def test_v1_fact_sheet_tag_key_is_configurable_and_absent_without_fact_sheet() -> None:
    point = accepted(good_point())
    assert point.to_v1(WS_ID, fact_sheet_tag_key="factsheetId")["tags"][0] == {"k": "factsheetId", "v": FS_ID}
    bare = accepted(good_point(factSheetId=None, tags=None))
    assert bare.to_v1(WS_ID)["tags"] == []


def test_v2_shape_is_flat_with_string_fields_as_dimensions() -> None:
    point = accepted(good_point(fields={"eur": 1.5, "currency": "EUR"}))
    body = point.to_v2()
    assert body == {
        "timestamp": "2026-03-01T12:00:00.000Z",
        "factSheetId": FS_ID,
        "currency": "EUR",
        "env": "prod",
        "eur": 1.5,
    }
    assert list(body)[:2] == ["timestamp", "factSheetId"]


def test_v2_without_fact_sheet_has_no_fact_sheet_key() -> None:
    assert "factSheetId" not in accepted(good_point(factSheetId=None)).to_v2()


def test_schema_requirements_split_metrics_and_dimensions() -> None:
    points = [
        accepted(good_point(fields={"eur": 1, "currency": "EUR"})),
        accepted(good_point(factSheetId=None, tags={"team": "a"}, fields={"usd": 2})),
        accepted(good_point(measurement="deploys", factSheetId=None, tags=None, fields={"count": 1})),
    ]
    assert schema_requirements(points) == {
        "cloud_costs": ({"eur", "usd"}, {"factSheetId", "env", "currency", "team"}),
        "deploys": ({"count"}, set()),
    }


# --- dedup key -----------------------------------------------------------------------------


def test_dedup_key_is_stable_for_a_resend_in_the_same_bucket() -> None:
    first = accepted(good_point(time="2026-03-01T13:05:00Z", tags={"a": "1", "b": "2"}, fields={"x": 1}))
    again = accepted(good_point(time="2026-03-01T13:55:00Z", tags={"b": "2", "a": "1"}, fields={"x": 9}))
    assert first.dedup_key() == again.dedup_key()
    # A literal value pins the key format across processes and releases (no Python hash()).
    assert first.dedup_key().startswith("cloud_costs@20260301T130000Z@")
    assert (
        first.dedup_key()
        == accepted(good_point(time="2026-03-01T13:00:00Z", tags={"a": "1", "b": "2"})).dedup_key()
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"time": "2026-03-01T14:00:00Z"},
        {"factSheetId": None},
        {"tags": {"env": "dev"}},
        {"measurement": "other"},
    ],
)
def test_dedup_key_differs_when_the_series_or_bucket_differs(overrides: dict[str, object]) -> None:
    base = accepted(good_point(time="2026-03-01T13:00:00Z"))
    assert (
        base.dedup_key() != accepted(good_point(**{"time": "2026-03-01T13:00:00Z", **overrides})).dedup_key()
    )


def test_dedup_key_uses_only_store_safe_characters() -> None:
    key = accepted(good_point(tags={"path": "a/b#c?d"})).dedup_key()
    assert all(c.isalnum() or c in "_.-@" for c in key)


# --- batch result --------------------------------------------------------------------------


def test_all_accepted_is_200() -> None:
    result = validate_batch([RawItem(good_point()), RawItem(good_point())], NOW, Bucket.HOUR)
    assert result.http_status == 200
    assert result.to_dict() == {
        "accepted": 2,
        "rejected": 0,
        "deadLettered": 0,
        "results": [{"index": 0, "status": "accepted"}, {"index": 1, "status": "accepted"}],
    }
    assert [index for index, _ in result.accepted_points()] == [0, 1]


def test_dead_lettered_point_turns_the_answer_into_207() -> None:
    result = validate_batch([RawItem(good_point()), RawItem(good_point())], NOW, Bucket.HOUR)
    result.mark_dead_lettered(1, "LeanIX kept failing; queued for retry")
    assert result.http_status == 207
    assert result.to_dict()["results"][1] == {
        "index": 1,
        "status": "dead_lettered",
        "reason": "LeanIX kept failing; queued for retry",
    }
    assert [index for index, _ in result.accepted_points()] == [0]
    with pytest.raises(KeyError):
        result.mark_dead_lettered(5, "x")


def test_all_rejected_is_still_207_with_reasons() -> None:
    result = BatchResult([validate_point(0, RawItem({"fields": {}}), NOW, Bucket.HOUR)])
    assert result.http_status == 207
    assert result.to_dict()["rejected"] == 1
    assert "reason" in result.to_dict()["results"][0]


# --- property: only the documented errors --------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
point_like = st.fixed_dictionaries(
    {},
    optional={
        "measurement": json_values | st.sampled_from(["m", "cpu.load"]),
        "time": json_values | st.datetimes(timezones=st.just(timezone(timedelta(hours=3)))).map(str),
        "factSheetId": json_values | st.uuids().map(str),
        "tags": json_values,
        "fields": json_values | st.dictionaries(st.text(max_size=5), st.floats(), max_size=3),
    },
)


def _parse_and_validate(body: bytes, content_type: str | None) -> None:
    try:
        items = parse_batch(body, content_type)
    except MetricsInputError:
        return
    for index, item in enumerate(items):
        result = validate_point(index, item, NOW, Bucket.MINUTE)
        assert (result.point is None) == (result.status is PointStatus.REJECTED)
        if result.point is not None:
            json.dumps(result.point.to_v1(WS_ID), allow_nan=False)
            json.dumps(result.point.to_v2(), allow_nan=False)
            result.point.dedup_key()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=200), ndjson=st.booleans())
def test_arbitrary_bytes_only_raise_documented_errors(body: bytes, ndjson: bool) -> None:
    _parse_and_validate(body, "application/x-ndjson" if ndjson else None)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(document=st.lists(point_like, max_size=5) | point_like | json_values, ndjson=st.booleans())
def test_arbitrary_json_only_raises_documented_errors(document: object, ndjson: bool) -> None:
    if ndjson and isinstance(document, list):
        body = "\n".join(json.dumps(item) for item in document).encode()
        _parse_and_validate(body, "application/x-ndjson")
    else:
        _parse_and_validate(json.dumps(document).encode(), None)

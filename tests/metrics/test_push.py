"""The push endpoint through the real Azure entry point against the emulator over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.metrics_ingester.points import MAX_BATCH_POINTS, MAX_BODY_BYTES
from tests.metrics.conftest import METRICS_SECRET, Push, inspect

FS1 = "95fbeddd-0000-4000-8000-000000000001"
FS2 = "95fbeddd-0000-4000-8000-000000000002"

MIXED = [
    {"measurement": "deploys", "time": "2026-03-01T12:34:56Z", "factSheetId": FS1, "fields": {"count": 3}},
    {
        "measurement": "deploys",
        "time": "2026-03-01T12:00:00+01:00",
        "tags": {"env": "prod"},
        "fields": {"count": 1},
    },
    {"measurement": "deploys", "time": "2026-03-01T12:00:00", "fields": {"count": 1}},
    {
        "measurement": "deploys",
        "time": "2026-03-01T12:00:00Z",
        "fields": {"count": "NaN-ish", "ms": float("nan")},
    },
    "not an object",
    {"measurement": "latency", "time": "2026-03-01T12:00:30Z", "factSheetId": FS2, "fields": {"p95": 120.5}},
]


def v2_points(emulator: Any, schema: str) -> list[dict[str, Any]]:
    found = [s for s in inspect(emulator)["v2"]["schemas"] if s["name"] == schema]
    return found[0]["points"] if found else []


async def test_mixed_batch_gets_exact_per_point_results(push: Push, bundle_env: Any) -> None:
    status, body = await push(json.dumps(MIXED))

    assert status == 207
    assert [r["status"] for r in body["results"]] == [
        "accepted", "accepted", "rejected", "rejected", "rejected", "accepted",
    ]  # fmt: skip
    reasons = {r["index"]: r["reason"] for r in body["results"] if "reason" in r}
    assert reasons[2].startswith("time: has no zone")
    assert reasons[3].startswith("fields.ms: must be a finite number")
    assert reasons[4] == "a point must be a JSON object, got a string"
    assert (body["accepted"], body["rejected"], body["deadLettered"]) == (3, 3, 0)

    deploys = v2_points(bundle_env, "deploys")
    # Minute buckets: 12:34:56Z -> 12:34:00Z; 12:00+01:00 -> 11:00Z.
    assert {p["timestamp"] for p in deploys} == {"2026-03-01T12:34:00.000Z", "2026-03-01T11:00:00.000Z"}
    assert {p.get("factSheetId") for p in deploys} == {FS1, None}
    assert v2_points(bundle_env, "latency") == [
        {"timestamp": "2026-03-01T12:00:00.000Z", "factSheetId": FS2, "p95": 120.5}
    ]


async def test_all_accepted_is_200_and_ndjson_is_read(push: Push, bundle_env: Any) -> None:
    lines = "\n".join(
        json.dumps({"measurement": "builds", "time": f"2026-03-0{d}T00:00:00Z", "fields": {"n": d}})
        for d in range(1, 4)
    )
    status, body = await push(lines, content_type="application/x-ndjson")
    assert status == 200
    assert body["accepted"] == 3
    assert len(v2_points(bundle_env, "builds")) == 3


async def test_same_batch_twice_leaves_the_same_stored_points(push: Push, bundle_env: Any) -> None:
    await push(json.dumps(MIXED))
    first = inspect(bundle_env)["v2"]
    status, body = await push(json.dumps(MIXED))
    second = inspect(bundle_env)["v2"]

    assert status == 207
    assert body["accepted"] == 3
    assert second["writes"] == 2 * first["writes"]  # really written again...
    assert second["stored"] == first["stored"] == 3  # ...and overwritten, not added
    assert [s["points"] for s in second["schemas"]] == [s["points"] for s in first["schemas"]]


async def test_schema_is_extended_once_for_new_keys(push: Push, bundle_env: Any) -> None:
    await push([{"measurement": "jobs", "time": "2026-03-01T00:00:00Z", "fields": {"ok": 1}}])
    status, _ = await push(
        [
            {
                "measurement": "jobs",
                "time": "2026-03-02T00:00:00Z",
                "tags": {"team": "a"},
                "fields": {"failed": 2},
            }
        ]
    )
    assert status == 200
    schema = next(s for s in inspect(bundle_env)["v2"]["schemas"] if s["name"] == "jobs")
    kinds = {a["name"]: a["type"] for a in schema["attributes"]}
    assert kinds == {"ok": "metric", "failed": "metric", "team": "dimension"}


async def test_a_key_whose_type_clashes_with_the_schema_is_rejected_per_point(
    push: Push, bundle_env: Any
) -> None:
    await push([{"measurement": "svc", "time": "2026-03-01T00:00:00Z", "fields": {"cpu": 1}}])
    status, body = await push(
        [
            {"measurement": "svc", "time": "2026-03-02T00:00:00Z", "fields": {"cpu": "high", "mem": 3}},
            {"measurement": "svc", "time": "2026-03-03T00:00:00Z", "fields": {"cpu": 2}},
        ]
    )
    assert status == 207
    assert body["results"][0]["status"] == "rejected"
    assert "declares 'cpu' as a metric" in body["results"][0]["reason"]
    assert body["results"][1]["status"] == "accepted"
    assert len(v2_points(bundle_env, "svc")) == 2


async def test_v2_point_without_a_number_is_rejected(push: Push, bundle_env: Any) -> None:
    status, body = await push([{"measurement": "notes", "fields": {"text": "hello"}}])
    assert status == 207
    assert body["results"][0]["reason"].startswith("fields: Metrics v2 needs at least one number")
    assert inspect(bundle_env)["v2"]["writes"] == 0


async def test_v1_points_are_stored_and_a_resend_is_skipped(
    push: Push, bundle_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.runtime import reset_runtime

    monkeypatch.setenv("METRICS_API_VERSION", "v1")
    reset_runtime()
    batch = [
        {"measurement": "cloud_costs", "time": "2026-03-01T10:00:00Z", "factSheetId": FS1,
         "tags": {"env": "prod"}, "fields": {"eur": 10.5, "note": "est"}},
        {"measurement": "cloud_costs", "time": "2026-03-02T10:00:00Z", "fields": {"eur": 7}},
    ]  # fmt: skip
    status, body = await push(batch)
    assert status == 200
    assert body["duplicatesSkipped"] == 0
    v1 = inspect(bundle_env)["v1"]
    assert (v1["writes"], v1["stored"]) == (2, 2)
    first = next(p for p in v1["points"] if p["time"] == "2026-03-01T10:00:00.000Z")
    assert first["tags"] == [{"k": "factSheetId", "v": FS1}, {"k": "env", "v": "prod"}]
    assert first["fields"] == [{"k": "eur", "v": 10.5}, {"k": "note", "s": "est"}]
    assert first["workspaceId"] == bundle_env.workspace_id

    status, body = await push(batch)
    assert status == 200
    assert body["duplicatesSkipped"] == 2
    assert inspect(bundle_env)["v1"]["writes"] == 2  # nothing sent again

    batch[1]["fields"] = {"eur": 8}  # a correction of the same bucket is written
    status, body = await push(batch)
    v1 = inspect(bundle_env)["v1"]
    assert body["duplicatesSkipped"] == 1
    assert (v1["writes"], v1["stored"]) == (3, 2)
    assert {"k": "eur", "v": 8.0} in next(p for p in v1["points"] if p["time"].startswith("2026-03-02"))[
        "fields"
    ]


async def test_v1_points_already_sent_to_one_workspace_are_still_sent_to_another(
    push: Push, bundle_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Same state store, another workspace (a sandbox switched to production): nothing is skipped.
    from local.emulator import EmulatorConfig, start_in_thread
    from shared.runtime import reset_runtime

    monkeypatch.setenv("METRICS_API_VERSION", "v1")
    reset_runtime()
    batch = [{"measurement": "cloud_costs", "time": "2026-03-01T10:00:00Z", "fields": {"eur": 10.5}}]
    assert (await push(batch))[0] == 200
    # The same API token (the stored one), but another host and workspace.
    other = start_in_thread(EmulatorConfig(seed="empty", api_token=bundle_env.api_token))
    try:
        assert other.workspace_id != bundle_env.workspace_id
        monkeypatch.setenv("LEANIX_HOST", other.base_url)
        reset_runtime()
        status, body = await push(batch)
        assert (status, body["duplicatesSkipped"]) == (200, 0), body
        assert inspect(other)["v1"]["stored"] == 1
    finally:
        other.stop()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-secret"},
        {"Authorization": f"Basic {METRICS_SECRET}"},
        {"X-Metrics-Secret": METRICS_SECRET[:-1]},
        {"Authorization": METRICS_SECRET},
    ],
)
async def test_missing_or_wrong_secret_is_401_and_nothing_is_written(
    push: Push, bundle_env: Any, headers: dict[str, str]
) -> None:
    status, body = await push(json.dumps(MIXED), headers=headers)
    assert status == 401
    assert METRICS_SECRET not in json.dumps(body)
    assert inspect(bundle_env)["v2"]["writes"] == 0
    assert inspect(bundle_env)["v2"]["schemas"] == []


async def test_the_secret_header_is_accepted_too(push: Push) -> None:
    status, _ = await push(
        [{"measurement": "m", "fields": {"v": 1}}], headers={"x-metrics-secret": METRICS_SECRET}
    )
    assert status == 200


async def test_unconfigured_secret_is_503_not_open(push: Push, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.runtime import reset_runtime

    monkeypatch.delenv("METRICS_SECRET")
    reset_runtime()
    status, body = await push(
        [{"measurement": "m", "fields": {"v": 1}}], headers={"Authorization": "Bearer "}
    )
    assert status == 503
    assert "METRICS_SECRET" in body["error"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"[]", 400, "no points"),
        (b"42", 400, "expected a JSON array"),
        (b"\xff\xfe\x00", 400, "not UTF-8"),
        (b"[" + b"{}," * MAX_BATCH_POINTS + b"{}]", 413, "limit is 10000"),
        (b" " * (MAX_BODY_BYTES + 1), 413, "bytes"),
    ],
)
async def test_unreadable_or_oversize_bodies_get_a_clear_4xx(
    push: Push, bundle_env: Any, body: bytes, status: int, fragment: str
) -> None:
    got, answer = await push(body)
    assert got == status
    assert fragment in answer["error"]
    assert inspect(bundle_env)["v2"]["writes"] == 0


@pytest.mark.parametrize(
    ("point", "fragment"),
    [
        ({"measurement": "m", "fields": {"v": "1" * 2000}}, "fields.v: longer than"),
        ({"measurement": "m", "fields": {"v": True}}, "fields.v: must be a number or a string"),
        ({"measurement": "m", "fields": {"v": 1e400}}, "finite"),
        ({"measurement": "m", "time": 1700000000, "fields": {"v": 1}}, "time: must be an ISO-8601"),
        ({"measurement": "m", "factSheetId": "nope", "fields": {"v": 1}}, "factSheetId: not a UUID"),
        ({"measurement": "m", "tags": {"a": 1}, "fields": {"v": 1}}, "tags.a: must be a string"),
        ({"measurement": "m"}, "fields: missing"),
        ({"fields": {"v": 1}}, "measurement: missing"),
    ],
)
async def test_bad_points_are_rejected_alone(push: Push, point: dict[str, Any], fragment: str) -> None:
    raw = json.dumps([point, {"measurement": "ok", "fields": {"v": 1}}]).replace("1e+400", "1e400")
    status, body = await push(raw)
    assert status == 207
    assert fragment in body["results"][0]["reason"]
    assert body["results"][1]["status"] == "accepted"


async def test_unconfigured_leanix_host_is_503(push: Push, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.runtime import reset_runtime

    monkeypatch.delenv("LEANIX_HOST")
    reset_runtime()
    status, body = await push([{"measurement": "m", "fields": {"v": 1}}])
    assert status == 503
    assert "LEANIX_HOST" in body["error"]


_json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_point = st.fixed_dictionaries(
    {"measurement": st.sampled_from(["fuzz", "", "9bad", 3])},
    optional={
        "time": st.one_of(st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=30), _json),
        "factSheetId": st.one_of(st.uuids().map(str), _json),
        "tags": st.dictionaries(st.text(max_size=10), _json, max_size=3),
        "fields": st.dictionaries(st.text(max_size=10), _json, max_size=3),
    },
)
_bodies = st.one_of(
    st.binary(max_size=200),
    _json.map(lambda v: json.dumps(v).encode()),
    st.lists(st.one_of(_point, _json), min_size=1, max_size=6).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
async def test_fuzzed_bodies_never_get_a_5xx(push: Push, body: bytes) -> None:
    status, answer = await push(body)
    assert status in (200, 207, 400, 413), answer

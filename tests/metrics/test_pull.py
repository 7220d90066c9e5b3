"""The scheduled pull through the real entry points: AWS Cost Explorer (moto) and the recorded sample."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.functions.timer import TimerRequest

from functions.metrics_ingester import aws
from functions.metrics_ingester.core import PullFailed
from functions.metrics_ingester.sources import CostPointConfig, SourceError, points_from_cost_pages
from shared.runtime import reset_runtime
from tests.metrics.conftest import azure_function, inspect

EVENTS = Path(__file__).resolve().parents[1] / "events"
FS_A = "2f0c6c4e-5a4b-4f7e-9a51-6b1d2c3e4f50"
FS_B = "8a7d3b21-0c9e-4d5f-8e6a-1b2c3d4e5f60"


def cost_result(tag_key: str) -> dict[str, Any]:
    """A GetCostAndUsage answer: two days, two fact sheets, untagged spend and a foreign tag value."""

    def group(value: str, amount: str) -> dict[str, Any]:
        return {
            "Keys": [f"{tag_key}${value}"],
            "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
        }

    return {
        "GroupDefinitions": [{"Type": "TAG", "Key": tag_key}],
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-02-10", "End": "2026-02-11"},
                "Total": {},
                "Groups": [
                    group(FS_A, "10.25"),
                    group(FS_B, "3.5"),
                    group("", "99"),
                    group("not-a-uuid", "1"),
                ],
                "Estimated": False,
            },
            {
                "TimePeriod": {"Start": "2026-02-11", "End": "2026-02-12"},
                "Total": {},
                "Groups": [group(FS_A, "11")],
                "Estimated": True,
            },
        ],
        "DimensionValueAttributes": [],
    }


@pytest.fixture
def cost_env(bundle_env: Any, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Cost Explorer at moto with a tag key unique to the test (moto caches results per request)."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_REGION": "eu-central-1",
        "METRICS_PULL_SOURCES": "aws_cost_explorer",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("METRICS_SECRET")  # the timer never needs the push secret
    tag_key = f"lx-fs-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("COST_TAG_KEY", tag_key)
    reset_runtime()
    response = httpx.post(
        f"{moto_endpoint}/moto-api/static/ce/cost-and-usage-results", json={"results": [cost_result(tag_key)]}
    )
    assert response.status_code == 201
    return tag_key


def cost_points(emulator: Any) -> list[dict[str, Any]]:
    schema = next(s for s in inspect(emulator)["v2"]["schemas"] if s["name"] == "cloud_costs")
    points: list[dict[str, Any]] = schema["points"]
    return points


async def test_cost_pull_writes_a_point_per_fact_sheet_per_day_and_a_rerun_overwrites(
    cost_env: str, bundle_env: Any
) -> None:
    pull = azure_function("metrics_pull")
    await pull(timer=TimerRequest())
    expected = [
        {"timestamp": "2026-02-10T00:00:00.000Z", "factSheetId": FS_A, "currency": "USD", "cost": 10.25},
        {"timestamp": "2026-02-10T00:00:00.000Z", "factSheetId": FS_B, "currency": "USD", "cost": 3.5},
        {"timestamp": "2026-02-11T00:00:00.000Z", "factSheetId": FS_A, "currency": "USD", "cost": 11.0},
    ]
    key = lambda p: (p["timestamp"], p["factSheetId"])  # noqa: E731
    assert sorted(cost_points(bundle_env), key=key) == expected

    await pull(timer=TimerRequest())
    assert sorted(cost_points(bundle_env), key=key) == expected
    assert inspect(bundle_env)["v2"]["writes"] == 6
    assert inspect(bundle_env)["v2"]["stored"] == 3


async def test_lambda_pull_handler_reports_the_window_and_counts(
    cost_env: str, bundle_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATFORM", "aws")
    monkeypatch.setenv("COST_LOOKBACK_DAYS", "3")
    reset_runtime()
    event = json.loads((EVENTS / "metrics_pull_eventbridge.json").read_text())

    report = await _in_thread(aws.pull, event, None)

    assert report["fetched"] == {"aws_cost_explorer": 3}
    assert report["written"] == 3
    assert report["deadLettered"] == 0
    assert report["errors"] == {}
    start, end = report["window"]["start"], report["window"]["end"]
    assert (_days_between(start, end), len(cost_points(bundle_env))) == (3, 3)


async def test_recorded_sample_is_replayed_when_no_aws_is_configured(
    bundle_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_PULL_SOURCES", "recorded")
    reset_runtime()
    await azure_function("metrics_pull")(timer=TimerRequest())
    points = cost_points(bundle_env)
    assert len(points) == 6  # 3 days x 2 fact sheets; the untagged rows are skipped
    assert {p["factSheetId"] for p in points} == {FS_A, FS_B}


async def test_a_failing_source_fails_the_run_after_the_others_were_written(
    bundle_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_PULL_SOURCES", "recorded,aws_cost_explorer")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: connection refused
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    reset_runtime()
    with pytest.raises(PullFailed, match="aws_cost_explorer: Cost Explorer GetCostAndUsage failed"):
        await azure_function("metrics_pull")(timer=TimerRequest())
    assert len(cost_points(bundle_env)) == 6


def test_unknown_source_names_the_setting(bundle_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from functions.metrics_ingester.core import build_sources
    from shared.errors import ConfigurationError
    from shared.settings import load_settings

    with pytest.raises(ConfigurationError, match="METRICS_PULL_SOURCES"):
        build_sources(load_settings(METRICS_PULL_SOURCES="datadog"))


def test_cost_groups_are_summed_per_fact_sheet_and_bad_shapes_raise() -> None:
    config = CostPointConfig(measurement="spend", tag_key="fs")
    page = cost_result("fs")
    page["ResultsByTime"][1]["Groups"].append(
        {"Keys": [f"fs${FS_A.upper()}"], "Metrics": {"UnblendedCost": {"Amount": "1.5", "Unit": "USD"}}}
    )
    points = points_from_cost_pages([page], config)
    assert [(p.measurement, p.fact_sheet_id, p.fields["cost"]) for p in points] == [
        ("spend", FS_A, 10.25),
        ("spend", FS_B, 3.5),
        ("spend", FS_A, 12.5),
    ]
    with pytest.raises(SourceError, match="unexpected Cost Explorer response"):
        points_from_cost_pages([{"ResultsByTime": [{"TimePeriod": {}}]}], config)


async def _in_thread(handler: Any, event: dict[str, Any], context: Any) -> Any:
    """Lambda handlers call `asyncio.run`; run them off the test's event loop, as Lambda would."""
    import asyncio

    return await asyncio.to_thread(handler, event, context)


def _days_between(start: str, end: str) -> int:
    from datetime import date

    return (date.fromisoformat(end) - date.fromisoformat(start)).days

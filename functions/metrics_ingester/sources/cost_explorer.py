"""AWS Cost Explorer as a metrics source: daily unblended cost per LeanIX fact sheet.

Resources carry a cost-allocation tag (`COST_TAG_KEY`) whose value is a fact sheet id. One
`GetCostAndUsage` query (DAILY, `UnblendedCost`, grouped by that tag) gives one point per fact sheet
per day at 00:00 UTC: `{measurement, factSheetId, tags: {currency}, fields: {cost}}`. Cost Explorer
keys a tag group as `"<tag key>$<value>"`; the empty value (untagged spend) is skipped, and so are
values that are not fact sheet ids. boto3 is imported only when the source runs.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from functions.metrics_ingester.points import MetricPoint
from functions.metrics_ingester.sources.base import SourceError, Window
from shared.logging import get_logger

logger = get_logger("functions.metrics_ingester.cost_explorer")

COST_METRIC = "UnblendedCost"
COST_FIELD = "cost"
CURRENCY_TAG = "currency"
# Cost Explorer is a global service served from us-east-1.
COST_EXPLORER_REGION = "us-east-1"
SAMPLE_PATH = Path(__file__).resolve().parent.parent / "sample" / "cost_explorer_response.json"


@dataclass(frozen=True)
class CostPointConfig:
    """How cost rows become points: the measurement and the AWS tag key holding the fact sheet id."""

    measurement: str = "cloud_costs"
    tag_key: str = "leanix-fact-sheet-id"


def _fact_sheet_id(group_key: str, tag_key: str) -> str | None:
    prefix = f"{tag_key}$"
    value = group_key[len(prefix) :] if group_key.startswith(prefix) else group_key.partition("$")[2]
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        logger.warning("cost tag value is not a fact sheet id; skipped", extra={"tagKey": tag_key})
        return None


def points_from_cost_pages(pages: Iterable[dict[str, Any]], config: CostPointConfig) -> list[MetricPoint]:
    """One point per fact sheet, day and currency from `GetCostAndUsage` response pages.

    Amounts of groups that map to the same fact sheet (e.g. the id in upper and lower case) are summed.
    Raises `SourceError` when a page does not have the documented shape.
    """
    totals: dict[tuple[date, str, str], float] = {}
    try:
        for page in pages:
            for period in page.get("ResultsByTime", []):
                day = date.fromisoformat(period["TimePeriod"]["Start"][:10])
                for group in period.get("Groups", []):
                    keys = group.get("Keys") or [""]
                    fact_sheet_id = _fact_sheet_id(str(keys[0]), config.tag_key)
                    if fact_sheet_id is None:
                        continue
                    metric = group["Metrics"][COST_METRIC]
                    slot = (day, fact_sheet_id, str(metric.get("Unit") or "USD"))
                    totals[slot] = totals.get(slot, 0.0) + float(metric["Amount"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise SourceError(
            f"unexpected Cost Explorer response shape ({type(error).__name__}: {error})"
        ) from None
    return [
        MetricPoint(
            measurement=config.measurement,
            time=datetime(day.year, day.month, day.day, tzinfo=UTC),
            fact_sheet_id=fact_sheet_id,
            tags={CURRENCY_TAG: unit},
            fields={COST_FIELD: round(amount, 10)},
        )
        for (day, fact_sheet_id, unit), amount in sorted(totals.items())
    ]


class CostExplorerSource:
    """Reads daily unblended cost grouped by the fact-sheet tag from AWS Cost Explorer."""

    name = "aws_cost_explorer"

    def __init__(self, config: CostPointConfig, client: Any | None = None) -> None:
        self._config = config
        self._client = client

    def _ce(self) -> Any:
        if self._client is None:
            import boto3  # lazy: only the pull pays for boto3

            self._client = boto3.session.Session(region_name=COST_EXPLORER_REGION).client("ce")
        return self._client

    def _pages(self, window: Window) -> list[dict[str, Any]]:
        request: dict[str, Any] = {
            "TimePeriod": {"Start": window.start.isoformat(), "End": window.end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": [COST_METRIC],
            "GroupBy": [{"Type": "TAG", "Key": self._config.tag_key}],
        }
        pages: list[dict[str, Any]] = []
        while True:
            page: dict[str, Any] = self._ce().get_cost_and_usage(**request)
            pages.append(page)
            token = page.get("NextPageToken")
            if not token:
                return pages
            request["NextPageToken"] = token

    async def fetch(self, window: Window) -> list[MetricPoint]:
        """The cost points of `window`. Raises `SourceError` naming the AWS error."""
        try:
            pages = await asyncio.to_thread(self._pages, window)
        except SourceError:
            raise
        except Exception as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
            raise SourceError(
                f"Cost Explorer GetCostAndUsage failed ({code}): check the role's ce:GetCostAndUsage "
                f"permission and that {self._config.tag_key!r} is an activated cost allocation tag"
            ) from None
        return points_from_cost_pages(pages, self._config)


class RecordedCostSource:
    """Replays a recorded `GetCostAndUsage` response (one page or a list of pages) from a JSON file.

    For the demo and for sites without AWS access; the recorded days are used as they are.
    """

    name = "recorded"

    def __init__(self, config: CostPointConfig, path: Path = SAMPLE_PATH) -> None:
        self._config = config
        self._path = path

    async def fetch(self, window: Window) -> list[MetricPoint]:
        try:
            document = json.loads(await asyncio.to_thread(self._path.read_text, encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SourceError(f"cannot read the recorded cost sample {str(self._path)!r}: {error}") from None
        pages = document if isinstance(document, list) else [document]
        return points_from_cost_pages(pages, self._config)

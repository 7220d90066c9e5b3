"""Pull sources for the metrics ingester: plug-ins behind one `MetricSource` interface."""

from functions.metrics_ingester.sources.base import MetricSource, SourceError, Window
from functions.metrics_ingester.sources.cost_explorer import (
    CostExplorerSource,
    CostPointConfig,
    RecordedCostSource,
    points_from_cost_pages,
)

__all__ = [
    "CostExplorerSource",
    "CostPointConfig",
    "MetricSource",
    "RecordedCostSource",
    "SourceError",
    "Window",
    "points_from_cost_pages",
]

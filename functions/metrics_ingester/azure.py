"""Azure blueprint of the metrics ingester: `POST /api/metrics` and the pull timer."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import azure.functions as func

from functions.metrics_ingester.core import IngestConfig, PushRequest, handle_push, pull_from_settings
from shared.logging import get_logger, invocation
from shared.runtime import get_runtime

bp = func.Blueprint()
logger = get_logger("functions.metrics_ingester.azure")


@bp.route(route="metrics", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def metrics_push(req: func.HttpRequest) -> func.HttpResponse:
    """Push a batch of metric points (JSON array or NDJSON)."""
    runtime = get_runtime()
    with invocation():
        answer = await handle_push(
            PushRequest(dict(req.headers), req.get_body(), req.headers.get("content-type")),
            secret=runtime.settings.metrics_secret,
            config=IngestConfig.from_settings(runtime.settings),
            client_factory=runtime.client,
            platform=runtime.platform,
            now=datetime.now(UTC),
        )
    return func.HttpResponse(json.dumps(answer.body), status_code=answer.status, mimetype="application/json")


@bp.timer_trigger(schedule="%METRICS_PULL_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def metrics_pull(timer: func.TimerRequest) -> None:
    """Pull the configured sources (AWS Cost Explorer by default) for the look-back window."""
    runtime = get_runtime()
    with invocation():
        await pull_from_settings(runtime.settings, runtime.platform, runtime.client, datetime.now(UTC))

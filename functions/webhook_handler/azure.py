"""Azure blueprint: the webhook route, the queue worker, the PULL timer and the nightly reconcile.

Each function only translates the trigger into a `core` call and the result back.
"""

from __future__ import annotations

import json

import azure.functions as func

from functions.webhook_handler.core import (
    ReceiveConfig,
    process_queue_message,
    receive_delivery,
    run_pull,
    run_reconcile,
)
from shared.logging import get_logger, log_context
from shared.runtime import get_runtime

bp = func.Blueprint()
logger = get_logger(__name__)


@bp.route(route="leanix/webhook", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def leanix_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """LeanIX PUSH deliveries: 202 once the event is queued."""
    runtime = get_runtime()
    result = await receive_delivery(
        dict(req.headers), req.get_body(), ReceiveConfig.from_settings(runtime.settings), runtime.platform
    )
    return func.HttpResponse(json.dumps(result.body), status_code=result.status, mimetype="application/json")


@bp.queue_trigger(arg_name="msg", queue_name="%WEBHOOK_QUEUE_NAME%", connection="AzureWebJobsStorage")
async def leanix_webhook_worker(msg: func.QueueMessage) -> None:
    """Runs the rules for one queued event; an exception makes the host retry, then poison-queue it."""
    result = await process_queue_message(msg.get_body().decode("utf-8"), get_runtime())
    logger.info("webhook event processed", extra=log_context(outcome=result.outcome.value))


@bp.timer_trigger(arg_name="timer", schedule="%WEBHOOK_PULL_SCHEDULE%", run_on_startup=False)
async def leanix_webhook_pull(timer: func.TimerRequest) -> None:
    """PULL mode: long-poll the subscription and enqueue its events (no-op in PUSH mode)."""
    summary = await run_pull(get_runtime())
    logger.info("webhook PULL finished", extra=log_context(**summary))


@bp.timer_trigger(arg_name="timer", schedule="%TIME_RECONCILE_SCHEDULE%", run_on_startup=False)
async def leanix_time_reconcile(timer: func.TimerRequest) -> None:
    """Nightly: repair TIME classes that drifted while events were missed."""
    summary = await run_reconcile(get_runtime())
    logger.info("TIME reconcile finished", extra=log_context(**summary))

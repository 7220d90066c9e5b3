"""Azure blueprint: the nightly LDIF sync timer (`schedule="%LDIF_SYNC_SCHEDULE%"`)."""

from __future__ import annotations

import azure.functions as func

from functions.ldif_sync.wiring import sync_from_runtime
from shared.logging import get_logger, log_context

bp = func.Blueprint()
logger = get_logger(__name__)


@bp.function_name("ldif_sync")
@bp.timer_trigger(arg_name="timer", schedule="%LDIF_SYNC_SCHEDULE%", run_on_startup=False, use_monitor=True)
async def ldif_sync(timer: func.TimerRequest) -> None:
    """Run tonight's sync; a failed or timed-out run raises, so the invocation fails (and alerts)."""
    summary = await sync_from_runtime()
    logger.info("ldif_sync finished", extra=log_context(past_due=timer.past_due, **summary))

"""Azure timer for token rotation (schedule `%TOKEN_ROTATION_SCHEDULE%`); locally `invoke token_rotation`."""

from __future__ import annotations

import azure.functions as func

from functions.token_rotation.core import rotator_for
from shared.logging import get_logger, log_context
from shared.runtime import get_runtime

logger = get_logger(__name__)

bp = func.Blueprint()


@bp.function_name("token_rotation")
@bp.timer_trigger(schedule="%TOKEN_ROTATION_SCHEDULE%", arg_name="timer", run_on_startup=False)
async def token_rotation(timer: func.TimerRequest) -> None:
    """Rotate when due (or resume an unfinished rotation), through the Key Vault secret store."""
    report = await rotator_for(get_runtime()).run_scheduled()
    logger.info(
        "token rotation: %s", "rotated" if report["rotated"] else "not due", extra=log_context(**report)
    )

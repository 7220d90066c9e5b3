"""Secrets Manager rotation Lambda: `handler(event, context)` for the four rotation steps."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from functions.token_rotation.core import rotator_for
from functions.token_rotation.errors import RotationInputError
from functions.token_rotation.rotation_event import parse_rotation_event, should_run_step
from shared.logging import get_logger, invocation, log_context
from shared.platform.aws_clients import LazyClient, error_code
from shared.runtime import Runtime, get_runtime

logger = get_logger(__name__)


def handler(event: dict[str, Any], context: Any) -> None:
    """Run one rotation step; raises (so Secrets Manager retries) when the step fails."""
    with invocation(getattr(context, "aws_request_id", None)):
        asyncio.run(handle_rotation_event(event, get_runtime()))


async def handle_rotation_event(event: dict[str, Any], runtime: Runtime) -> None:
    """Guard clauses first (as the AWS template), then the step keyed on `ClientRequestToken`."""
    rotation = parse_rotation_event(event)
    settings = runtime.settings
    metadata = await asyncio.to_thread(_describe, settings.aws_region, rotation.secret_id)
    expected = settings.aws_secret_prefix + settings.leanix_token_secret_name
    if not should_run_step(rotation, metadata, expected):
        logger.info("rotation version already AWSCURRENT", extra=log_context(step=rotation.step.value))
        return
    await rotator_for(runtime).run_step(rotation.step, rotation.token)


@functools.cache
def _secrets_client(region: str) -> LazyClient:
    """One Secrets Manager client per region and process (a boto3 client costs ~100 ms to build)."""
    return LazyClient("secretsmanager", region)


def _describe(region: str, secret_id: str) -> dict[str, Any]:
    try:
        metadata: dict[str, Any] = _secrets_client(region).get().describe_secret(SecretId=secret_id)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise RotationInputError(
                f"the rotation event names secret {secret_id!r}, which does not exist"
            ) from None
        raise
    return metadata

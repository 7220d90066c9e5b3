"""Creating a synchronization run exactly once, with retries.

`POST /synchronizationRuns` is not idempotent: after a 5xx or a dropped connection the run may or
may not exist. The client therefore never replays it once sent. Here each LDIF carries a unique
`description` (the attempt marker); before retrying an ambiguous failure we list the workspace's
runs and adopt the one with our marker. So 5xx, 429 and dropped connections are retried, and a run
is never created (or started) twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared.leanix import (
    BadRequestError,
    LeanIXClient,
    SyncRun,
    is_retryable_error,
    retry_async,
)
from shared.logging import get_logger, log_context

logger = get_logger(__name__)


async def find_run(client: LeanIXClient, markers: list[str]) -> SyncRun | None:
    """The run created under one of `markers` (a chunked submission's runs carry `<marker> chunk <n>`)."""
    for run in await client.integration.list_runs():
        description = run.description or ""
        if any(description == m or description.startswith(f"{m} chunk ") for m in markers):
            return run
    return None


async def create_run_once(
    client: LeanIXClient, create: Callable[[], Awaitable[SyncRun]], marker: str
) -> SyncRun:
    """Run `create` (a started create call) until it succeeds, adopting a run an earlier try made.

    Retries what the bundle's policy retries for idempotent calls (408/429/5xx, connection errors),
    which is safe because every retry first looks for a run with `marker`. A run found still
    CREATED is started (see `start_run_once`). Raises the last error when retries run out.
    """
    attempts = 0

    async def attempt() -> SyncRun:
        nonlocal attempts
        if attempts:
            existing = await find_run(client, [marker])
            if existing is not None:
                logger.warning(
                    "adopting the run an earlier create attempt made", extra=log_context(run_id=existing.id)
                )
                if (existing.status or "").upper() == "CREATED":
                    await start_run_once(client, existing.id)
                return existing
        attempts += 1
        return await create()

    return await retry_async(
        attempt,
        policy=client.retry_policy,
        is_retryable=lambda error: is_retryable_error(error, idempotent=True),
        sleep=client.sleep,
        clock=client.clock,
        description="create synchronization run",
    )


async def start_run_once(client: LeanIXClient, run_id: str) -> None:
    """Start a CREATED run; retried on 408/429/5xx and connection errors, never started twice.

    Before a retry the run's status is read: anything but CREATED means the earlier try started it.
    LeanIX's 400 "already started" counts as started.
    """
    attempts = 0

    async def attempt() -> None:
        nonlocal attempts
        if attempts:
            status = await client.integration.run_status(run_id)
            if (status.status or "").upper() != "CREATED":
                return
        attempts += 1
        try:
            await client.integration.start_run(run_id)
        except BadRequestError:
            status = await client.integration.run_status(run_id)
            if (status.status or "").upper() == "CREATED":
                raise

    await retry_async(
        attempt,
        policy=client.retry_policy,
        is_retryable=lambda error: is_retryable_error(error, idempotent=True),
        sleep=client.sleep,
        clock=client.clock,
        description=f"start synchronization run {run_id}",
    )

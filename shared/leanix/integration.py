"""Integration API v1 (`/services/integration-api/v1`): processor configurations and LDIF runs (§6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from shared.leanix.errors import LeanIXError, NotFoundError, RunDeadlineExceeded
from shared.leanix.models import LeanIXModel
from shared.logging import get_logger

if TYPE_CHECKING:
    from shared.leanix.client import LeanIXClient

INTEGRATION_PATH = "/services/integration-api/v1"
RUNS_PATH = f"{INTEGRATION_PATH}/synchronizationRuns"
TERMINAL_STATUSES = frozenset({"FINISHED", "FAILED", "STOPPED"})
MAX_WARNINGS_PAGE = 100

logger = get_logger(__name__)


class SyncRun(LeanIXModel):
    """A synchronization run's status (`StatusResponse`): CREATED, PENDING, IN_PROGRESS, FINISHED, ..."""

    id: str
    status: str | None = None
    description: str | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the run is FINISHED, FAILED or STOPPED."""
        return (self.status or "").upper() in TERMINAL_STATUSES


RunStatus = SyncRun


class ConfigurationKey(LeanIXModel):
    """The five values that bind an LDIF to a processor configuration."""

    connector_type: str
    connector_id: str
    connector_version: str
    processing_direction: str = "inbound"
    processing_mode: str = "partial"


def _run_of(body: Any) -> SyncRun:
    # The spec declares an array; real servers answer one object. Accept both.
    if isinstance(body, list):
        if not body:
            raise LeanIXError("the Integration API answered an empty list when creating a run")
        body = body[0]
    if not isinstance(body, dict) or not body.get("id"):
        raise LeanIXError("the Integration API answered without a run id")
    return SyncRun.model_validate(body)


class IntegrationClient:
    """Integration API endpoints. Reached as `client.integration`."""

    def __init__(self, client: LeanIXClient) -> None:
        self._client = client

    async def upsert_configuration(self, configuration: dict[str, Any]) -> None:
        """Insert or update a processor configuration (idempotent PUT, answers 204)."""
        await self._client.request("PUT", f"{INTEGRATION_PATH}/configurations", json=configuration)

    async def get_configuration(self, key: ConfigurationKey) -> Any:
        """The processor configuration(s) bound to `key`, or None when there is none."""
        try:
            return await self._client.request_json(
                "GET", f"{INTEGRATION_PATH}/configurations", params=key.model_dump(by_alias=True)
            )
        except NotFoundError:
            return None

    async def delete_configuration(self, key: ConfigurationKey) -> None:
        """Delete the processor configuration bound to `key` (raises `NotFoundError` if none)."""
        await self._client.request(
            "DELETE", f"{INTEGRATION_PATH}/configurations", params=key.model_dump(by_alias=True)
        )

    async def create_run(
        self, ldif: dict[str, Any] | bytes, *, start: bool = True, test: bool = False
    ) -> SyncRun:
        """Create (and by default start) a run with the LDIF as body. Not retried once sent.

        `ldif` is a dict, or the already serialized JSON document as bytes (a streamed LDIF).
        """
        if isinstance(ldif, bytes):
            body = await self._client.request_json(
                "POST",
                RUNS_PATH,
                params={"start": start, "test": test},
                content=ldif,
                headers={"Content-Type": "application/json"},
                idempotent=False,
            )
        else:
            body = await self._client.request_json(
                "POST", RUNS_PATH, params={"start": start, "test": test}, json=ldif, idempotent=False
            )
        return _run_of(body)

    async def list_runs(self) -> list[SyncRun]:
        """Every synchronization run the workspace knows (`GET /synchronizationRuns`)."""
        body = await self._client.request_json("GET", RUNS_PATH)
        items = body if isinstance(body, list) else (body or {}).get("data") or []
        return [SyncRun.model_validate(item) for item in items if isinstance(item, dict) and item.get("id")]

    async def create_run_with_url(
        self, url: str, *, data_type: str | None = None, start: bool = True, test: bool = False
    ) -> SyncRun:
        """Create a run whose LDIF LeanIX downloads from `url` (for large inventories)."""
        body = await self._client.request_json(
            "POST",
            f"{RUNS_PATH}/withUrlInput",
            params={"start": start, "test": test},
            json={"url": url, "type": data_type},
            idempotent=False,
        )
        return _run_of(body)

    async def start_run(self, run_id: str, *, test: bool = False) -> None:
        """Start a created run (LeanIX answers 400 when it was already started)."""
        await self._client.request("POST", f"{RUNS_PATH}/{run_id}/start", params={"test": test})

    async def stop_run(self, run_id: str) -> None:
        """Stop a pending or running run."""
        await self._client.request("POST", f"{RUNS_PATH}/{run_id}/stop")

    async def run_status(self, run_id: str) -> SyncRun:
        """The run's current status."""
        body = await self._client.request_json("GET", f"{RUNS_PATH}/{run_id}/status")
        if isinstance(body, dict):
            body = {"id": run_id} | body
        return _run_of(body)

    async def run_progress(self, run_id: str) -> dict[str, Any]:
        """The run's progress counters (`SyncRunInboundProgressReport`)."""
        body = await self._client.request_json("GET", f"{RUNS_PATH}/{run_id}/progress")
        return body if isinstance(body, dict) else {}

    async def iter_run_warnings(
        self, run_id: str, *, page_size: int = MAX_WARNINGS_PAGE
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every warning of a run (pages through `offset`/`limit`)."""
        limit = max(1, min(page_size, MAX_WARNINGS_PAGE))
        offset = 0
        while True:
            body = await self._client.request_json(
                "GET", f"{RUNS_PATH}/{run_id}/warnings", params={"offset": offset, "limit": limit}
            )
            page = body if isinstance(body, list) else (body or {}).get("data") or []
            for warning in page:
                if isinstance(warning, dict):
                    yield warning
            if len(page) < limit:
                return
            offset += len(page)

    async def run_results(self, run_id: str) -> Any:
        """The result LDIF of a finished run; None while not ready or when the run produced none (204)."""
        return await self._client.request_json("GET", f"{RUNS_PATH}/{run_id}/results")

    async def wait_until_finished(
        self,
        run_id: str,
        *,
        deadline_seconds: float = 3600.0,
        initial_interval: float = 2.0,
        max_interval: float = 30.0,
    ) -> SyncRun:
        """Poll the run's status with backoff until FINISHED, FAILED or STOPPED, and return it.

        A FAILED or STOPPED run is returned, not raised: the caller reports it. Raises
        `RunDeadlineExceeded` (with the run id and last status) when the deadline passes first.
        Uses the client's injected sleep and clock.
        """
        clock = self._client.clock
        sleep = self._client.sleep
        started = clock()
        waited = 0.0
        interval = initial_interval
        while True:
            status = await self.run_status(run_id)
            if status.is_terminal:
                return status
            # Budget by clock and by the sum of sleeps, so a fake sleep still reaches the deadline.
            spent = max(clock() - started, waited)
            remaining = deadline_seconds - spent
            if remaining <= 0:
                raise RunDeadlineExceeded(run_id, status.status, deadline_seconds)
            delay = min(interval, remaining)
            logger.debug("run %s is %s; polling again in %.1f s", run_id, status.status, delay)
            await sleep(delay)
            waited += delay
            interval = min(interval * 2, max_interval)

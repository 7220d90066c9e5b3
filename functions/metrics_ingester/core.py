"""The metrics ingester's logic, cloud-neutral: the push endpoint and the scheduled pull.

Entry points (`azure.py`, `aws.py`) translate their trigger into `PushRequest` / a pull call and the
`HttpAnswer` back; everything else happens here, with the client, ports and clock injected.

Push: authenticate with the shared secret (before the body is read), parse and validate each point,
write the accepted ones (see `writer.py`), dead-letter what still fails, answer per point:
200 all accepted, 207 some rejected or dead-lettered, 400 unreadable body, 401 bad secret,
413 too large, 503 not configured or dead-lettering impossible (re-sending is always safe).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from functions.metrics_ingester.dead_letter import (
    BlobDeadLetter,
    DeadLetter,
    DeadLetterEntry,
    QueueDeadLetter,
    new_batch_id,
)
from functions.metrics_ingester.points import (
    MAX_BATCH_POINTS,
    MAX_BODY_BYTES,
    BatchResult,
    BatchTooLargeError,
    Bucket,
    MetricPoint,
    UnreadableBatchError,
    parse_batch,
    validate_batch,
)
from functions.metrics_ingester.sources import (
    CostExplorerSource,
    CostPointConfig,
    MetricSource,
    RecordedCostSource,
    SourceError,
    Window,
)
from functions.metrics_ingester.writer import Indexed, V1Writer, V2Writer, WriteReport
from shared.errors import BundleError, ConfigurationError
from shared.leanix import LeanIXClient
from shared.logging import get_logger
from shared.platform import Platform
from shared.settings import Settings

logger = get_logger("functions.metrics_ingester")

SECRET_HEADER = "x-metrics-secret"  # noqa: S105 - a header name, not a secret
ClientFactory = Callable[[], AbstractAsyncContextManager[LeanIXClient]]


@dataclass(frozen=True)
class IngestConfig:
    """What the ingester needs from the settings (read once by the entry point)."""

    api_version: str = "v2"
    bucket: Bucket = Bucket.MINUTE
    concurrency: int = 16
    dedup_ttl_seconds: float = 400 * 86400.0
    dead_letter: str = "blob"
    dead_letter_queue: str = "metrics-dead-letter"

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestConfig:
        """The ingest configuration of `settings`."""
        return cls(
            api_version=settings.metrics_api_version,
            bucket=Bucket(settings.metrics_bucket),
            concurrency=settings.metrics_concurrency,
            dedup_ttl_seconds=settings.metrics_dedup_ttl_days * 86400.0,
            dead_letter=settings.metrics_dead_letter,
            dead_letter_queue=settings.metrics_dead_letter_queue,
        )


@dataclass(frozen=True)
class PushRequest:
    """An HTTP push as the adapters see it: headers (any case) and the raw body."""

    headers: Mapping[str, str]
    body: bytes
    content_type: str | None = None
    # Set by an adapter that could not decode the body (bad base64): a 400, after the secret check.
    body_error: str | None = None


@dataclass(frozen=True)
class HttpAnswer:
    """The HTTP answer the adapters send back as JSON."""

    status: int
    body: dict[str, Any]


class DeadLetterFailed(BundleError):
    """Points failed to be written and could not be dead-lettered either (the caller must re-send)."""


# --- authentication --------------------------------------------------------------------------


def presented_secret(headers: Mapping[str, str]) -> str | None:
    """The secret the caller sent: `X-Metrics-Secret: <secret>` or `Authorization: Bearer <secret>`."""
    lowered = {key.lower(): value for key, value in headers.items()}
    value = lowered.get(SECRET_HEADER)
    if value:
        return value.strip()
    scheme, _, credentials = (lowered.get("authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def check_secret(headers: Mapping[str, str], configured: SecretStr | None) -> HttpAnswer | None:
    """None when the caller presented the configured secret; otherwise the 401 (or 503) answer.

    The comparison is constant-time on bytes; the answer never echoes what was sent.
    """
    expected = configured.get_secret_value() if configured is not None else ""
    if not expected:
        return HttpAnswer(503, {"error": "METRICS_SECRET is not configured: set it before pushing metrics"})
    sent = presented_secret(headers)
    if sent is None or not hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8")):
        return HttpAnswer(
            401,
            {"error": "missing or wrong metrics secret: send 'Authorization: Bearer <METRICS_SECRET>'"},
        )
    return None


# --- writing ---------------------------------------------------------------------------------


def make_dead_letter(config: IngestConfig, platform: Platform, now: datetime) -> DeadLetter:
    """The configured dead letter: a blob per batch (default) or a queue message per point."""
    if config.dead_letter == "queue":
        return QueueDeadLetter(platform.queue, config.dead_letter_queue)
    return BlobDeadLetter(platform.blobs, now)


async def write_points(
    points: Sequence[Indexed], client: LeanIXClient, platform: Platform, config: IngestConfig
) -> WriteReport:
    """Write points with the configured Metrics API version; never raises for a LeanIX failure."""
    if config.api_version == "v1":
        writer = V1Writer(client, platform.state, config.concurrency, config.dedup_ttl_seconds)
        return await writer.write(points)
    return await V2Writer(client, config.concurrency).write(points)


@dataclass
class IngestOutcome:
    """What happened to the points of one push or pull."""

    report: WriteReport
    dead_letter: str | None = None
    dead_lettered: list[DeadLetterEntry] = field(default_factory=list)


async def ingest(
    points: Sequence[Indexed],
    client: LeanIXClient,
    platform: Platform,
    config: IngestConfig,
    now: datetime,
) -> IngestOutcome:
    """Write `points` and dead-letter the failures. Raises `DeadLetterFailed` if that is impossible."""
    report = await write_points(points, client, platform, config)
    outcome = IngestOutcome(report)
    if report.failed:
        by_index = dict(points)
        outcome.dead_lettered = [
            DeadLetterEntry(index, by_index[index], reason) for index, reason in sorted(report.failed.items())
        ]
        batch_id = new_batch_id(now)
        try:
            outcome.dead_letter = await make_dead_letter(config, platform, now).send(
                batch_id, outcome.dead_lettered
            )
        except Exception as error:
            raise DeadLetterFailed(
                f"{len(report.failed)} points could not be written nor dead-lettered "
                f"({type(error).__name__}); re-send the batch (re-sending is safe)"
            ) from error
        logger.warning(
            "metrics points dead-lettered",
            extra={"count": len(report.failed), "deadLetter": outcome.dead_letter},
        )
    return outcome


# --- push ------------------------------------------------------------------------------------


async def handle_push(
    request: PushRequest,
    *,
    secret: SecretStr | None,
    config: IngestConfig,
    client_factory: ClientFactory,
    platform: Platform,
    now: datetime,
) -> HttpAnswer:
    """Authenticate, validate and write one pushed batch; the answer lists every point's outcome."""
    refused = check_secret(request.headers, secret)
    if refused is not None:
        return refused
    if request.body_error is not None:
        return HttpAnswer(400, {"error": request.body_error})
    try:
        items = parse_batch(request.body, request.content_type)
    except BatchTooLargeError as error:
        return HttpAnswer(
            413, {"error": str(error), "limits": {"points": MAX_BATCH_POINTS, "bytes": MAX_BODY_BYTES}}
        )
    except UnreadableBatchError as error:
        return HttpAnswer(400, {"error": str(error)})
    batch = validate_batch(items, now, config.bucket)
    accepted = batch.accepted_points()
    skipped = 0
    dead_letter: str | None = None
    if accepted:
        try:
            async with client_factory() as client:
                outcome = await ingest(accepted, client, platform, config, now)
        except ConfigurationError as error:
            return HttpAnswer(503, {"error": f"the metrics ingester is not configured: {error}"})
        except DeadLetterFailed as error:
            logger.error("metrics dead letter failed", exc_info=error.__cause__)
            return HttpAnswer(503, {"error": str(error)})
        apply_report(batch, outcome)
        skipped = len(outcome.report.skipped)
        dead_letter = outcome.dead_letter
    body = batch.to_dict()
    body["duplicatesSkipped"] = skipped
    if dead_letter is not None:
        body["deadLetter"] = dead_letter
    logger.info(
        "metrics batch ingested",
        extra={k: body[k] for k in ("accepted", "rejected", "deadLettered", "duplicatesSkipped")},
    )
    return HttpAnswer(batch.http_status, body)


def apply_report(batch: BatchResult, outcome: IngestOutcome) -> None:
    """Turn the write report into per-point rejections and dead-letter marks on `batch`."""
    for index, reason in outcome.report.rejected.items():
        batch.mark_rejected(index, reason)
    for entry in outcome.dead_lettered:
        batch.mark_dead_lettered(entry.index, entry.error)


# --- pull ------------------------------------------------------------------------------------


def build_sources(settings: Settings) -> list[MetricSource]:
    """The sources named in `METRICS_PULL_SOURCES` (comma separated). Raises `ConfigurationError`."""
    cost = CostPointConfig(measurement=settings.cost_measurement, tag_key=settings.cost_tag_key)
    sources: list[MetricSource] = []
    for name in (part.strip() for part in settings.metrics_pull_sources.split(",")):
        if not name:
            continue
        if name == CostExplorerSource.name:
            sources.append(CostExplorerSource(cost))
        elif name == RecordedCostSource.name:
            sample = settings.cost_recorded_sample
            sources.append(RecordedCostSource(cost, Path(sample)) if sample else RecordedCostSource(cost))
        else:
            raise ConfigurationError(
                f"METRICS_PULL_SOURCES names an unknown source {name!r}: use aws_cost_explorer or recorded"
            )
    return sources


@dataclass
class PullReport:
    """The outcome of one scheduled pull, per source and in total."""

    window: Window
    fetched: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    written: int = 0
    rejected: int = 0
    dead_lettered: int = 0
    dead_letter: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON summary for logs and `invoke`."""
        return {
            "window": {"start": self.window.start.isoformat(), "end": self.window.end.isoformat()},
            "fetched": self.fetched,
            "errors": self.errors,
            "written": self.written,
            "rejected": self.rejected,
            "deadLettered": self.dead_lettered,
            "deadLetter": self.dead_letter,
        }


class PullFailed(BundleError):
    """A source failed (the other sources' points were still written)."""


async def run_pull(
    sources: Sequence[MetricSource],
    window: Window,
    *,
    client: LeanIXClient,
    platform: Platform,
    config: IngestConfig,
    now: datetime,
) -> PullReport:
    """Fetch every source for `window` and write the points (overwriting earlier runs' points).

    A failing source does not stop the others; after writing, `PullFailed` is raised naming it, so
    the timer run shows as failed. Raises `DeadLetterFailed` when failed points cannot be stored.
    """
    report = PullReport(window)
    points: list[MetricPoint] = []
    for source in sources:
        try:
            fetched = await source.fetch(window)
        except SourceError as error:
            report.errors[source.name] = str(error)
            continue
        report.fetched[source.name] = len(fetched)
        points.extend(fetched)
    if points:
        outcome = await ingest(list(enumerate(points)), client, platform, config, now)
        report.written = outcome.report.written + len(outcome.report.skipped)
        report.rejected = len(outcome.report.rejected)
        report.dead_lettered = len(outcome.dead_lettered)
        report.dead_letter = outcome.dead_letter
        for index, reason in outcome.report.rejected.items():
            logger.warning("pulled metric point rejected", extra={"index": index, "reason": reason})
    logger.info("metrics pull finished", extra=report.to_dict())
    if report.errors:
        raise PullFailed("metrics pull: " + "; ".join(f"{k}: {v}" for k, v in report.errors.items()))
    return report


async def pull_from_settings(
    settings: Settings, platform: Platform, client_factory: ClientFactory, now: datetime
) -> PullReport:
    """The scheduled pull as configured: the sources and look-back window of `settings`."""
    sources = build_sources(settings)
    window = Window.look_back(now.date(), settings.cost_lookback_days)
    async with client_factory() as client:
        return await run_pull(
            sources,
            window,
            client=client,
            platform=platform,
            config=IngestConfig.from_settings(settings),
            now=now,
        )

"""One logger setup for every function: JSON lines, a correlation id, and secret redaction.

The redaction filter runs on every record that reaches the root handler, so an API token, a
bearer token or a webhook secret never appears in a log line, even if a caller passes one.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"

_correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")
_known_secrets: set[str] = set()

# Shapes that are secrets whatever their value: bearer/basic credentials, JWTs, LeanIX tokens.
_SECRET_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(r"\bLXT_[A-Za-z0-9_-]{8,}"),
    re.compile(
        r"(?i)((?:api[_-]?token|access[_-]?token|client[_-]?secret|secret|password|authorization)"
        r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;}&]{4,})"
    ),
)


def register_secret(*values: str | None) -> None:
    """Make the redaction filter replace these exact values wherever they appear."""
    for value in values:
        if value and len(value) >= 4:
            _known_secrets.add(value)


def redact(text: str) -> str:
    """Return `text` with every known secret and every secret-shaped substring replaced."""
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(lambda m: _keep_scheme(m.group(0)), text)
    return text


def _keep_scheme(match: str) -> str:
    head, _, _ = match.partition(" ")
    if head.lower() in {"bearer", "basic"}:
        return f"{head} {REDACTED}"
    return REDACTED


def correlation_id() -> str:
    return _correlation_id.get()


@contextlib.contextmanager
def invocation(correlation: str | None = None) -> Iterator[str]:
    """Bind a correlation id to every log line written inside the block (one per invocation)."""
    value = correlation or uuid.uuid4().hex
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)


class RedactingFilter(logging.Filter):
    """Renders the message, redacts it, and drops the args so nothing unredacted survives."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for key, value in list(record.__dict__.items()):
            if key.startswith("ctx_") and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, extra context."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", correlation_id()),
        }
        for key, value in record.__dict__.items():
            if key.startswith("ctx_"):
                entry[key[4:]] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return redact(json.dumps(entry, default=str))


class _CorrelationFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id()
        return True


_configured = False


def setup_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Install the JSON handler on the root logger once; later calls only add secrets and level."""
    global _configured
    register_secret(*secrets)
    root = logging.getLogger()
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "botocore", "urllib3", "azure", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_CorrelationFilter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    # Hosts (Azure worker, pytest) bring their own handlers: redact there too.
    for existing in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in existing.filters):
            existing.addFilter(RedactingFilter())
    _configured = True


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


def log_context(**values: Any) -> dict[str, Any]:
    """`logger.info("...", extra=log_context(event_id=1))` adds fields to the JSON line."""
    return {f"ctx_{key}": value for key, value in values.items()}

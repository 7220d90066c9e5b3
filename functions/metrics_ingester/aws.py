"""Lambda handlers of the metrics ingester: `push` (API Gateway HTTP API v2) and `pull` (EventBridge)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from functions.metrics_ingester.core import (
    HttpAnswer,
    IngestConfig,
    PushRequest,
    handle_push,
    pull_from_settings,
)
from shared.logging import invocation
from shared.runtime import get_runtime


def _response(answer: HttpAnswer) -> dict[str, Any]:
    return {
        "statusCode": answer.status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(answer.body),
    }


def push(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway HTTP API (payload v2) -> `handle_push`; the body may arrive base64-encoded."""
    headers = {str(k): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    body_error: str | None = None
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            # Answered by `handle_push` after the secret check: an anonymous caller gets 401.
            body, body_error = b"", "the body is not valid base64"
    else:
        body = raw.encode("utf-8")
    runtime = get_runtime()
    request_id = getattr(context, "aws_request_id", None)
    with invocation(request_id):
        answer = asyncio.run(
            handle_push(
                PushRequest(headers, body, headers.get("content-type"), body_error),
                secret=runtime.settings.metrics_secret,
                config=IngestConfig.from_settings(runtime.settings),
                client_factory=runtime.client,
                platform=runtime.platform,
                now=datetime.now(UTC),
            )
        )
    return _response(answer)


def pull(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge schedule -> the configured pull; a failing source fails the invocation (and alerts)."""
    runtime = get_runtime()
    with invocation(getattr(context, "aws_request_id", None)):
        report = asyncio.run(
            pull_from_settings(runtime.settings, runtime.platform, runtime.client, datetime.now(UTC))
        )
    return report.to_dict()

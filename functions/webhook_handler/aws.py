"""Lambda handlers: API Gateway HTTP API v2 (receive), SQS (worker), EventBridge (pull, reconcile).

Each handler only translates the event into a `core` call and the result back.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from functions.webhook_handler.core import (
    ReceiveConfig,
    process_queue_messages,
    receive_delivery,
    run_pull,
    run_reconcile,
)
from shared.runtime import get_runtime


def _response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def receive(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`POST /leanix/webhook` through an HttpApi (payload format 2.0: headers are lower-cased)."""
    # A base64 body is decoded by `receive_delivery`, after the Authorization check.
    body = str(event.get("body") or "").encode("utf-8")
    runtime = get_runtime()
    headers = {str(k): str(v) for k, v in (event.get("headers") or {}).items()}
    result = asyncio.run(
        receive_delivery(
            headers,
            body,
            ReceiveConfig.from_settings(runtime.settings),
            runtime.platform,
            base64_body=bool(event.get("isBase64Encoded")),
        )
    )
    return _response(result.status, result.body)


def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch: failed records are reported as `batchItemFailures` (ReportBatchItemFailures)."""
    records = [(str(r["messageId"]), str(r.get("body") or "")) for r in event.get("Records") or []]
    results = asyncio.run(process_queue_messages(records, get_runtime()))
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid, result in results if result is None]}


def pull(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge schedule: PULL mode long-poll (no-op in PUSH mode)."""
    return asyncio.run(run_pull(get_runtime()))


def reconcile(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge schedule: the nightly TIME reconcile."""
    return asyncio.run(run_reconcile(get_runtime()))

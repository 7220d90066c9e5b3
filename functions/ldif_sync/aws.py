"""Lambda handler for the EventBridge schedule of the nightly LDIF sync."""

from __future__ import annotations

import asyncio
from typing import Any

from functions.ldif_sync.wiring import sync_from_runtime
from shared.logging import invocation


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run tonight's sync for a scheduled event; raises (failing the invocation) when the run failed."""
    request_id = getattr(context, "aws_request_id", None) or str(event.get("id") or "") or None
    with invocation(request_id):
        return asyncio.run(sync_from_runtime(request_id))

"""`python -m functions invoke <function>`: run one timer or queue function once, as its trigger would."""

from __future__ import annotations

import time
from typing import Any

from local.host import QueueFunction, TimerFunction, discover, process_queue_once, run_timer
from shared.logging import redact
from shared.platform import build_platform
from shared.settings import get_settings


async def invoke_function(name: str) -> dict[str, Any]:
    """Run `name` once. Timer functions fire once; queue functions drain what their queue holds now."""
    from function_app import app

    try:
        function = discover(app).find(name)
    except KeyError as exc:
        return {"ok": False, "function": name, "error": str(exc.args[0])}
    started = time.monotonic()
    summary: dict[str, Any] = {"function": name}
    try:
        if isinstance(function, TimerFunction):
            summary["kind"] = "timer"
            result = await run_timer(function)
            if result is not None:
                summary["result"] = result
        elif isinstance(function, QueueFunction):
            summary["kind"] = "queue"
            queue = build_platform(get_settings()).queue
            totals = {"processed": 0, "failed": 0}
            while True:
                counts = await process_queue_once(function, queue)
                totals = {k: totals[k] + counts[k] for k in totals}
                if not any(counts.values()) or counts["failed"]:
                    break
            summary.update(totals)
            summary["ok"] = totals["failed"] == 0
        else:
            return {"ok": False, "function": name, "error": "HTTP functions are called over HTTP: use serve"}
    except Exception as exc:
        # Printed to stdout, outside the logging filter: redact like a log line.
        summary.update(ok=False, error=redact(f"{type(exc).__name__}: {exc}"))
    summary.setdefault("ok", True)
    summary["seconds"] = round(time.monotonic() - started, 3)
    return summary

"""Load the canonical LeanIX webhook deliveries stored in tests/events/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"


def event_path(name: str) -> Path:
    """The file of a canonical event; `name` may omit the `.json` suffix."""
    file_name = name if name.endswith(".json") else f"{name}.json"
    return EVENTS_DIR / file_name


def load_event(name: str) -> dict[str, Any]:
    """The canonical event `name` (e.g. "webhook_default_fact_sheet_updated") as a dict."""
    data = json.loads(event_path(name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def load_event_bytes(name: str) -> bytes:
    """The canonical event `name` exactly as stored, as a delivery body."""
    return event_path(name).read_bytes()

"""What the health route reports: the bundle is importable and configured. No secrets, no I/O."""

from __future__ import annotations

from typing import Any

from shared.settings import Settings

VERSION = "0.1.0"


def health_report(settings: Settings) -> dict[str, Any]:
    """A small status document: version, platform, and whether LeanIX is the embedded emulator."""
    return {
        "status": "ok",
        "version": VERSION,
        "platform": settings.platform.value,
        "leanix": "emulator" if settings.uses_emulator else settings.leanix_host,
    }

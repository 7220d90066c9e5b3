"""Builds one sync's collaborators from the process runtime; shared by the Azure and AWS adapters."""

from __future__ import annotations

import uuid
from typing import Any

from functions.ldif_sync.config import sync_config_from_settings
from functions.ldif_sync.content_source import build_source
from functions.ldif_sync.core import SyncDeps, run_nightly_sync
from shared.runtime import get_runtime


async def sync_from_runtime(invocation_id: str | None = None) -> dict[str, Any]:
    """Run tonight's sync with the settings, ports and client of this process; see `run_nightly_sync`."""
    runtime = get_runtime()
    config = sync_config_from_settings(runtime.settings)
    source = build_source(runtime.settings, runtime.platform.blobs)
    async with runtime.client() as client:
        deps = SyncDeps(
            client=client,
            state=runtime.platform.state,
            blobs=runtime.platform.blobs,
            source=source,
            invocation_id=invocation_id or uuid.uuid4().hex,
        )
        return await run_nightly_sync(deps, config)

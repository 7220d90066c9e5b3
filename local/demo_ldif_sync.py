"""Demo scenario: the nightly LDIF sync of the shipped sample CMDB export into the emulator."""

from __future__ import annotations

import json
from pathlib import Path

from local.demo import DemoContext
from local.invoke import invoke_function

TITLE = "Nightly LDIF sync: sample CMDB export into the workspace"
SAMPLE = Path(__file__).resolve().parents[1] / "functions" / "ldif_sync" / "sample" / "cmdb_export.csv"


async def scenario(ctx: DemoContext) -> list[str]:
    """Drop the sample export in the local blob store, fire the timer once, show the outcome."""
    await ctx.platform.blobs.put(ctx.settings.ldif_export_key, SAMPLE.read_bytes(), "text/csv")
    summary = await invoke_function("ldif_sync")
    if not summary.get("ok"):
        raise RuntimeError(f"ldif_sync failed: {summary.get('error')}")
    keys = [k for k in await ctx.platform.blobs.list("ldif-sync/") if k.endswith("report.json")]
    if not keys:
        raise RuntimeError("ldif_sync wrote no report")
    report = json.loads(await ctx.platform.blobs.get(keys[-1]))
    workspace = ctx.emulator.state.workspace
    synced = [
        fs
        for fs in workspace.list_fact_sheets(include_archived=False)
        if (fs.external_id or "").startswith("cmdb:")
    ]
    apps = sorted(fs.name for fs in synced if fs.type == "Application")
    components = [fs for fs in synced if fs.type == "ITComponent"]
    again = await invoke_function("ldif_sync")
    return [
        f"run {', '.join(report['runIds'])}: {report['status']} in {report['durationSeconds']} s, "
        f"{report['counts']['items']} items, {report['counts']['warnings']} warnings",
        f"fact sheets from the export: {len(apps)} Applications ({', '.join(apps[:4])}, ...), "
        f"{len(components)} IT Components",
        f"report: {keys[-1]}; LDIF archived at {report['ldif']}; binding {report['binding']['connectorId']}",
        f"second trigger the same night: {'exited cleanly (already ran)' if again.get('ok') else again}",
    ]

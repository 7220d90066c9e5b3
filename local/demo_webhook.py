"""Demo: an Application's technical fit changes in the emulator; the TIME tag follows via real PUSH."""

from __future__ import annotations

import asyncio

from functions.webhook_handler.subscription import ensure_subscription, subscription_config
from local.demo import DemoContext
from shared.leanix import LeanIXClient, Patch, StaticTokenSource

TITLE = "Webhook handler: TIME tagging through a real PUSH delivery"
WAIT_SECONDS = 20.0


async def _time_tag(client: LeanIXClient, fact_sheet_id: str) -> list[str]:
    node = await client.graphql.get_fact_sheet(fact_sheet_id, "id tags { name tagGroup { name } }")
    tags = (node or {}).get("tags") or []
    return [t["name"] for t in tags if (t.get("tagGroup") or {}).get("name") == "TIME"]


async def _wait_for_tag(client: LeanIXClient, fact_sheet_id: str, wanted: list[str]) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    while await _time_tag(client, fact_sheet_id) != wanted:
        if loop.time() - started > WAIT_SECONDS:
            raise RuntimeError(f"the TIME tag did not become {wanted} within {WAIT_SECONDS:.0f} s")
        await asyncio.sleep(0.1)
    return loop.time() - started


async def scenario(ctx: DemoContext) -> list[str]:
    """Subscribe the local host, change fits as another user, watch the tag follow."""
    target = f"{ctx.host.base_url}/api/leanix/webhook"
    settings = ctx.settings.model_copy(update={"webhook_target_url": target})
    emulator = ctx.emulator.state
    architect = emulator.create_technical_user("demo-architect", "ADMIN")
    app = next(fs for fs in emulator.workspace.list_fact_sheets("Application") if fs.status == "ACTIVE")
    lines: list[str] = []
    async with ctx.client() as client:
        summary = await ensure_subscription(client, await subscription_config(settings, ctx.platform))
        lines.append(f"subscription {summary['identifier']} {summary['action']} -> {summary['targetUrl']}")
        lines.append(f"{app.name}: TIME tag before: {await _time_tag(client, app.id) or 'none'}")
        async with LeanIXClient(ctx.emulator.base_url, StaticTokenSource(architect.token)) as other:
            for functional, technical, wanted in (
                ("perfect", "adequate", "Invest"),
                ("perfect", "inappropriate", "Migrate"),
            ):
                patches = [
                    Patch(op="replace", path="/functionalSuitability", value=functional),
                    Patch(op="replace", path="/technicalSuitability", value=technical),
                ]
                await other.graphql.update_fact_sheet(app.id, patches)
                seconds = await _wait_for_tag(client, app.id, [wanted])
                lines.append(
                    f"architect sets fits {functional}/{technical} -> TIME tag {wanted} after {seconds:.2f} s"
                )
    writes = emulator.workspace.require(app.id).write_count
    if writes != 4:
        raise RuntimeError(f"expected 4 writes (2 by the architect, 2 by the bundle), saw {writes}")
    lines.append(
        f"fact sheet writes: {writes} (2 by the architect, 2 by the bundle; its own events were skipped)"
    )
    return lines

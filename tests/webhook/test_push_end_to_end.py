"""Real PUSH: the emulator delivers to the local host, whose queue pump runs the worker."""

from __future__ import annotations

import asyncio

from functions.webhook_handler.subscription import ensure_subscription, subscription_config
from local.host import build_host_app, start_host_in_thread
from shared.runtime import get_runtime
from tests.webhook.conftest import WebhookEnv, applications, other_user, set_fit, time_tags, wait_until


async def test_fit_change_reaches_the_time_tag_through_real_push(webhook_env: WebhookEnv) -> None:
    from function_app import app as function_app

    emulator = webhook_env.emulator
    runtime = get_runtime()
    host = start_host_in_thread(build_host_app(function_app, timers=False, settings=runtime.settings))
    try:
        settings = runtime.settings.model_copy(
            update={"webhook_target_url": f"{host.base_url}/api/leanix/webhook"}
        )
        async with runtime.client() as client:
            await ensure_subscription(client, await subscription_config(settings, runtime.platform))
        app = applications(emulator)[10]
        user = other_user(emulator)
        fs = emulator.state.workspace.require(app.id)

        set_fit(
            emulator, app.id, user.id, functionalSuitability="insufficient", technicalSuitability="adequate"
        )
        await asyncio.to_thread(wait_until, lambda: time_tags(emulator, app.id) == ["Tolerate"])
        set_fit(emulator, app.id, user.id, technicalSuitability="unreasonable")
        await asyncio.to_thread(wait_until, lambda: time_tags(emulator, app.id) == ["Eliminate"])
        # Every delivery (including those of our own writes) answered; nothing wrote a third time.
        subscription = next(iter(emulator.state.webhooks.subscriptions.values()))
        await asyncio.to_thread(wait_until, lambda: not subscription.pending)
        await asyncio.to_thread(
            wait_until, lambda: subscription.deliveries and all(d["success"] for d in subscription.deliveries)
        )
        assert fs.write_count == 4
    finally:
        host.stop()

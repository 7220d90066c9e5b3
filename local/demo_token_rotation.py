"""Demo: rotate the emulator's technical-user token through `invoke token_rotation`; nothing is locked out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from local.invoke import invoke_function
from shared.leanix import TokenExchangeError
from shared.platform import CURRENT
from shared.token_document import parse_token_document

if TYPE_CHECKING:
    from local.demo import DemoContext

TITLE = "Token rotation: rotate the technical user's token, nothing locked out"
CHEAP_READ = "{ allFactSheets(first: 1) { totalCount } }"


async def scenario(ctx: DemoContext) -> list[str]:
    """Rotate once via the timer function, then prove the new token works and the old one is refused."""
    name = ctx.settings.leanix_token_secret_name
    old_token = ctx.emulator.api_token
    async with ctx.client() as client:
        await client.graphql.execute(CHEAP_READ)  # a running consumer, with the old token cached
        summary = await invoke_function("token_rotation")
        if not summary.get("ok"):
            raise RuntimeError(f"invoke token_rotation failed: {summary.get('error')}")
        current = await ctx.platform.secrets.get_stage(name, CURRENT)
        if current is None:
            raise RuntimeError(f"the secret {name!r} has no current version after the rotation")
        document = parse_token_document(current.value)
        if document.api_token == old_token:
            raise RuntimeError("the rotation did not change the stored token")
        # The consumer's bearer still works; a new exchange re-reads the rotated token.
        client.auth.invalidate_bearer()
        page = await client.graphql.execute(CHEAP_READ)
        try:
            await client.mtm.exchange_token(old_token)
        except TokenExchangeError as error:
            refused = f"the old token is refused (HTTP {error.status_code})"
        else:
            raise RuntimeError("the old token still works after the rotation")
    return [
        f"invoke token_rotation: ok in {summary['seconds']} s; secret {name!r} now at version "
        f"{current.version_id} for technical user {document.technical_user_id}",
        f"a running client re-read the rotated token and read {page['allFactSheets']['totalCount']} "
        "fact sheets",
        refused,
    ]

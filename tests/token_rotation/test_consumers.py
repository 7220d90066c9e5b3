"""Consumers follow a rotation without a restart, and no token value ever reaches logs or errors."""

from __future__ import annotations

import logging

import pytest

from functions.token_rotation.core import STEPS
from functions.token_rotation.errors import RotationInputError, TokenNotStoredError
from local.emulator import RunningEmulator
from shared.leanix import TokenExchangeError
from shared.platform import build_platform
from shared.runtime import Runtime, get_runtime
from shared.settings import Settings
from tests.token_rotation.conftest import make_rotator, new_rotation_id, stored_tokens, token_works
from tests.token_rotation.test_core_local import FlakySecretStore

CHEAP_READ = "{ allFactSheets(first: 1) { totalCount } }"


async def test_a_running_client_picks_up_the_rotated_token_without_a_restart(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    # The consumer has its own store instance (its own cache), as another function instance would.
    consumer = Runtime(leanix_env, build_platform(leanix_env))
    old_token = emulator.api_token
    async with consumer.client() as client:
        await client.graphql.execute(CHEAP_READ)  # API token cached by the store, bearer cached
        await make_rotator(get_runtime().platform.secrets, leanix_env).rotate(new_rotation_id())
        assert not token_works(emulator, old_token)
        exchanges = client.auth.exchange_count
        emulator.state.advance_time(3600)  # the bearer expires: the next call must exchange again
        result = await client.graphql.execute(CHEAP_READ)
    assert result["allFactSheets"]["totalCount"] >= 0
    # One refused exchange with the old token, then one with the re-read, rotated token.
    assert client.auth.exchange_count == exchanges + 2


async def test_between_create_and_finish_a_consumer_uses_the_pending_token(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    consumer = Runtime(leanix_env, build_platform(leanix_env))
    rotator = make_rotator(get_runtime().platform.secrets, leanix_env)
    async with consumer.client() as client:
        await client.graphql.execute(CHEAP_READ)
        await rotator.create(new_rotation_id())  # single-user: the current token is dead now
        emulator.state.advance_time(3600)
        result = await client.graphql.execute(CHEAP_READ)
    assert "allFactSheets" in result


async def test_no_token_value_appears_in_logs_errors_or_reports(
    emulator: RunningEmulator,
    leanix_env: Settings,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = get_runtime().platform.secrets
    texts: list[str] = []
    rotator = make_rotator(secrets, leanix_env)
    texts.append(repr(await rotator.run_scheduled()))
    rotation_id = new_rotation_id()
    for step in STEPS:
        texts.append(repr(await rotator.run_step(step, rotation_id)))
    texts.append(repr(rotator))
    for failing in (
        make_rotator(FlakySecretStore(secrets, 100), leanix_env),  # type: ignore[arg-type]
        make_rotator(secrets, leanix_env, ("00000000-0000-4000-8000-000000000000",)),
    ):
        with pytest.raises((TokenNotStoredError, RotationInputError, TokenExchangeError)) as caught:
            await failing.create(new_rotation_id())
        texts.extend([str(caught.value), repr(caught.value)])
    tokens = set((await stored_tokens(secrets)).values()) | {
        u.token for u in emulator.state.technical_users.values()
    }
    captured = capsys.readouterr()
    haystack = "\n".join([*texts, caplog.text, captured.out, captured.err])
    assert caplog.records, "the rotation should have logged its steps"
    for token in tokens:
        assert token not in haystack

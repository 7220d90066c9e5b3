"""The steps on Key Vault (a fake of its REST API over HTTPS) and the timer entry point of function_app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from azure.functions.timer import TimerRequest

from functions.token_rotation.core import STEPS
from local.emulator import RunningEmulator
from local.host import discover
from shared.platform import CURRENT, Platform, SecretStore
from shared.runtime import Runtime
from shared.settings import Settings
from tests.platform.fake_key_vault import RunningVault, StaticTokenCredential, serve
from tests.token_rotation.conftest import (
    SECRET,
    assert_some_stored_token_works,
    emulator_tokens,
    make_rotator,
    new_rotation_id,
    snapshot,
    token_works,
)


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningVault]:
    running = serve(tmp_path_factory.mktemp("token-rotation-vault"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def key_vault(vault: RunningVault, emulator: RunningEmulator) -> SecretStore:
    """A Key Vault store whose secret holds the emulator's token, set by hand (no tags), as deployed."""
    from azure.keyvault.secrets import SecretClient

    from shared.platform.azure_secrets import KeyVaultSecretStore
    from shared.platform.lazy import Lazy

    vault.vault.secrets.pop(SECRET, None)

    def client() -> SecretClient:
        return SecretClient(
            vault.url,
            credential=StaticTokenCredential(),
            connection_verify=str(vault.ca_path),
            verify_challenge_resource=False,
        )

    lazy = Lazy(client)
    lazy.get().set_secret(SECRET, emulator.api_token)
    return KeyVaultSecretStore(lazy)


async def test_each_step_twice_on_key_vault_changes_nothing_the_second_time(
    emulator: RunningEmulator, leanix_env: Settings, key_vault: SecretStore
) -> None:
    rotator = make_rotator(key_vault, leanix_env)
    rotation_id = new_rotation_id()
    for step in STEPS:
        await rotator.run_step(step, rotation_id)
        after_first, users = await snapshot(key_vault), emulator_tokens(emulator)
        assert (await rotator.run_step(step, rotation_id)).changed is False
        assert await snapshot(key_vault) == after_first, step
        assert emulator_tokens(emulator) == users, step
        await assert_some_stored_token_works(emulator, key_vault)
    current = await key_vault.get_stage(SECRET, CURRENT)
    assert current is not None
    assert current.version_id == rotation_id


async def test_the_timer_rotates_through_key_vault_and_then_finds_nothing_due(
    emulator: RunningEmulator,
    leanix_env: Settings,
    key_vault: SecretStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from function_app import app
    from functions.token_rotation import azure as entry

    runtime = Runtime(leanix_env, Platform("azure", key_vault, None, None, None))  # type: ignore[arg-type]
    monkeypatch.setattr(entry, "get_runtime", lambda: runtime)
    timer = discover(app).find("token_rotation")
    assert timer.schedule_expression == "%TOKEN_ROTATION_SCHEDULE%"  # type: ignore[union-attr]
    old_token = emulator.api_token
    await timer.fn(TimerRequest(past_due=False))
    current = await key_vault.get_stage(SECRET, CURRENT)
    assert current is not None
    new_token = json.loads(current.value)["apiToken"]
    assert token_works(emulator, new_token)
    assert not token_works(emulator, old_token)
    before = await snapshot(key_vault)
    await timer.fn(TimerRequest(past_due=False))
    assert await snapshot(key_vault) == before
    assert uuid.UUID(current.version_id)


async def test_on_a_secret_set_by_hand_the_pending_version_is_never_taken_for_current(
    emulator: RunningEmulator, leanix_env: Settings, key_vault: SecretStore
) -> None:
    from shared.platform import PENDING

    hand_set = await key_vault.get_stage(SECRET, CURRENT)
    assert hand_set is not None
    rotator = make_rotator(key_vault, leanix_env)
    rotation_id = new_rotation_id()
    await rotator.create(rotation_id)
    current = await key_vault.get_stage(SECRET, CURRENT)
    assert current is not None
    assert current.version_id == hand_set.version_id  # still the untagged version, not the pending one
    assert (await rotator.finish(rotation_id)).changed
    current = await key_vault.get_stage(SECRET, CURRENT)
    assert current is not None
    assert current.version_id == rotation_id
    assert await key_vault.get_stage(SECRET, PENDING) is None
    stages = {version.version_id: version.stages for version in await key_vault.list_versions(SECRET)}
    assert stages == {hand_set.version_id: {"previous"}, rotation_id: {"current"}}


async def test_a_token_stored_by_hand_after_a_rotation_becomes_current(
    emulator: RunningEmulator, leanix_env: Settings, key_vault: SecretStore
) -> None:
    """The recovery a TokenNotStoredError asks for: replace the token in LeanIX, `az keyvault secret set`."""
    rotator = make_rotator(key_vault, leanix_env)
    await rotator.rotate(new_rotation_id())
    emulator.state.replace_token(emulator.state.admin.id)  # the operator replaces it in LeanIX
    by_hand = emulator.state.admin.token
    key_vault._client.get().set_secret(SECRET, by_hand)  # type: ignore[attr-defined]
    key_vault.invalidate(SECRET)
    hand_set_is_current = await key_vault.get_current(SECRET) == by_hand
    assert hand_set_is_current  # (not compared inside the assert: a failure would print tokens)
    listed = await key_vault.list_versions(SECRET)
    assert sum(CURRENT in version.stages for version in listed) == 1
    assert CURRENT in listed[-1].stages
    rotation_id = new_rotation_id()
    await rotator.rotate(rotation_id)  # and rotation carries on from the hand-set token
    current = await key_vault.get_stage(SECRET, CURRENT)
    assert current is not None
    assert current.version_id == rotation_id
    assert token_works(emulator, json.loads(current.value)["apiToken"])
    assert sum(CURRENT in version.stages for version in await key_vault.list_versions(SECRET)) == 1


async def test_promoting_the_tagged_version_again_wins_over_a_token_stored_by_hand(
    emulator: RunningEmulator, leanix_env: Settings, key_vault: SecretStore
) -> None:
    rotation_id = new_rotation_id()
    await make_rotator(key_vault, leanix_env).rotate(rotation_id)
    key_vault._client.get().set_secret(SECRET, "LXT_set_by_hand_0123456789")  # type: ignore[attr-defined]
    await key_vault.promote(SECRET, rotation_id)
    current = await key_vault.get_stage(SECRET, CURRENT)
    assert current is not None
    assert current.version_id == rotation_id
    assert sum(CURRENT in version.stages for version in await key_vault.list_versions(SECRET)) == 1

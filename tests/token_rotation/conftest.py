"""Fixtures for the token rotation tests: the emulator wired in, store snapshots, token checks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from functions.token_rotation.core import RotationConfig, TokenRotator, client_factory
from local.emulator import RunningEmulator
from shared.leanix import RetryPolicy
from shared.platform import SecretStore
from shared.runtime import reset_runtime
from shared.settings import Settings, get_settings
from tests.fixtures.emulator import TOKEN_PATH, basic_auth_header

SECRET = "leanix-api-token"
FAST_STORE_RETRY = RetryPolicy(max_retries=3, initial_delay=0.01, max_delay=0.01, budget_seconds=5.0)
EVENTS = Path(__file__).resolve().parent.parent / "events"


async def no_sleep(_seconds: float) -> None:
    """Injected sleep: retries take no time."""


@pytest.fixture
def leanix_env(emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Functions pointed at the emulator with its admin token (seeding the local secret store)."""
    monkeypatch.setenv("LEANIX_HOST", emulator.base_url)
    monkeypatch.setenv("LEANIX_API_TOKEN", emulator.api_token)
    reset_runtime()
    return get_settings()


def token_works(emulator: RunningEmulator, token: str) -> bool:
    """Whether the emulator exchanges `token` (plain HTTP, no bundle code involved)."""
    response = httpx.post(
        emulator.base_url + TOKEN_PATH,
        data={"grant_type": "client_credentials"},
        headers=basic_auth_header(token),
    )
    return response.status_code == 200


def api_token_of(value: str) -> str:
    """The API token in a stored value (document or bare token)."""
    if value.startswith("{"):
        token: str = json.loads(value)["apiToken"]
        return token
    return value


async def stored_tokens(secrets: SecretStore, name: str = SECRET) -> dict[str, str]:
    """version id -> API token of every live version."""
    return {
        version.version_id: api_token_of(await secrets.get_version(name, version.version_id))
        for version in await secrets.list_versions(name)
    }


async def snapshot(secrets: SecretStore, name: str = SECRET) -> list[tuple[str, tuple[str, ...], str]]:
    """Every version with its stages and value: what "changes nothing" compares."""
    return [
        (
            version.version_id,
            tuple(sorted(version.stages)),
            await secrets.get_version(name, version.version_id),
        )
        for version in await secrets.list_versions(name)
    ]


async def assert_some_stored_token_works(emulator: RunningEmulator, secrets: SecretStore) -> None:
    tokens = await stored_tokens(secrets)
    assert any(token_works(emulator, token) for token in tokens.values()), "no stored token works"


def emulator_tokens(emulator: RunningEmulator) -> dict[str, str]:
    return {user.id: user.token for user in emulator.state.technical_users.values()}


def make_rotator(
    secrets: SecretStore,
    settings: Settings,
    user_ids: tuple[str, ...] = (),
    **config: Any,
) -> TokenRotator:
    rotation_config = RotationConfig(SECRET, user_ids=user_ids, store_retry=FAST_STORE_RETRY, **config)
    return TokenRotator(secrets, client_factory(settings), rotation_config, sleep=no_sleep)


def new_rotation_id() -> str:
    return str(uuid.uuid4())


def add_admin(
    emulator: RunningEmulator, name: str = "rotation-alternate", role: str = "ADMIN"
) -> tuple[str, str]:
    """A second technical user in the emulator: (id, token)."""
    user = emulator.state.create_technical_user(name, role)
    return user.id, user.token


def load_event(step: str, **overrides: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"secretsmanager_rotation_{step}_secret.json").read_text())
    event.update(overrides)
    return event


TokenCheck = Callable[[str], bool]

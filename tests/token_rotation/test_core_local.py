"""The four steps on the local secret store against the emulator: idempotence, crash safety, two users."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from functions.token_rotation.core import STEPS, RotationStep
from functions.token_rotation.errors import RotationError, RotationInputError, TokenNotStoredError
from local.emulator import RunningEmulator
from shared.platform import CURRENT, PENDING, SecretStore
from shared.platform.errors import PlatformError
from shared.runtime import get_runtime
from shared.settings import Settings
from shared.token_document import NotATokenError
from tests.token_rotation.conftest import (
    SECRET,
    add_admin,
    assert_some_stored_token_works,
    emulator_tokens,
    make_rotator,
    new_rotation_id,
    snapshot,
    token_works,
)


def local_secrets() -> SecretStore:
    return get_runtime().platform.secrets


class FlakySecretStore:
    """A SecretStore whose `put_version` fails the next `failures` times (a transient store outage)."""

    def __init__(self, inner: SecretStore, failures: int) -> None:
        self._inner = inner
        self.failures = failures
        self.attempts = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def put_version(self, name: str, version_id: str, value: str, stage: str = "pending") -> None:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise PlatformError("the secret store is unavailable (injected)")
        await self._inner.put_version(name, version_id, value, stage)  # type: ignore[arg-type]


async def store_document(secrets: SecretStore, token: str, user_id: str) -> None:
    body = json.dumps({"apiToken": token, "technicalUserId": user_id})
    await secrets.put_version(SECRET, new_rotation_id(), body, CURRENT)


@pytest.mark.parametrize("two_users", [False, True], ids=["single-user", "two-user"])
async def test_each_step_twice_in_a_row_changes_nothing_the_second_time(
    emulator: RunningEmulator, leanix_env: Settings, two_users: bool
) -> None:
    secrets = local_secrets()
    user_ids: tuple[str, ...] = ()
    if two_users:
        alternate, _ = add_admin(emulator)
        user_ids = (emulator.state.admin.id, alternate)
    rotator = make_rotator(secrets, leanix_env, user_ids)
    rotation_id = new_rotation_id()
    for step in STEPS:
        await rotator.run_step(step, rotation_id)
        store_after_first, users_after_first = await snapshot(secrets), emulator_tokens(emulator)
        again = await rotator.run_step(step, rotation_id)
        assert again.changed is False
        assert await snapshot(secrets) == store_after_first, step
        assert emulator_tokens(emulator) == users_after_first, step
        await assert_some_stored_token_works(emulator, secrets)
    current = await secrets.get_stage(SECRET, CURRENT)
    assert current is not None
    assert current.version_id == rotation_id
    assert token_works(emulator, json.loads(current.value)["apiToken"])


@pytest.mark.parametrize("crash_after", list(RotationStep))
async def test_a_crash_after_any_step_is_followed_by_a_run_that_converges(
    emulator: RunningEmulator, leanix_env: Settings, crash_after: RotationStep
) -> None:
    secrets = local_secrets()
    old_token = emulator.api_token
    rotator = make_rotator(secrets, leanix_env)
    rotation_id = new_rotation_id()
    for step in STEPS:
        await rotator.run_step(step, rotation_id)
        await assert_some_stored_token_works(emulator, secrets)
        if step is crash_after:
            break
    # The next scheduled run (a fresh process) resumes or finds nothing to do.
    report = await make_rotator(local_secrets(), leanix_env).run_scheduled()
    await assert_some_stored_token_works(emulator, secrets)
    current = await secrets.get_stage(SECRET, CURRENT)
    assert current is not None
    assert current.version_id == rotation_id
    assert token_works(emulator, json.loads(current.value)["apiToken"])
    assert await secrets.get_stage(SECRET, PENDING) is None
    assert not token_works(emulator, old_token)
    assert report["rotated"] is (crash_after is not RotationStep.FINISH)


async def test_a_crash_in_create_before_the_store_write_with_a_transient_store_failure_converges(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    flaky = FlakySecretStore(local_secrets(), failures=2)
    rotator = make_rotator(flaky, leanix_env)  # type: ignore[arg-type]
    rotation_id = new_rotation_id()
    result = await rotator.create(rotation_id)
    assert result.changed
    assert flaky.attempts == 3
    await assert_some_stored_token_works(emulator, local_secrets())
    report = await make_rotator(local_secrets(), leanix_env).run_scheduled()
    assert report["rotationId"] == rotation_id
    current = await local_secrets().get_stage(SECRET, CURRENT)
    assert current is not None
    assert token_works(emulator, json.loads(current.value)["apiToken"])


async def test_a_store_that_keeps_failing_gives_an_error_that_says_what_to_do(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    flaky = FlakySecretStore(local_secrets(), failures=100)
    rotator = make_rotator(flaky, leanix_env)  # type: ignore[arg-type]
    with pytest.raises(TokenNotStoredError) as caught:
        await rotator.create(new_rotation_id())
    message = str(caught.value)
    assert emulator.state.admin.id in message
    assert SECRET in message
    assert "replace the token" in message
    assert "Technical Users" in message
    assert emulator.state.admin.token not in message


async def test_in_two_user_mode_a_failed_store_leaves_the_token_in_use_working(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    alternate, _ = add_admin(emulator)
    in_use_token = emulator.api_token
    flaky = FlakySecretStore(local_secrets(), failures=100)
    rotator = make_rotator(flaky, leanix_env, (emulator.state.admin.id, alternate))  # type: ignore[arg-type]
    with pytest.raises(TokenNotStoredError, match="still works"):
        await rotator.create(new_rotation_id())
    assert token_works(emulator, in_use_token)
    current = await local_secrets().get_stage(SECRET, CURRENT)
    assert current is not None
    assert current.value == in_use_token


async def test_two_user_mode_keeps_the_token_in_use_working_and_alternates_users(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    secrets = local_secrets()
    first, second = emulator.state.admin.id, add_admin(emulator)[0]
    rotator = make_rotator(secrets, leanix_env, (first, second))
    in_use = emulator.api_token
    for round_number, expected_user in enumerate((second, first, second)):
        rotation_id = new_rotation_id()
        for step in STEPS:
            await rotator.run_step(step, rotation_id)
            assert token_works(emulator, in_use), (round_number, step)
        current = await secrets.get_stage(SECRET, CURRENT)
        assert current is not None
        document = json.loads(current.value)
        assert document["technicalUserId"] == expected_user
        assert token_works(emulator, document["apiToken"])
        in_use = document["apiToken"]


async def test_an_unknown_technical_user_is_a_clear_error_and_changes_nothing(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    secrets = local_secrets()
    before = await snapshot(secrets)
    unknown = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(RotationInputError, match=f"technical user {unknown} does not exist"):
        await make_rotator(secrets, leanix_env, (unknown,)).create(new_rotation_id())
    assert await snapshot(secrets) == before
    assert token_works(emulator, emulator.api_token)


async def test_a_token_without_rights_to_rotate_is_a_clear_error_and_changes_nothing(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    secrets = local_secrets()
    member_id, member_token = add_admin(emulator, "a-member", role="MEMBER")
    await store_document(secrets, member_token, member_id)
    before = await snapshot(secrets)
    with pytest.raises(RotationInputError, match="ADMIN permission role"):
        await make_rotator(secrets, leanix_env).create(new_rotation_id())
    assert await snapshot(secrets) == before
    assert token_works(emulator, member_token)


@pytest.mark.parametrize(
    "value", ["not a token at all", '{"token": "LXT_abcdefghijklmnopqrstuvwxyz"}', "{broken"]
)
async def test_a_secret_that_is_not_a_token_is_a_clear_error_and_changes_nothing(
    emulator: RunningEmulator, leanix_env: Settings, value: str
) -> None:
    secrets = local_secrets()
    await secrets.put_version(SECRET, new_rotation_id(), value, CURRENT)
    before = await snapshot(secrets)
    with pytest.raises(NotATokenError, match="does not hold a LeanIX API token") as caught:
        await make_rotator(secrets, leanix_env).create(new_rotation_id())
    assert value not in str(caught.value)
    assert await snapshot(secrets) == before


async def test_a_recent_rotation_is_not_due_and_a_near_expiry_makes_it_due(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    secrets = local_secrets()
    rotator = make_rotator(secrets, leanix_env, interval_days=30, early_days=14)
    first = await rotator.run_scheduled()
    assert first["rotated"]
    assert "never rotated" in first["reason"]
    before = await snapshot(secrets)
    assert await rotator.run_scheduled() == {"rotated": False, "reason": "not due"}
    assert await snapshot(secrets) == before
    emulator.state.admin.expiry = datetime.now(UTC) + timedelta(days=3)
    early = await rotator.run_scheduled()
    assert early["rotated"]
    assert "expires in" in early["reason"]


async def test_the_interval_since_the_last_rotation_makes_a_rotation_due(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    now = [datetime.now(UTC).timestamp()]
    secrets = local_secrets()
    rotator = make_rotator(secrets, leanix_env, interval_days=30)
    rotator._clock = lambda: now[0]
    await rotator.run_scheduled()
    assert await rotator.due_reason() is None
    now[0] += 31 * 86_400
    reason = await rotator.due_reason()
    assert reason is not None
    assert "interval 30" in reason


async def test_a_pending_token_that_leanix_refuses_does_not_stall_every_later_rotation(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    secrets = local_secrets()
    first, second = emulator.state.admin.id, add_admin(emulator)[0]
    rotator = make_rotator(secrets, leanix_env, (first, second))
    stale = new_rotation_id()
    await rotator.create(stale)  # the pending token of `second`, then the run stopped
    emulator.state.replace_token(second)  # someone replaced that token in LeanIX meanwhile
    report = await rotator.run_scheduled()
    assert report["rotated"]
    assert report["rotationId"] != stale
    current = await secrets.get_stage(SECRET, CURRENT)
    assert current is not None
    document = json.loads(current.value)
    assert document["technicalUserId"] == second
    assert token_works(emulator, document["apiToken"])
    assert await secrets.get_stage(SECRET, PENDING) is None


async def test_a_near_expiry_that_replace_token_cannot_move_does_not_rotate_on_every_run(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    secrets = local_secrets()
    rotator = make_rotator(secrets, leanix_env, interval_days=30, early_days=14)
    assert (await rotator.run_scheduled())["rotated"]
    emulator.state.admin.expiry = datetime.now(UTC) + timedelta(days=3)
    assert "expires in" in (await rotator.run_scheduled())["reason"]
    token_after_early_rotation = emulator.state.admin.token
    # replaceToken keeps the expiry: rotating again on every run would only mint tokens.
    assert await rotator.run_scheduled() == {"rotated": False, "reason": "not due"}
    assert emulator.state.admin.token == token_after_early_rotation
    emulator.state.admin.expiry = datetime.now(UTC) + timedelta(days=5)  # someone set a new expiry
    assert "expires in" in (await rotator.run_scheduled())["reason"]


async def test_two_scheduled_runs_at_once_rotate_only_once(
    emulator: RunningEmulator, leanix_env: Settings
) -> None:
    """A timer tick and `invoke token_rotation` together must not both replace the token."""
    import asyncio

    from functions.token_rotation.core import rotator_for

    runtime = get_runtime()
    replaced: list[str] = []
    real_replace = emulator.state.replace_token

    def counting_replace(user_id: str) -> object:
        replaced.append(user_id)
        return real_replace(user_id)

    emulator.state.replace_token = counting_replace  # type: ignore[method-assign]
    try:
        runs = [rotator_for(runtime).run_scheduled() for _ in range(2)]
        reports = await asyncio.gather(*runs, return_exceptions=True)
    finally:
        del emulator.state.replace_token  # type: ignore[method-assign]
    assert all(isinstance(report, dict) for report in reports), reports
    assert sorted(report["rotated"] for report in reports) == [False, True]  # type: ignore[index]
    assert len(replaced) == 1
    await assert_some_stored_token_works(emulator, runtime.platform.secrets)


@pytest.mark.parametrize("kind", ["drop", "drop_after"], ids=["not-replaced", "replaced"])
async def test_a_lost_replace_token_answer_says_what_to_do_and_stores_nothing(
    emulator: RunningEmulator, leanix_env: Settings, kind: str
) -> None:
    # Whether or not LeanIX replaced the token before the answer was lost, the bundle cannot know
    # the new token: it must say how to recover, and not store anything.
    secrets = local_secrets()
    before = await snapshot(secrets)
    emulator.add_fault(kind=kind, path="/replaceToken", times=5)
    rotator = make_rotator(secrets, leanix_env)
    with pytest.raises(RotationError) as caught:
        await rotator.create(new_rotation_id())
    message = str(caught.value)
    assert "got no answer" in message
    assert "Technical Users" in message
    assert SECRET in message
    assert emulator.state.admin.token not in message
    assert await snapshot(secrets) == before

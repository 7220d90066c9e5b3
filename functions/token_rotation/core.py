"""Token rotation, cloud-neutral: the four steps of the AWS rotation protocol on the `SecretStore` port.

- `create`: mint a new token with MTM `replaceToken` and store it as `pending` at once (bounded
  retries); a `pending` version of this rotation already stored means there is nothing to do.
- `set`: nothing to push for LeanIX (the token is LeanIX's own); kept for the protocol.
- `test`: exchange the pending token at `/oauth2/token` and make one cheap GraphQL read with it.
- `finish`: promote the rotation's version to `current`; already current means nothing to do.

Every step is keyed on the rotation id (the secret version id, AWS's `ClientRequestToken`).
In two-user mode (`TOKEN_ROTATION_USER_IDS` names two technical users) the rotation replaces the
token of the user NOT in use, so the token in use keeps working through the whole rotation.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from functions.token_rotation.errors import RotationError, RotationInputError, TokenNotStoredError
from shared.leanix import (
    APIConnectionError,
    LeanIXClient,
    NotFoundError,
    PermissionDeniedError,
    RetryPolicy,
    StaticTokenSource,
    TokenExchangeError,
    retry_async,
)
from shared.logging import get_logger, log_context
from shared.platform import CURRENT, PENDING, Conflict, InvalidName, NotFound, SecretStore, StateStore
from shared.runtime import Runtime
from shared.settings import Settings
from shared.token_document import NotATokenError, TokenDocument, parse_token_document

logger = get_logger(__name__)

# Bounded retries of the one write that must not fail: the new token is the only live one.
STORE_RETRY = RetryPolicy(max_retries=5, initial_delay=0.5, max_delay=4.0, budget_seconds=30.0)
CHEAP_READ = "{ allFactSheets(first: 1) { totalCount } }"
SECONDS_PER_DAY = 86_400.0
# One scheduled rotation at a time (a timer tick beside `invoke token_rotation`): two would each
# replace a token, and the second could replace the one the first just made current.
LOCK_NAME = "token-rotation"
LOCK_TTL_SECONDS = 900.0

ClientFactory = Callable[[str], LeanIXClient]
Sleep = Callable[[float], Awaitable[None]]


class RotationStep(StrEnum):
    """The four steps, named as the AWS rotation protocol names them (without `Secret`)."""

    CREATE = "create"
    SET = "set"
    TEST = "test"
    FINISH = "finish"


STEPS: tuple[RotationStep, ...] = tuple(RotationStep)


@dataclass(frozen=True)
class RotationConfig:
    """What one rotation needs to know, built from settings at the entry point."""

    secret_name: str
    user_ids: tuple[str, ...] = ()
    interval_days: float = 30.0
    early_days: float = 14.0
    store_retry: RetryPolicy = STORE_RETRY

    @classmethod
    def from_settings(cls, settings: Settings) -> RotationConfig:
        """The config for LEANIX_TOKEN_SECRET_NAME and the TOKEN_ROTATION_* settings."""
        ids = tuple(part for part in settings.token_rotation_user_ids.split(",") if part)
        return cls(
            secret_name=settings.leanix_token_secret_name,
            user_ids=ids,
            interval_days=settings.token_rotation_interval_days,
            early_days=settings.token_rotation_early_days,
        )

    @property
    def two_user_mode(self) -> bool:
        return len(self.user_ids) == 2


@dataclass(frozen=True)
class StepResult:
    """What one step did (`changed` is False when it found its work already done). No token inside."""

    step: RotationStep
    rotation_id: str
    changed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step.value, "changed": self.changed, "detail": self.detail}


class TokenRotator:
    """Runs the rotation steps for one secret. `client_for(token)` builds a client using that token."""

    def __init__(
        self,
        secrets: SecretStore,
        client_for: ClientFactory,
        config: RotationConfig,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        state: StateStore | None = None,
    ) -> None:
        self._secrets = secrets
        self._state = state
        self._client_for = client_for
        self._config = config
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"TokenRotator(secret={self._config.secret_name!r}, two_user={self._config.two_user_mode})"

    @property
    def _name(self) -> str:
        return self._config.secret_name

    # --- the steps ---------------------------------------------------------------------------

    async def run_step(self, step: RotationStep, rotation_id: str) -> StepResult:
        """Run one step for `rotation_id`; see the module docstring for what each does."""
        handlers = {
            RotationStep.CREATE: self.create,
            RotationStep.SET: self.set,
            RotationStep.TEST: self.test,
            RotationStep.FINISH: self.finish,
        }
        result = await handlers[step](rotation_id)
        logger.info(
            "token rotation step %s: %s",
            step.value,
            result.detail,
            extra=log_context(rotation_id=rotation_id, changed=result.changed),
        )
        return result

    async def rotate(self, rotation_id: str) -> list[StepResult]:
        """All four steps in order for `rotation_id`."""
        return [await self.run_step(step, rotation_id) for step in STEPS]

    async def create(self, rotation_id: str) -> StepResult:
        """Mint a new token and store it as `pending` under `rotation_id` (nothing to do if stored).

        Raises RotationInputError (unknown user, no rights, a secret that is not a token),
        TokenExchangeError (the stored token is refused) or TokenNotStoredError.
        """
        done = RotationStep.CREATE
        stored = await self._version_or_none(rotation_id)
        if stored is not None:
            self._parse(stored, f"version {rotation_id!r} of secret {self._name!r}")
            return StepResult(done, rotation_id, False, "the new token of this rotation is already stored")
        current = await self._current()
        pending = await self._secrets.get_stage(self._name, PENDING)
        if pending is not None:
            adopted = await self._adopt_pending(
                pending.version_id, pending.value, rotation_id, current.api_token
            )
            if adopted is not None:
                return adopted
        async with self._client_for(current.api_token) as client:
            in_use = current.technical_user_id or (await client.token_claims()).user_id
            target = self._user_to_rotate(in_use)
            await self._check_user(client, target)
            # From here the old token of `target` is dead: store the new one before anything else.
            try:
                replaced = await self._call_mtm(client.mtm.replace_token(target), target)
            except APIConnectionError:
                # The request went out but its answer did not come back: LeanIX may have replaced the
                # token already, and the new one is lost with the answer (replaceToken is never replayed).
                raise RotationError(
                    f"replaceToken for technical user {target} got no answer (connection lost or timed "
                    "out): LeanIX may already have replaced that user's token. If calls with the stored "
                    "token now fail with 401, replace the token in LeanIX Administration > Technical Users "
                    f"and store it as the current version of the secret {self._name!r}"
                ) from None
        new_token = replaced.api_token
        if not new_token:
            raise RotationError(
                f"LeanIX answered replaceToken for technical user {target} without a token; the old token "
                "may no longer work: replace the token in LeanIX Administration > Technical Users and store "
                f"it in the secret {self._name!r}"
            )
        expiry = replaced.api_token_data.expiry if replaced.api_token_data else None
        document = TokenDocument(new_token, target, rotation_id, self._now(), expiry)
        await self._store_pending(rotation_id, document, in_use)
        return StepResult(done, rotation_id, True, f"new token for technical user {target} stored as pending")

    async def set(self, rotation_id: str) -> StepResult:
        """Nothing to push: LeanIX already holds the token it issued. Kept for the protocol."""
        return StepResult(RotationStep.SET, rotation_id, False, "nothing to set for LeanIX")

    async def test(self, rotation_id: str) -> StepResult:
        """Exchange the rotation's token and read one page with it. Raises TokenExchangeError."""
        value = await self._version_or_none(rotation_id)
        if value is None:
            raise RotationError(
                f"secret {self._name!r} has no version {rotation_id!r} to test: run the create step first"
            )
        document = self._parse(value, f"version {rotation_id!r} of secret {self._name!r}")
        async with self._client_for(document.api_token) as client:
            await client.mtm.exchange_token(document.api_token)
            await client.graphql.execute(CHEAP_READ)
        return StepResult(RotationStep.TEST, rotation_id, False, "the new token works against LeanIX")

    async def finish(self, rotation_id: str) -> StepResult:
        """Make the rotation's version `current` (nothing to do when it already is)."""
        versions = {v.version_id: v.stages for v in await self._secrets.list_versions(self._name)}
        if rotation_id not in versions:
            raise RotationError(
                f"secret {self._name!r} has no version {rotation_id!r} to finish: run the create step first"
            )
        if CURRENT in versions[rotation_id]:
            return StepResult(RotationStep.FINISH, rotation_id, False, "the new token is already current")
        await self._secrets.promote(self._name, rotation_id)
        return StepResult(RotationStep.FINISH, rotation_id, True, "the new token is now current")

    # --- when to rotate ----------------------------------------------------------------------

    async def due_reason(self) -> str | None:
        """Why a rotation is due now (interval passed, expiry near, never rotated), or None."""
        current = await self._current()
        now = self._clock()
        if current.rotated_at is None:
            return "the stored token was never rotated by this function"
        age_days = (now - current.rotated_at.timestamp()) / SECONDS_PER_DAY
        if age_days >= self._config.interval_days:
            return f"the last rotation was {age_days:.1f} days ago (interval {self._config.interval_days:g})"
        async with self._client_for(current.api_token) as client:
            user_id = current.technical_user_id or (await client.token_claims()).user_id
            if not user_id:
                return None
            user = await self._call_mtm(client.mtm.get_technical_user(user_id), user_id)
        expiry = user.api_token_data.expiry if user.api_token_data else None
        if expiry is not None:
            days_left = (expiry.timestamp() - now) / SECONDS_PER_DAY
            if days_left <= self._config.early_days:
                if current.token_expiry == expiry:
                    # Already rotated early for this expiry; replaceToken keeps it, so rotating on
                    # every run would only mint tokens (and reopen the single-user window).
                    logger.warning(
                        "the LeanIX API token expires in %.1f days and replaceToken keeps the expiry: set "
                        "a later expiry for technical user %s in LeanIX Administration > Technical Users",
                        days_left,
                        user_id,
                    )
                    return None
                early = self._config.early_days
                return f"the token expires in {days_left:.1f} days (early rotation within {early:g})"
        return None

    async def run_scheduled(
        self, new_rotation_id: Callable[[], str] = lambda: str(uuid.uuid4())
    ) -> dict[str, Any]:
        """What the timer does: resume an unfinished rotation, else rotate when due. Returns a report.

        With a state store, runs only while holding its rotation lock; another run holds it: not run.
        """
        if self._state is None:
            return await self._run_scheduled(new_rotation_id)
        owner = str(uuid.uuid4())
        if not await self._state.acquire_lock(LOCK_NAME, owner, LOCK_TTL_SECONDS):
            return {"rotated": False, "reason": "another token rotation is running"}
        try:
            return await self._run_scheduled(new_rotation_id)
        finally:
            await self._state.release_lock(LOCK_NAME, owner)

    async def _run_scheduled(self, new_rotation_id: Callable[[], str]) -> dict[str, Any]:
        pending = await self._secrets.get_stage(self._name, PENDING)
        # Resume only a pending token LeanIX still accepts: resuming a refused one would fail its
        # test step on every run forever; a new rotation replaces it (`create` adopts a working one).
        if pending is not None and await self._pending_works(pending.value):
            rotation_id = pending.version_id
            reason: str | None = f"resuming the unfinished rotation {rotation_id}"
        else:
            reason = await self.due_reason()
            if reason is None:
                return {"rotated": False, "reason": "not due"}
            rotation_id = new_rotation_id()
        results = await self.rotate(rotation_id)
        return {
            "rotated": True,
            "rotationId": rotation_id,
            "reason": reason,
            "steps": [result.as_dict() for result in results],
        }

    # --- helpers -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _parse(self, value: str, where: str) -> TokenDocument:
        return parse_token_document(value, where)

    async def _pending_works(self, value: str) -> bool:
        try:
            document = parse_token_document(value)
        except NotATokenError:
            return False
        return await self._works(document.api_token)

    async def _current(self) -> TokenDocument:
        staged = await self._secrets.get_stage(self._name, CURRENT)
        if staged is None:
            raise RotationInputError(
                f"secret {self._name!r} has no current version: store the technical user's API token in it "
                "first (LEANIX_TOKEN_SECRET_NAME names the secret)"
            )
        return self._parse(staged.value, f"the current version of secret {self._name!r}")

    async def _version_or_none(self, rotation_id: str) -> str | None:
        try:
            return await self._secrets.get_version(self._name, rotation_id)
        except NotFound:
            return None

    async def _works(self, token: str) -> bool:
        async with self._client_for(token) as client:
            try:
                await client.mtm.exchange_token(token)
            except TokenExchangeError:
                return False
        return True

    async def _adopt_pending(
        self, pending_id: str, value: str, rotation_id: str, current_token: str
    ) -> StepResult | None:
        """Carry a working token left pending by an unfinished rotation over to this one.

        An interrupted rotation's pending token may be the only live one (single-user mode): replacing
        it again would only widen the window in which nothing stored works.
        """
        try:
            document = parse_token_document(value)
        except NotATokenError:
            return None
        if document.api_token == current_token or not await self._works(document.api_token):
            return None
        adopted = replace(document, rotation_id=rotation_id)
        await self._store_pending(rotation_id, adopted, document.technical_user_id)
        detail = f"kept the working pending token of the unfinished rotation {pending_id}"
        return StepResult(RotationStep.CREATE, rotation_id, True, detail)

    def _user_to_rotate(self, in_use: str | None) -> str:
        ids = self._config.user_ids
        if self._config.two_user_mode:
            if in_use not in ids:
                raise RotationInputError(
                    f"the token in secret {self._name!r} belongs to technical user {in_use}, which is not "
                    "one of TOKEN_ROTATION_USER_IDS: list the user in use and its alternate"
                )
            return ids[1] if in_use == ids[0] else ids[0]
        target = ids[0] if ids else in_use
        if not target:
            raise RotationInputError(
                f"cannot tell which technical user the token in secret {self._name!r} belongs to: set "
                "TOKEN_ROTATION_USER_IDS"
            )
        return target

    async def _check_user(self, client: LeanIXClient, user_id: str) -> None:
        """Fail before the irreversible replaceToken when the user is unknown or we lack the rights."""
        await self._call_mtm(client.mtm.get_technical_user(user_id), user_id)

    async def _call_mtm(self, call: Awaitable[Any], user_id: str) -> Any:
        try:
            return await call
        except NotFoundError:
            raise RotationInputError(
                f"technical user {user_id} does not exist in this LeanIX workspace: check "
                "TOKEN_ROTATION_USER_IDS (the stored token was not changed)"
            ) from None
        except PermissionDeniedError:
            raise RotationInputError(
                f"the stored token may not manage technical user {user_id}: rotation needs a technical user "
                "with the ADMIN permission role (the stored token was not changed)"
            ) from None

    async def _store_pending(self, rotation_id: str, document: TokenDocument, in_use: str | None) -> None:
        async def write() -> None:
            await self._secrets.put_version(self._name, rotation_id, document.to_json(), PENDING)

        try:
            await retry_async(
                write,
                policy=self._config.store_retry,
                is_retryable=lambda error: not isinstance(error, Conflict | InvalidName),
                sleep=self._sleep,
                clock=self._clock,
                description=f"storing the new token in secret {self._name!r}",
            )
        except Exception as error:
            raise TokenNotStoredError(self._not_stored_message(document, in_use, error)) from error

    def _not_stored_message(self, document: TokenDocument, in_use: str | None, error: Exception) -> str:
        user = document.technical_user_id
        head = (
            f"LeanIX issued a new API token for technical user {user}, but it could not be stored in the "
            f"secret {self._name!r} ({type(error).__name__}). "
        )
        if self._config.two_user_mode and in_use and in_use != user:
            return head + (
                f"The token in use (technical user {in_use}) still works; run the rotation again to replace "
                f"user {user}'s token once the secret store is writable."
            )
        return head + (
            "The old token no longer works: in LeanIX Administration > Technical Users, replace the token "
            f"of user {user} again and store the new token as the current version of the secret "
            f"{self._name!r}. Two-user mode (TOKEN_ROTATION_USER_IDS) avoids this situation."
        )


def client_factory(settings: Settings) -> ClientFactory:
    """Clients on the bundle's settings, each authenticating with the token it is given."""

    def build(token: str) -> LeanIXClient:
        return LeanIXClient.from_settings(
            settings,
            token_source=StaticTokenSource(token),
            token_hint=f"the secret {settings.leanix_token_secret_name!r}",
        )

    return build


def rotator_for(runtime: Runtime, *, sleep: Sleep = asyncio.sleep) -> TokenRotator:
    """The rotator of this process: its secret store, the settings' LeanIX host and rotation config."""
    return TokenRotator(
        runtime.platform.secrets,
        client_factory(runtime.settings),
        RotationConfig.from_settings(runtime.settings),
        sleep=sleep,
        state=runtime.platform.state,
    )

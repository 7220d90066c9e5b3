"""The four ports every function receives instead of a cloud SDK.

All ports are async. The adapters run blocking SDK or SQLite calls in a worker thread
(`asyncio.to_thread`), so a function's async core never blocks its event loop.

Secret stages use neutral names: `current`, `pending`, `previous`. Each stage labels at most one
version of a secret; the adapters map them to AWS staging labels or Key Vault tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, Protocol, TypeAlias

Stage: TypeAlias = Literal["current", "pending", "previous"]
CURRENT: Final = "current"
PENDING: Final = "pending"
PREVIOUS: Final = "previous"
STAGES: Final[tuple[Stage, ...]] = ("current", "pending", "previous")

StateValue: TypeAlias = dict[str, Any] | str


@dataclass(frozen=True)
class SecretVersion:
    """One version of a secret: its id and the stages it carries (no value)."""

    version_id: str
    stages: frozenset[str] = field(default_factory=frozenset)


class StagedSecret(NamedTuple):
    """`(version_id, value)` of the version that carries a stage. The repr hides the value."""

    version_id: str
    value: str

    def __repr__(self) -> str:
        return f"StagedSecret(version_id={self.version_id!r}, value='***')"


@dataclass(frozen=True)
class QueueMessage:
    """A received message. `receipt` identifies this receipt (delete/release need it)."""

    id: str
    body: str
    receipt: str
    attempts: int


class SecretStore(Protocol):
    """Versioned secrets with stages (AWS Secrets Manager, Azure Key Vault, a local file)."""

    async def get_current(self, name: str) -> str:
        """The value of the `current` version, cached in-process for about a minute.

        Raises NotFound when the secret or its current version does not exist.
        """
        ...

    def invalidate(self, name: str) -> None:
        """Forget the cached current value of `name` (e.g. after a 401 with the cached token)."""
        ...

    async def get_version(self, name: str, version_id: str) -> str:
        """The value of one version. Raises NotFound."""
        ...

    async def get_stage(self, name: str, stage: Stage) -> StagedSecret | None:
        """The version carrying `stage` and its value, or None when no version carries it."""
        ...

    async def put_version(self, name: str, version_id: str, value: str, stage: Stage = "pending") -> None:
        """Store `value` as version `version_id` carrying `stage`.

        Idempotent: the same id with the same value again is a no-op. Raises Conflict when the id
        exists with a different value. Putting a version as `current` demotes the old current to
        `previous`, as `promote` does.
        """
        ...

    async def promote(self, name: str, version_id: str) -> None:
        """Make `version_id` current; the old current becomes `previous`; `pending` is cleared.

        Promoting the current version is a no-op. Raises NotFound for an unknown version.
        """
        ...

    async def list_versions(self, name: str) -> list[SecretVersion]:
        """Every live version with its stages. Raises NotFound when the secret does not exist."""
        ...


class StateStore(Protocol):
    """Small durable state: dedup keys, high-water marks and locks (DynamoDB, Table Storage, SQLite)."""

    async def put_if_absent(self, key: str, value: StateValue, ttl_seconds: float) -> bool:
        """Store `value` under `key` unless a live (unexpired) entry exists. True when it was new."""
        ...

    async def get(self, key: str) -> StateValue | None:
        """The live value under `key`, or None."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key` (no error when absent)."""
        ...

    async def advance_high_water_mark(self, key: str, value: int) -> bool:
        """Raise the mark under `key` to `value` if it is greater than the stored one (or none is)."""
        ...

    async def get_high_water_mark(self, key: str) -> int | None:
        """The stored mark under `key`, or None."""
        ...

    async def acquire_lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        """Take the lock `name` for `owner` until it expires. The same owner may re-acquire (extend)."""
        ...

    async def release_lock(self, name: str, owner: str) -> None:
        """Release the lock if `owner` holds it; otherwise do nothing."""
        ...


class BlobStore(Protocol):
    """Files by key (S3, Azure Blob, a local folder). Keys use `/` as separator."""

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write (or overwrite) the blob `key`."""
        ...

    async def get(self, key: str) -> bytes:
        """Read the blob `key`. Raises NotFound."""
        ...

    async def list(self, prefix: str = "") -> list[str]:
        """Keys starting with `prefix`, sorted."""
        ...

    async def read_url(self, key: str, expires_seconds: int) -> str | None:
        """A URL that reads the blob without credentials (presigned / SAS / file://), or None."""
        ...


class Queue(Protocol):
    """At-least-once queues with dead-lettering after `QUEUE_MAX_ATTEMPTS` receives."""

    async def send(self, queue: str, bodies: list[str]) -> None:
        """Enqueue each body as one message."""
        ...

    async def receive(self, queue: str, max_messages: int, visibility_timeout: float) -> list[QueueMessage]:
        """Up to `max_messages` visible messages, hidden for `visibility_timeout` seconds.

        A message received more than the maximum number of attempts is moved to the dead-letter
        queue with its body intact instead of being returned.
        """
        ...

    async def delete(self, queue: str, message: QueueMessage) -> None:
        """Remove a processed message (no error when it is already gone)."""
        ...

    async def release(self, queue: str, message: QueueMessage) -> None:
        """Make a message visible again now (processing failed; it counts as one attempt)."""
        ...

    async def dead_letters(self, queue: str) -> list[str]:
        """Bodies in the dead-letter queue of `queue`, for tests and reports (not consumed)."""
        ...


@dataclass(frozen=True)
class Platform:
    """The four ports one function invocation uses, all from the same platform."""

    name: str
    secrets: SecretStore
    state: StateStore
    blobs: BlobStore
    queue: Queue

"""Ports and adapters: what functions use instead of a cloud SDK.

`build_platform(settings)` returns a `Platform` with a `SecretStore`, `StateStore`, `BlobStore`
and `Queue` for PLATFORM=local (default), aws or azure. Importing this package imports no cloud SDK.
"""

from shared.platform.errors import Conflict, InvalidName, NotFound, PlatformError
from shared.platform.factory import build_platform
from shared.platform.ports import (
    CURRENT,
    PENDING,
    PREVIOUS,
    STAGES,
    BlobStore,
    Platform,
    Queue,
    QueueMessage,
    SecretStore,
    SecretVersion,
    Stage,
    StagedSecret,
    StateStore,
    StateValue,
)

__all__ = [
    "CURRENT",
    "PENDING",
    "PREVIOUS",
    "STAGES",
    "BlobStore",
    "Conflict",
    "InvalidName",
    "NotFound",
    "Platform",
    "PlatformError",
    "Queue",
    "QueueMessage",
    "SecretStore",
    "SecretVersion",
    "Stage",
    "StagedSecret",
    "StateStore",
    "StateValue",
    "build_platform",
]

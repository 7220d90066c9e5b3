"""The platform ports' errors. All derive from `shared.errors.PlatformError`.

Messages name the store and the key, and say what to check; they never carry a secret value.
"""

from __future__ import annotations

from shared.errors import PlatformError


class NotFound(PlatformError):
    """The secret, version, blob or queue does not exist."""


class Conflict(PlatformError):
    """A write contradicts what is stored (e.g. a different value under an existing version id)."""


class InvalidName(PlatformError):
    """A key, queue or secret name the store cannot accept (e.g. a blob key with `..`)."""


__all__ = ["Conflict", "InvalidName", "NotFound", "PlatformError"]

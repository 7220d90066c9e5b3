"""The token rotation's errors. Messages say what to do; none carries a token."""

from __future__ import annotations

from shared.errors import BundleError, InputError


class RotationError(BundleError):
    """A rotation step failed; the message says what state the secret is in and what to do."""


class RotationInputError(InputError):
    """The configuration or event names something rotation cannot act on (nothing was changed)."""


class TokenNotStoredError(RotationError):
    """LeanIX issued a new token but the secret store refused it, even after retries."""

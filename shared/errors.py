"""The root of the bundle's one error tree.

`LeanIXError` (shared.leanix.errors) and `PlatformError` (shared.platform) derive from
`BundleError`, so an entry point can catch one type and turn it into a clear answer.
"""

from __future__ import annotations


class BundleError(Exception):
    """Base of every error the bundle raises on purpose. Messages say what to fix."""


class ConfigurationError(BundleError):
    """A setting or configuration file is missing or invalid; the message names it."""


class InputError(BundleError):
    """A request, event or file given to a function is invalid; the message names the problem."""


class PlatformError(BundleError):
    """A cloud or local store failed in a way retries did not fix."""

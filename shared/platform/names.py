"""Validation of keys and names shared by the adapters, so every platform accepts the same ones."""

from __future__ import annotations

import re

from shared.platform.errors import InvalidName

# The dead-letter queue of `q` on each platform; no queue of ours may take one of these names.
LOCAL_DEAD_LETTER_SUFFIX = "-deadletter"
SQS_DEAD_LETTER_SUFFIX = "-dlq"
AZURE_POISON_SUFFIX = "-poison"
DEAD_LETTER_SUFFIXES = (LOCAL_DEAD_LETTER_SUFFIX, SQS_DEAD_LETTER_SUFFIX, AZURE_POISON_SUFFIX)

_QUEUE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){1,50}$")


def check_blob_key(key: str) -> str:
    """Return `key` if it is a relative `/`-separated path without empty, `.` or `..` segments."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise InvalidName(f"blob key {key!r} must be a relative path like 'reports/2024-01-01.json'")
    if any(part in {"", ".", ".."} for part in key.split("/")):
        raise InvalidName(f"blob key {key!r} must not contain empty, '.' or '..' segments")
    return key


def check_queue_name(name: str) -> str:
    """Queue names valid on every platform: lowercase letters, digits and single dashes, 2-51 chars.

    The length leaves room for the `-deadletter` / `-poison` / `-dlq` suffixes (Azure allows 63).
    """
    if not _QUEUE_NAME.match(name):
        raise InvalidName(
            f"queue name {name!r} must be 2-51 lowercase letters, digits and single dashes, "
            "starting and ending with a letter or digit"
        )
    if name.endswith(DEAD_LETTER_SUFFIXES):
        raise InvalidName(
            f"queue name {name!r} must not end with {', '.join(DEAD_LETTER_SUFFIXES)}: "
            "those names are the dead-letter queues of other queues"
        )
    return name


_VERSION_ID = re.compile(r"^[A-Za-z0-9-]{32,64}$")


def check_version_id(version_id: str) -> str:
    """Secret version ids are rotation ids: 32-64 letters, digits or dashes (a UUID fits).

    Secrets Manager requires this of a `ClientRequestToken`; every platform checks it, so a
    version id that works locally works on AWS too.
    """
    if not _VERSION_ID.match(version_id):
        raise InvalidName(
            f"secret version id {version_id!r} must be 32-64 letters, digits or dashes (use a UUID)"
        )
    return version_id

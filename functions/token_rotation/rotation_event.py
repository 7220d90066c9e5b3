"""The Secrets Manager rotation event and the guard clauses of the AWS rotation template.

Kept apart from `aws.py` so the checks are plain functions of the event and `describe_secret`'s answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.token_rotation.core import RotationStep
from functions.token_rotation.errors import RotationInputError

AWS_STEPS: dict[str, RotationStep] = {
    "createSecret": RotationStep.CREATE,
    "setSecret": RotationStep.SET,
    "testSecret": RotationStep.TEST,
    "finishSecret": RotationStep.FINISH,
}


@dataclass(frozen=True)
class RotationEvent:
    """`Step`, `SecretId` and `ClientRequestToken` of a rotation invocation."""

    step: RotationStep
    secret_id: str
    token: str


def parse_rotation_event(event: Any) -> RotationEvent:
    """Read a Secrets Manager rotation event. Raises RotationInputError naming the bad field."""
    if not isinstance(event, dict):
        raise RotationInputError(
            "a rotation event must be a JSON object with Step, SecretId, ClientRequestToken"
        )
    for key in ("Step", "SecretId", "ClientRequestToken"):
        if not isinstance(event.get(key), str) or not event[key]:
            raise RotationInputError(f"the rotation event has no {key}")
    step = AWS_STEPS.get(event["Step"])
    if step is None:
        raise RotationInputError(
            f"invalid rotation step {event['Step']!r}: expected one of {', '.join(AWS_STEPS)}"
        )
    return RotationEvent(step, event["SecretId"], event["ClientRequestToken"])


def should_run_step(event: RotationEvent, metadata: dict[str, Any], expected_name: str) -> bool:
    """The template's guard clauses on `describe_secret`'s answer; False: already current, return.

    Raises RotationInputError for a secret this function does not rotate, rotation not enabled,
    an unknown token, or a token not staged AWSPENDING.
    """
    name = metadata.get("Name")
    if name != expected_name:
        raise RotationInputError(
            f"the rotation event is for secret {name!r}, but this function rotates {expected_name!r} "
            "(LEANIX_TOKEN_SECRET_NAME with SECRET_NAME_PREFIX): attach the function to that secret only"
        )
    if not metadata.get("RotationEnabled"):
        raise RotationInputError(f"secret {name!r} is not enabled for rotation")
    versions: dict[str, list[str]] = metadata.get("VersionIdsToStages") or {}
    if event.token not in versions:
        raise RotationInputError(f"secret version {event.token} has no stage for rotation of secret {name!r}")
    if "AWSCURRENT" in versions[event.token]:
        return False
    if "AWSPENDING" not in versions[event.token]:
        raise RotationInputError(
            f"secret version {event.token} is not set as AWSPENDING for rotation of secret {name!r}"
        )
    return True

"""The Secrets Manager rotation Lambda against moto, with the rotation events from tests/events/."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest

from functions.token_rotation.aws import handler
from functions.token_rotation.errors import RotationInputError
from local.emulator import RunningEmulator
from shared.runtime import reset_runtime
from tests.token_rotation.conftest import SECRET, load_event, token_works

STEP_NAMES = ("create", "set", "test", "finish")
ROTATION_LAMBDA_ARN = "arn:aws:lambda:eu-central-1:123456789012:function:leanix-token-rotation"


@pytest.fixture
def aws(emulator: RunningEmulator, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """PLATFORM=aws on moto, a fresh secret holding the emulator's token, rotation started by moto."""
    prefix = f"t{uuid.uuid4().hex[:10]}/"
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "PLATFORM": "aws",
        "SECRET_NAME_PREFIX": prefix,
        "LEANIX_HOST": emulator.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    reset_runtime()
    client = boto3.session.Session(region_name="eu-central-1").client("secretsmanager")
    arn = client.create_secret(Name=prefix + SECRET, SecretString=emulator.api_token)["ARN"]
    return {"client": client, "arn": arn, "name": prefix + SECRET}


def start_rotation(aws: dict[str, Any]) -> str:
    """What RotateSecret does before invoking the Lambda: an AWSPENDING version id without a value.

    moto records exactly that state, then fails to find the Lambda (running one needs Docker) and
    reports it; without a Lambda ARN it would promote the empty version itself, which AWS never does.
    """
    token = str(uuid.uuid4())
    client = aws["client"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.rotate_secret(
            SecretId=aws["arn"],
            ClientRequestToken=token,
            RotationLambdaARN=ROTATION_LAMBDA_ARN,
            RotationRules={"AutomaticallyAfterDays": 30},
        )
    assert versions(aws)[token] == (("AWSPENDING",), None)
    return token


def versions(aws: dict[str, Any]) -> dict[str, tuple[tuple[str, ...], str | None]]:
    """version id -> (stages, value or None) as Secrets Manager holds them."""
    client = aws["client"]
    result: dict[str, tuple[tuple[str, ...], str | None]] = {}
    for version in client.list_secret_version_ids(SecretId=aws["arn"])["Versions"]:
        try:
            value = client.get_secret_value(SecretId=aws["arn"], VersionId=version["VersionId"])[
                "SecretString"
            ]
        except client.exceptions.ResourceNotFoundException:
            value = None
        result[version["VersionId"]] = (tuple(sorted(version["VersionStages"])), value)
    return result


def stored_token_works(emulator: RunningEmulator, aws: dict[str, Any]) -> bool:
    for _stages, value in versions(aws).values():
        if value is not None:
            token = json.loads(value)["apiToken"] if value.startswith("{") else value
            if token_works(emulator, token):
                return True
    return False


def test_each_rotation_step_twice_changes_nothing_the_second_time(
    emulator: RunningEmulator, aws: dict[str, Any]
) -> None:
    old_token = emulator.api_token
    token = start_rotation(aws)
    for step in STEP_NAMES:
        event = load_event(step, SecretId=aws["arn"], ClientRequestToken=token)
        handler(event, None)
        after_first = versions(aws)
        users_after_first = emulator.state.admin.token
        handler(event, None)
        assert versions(aws) == after_first, step
        assert emulator.state.admin.token == users_after_first, step
        assert stored_token_works(emulator, aws), step
    current = aws["client"].get_secret_value(SecretId=aws["arn"], VersionStage="AWSCURRENT")
    assert current["VersionId"] == token
    assert token_works(emulator, json.loads(current["SecretString"])["apiToken"])
    assert not token_works(emulator, old_token)
    assert "AWSPENDING" not in versions(aws)[token][0]


def test_a_crash_after_create_is_finished_by_the_retried_rotation(
    emulator: RunningEmulator, aws: dict[str, Any]
) -> None:
    token = start_rotation(aws)
    handler(load_event("create", SecretId=aws["arn"], ClientRequestToken=token), None)
    assert stored_token_works(emulator, aws)
    # Secrets Manager retries the whole rotation with the same token.
    for step in STEP_NAMES:
        handler(load_event(step, SecretId=aws["arn"], ClientRequestToken=token), None)
        assert stored_token_works(emulator, aws)
    current = aws["client"].get_secret_value(SecretId=aws["arn"], VersionStage="AWSCURRENT")
    assert current["VersionId"] == token


def test_the_guard_clauses_refuse_what_the_aws_template_refuses(
    emulator: RunningEmulator, aws: dict[str, Any]
) -> None:
    before_token = emulator.api_token
    unknown = str(uuid.uuid4())
    with pytest.raises(RotationInputError, match="not enabled for rotation"):
        handler(load_event("create", SecretId=aws["arn"], ClientRequestToken=unknown), None)
    start_rotation(aws)
    with pytest.raises(RotationInputError, match="has no stage for rotation"):
        handler(load_event("create", SecretId=aws["arn"], ClientRequestToken=unknown), None)
    current_id = aws["client"].get_secret_value(SecretId=aws["arn"], VersionStage="AWSCURRENT")["VersionId"]
    # Already AWSCURRENT: every step returns without doing anything.
    handler(load_event("create", SecretId=aws["arn"], ClientRequestToken=current_id), None)
    other = aws["client"].create_secret(Name=f"other-{uuid.uuid4().hex[:8]}", SecretString="x" * 20)["ARN"]
    with pytest.raises(RotationInputError, match="this function rotates"):
        handler(load_event("create", SecretId=other, ClientRequestToken=unknown), None)
    with pytest.raises(RotationInputError, match="does not exist"):
        handler(load_event("create", SecretId="no-such-secret", ClientRequestToken=unknown), None)
    with pytest.raises(RotationInputError, match="invalid rotation step"):
        handler(load_event("create", Step="rotateEverything"), None)
    assert emulator.api_token == before_token
    assert token_works(emulator, before_token)


def test_a_version_that_is_not_pending_is_refused(emulator: RunningEmulator, aws: dict[str, Any]) -> None:
    start_rotation(aws)
    stray = str(uuid.uuid4())
    aws["client"].put_secret_value(
        SecretId=aws["arn"], ClientRequestToken=stray, SecretString="y" * 20, VersionStages=["STRAY"]
    )
    with pytest.raises(RotationInputError, match="not set as AWSPENDING"):
        handler(load_event("create", SecretId=aws["arn"], ClientRequestToken=stray), None)
    assert token_works(emulator, emulator.api_token)

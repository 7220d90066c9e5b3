"""The Lambda handlers against moto-served SQS, DynamoDB, S3 and Secrets Manager, with canonical events."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import boto3
import pytest

from functions.webhook_handler import aws
from local.emulator import RunningEmulator
from shared.runtime import reset_runtime
from tests.webhook.conftest import SECRET, applications, expected_time_tags, other_user, set_fit, time_tags
from tests.webhook.events import load_event

REGION = "eu-central-1"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, emulator: RunningEmulator) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    names = {"table": f"state-{suffix}", "bucket": f"blobs-{suffix}", "queue": f"webhook-{suffix}"}
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "PLATFORM": "aws",
        "STATE_TABLE_NAME": names["table"],
        "BUCKET_NAME": names["bucket"],
        "WEBHOOK_QUEUE_NAME": names["queue"],
        "SECRET_NAME_PREFIX": f"{suffix}/",
        "WEBHOOK_SECRET": SECRET,
        "LEANIX_HOST": emulator.base_url,
        "LEANIX_API_TOKEN": emulator.api_token,
    }.items():
        monkeypatch.setenv(name, value)
    session = boto3.session.Session(region_name=REGION)
    session.client("dynamodb").create_table(
        TableName=names["table"],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    session.client("s3").create_bucket(
        Bucket=names["bucket"], CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    names["queue_url"] = session.client("sqs").create_queue(QueueName=names["queue"])["QueueUrl"]
    reset_runtime()
    return names


def _sqs_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    template = load_event("webhook_sqs_batch")["Records"][0]
    return {"Records": [template | {"messageId": m["MessageId"], "body": m["Body"]} for m in messages]}


def test_receive_then_worker_apply_the_time_tag(aws_env: dict[str, str], emulator: RunningEmulator) -> None:
    app = applications(emulator)[9]
    set_fit(
        emulator,
        app.id,
        other_user(emulator).id,
        functionalSuitability="perfect",
        technicalSuitability="adequate",
    )
    event = load_event("webhook_apigw_v2_delivery")
    payload = json.loads(event["body"])
    payload["factSheet"]["id"] = app.id
    event["body"] = json.dumps(payload)
    response = aws.receive(event, None)
    assert response["statusCode"] == 202, response

    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=aws_env["queue_url"], MaxNumberOfMessages=10)["Messages"]
    poison = {"MessageId": "poison-1", "Body": '{"not": "an event"}'}
    result = aws.worker(_sqs_event([*messages, poison]), None)
    assert result == {"batchItemFailures": [{"itemIdentifier": "poison-1"}]}
    assert time_tags(emulator, app.id) == ["Invest"]
    # A redelivered batch is a duplicate: no second write.
    writes = emulator.state.workspace.require(app.id).write_count
    assert aws.worker(_sqs_event(messages), None) == {"batchItemFailures": []}
    assert emulator.state.workspace.require(app.id).write_count == writes


def test_receive_refuses_a_wrong_secret(aws_env: dict[str, str]) -> None:
    event = load_event("webhook_apigw_v2_delivery")
    event["headers"]["authorization"] = "nope"
    assert aws.receive(event, None)["statusCode"] == 401


def test_reconcile_and_pull_handlers_run_on_a_schedule_event(
    aws_env: dict[str, str], emulator: RunningEmulator
) -> None:
    emulator.state.update_config(rate_limit_per_minute=10**6)
    scheduled = load_event("webhook_eventbridge_scheduled")
    summary = aws.reconcile(scheduled, None)
    assert summary["checked"] == len(applications(emulator))
    assert summary["fixed"] > 0
    assert all(
        time_tags(emulator, a.id) == expected_time_tags(emulator, a.id) for a in applications(emulator)
    )
    assert aws.pull(scheduled, None) == {"skipped": "WEBHOOK_DELIVERY_MODE is not PULL"}


def test_unauthenticated_base64_body_is_401_before_it_is_decoded(aws_env: dict[str, str]) -> None:
    # An undecodable base64 body from a caller without the secret: a 400 would prove it was looked at.
    event = load_event("webhook_apigw_v2_delivery")
    event["headers"]["authorization"] = "nope"
    event |= {"isBase64Encoded": True, "body": "%%% not base64 %%%"}
    assert aws.receive(event, None)["statusCode"] == 401


def test_base64_body_is_decoded_after_authentication(aws_env: dict[str, str]) -> None:
    event = load_event("webhook_apigw_v2_delivery")
    good = event | {"isBase64Encoded": True, "body": base64.b64encode(event["body"].encode()).decode()}
    bad = event | {"isBase64Encoded": True, "body": "%%% not base64 %%%"}
    assert aws.receive(good, None)["statusCode"] == 202
    response = aws.receive(bad, None)
    assert response["statusCode"] == 400
    assert "base64" in json.loads(response["body"])["error"]

"""The Lambda push handler (API Gateway HTTP API v2 events) on PLATFORM=aws, with moto as AWS."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.metrics_ingester import aws
from shared.runtime import get_runtime, reset_runtime
from tests.metrics.conftest import METRICS_SECRET, inspect

EVENT = json.loads(
    (Path(__file__).resolve().parents[1] / "events" / "metrics_push_apigw_v2.json").read_text()
)


@pytest.fixture
def aws_env(bundle_env: Any, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """PLATFORM=aws against moto, with a fresh S3 bucket for the dead letter."""
    bucket = f"metrics-{uuid.uuid4().hex[:12]}"
    for name, value in {
        "PLATFORM": "aws",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_REGION": "eu-central-1",
        "BUCKET_NAME": bucket,
    }.items():
        monkeypatch.setenv(name, value)
    boto3.session.Session(region_name="eu-central-1").client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    reset_runtime()
    return bucket


def event(authorization: str | None, body: str | None = None, base64_body: bool = False) -> dict[str, Any]:
    copy = json.loads(json.dumps(EVENT))
    if authorization is None:
        del copy["headers"]["authorization"]
    else:
        copy["headers"]["authorization"] = authorization
    if body is not None:
        copy["body"] = body
    if base64_body:
        copy["body"] = base64.b64encode(copy["body"].encode()).decode()
        copy["isBase64Encoded"] = True
    return copy


async def call(payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    # Lambda handlers run their own event loop (`asyncio.run`): call them from a worker thread.
    response = await asyncio.to_thread(aws.push, payload, None)
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("authorization", [None, "Bearer nope", f"Bearer {METRICS_SECRET}x"])
async def test_lambda_push_without_the_secret_is_401_and_writes_nothing(
    aws_env: str, bundle_env: Any, authorization: str | None
) -> None:
    status, body = await call(event(authorization))
    assert status == 401
    assert "metrics secret" in body["error"]
    assert inspect(bundle_env)["v2"]["writes"] == 0


@pytest.mark.parametrize("base64_body", [False, True])
async def test_lambda_push_writes_the_points(aws_env: str, bundle_env: Any, base64_body: bool) -> None:
    status, body = await call(event(f"Bearer {METRICS_SECRET}", base64_body=base64_body))
    assert status == 200
    assert body["accepted"] == 1
    [schema] = inspect(bundle_env)["v2"]["schemas"]
    assert schema["points"] == [
        {
            "timestamp": "2026-03-01T12:00:00.000Z",
            "factSheetId": "95fbeddd-0000-4000-8000-000000000001",
            "count": 2,
        }
    ]


async def test_lambda_push_with_invalid_base64_is_400(aws_env: str) -> None:
    payload = event(f"Bearer {METRICS_SECRET}")
    payload.update(body="%%%not base64", isBase64Encoded=True)
    status, body = await call(payload)
    assert status == 400
    assert "base64" in body["error"]


async def test_points_leanix_refuses_are_dead_lettered_to_s3(
    aws_env: str, bundle_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEANIX_MAX_RETRIES", "0")
    reset_runtime()
    bundle_env.add_fault(kind="status", status=503, path=r"/schemas/[^/]+/points$", probability=1.0)
    status, body = await call(
        event("X", json.dumps([{"measurement": "m", "fields": {"v": 1}}]))
        | {"headers": {"x-metrics-secret": METRICS_SECRET, "content-type": "application/json"}}
    )
    assert status == 207
    assert body["results"][0]["status"] == "dead_lettered"
    assert body["deadLetter"].startswith("metrics/dead-letter/")
    stored = json.loads(await get_runtime().platform.blobs.get(body["deadLetter"]))
    assert stored["entries"][0]["point"]["fields"] == {"v": 1.0}
    assert "InternalServerError" in stored["entries"][0]["error"]


@pytest.mark.parametrize("authorization", [None, "Bearer nope"])
async def test_lambda_push_without_the_secret_is_401_even_with_invalid_base64(
    aws_env: str, authorization: str | None
) -> None:
    # The secret is checked before anything of the body is looked at, base64 included.
    payload = event(authorization)
    payload.update(body="%%%not base64", isBase64Encoded=True)
    status, body = await call(payload)
    assert status == 401
    assert "metrics secret" in body["error"]

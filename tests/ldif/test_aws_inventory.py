"""The AWS inventory source against moto: Lambda, ECS and RDS listings become IT Components."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3
import pytest

from functions.ldif_sync.aws_inventory import AwsInventorySource
from functions.ldif_sync.ldif import external_id
from local.emulator import RunningEmulator
from shared.runtime import get_runtime
from tests.ldif.conftest import emulator_runs

REGION = "eu-central-1"


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    import httpx

    httpx.post(f"{moto_endpoint}/moto-api/reset")
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    session = boto3.session.Session(region_name=REGION)
    role = session.client("iam").create_role(
        RoleName="lambda-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handler.py", "def handler(event, context):\n    return None\n")
    function = session.client("lambda").create_function(
        FunctionName="billing-api",
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": archive.getvalue()},
        Tags={"leanix-application": "cmdb:APP-001", "team": "finance"},
    )
    ecs = session.client("ecs")
    ecs.create_cluster(clusterName="prod")
    ecs.register_task_definition(
        family="portal", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 128}]
    )
    service = ecs.create_service(
        cluster="prod",
        serviceName="customer-portal",
        taskDefinition="portal",
        desiredCount=1,
        tags=[{"key": "team", "value": "web"}],
    )["service"]
    db = session.client("rds").create_db_instance(
        DBInstanceIdentifier="payroll-db",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        Tags=[{"Key": "leanix-application", "Value": "cmdb:APP-002"}],
    )["DBInstance"]
    return {"lambda": function["FunctionArn"], "ecs": service["serviceArn"], "rds": db["DBInstanceArn"]}


async def test_inventory_lists_lambda_ecs_and_rds_as_it_components(aws: dict[str, str]) -> None:
    source = AwsInventorySource([REGION])
    await source.open()
    contents = {c.id: c for c in source.contents()}
    assert set(contents) == {external_id("aws", arn) for arn in aws.values()}
    function = contents[external_id("aws", aws["lambda"])]
    assert function.type == "ITComponent"
    assert function.data["name"] == "billing-api"
    assert function.data["kind"] == "Lambda function"
    assert function.data["account"] == "123456789012"
    assert function.data["region"] == REGION
    assert function.data["tags"] == ["leanix-application: cmdb:APP-001", "team: finance"]
    assert function.data["applications"] == ["cmdb:APP-001"]
    service = contents[external_id("aws", aws["ecs"])]
    assert service.data["kind"] == "ECS service"
    assert service.data["tags"] == ["team: web"]
    assert service.data["applications"] == []
    database = contents[external_id("aws", aws["rds"])]
    assert database.data["kind"] == "RDS instance"
    assert database.data["applications"] == ["cmdb:APP-002"]


async def test_inventory_sync_through_the_lambda_handler(
    aws: dict[str, str], ldif_env: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    from types import SimpleNamespace

    from functions.ldif_sync.aws import handler

    # The CMDB sync first, so the Applications the tags name exist.
    from tests.ldif.conftest import put_export

    await put_export()
    await asyncio.to_thread(handler, {}, SimpleNamespace(aws_request_id="cmdb-night"))
    await get_runtime().platform.state.delete(f"ldif-sync:done:{_today()}")
    monkeypatch.setenv("LDIF_SOURCE", "aws_inventory")
    monkeypatch.setenv("AWS_INVENTORY_REGIONS", REGION)
    from shared.runtime import reset_runtime

    reset_runtime()
    result: dict[str, Any] = await asyncio.to_thread(handler, {}, SimpleNamespace(aws_request_id="aws-night"))
    assert result["status"] == "FINISHED"
    assert result["items"] == 3
    assert result["warnings"] == 0
    workspace = ldif_env.state.workspace
    function = workspace.find_by_external_id("ITComponent", external_id("aws", aws["lambda"]))
    assert function is not None
    assert "123456789012" in (function.fields.get("description") or "")
    billing = workspace.find_by_external_id("Application", "cmdb:APP-001")
    assert billing is not None
    linked = {rel.source_id for rel, _ in workspace.relations_of(billing.id)} | {
        rel.target_id for rel, _ in workspace.relations_of(billing.id)
    }
    assert function.id in linked
    assert len(emulator_runs(ldif_env)) == 2


def _today() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).date().isoformat()

"""One harness per platform, so the contract suite runs the same assertions on local, AWS and Azure.

- local: the embedded adapters in the test's tmp folder.
- aws: the boto3 adapters against a moto server over HTTP (unique table, bucket, queue per test).
- azure: the Azure adapters against Azurite, and Key Vault against a fake of its REST API over HTTPS.
Every harness shares an injected clock, so lock and TTL expiry need no sleeping.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.platform import Platform
from tests.platform.fake_key_vault import RunningVault, StaticTokenCredential, serve

MAX_ATTEMPTS = 3


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    """A platform under test plus what the contract tests need to know about it."""

    kind: str
    platform: Platform
    clock: FakeClock
    queue: str
    secret: str
    provision_queue: Callable[[str], None] = field(default=lambda name: None)


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def fake_key_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningVault]:
    running = serve(tmp_path_factory.mktemp("fake-key-vault"))
    try:
        yield running
    finally:
        running.stop()


def local_harness(tmp_path: Path, clock: FakeClock) -> Harness:
    from shared.platform.factory import build_local_platform
    from shared.settings import load_settings

    settings = load_settings(LOCAL_DATA_DIR=str(tmp_path / "data"), QUEUE_MAX_ATTEMPTS=MAX_ATTEMPTS)
    return Harness("local", build_local_platform(settings, clock), clock, _unique("q"), _unique("s-"))


def aws_harness(monkeypatch: pytest.MonkeyPatch, endpoint: str, clock: FakeClock) -> Harness:
    import boto3

    from shared.platform.aws_platform import build_aws_platform
    from shared.settings import load_settings

    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
    }.items():
        monkeypatch.setenv(name, value)
    table, bucket = _unique("state-"), _unique("blobs-")
    session = boto3.session.Session(region_name="eu-central-1")
    session.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    session.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    sqs = session.client("sqs")

    def provision_queue(name: str) -> None:
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        redrive = f'{{"deadLetterTargetArn": "{dlq_arn}", "maxReceiveCount": "{MAX_ATTEMPTS}"}}'
        sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive})

    settings = load_settings(
        PLATFORM="aws",
        STATE_TABLE_NAME=table,
        BUCKET_NAME=bucket,
        SECRET_NAME_PREFIX=_unique("t") + "/",
        QUEUE_MAX_ATTEMPTS=MAX_ATTEMPTS,
    )
    harness = Harness("aws", build_aws_platform(settings, clock), clock, _unique("q"), _unique("s-"))
    harness.provision_queue = provision_queue
    provision_queue(harness.queue)
    return harness


def azure_harness(connection: str, vault: RunningVault, clock: FakeClock) -> Harness:
    from azure.data.tables import TableServiceClient
    from azure.keyvault.secrets import SecretClient
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    from shared.platform.azure_blobs import AzureBlobStore
    from shared.platform.azure_platform import ensure_table
    from shared.platform.azure_queue import AzureStorageQueue
    from shared.platform.azure_secrets import KeyVaultSecretStore
    from shared.platform.azure_state import TableStateStore
    from shared.platform.lazy import Lazy

    table = _unique("t")

    def table_client() -> Any:
        return TableServiceClient.from_connection_string(connection).get_table_client(table)

    def secret_client() -> Any:
        # The challenge names vault.azure.net, which 127.0.0.1 is not: skip that domain check
        # (TLS is still verified against the test CA).
        return SecretClient(
            vault.url,
            credential=StaticTokenCredential(),
            connection_verify=str(vault.ca_path),
            verify_challenge_resource=False,
        )

    blob_service = Lazy(lambda: BlobServiceClient.from_connection_string(connection))
    queue_service = Lazy(lambda: QueueServiceClient.from_connection_string(connection))
    platform = Platform(
        name="azure",
        secrets=KeyVaultSecretStore(Lazy(secret_client)),
        state=TableStateStore(Lazy(ensure_table(table_client)), clock=clock),
        blobs=AzureBlobStore(blob_service, _unique("c")),
        queue=AzureStorageQueue(queue_service, MAX_ATTEMPTS),
    )
    return Harness("azure", platform, clock, _unique("q"), _unique("s-"))


@pytest.fixture(params=["local", "aws", "azure"])
def harness(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """The platform under test, once per adapter family."""
    clock = FakeClock()
    if request.param == "local":
        return local_harness(tmp_path, clock)
    if request.param == "aws":
        return aws_harness(monkeypatch, request.getfixturevalue("moto_endpoint"), clock)
    connection = request.getfixturevalue("azurite_connection_string")
    return azure_harness(connection, request.getfixturevalue("fake_key_vault"), clock)

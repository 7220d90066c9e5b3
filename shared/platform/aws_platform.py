"""The AWS platform: Secrets Manager, DynamoDB, S3 and SQS (boto3 loads on first use)."""

from __future__ import annotations

import time
from collections.abc import Callable

from shared.platform.aws_blobs import S3BlobStore
from shared.platform.aws_clients import LazyClient
from shared.platform.aws_queue import SqsQueue
from shared.platform.aws_secrets import AwsSecretStore
from shared.platform.aws_state import DynamoStateStore
from shared.platform.ports import Platform
from shared.settings import Settings


def build_aws_platform(settings: Settings, clock: Callable[[], float] = time.time) -> Platform:
    """The AWS ports for AWS_REGION, STATE_TABLE_NAME, BUCKET_NAME and SECRET_NAME_PREFIX."""
    region = settings.aws_region
    return Platform(
        name="aws",
        secrets=AwsSecretStore(LazyClient("secretsmanager", region), prefix=settings.aws_secret_prefix),
        state=DynamoStateStore(LazyClient("dynamodb", region), settings.aws_state_table, clock=clock),
        blobs=S3BlobStore(LazyClient("s3", region), settings.aws_bucket),
        queue=SqsQueue(LazyClient("sqs", region)),
    )

"""The AWS inventory source: Lambda functions, ECS services and RDS instances as IT Components.

For each configured region (boto3, imported lazily so other sources never pay for it):
`lambda.list_functions` + `list_tags`, `ecs.list_clusters` / `list_services` /
`describe_services(include=["TAGS"])`, `rds.describe_db_instances` (with its `TagList`). The
account comes from `sts.get_caller_identity`.

Each resource becomes one `ITComponent` content with external id `aws:<ARN>` (stable across runs),
its tags as `key: value` names, the account, region and kind as fields, and `applications`: the
value of the application tag (`AWS_INVENTORY_APP_TAG`), which the processor configuration uses as
the external id of the Application to relate to (e.g. `cmdb:APP-001`, as the CMDB sync writes it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from typing import Any

from functions.ldif_sync.ldif import LdifContent, external_id
from shared.errors import ConfigurationError

SOURCE = "aws"
# describe_services takes at most 10 services per call.
_ECS_DESCRIBE_BATCH = 10


class AwsInventorySource:
    """Lists the inventory lazily, region by region; `client_factory(service, region)` is the test seam."""

    def __init__(
        self,
        regions: Sequence[str],
        *,
        app_tag: str = "leanix-application",
        client_factory: Any = None,
    ) -> None:
        if not regions:
            raise ConfigurationError("AWS_INVENTORY_REGIONS names no region")
        self._regions = list(dict.fromkeys(regions))
        self._app_tag = app_tag
        self._client_factory = client_factory
        self._account = ""

    @property
    def name(self) -> str:
        return f"aws_inventory:{','.join(self._regions)}"

    @property
    def id_prefix(self) -> str:
        return f"{SOURCE}:"

    def _client(self, service: str, region: str) -> Any:
        if self._client_factory is not None:
            return self._client_factory(service, region)
        import boto3  # lazy: only this source needs it

        return boto3.client(service, region_name=region)

    async def open(self) -> None:
        self._account = await asyncio.to_thread(self._caller_account)

    def _caller_account(self) -> str:
        identity = self._client("sts", self._regions[0]).get_caller_identity()
        return str(identity["Account"])

    def contents(self) -> Iterator[LdifContent]:
        if not self._account:
            raise RuntimeError("call open() before contents()")
        for region in self._regions:
            yield from self._lambda_functions(region)
            yield from self._ecs_services(region)
            yield from self._rds_instances(region)

    def _content(self, kind: str, region: str, name: str, arn: str, tags: dict[str, str]) -> LdifContent:
        application = tags.get(self._app_tag, "").strip()
        return LdifContent(
            type="ITComponent",
            id=external_id(SOURCE, arn),
            data={
                "name": name,
                "kind": kind,
                "arn": arn,
                "account": self._account,
                "region": region,
                "tags": [f"{key}: {value}" if value else key for key, value in sorted(tags.items())],
                "applications": [application] if application else [],
            },
        )

    def _lambda_functions(self, region: str) -> Iterator[LdifContent]:
        client = self._client("lambda", region)
        for page in client.get_paginator("list_functions").paginate():
            for function in page.get("Functions", []):
                arn = function["FunctionArn"]
                tags = client.list_tags(Resource=arn).get("Tags") or {}
                yield self._content("Lambda function", region, function["FunctionName"], arn, tags)

    def _ecs_services(self, region: str) -> Iterator[LdifContent]:
        client = self._client("ecs", region)
        for clusters in client.get_paginator("list_clusters").paginate():
            for cluster in clusters.get("clusterArns", []):
                for services in client.get_paginator("list_services").paginate(cluster=cluster):
                    arns = services.get("serviceArns", [])
                    for start in range(0, len(arns), _ECS_DESCRIBE_BATCH):
                        batch = arns[start : start + _ECS_DESCRIBE_BATCH]
                        described = client.describe_services(
                            cluster=cluster, services=batch, include=["TAGS"]
                        )
                        for service in described.get("services", []):
                            tags = {t["key"]: t.get("value", "") for t in service.get("tags") or []}
                            yield self._content(
                                "ECS service", region, service["serviceName"], service["serviceArn"], tags
                            )

    def _rds_instances(self, region: str) -> Iterator[LdifContent]:
        client = self._client("rds", region)
        for page in client.get_paginator("describe_db_instances").paginate():
            for instance in page.get("DBInstances", []):
                tags = {t["Key"]: t.get("Value", "") for t in instance.get("TagList") or []}
                yield self._content(
                    "RDS instance", region, instance["DBInstanceIdentifier"], instance["DBInstanceArn"], tags
                )

"""StateStore on DynamoDB: conditional writes, TTL attribute `expires_at`.

Table layout (the SAM template creates it): partition key `pk` (string), TTL on `expires_at`
(epoch seconds). Items are `kv#<key>` (value), `hwm#<key>` (mark) and `lock#<name>` (owner).
DynamoDB deletes expired items only eventually, so every read and condition also compares
`expires_at` with the clock.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from typing import Any

from shared.platform.aws_clients import LazyClient, error_code, platform_error
from shared.platform.ports import StateValue

_HINT = "check STATE_TABLE_NAME, AWS_REGION and the role's dynamodb permissions"
_CONDITION_FAILED = "ConditionalCheckFailedException"


class DynamoStateStore:
    """Dedup keys, high-water marks and locks in one DynamoDB table. `clock` is epoch seconds."""

    def __init__(self, client: LazyClient, table: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table
        self._clock = clock

    def __repr__(self) -> str:
        return f"DynamoStateStore(table={self._table!r})"

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any] | None:
        """Run one DynamoDB call; None when its condition failed."""
        try:
            response: dict[str, Any] = getattr(self._client.get(), operation)(TableName=self._table, **kwargs)
        except Exception as exc:
            code = error_code(exc)
            if code == _CONDITION_FAILED:
                return None
            if code:
                raise platform_error(f"DynamoDB {operation} on {self._table!r}", exc, _HINT) from exc
            raise
        return response

    def _expiry(self, ttl_seconds: float) -> str:
        # TTL needs whole epoch seconds; rounding up never shortens the promised lifetime.
        return str(math.ceil(self._clock() + ttl_seconds))

    def _now(self) -> str:
        return str(self._clock())

    async def put_if_absent(self, key: str, value: StateValue, ttl_seconds: float) -> bool:
        return await asyncio.to_thread(self._put_if_absent, key, json.dumps(value), ttl_seconds)

    def _put_if_absent(self, key: str, encoded: str, ttl_seconds: float) -> bool:
        item = {
            "pk": {"S": f"kv#{key}"},
            "value": {"S": encoded},
            "expires_at": {"N": self._expiry(ttl_seconds)},
        }
        response = self._call(
            "put_item",
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
            ExpressionAttributeValues={":now": {"N": self._now()}},
        )
        return response is not None

    async def get(self, key: str) -> StateValue | None:
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> StateValue | None:
        response = self._call("get_item", Key={"pk": {"S": f"kv#{key}"}}, ConsistentRead=True)
        item = (response or {}).get("Item")
        if not item or float(item["expires_at"]["N"]) <= self._clock():
            return None
        value: StateValue = json.loads(item["value"]["S"])
        return value

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._call, "delete_item", Key={"pk": {"S": f"kv#{key}"}})

    async def advance_high_water_mark(self, key: str, value: int) -> bool:
        response = await asyncio.to_thread(
            self._call,
            "update_item",
            Key={"pk": {"S": f"hwm#{key}"}},
            UpdateExpression="SET #mark = :v",
            ConditionExpression="attribute_not_exists(#mark) OR #mark < :v",
            ExpressionAttributeNames={"#mark": "mark"},
            ExpressionAttributeValues={":v": {"N": str(value)}},
        )
        return response is not None

    async def get_high_water_mark(self, key: str) -> int | None:
        response = await asyncio.to_thread(
            self._call, "get_item", Key={"pk": {"S": f"hwm#{key}"}}, ConsistentRead=True
        )
        item = (response or {}).get("Item")
        return None if not item else int(item["mark"]["N"])

    async def acquire_lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        item = {
            "pk": {"S": f"lock#{name}"},
            "owner": {"S": owner},
            "expires_at": {"N": self._expiry(ttl_seconds)},
        }
        response = await asyncio.to_thread(
            self._call,
            "put_item",
            Item=item,
            ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now OR #owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":now": {"N": self._now()}, ":owner": {"S": owner}},
        )
        return response is not None

    async def release_lock(self, name: str, owner: str) -> None:
        await asyncio.to_thread(
            self._call,
            "delete_item",
            Key={"pk": {"S": f"lock#{name}"}},
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={":owner": {"S": owner}},
        )

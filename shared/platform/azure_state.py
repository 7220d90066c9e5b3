"""StateStore on Azure Table Storage: insert-if-absent and ETag-conditional updates.

Entities live in one table (STATE_TABLE) with PartitionKey `kv`, `hwm` or `lock` and the key,
base64url-encoded, as RowKey (Table keys may not contain `/`, `\\`, `#` or `?`). Table Storage has
no TTL, so `expires_at` is compared with the clock on every read and an expired entry is replaced;
`put_if_absent` now and then deletes expired entries (see `housekeeping.py`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from shared.errors import PlatformError
from shared.logging import get_logger
from shared.platform.housekeeping import PURGE_INTERVAL_SECONDS, PURGE_MAX_ROWS, Every
from shared.platform.lazy import Lazy
from shared.platform.ports import StateValue

MAX_CONFLICT_RETRIES = 50
logger = get_logger(__name__)
_HINT = "check STATE_TABLE, the storage connection and the identity's 'Storage Table Data Contributor' role"


def row_key(key: str) -> str:
    """`key` in a form Table Storage accepts as a RowKey."""
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii")


def _number(value: Any) -> Any:
    # Int64 properties come back wrapped in an EntityProperty; plain values come back as is.
    return getattr(value, "value", value)


class TableStateStore:
    """Dedup keys, high-water marks and locks in one table. `client` is a lazy `TableClient`."""

    def __init__(
        self,
        client: Lazy[Any],
        clock: Callable[[], float] = time.time,
        purge_interval_seconds: float = PURGE_INTERVAL_SECONDS,
    ) -> None:
        self._client = client
        self._clock = clock
        self._purge = Every(purge_interval_seconds, clock)

    def __repr__(self) -> str:
        return "TableStateStore()"

    def _read(self, partition: str, key: str) -> Any | None:
        try:
            return self._client.get().get_entity(partition_key=partition, row_key=row_key(key))
        except ResourceNotFoundError:
            return None

    def _replace(self, entity: dict[str, Any], etag: str) -> bool:
        """Replace `entity` if nobody changed it since `etag` was read."""
        from azure.data.tables import UpdateMode  # the SDK loads on first use, not at cold start

        try:
            self._client.get().update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        except HttpResponseError as exc:
            if exc.status_code == 412:
                return False
            raise
        return True

    def _create(self, entity: dict[str, Any]) -> bool:
        try:
            self._client.get().create_entity(entity)
        except ResourceExistsError:
            return False
        return True

    def _guarded(self, operation: Callable[[], bool], what: str) -> bool:
        try:
            return operation()
        except HttpResponseError as exc:
            raise PlatformError(f"Table Storage {what} failed ({exc.status_code}): {_HINT}") from exc

    async def put_if_absent(self, key: str, value: StateValue, ttl_seconds: float) -> bool:
        created = await asyncio.to_thread(
            self._guarded, lambda: self._put_if_absent(key, json.dumps(value), ttl_seconds), "put_if_absent"
        )
        if self._purge.due():
            try:
                await asyncio.to_thread(self._purge_expired)
            except Exception as exc:  # housekeeping never fails the write
                logger.warning(
                    "could not purge expired state entries (%s); trying again later", type(exc).__name__
                )
        return created

    def _purge_expired(self) -> int:
        """Delete up to PURGE_MAX_ROWS expired entries and locks (ETag-guarded: a renewed one stays)."""
        client = self._client.get()
        expired = client.query_entities(
            "(PartitionKey eq 'kv' or PartitionKey eq 'lock') and expires_at lt @now",
            parameters={"now": float(self._clock())},
            select=["PartitionKey", "RowKey"],
            results_per_page=PURGE_MAX_ROWS,
        )
        deleted = 0
        for entity in next(expired.by_page(), []):
            try:
                client.delete_entity(
                    partition_key=entity["PartitionKey"],
                    row_key=entity["RowKey"],
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                continue
            deleted += 1
        return deleted

    def _put_if_absent(self, key: str, encoded: str, ttl_seconds: float) -> bool:
        entity = {
            "PartitionKey": "kv",
            "RowKey": row_key(key),
            "value": encoded,
            "expires_at": float(self._clock() + ttl_seconds),
        }
        for _ in range(MAX_CONFLICT_RETRIES):
            if self._create(entity):
                return True
            existing = self._read("kv", key)
            if existing is None:
                continue  # deleted between our insert and read: try the insert again
            if float(existing["expires_at"]) > self._clock():
                return False
            # Expired: exactly one writer wins the conditional replace.
            return self._replace(entity, existing.metadata["etag"])
        raise PlatformError(f"put_if_absent on state key {key!r} kept conflicting: {_HINT}")

    async def get(self, key: str) -> StateValue | None:
        entity = await asyncio.to_thread(self._read, "kv", key)
        if entity is None or float(entity["expires_at"]) <= self._clock():
            return None
        value: StateValue = json.loads(entity["value"])
        return value

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._client.get().delete_entity, partition_key="kv", row_key=row_key(key))

    async def advance_high_water_mark(self, key: str, value: int) -> bool:
        return await asyncio.to_thread(self._guarded, lambda: self._advance(key, value), "advance")

    def _advance(self, key: str, value: int) -> bool:
        from azure.data.tables import EdmType, EntityProperty

        entity = {"PartitionKey": "hwm", "RowKey": row_key(key), "mark": EntityProperty(value, EdmType.INT64)}
        for _ in range(MAX_CONFLICT_RETRIES):
            existing = self._read("hwm", key)
            if existing is None:
                if self._create(entity):
                    return True
                continue
            if int(_number(existing["mark"])) >= value:
                return False
            if self._replace(entity, existing.metadata["etag"]):
                return True
        raise PlatformError(f"high-water mark {key!r} kept conflicting: {_HINT}")

    async def get_high_water_mark(self, key: str) -> int | None:
        entity = await asyncio.to_thread(self._read, "hwm", key)
        return None if entity is None else int(_number(entity["mark"]))

    async def acquire_lock(self, name: str, owner: str, ttl_seconds: float) -> bool:
        return await asyncio.to_thread(self._guarded, lambda: self._acquire(name, owner, ttl_seconds), "lock")

    def _acquire(self, name: str, owner: str, ttl_seconds: float) -> bool:
        entity = {
            "PartitionKey": "lock",
            "RowKey": row_key(name),
            "owner": owner,
            "expires_at": float(self._clock() + ttl_seconds),
        }
        existing = self._read("lock", name)
        if existing is None:
            return self._create(entity)
        if existing["owner"] != owner and float(existing["expires_at"]) > self._clock():
            return False
        return self._replace(entity, existing.metadata["etag"])

    async def release_lock(self, name: str, owner: str) -> None:
        await asyncio.to_thread(self._release, name, owner)

    def _release(self, name: str, owner: str) -> None:
        existing = self._read("lock", name)
        if existing is None or existing["owner"] != owner:
            return
        try:
            self._client.get().delete_entity(
                partition_key="lock",
                row_key=row_key(name),
                etag=existing.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            pass  # someone took it over after it expired; it is theirs now
        except HttpResponseError as exc:
            if exc.status_code != 412:
                raise

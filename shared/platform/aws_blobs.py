"""BlobStore on S3 (bucket BUCKET_NAME), with presigned GET URLs."""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

from shared.platform.aws_clients import LazyClient, error_code, platform_error
from shared.platform.errors import NotFound
from shared.platform.names import check_blob_key

_HINT = "check BUCKET_NAME, AWS_REGION and the role's s3 permissions"


class S3BlobStore:
    """Blobs as objects in one bucket."""

    def __init__(self, client: LazyClient, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self._bucket!r})"

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        check_blob_key(key)
        await asyncio.to_thread(self._call, "put_object", Key=key, Body=data, ContentType=content_type)

    async def get(self, key: str) -> bytes:
        check_blob_key(key)
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> bytes:
        try:
            response = self._client.get().get_object(Bucket=self._bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in {"NoSuchKey", "404"}:
                raise NotFound(f"blob {key!r} not found in bucket {self._bucket!r}") from exc
            if error_code(exc):
                raise platform_error(f"reading s3://{self._bucket}/{key}", exc, _HINT) from exc
            raise
        body: bytes = response["Body"].read()
        return body

    async def list(self, prefix: str = "") -> list[str]:
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[str]:
        keys: builtins.list[str] = []
        kwargs: dict[str, Any] = {"Prefix": prefix}
        while True:
            page = self._call("list_objects_v2", **kwargs)
            keys.extend(str(item["Key"]) for item in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return sorted(keys)
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    async def read_url(self, key: str, expires_seconds: int) -> str | None:
        check_blob_key(key)
        url: str = await asyncio.to_thread(
            self._client.get().generate_presigned_url,
            "get_object",
            Params={"Bucket": self._bucket, "Key": key},
            ExpiresIn=expires_seconds,
        )
        return url

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self._client.get(), operation)(Bucket=self._bucket, **kwargs)
        except Exception as exc:
            if error_code(exc):
                raise platform_error(f"S3 {operation} on bucket {self._bucket!r}", exc, _HINT) from exc
            raise
        return response

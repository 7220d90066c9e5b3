"""BlobStore on Azure Blob Storage (container BLOB_CONTAINER), with SAS read URLs.

The SAS is signed with the account key when a connection string is configured (Azurite, or an
account that allows keys) and with a user delegation key when the app uses its managed identity.
"""

from __future__ import annotations

import asyncio
import builtins
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from shared.errors import PlatformError
from shared.platform.errors import NotFound
from shared.platform.lazy import Lazy
from shared.platform.names import check_blob_key

_HINT = "check BLOB_CONTAINER, the storage connection and the identity's 'Storage Blob Data' role"


class AzureBlobStore:
    """Blobs in one container. `service` is a lazy `BlobServiceClient`."""

    def __init__(self, service: Lazy[Any], container: str, create_container: bool = True) -> None:
        self._service = service
        self._container = container
        self._create_container = create_container
        self._ensured = False

    def __repr__(self) -> str:
        return f"AzureBlobStore(container={self._container!r})"

    def _container_client(self) -> Any:
        client = self._service.get().get_container_client(self._container)
        if self._create_container and not self._ensured:
            # Created once on first use, so Azurite and a fresh account work without a setup step.
            try:
                client.create_container()
            except ResourceExistsError:
                pass
            except HttpResponseError:
                pass  # no right to create containers: the template created it
            self._ensured = True
        return client

    async def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        check_blob_key(key)
        await asyncio.to_thread(self._put, key, data, content_type)

    def _put(self, key: str, data: bytes, content_type: str) -> None:
        from azure.storage.blob import ContentSettings  # the SDK loads on first use, not at cold start

        try:
            self._container_client().upload_blob(
                key, data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
            )
        except HttpResponseError as exc:
            raise PlatformError(f"writing blob {key!r} failed ({exc.status_code}): {_HINT}") from exc

    async def get(self, key: str) -> bytes:
        check_blob_key(key)
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> bytes:
        try:
            data: bytes = self._container_client().download_blob(key).readall()
        except ResourceNotFoundError as exc:
            raise NotFound(f"blob {key!r} not found in container {self._container!r}") from exc
        except HttpResponseError as exc:
            raise PlatformError(f"reading blob {key!r} failed ({exc.status_code}): {_HINT}") from exc
        return data

    async def list(self, prefix: str = "") -> list[str]:
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[str]:
        try:
            return sorted(self._container_client().list_blob_names(name_starts_with=prefix or None))
        except ResourceNotFoundError:
            return []
        except HttpResponseError as exc:
            raise PlatformError(f"listing blobs failed ({exc.status_code}): {_HINT}") from exc

    async def read_url(self, key: str, expires_seconds: int) -> str | None:
        check_blob_key(key)
        return await asyncio.to_thread(self._read_url, key, expires_seconds)

    def _read_url(self, key: str, expires_seconds: int) -> str:
        service = self._service.get()
        start = datetime.now(UTC) - timedelta(minutes=5)  # tolerate clock skew
        expiry = datetime.now(UTC) + timedelta(seconds=expires_seconds)
        account_key = getattr(service.credential, "account_key", None)
        signing: dict[str, Any]
        if account_key:
            signing = {"account_key": account_key}
        else:
            signing = {"user_delegation_key": service.get_user_delegation_key(start, expiry)}
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        sas = generate_blob_sas(
            account_name=service.account_name,
            container_name=self._container,
            blob_name=key,
            permission=BlobSasPermissions(read=True),
            expiry=expiry,
            start=start,
            **signing,
        )
        blob_url: str = self._container_client().get_blob_client(key).url
        return f"{blob_url}?{sas}"

"""The Azure platform: Key Vault, Table Storage, Blob Storage and Storage Queues.

Storage uses STORAGE_CONNECTION_STRING when set (Azurite: `UseDevelopmentStorage=true` or the
explicit string), otherwise the account URLs with `DefaultAzureCredential` (the user-assigned
managed identity AZURE_CLIENT_ID in Azure). Key Vault always uses the credential. Clients and the
credential are built on first use, so building the platform makes no network call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.errors import ConfigurationError
from shared.platform.azure_blobs import AzureBlobStore
from shared.platform.azure_queue import AzureStorageQueue
from shared.platform.azure_secrets import KeyVaultSecretStore
from shared.platform.azure_state import TableStateStore
from shared.platform.lazy import Lazy
from shared.platform.ports import Platform
from shared.settings import Settings


def _service_url(settings: Settings, explicit: str, service: str) -> str:
    """The account URL of `service`, derived from STORAGE_ACCOUNT_URL's blob URL when not set."""
    if explicit:
        return explicit
    blob_url = settings.azure_storage_account_url
    if ".blob." in blob_url:
        return blob_url.replace(".blob.", f".{service}.", 1)
    raise ConfigurationError(
        f"PLATFORM=azure needs STORAGE_CONNECTION_STRING or the {service.upper()}_ACCOUNT_URL setting "
        "(or a STORAGE_ACCOUNT_URL of the form https://<account>.blob.core.windows.net)"
    )


def build_azure_platform(settings: Settings, clock: Callable[[], float] = time.time) -> Platform:
    """The Azure ports. Raises ConfigurationError when KEY_VAULT_URL or the storage settings are missing."""
    if not settings.azure_key_vault_url:
        raise ConfigurationError("PLATFORM=azure needs KEY_VAULT_URL (https://<vault>.vault.azure.net)")
    connection = (
        settings.azure_storage_connection.get_secret_value() if settings.azure_storage_connection else ""
    )
    if not connection and not settings.azure_storage_account_url:
        raise ConfigurationError("PLATFORM=azure needs STORAGE_CONNECTION_STRING or STORAGE_ACCOUNT_URL")
    blob_url = settings.azure_storage_account_url
    queue_url = "" if connection else _service_url(settings, settings.azure_queue_account_url, "queue")
    table_url = "" if connection else _service_url(settings, settings.azure_table_account_url, "table")
    credential: Lazy[Any] = Lazy(lambda: default_credential(settings.azure_client_id))

    def blob_service() -> Any:
        from azure.storage.blob import BlobServiceClient

        if connection:
            return BlobServiceClient.from_connection_string(connection)
        return BlobServiceClient(blob_url, credential=credential.get())

    def queue_service() -> Any:
        from azure.storage.queue import QueueServiceClient

        if connection:
            return QueueServiceClient.from_connection_string(connection)
        return QueueServiceClient(queue_url, credential=credential.get())

    def table_client() -> Any:
        from azure.data.tables import TableServiceClient

        if connection:
            service = TableServiceClient.from_connection_string(connection)
        else:
            service = TableServiceClient(table_url, credential=credential.get())
        return service.get_table_client(settings.state_table)

    def secret_client() -> Any:
        from azure.keyvault.secrets import SecretClient

        return SecretClient(settings.azure_key_vault_url, credential=credential.get())

    return Platform(
        name="azure",
        secrets=KeyVaultSecretStore(Lazy(secret_client)),
        state=TableStateStore(Lazy(ensure_table(table_client)), clock=clock),
        blobs=AzureBlobStore(Lazy(blob_service), settings.blob_container, create_container=True),
        queue=AzureStorageQueue(Lazy(queue_service), settings.queue_max_attempts),
    )


def default_credential(client_id: str) -> Any:
    """`DefaultAzureCredential`, pinned to the user-assigned identity AZURE_CLIENT_ID when given."""
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=client_id or None)


def ensure_table(factory: Callable[[], Any]) -> Callable[[], Any]:
    """Wrap a TableClient factory so the table exists (created once, on first use)."""

    def build() -> Any:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        client = factory()
        try:
            client.create_table()
        except ResourceExistsError:
            pass
        except HttpResponseError:
            pass  # no right to create tables: the template created it; real calls will say if not
        return client

    return build

"""The one settings object every function reads.

Values come from the environment: Azure app settings, the Lambda environment, or a `.env` file
locally. With nothing configured the settings select the embedded default: the local platform
and the LeanIX emulator that `make run` starts.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigurationError

KEY_VAULT_REFERENCE_PREFIX = "@Microsoft.KeyVault("
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class PlatformName(StrEnum):
    LOCAL = "local"
    AWS = "aws"
    AZURE = "azure"


def normalize_leanix_host(value: str) -> str:
    """Turn `acme.leanix.net` or `https://acme.leanix.net/` into `https://acme.leanix.net`.

    Plain HTTP is only accepted for loopback addresses (the local emulator), so a token is never
    sent in clear text over a network.
    """
    raw = value.strip().rstrip("/")
    if not raw:
        return ""
    if "://" not in raw:
        raw = f"https://{raw}"
    parts = urlsplit(raw)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ValueError(
            f"LEANIX_HOST must look like 'acme.leanix.net' or 'https://acme.leanix.net', got {value!r}"
        )
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError("LEANIX_HOST must use https (plain http is only allowed for a local emulator)")
    if parts.path not in {"", "/"}:
        raise ValueError(f"LEANIX_HOST must be a host without a path, got {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


class Settings(BaseSettings):
    """Every setting of the bundle. The README's configuration table lists them all."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # --- platform ---------------------------------------------------------------------------
    platform: PlatformName = Field(default=PlatformName.LOCAL, alias="PLATFORM")
    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    # --- LeanIX -----------------------------------------------------------------------------
    leanix_host: str = Field(default="", alias="LEANIX_HOST")
    leanix_api_token: SecretStr | None = Field(default=None, alias="LEANIX_API_TOKEN")
    leanix_token_secret_name: str = Field(default="leanix-api-token", alias="LEANIX_TOKEN_SECRET_NAME")
    leanix_requests_per_minute: int = Field(default=1500, ge=1, alias="LEANIX_REQUESTS_PER_MINUTE")
    leanix_timeout_seconds: float = Field(default=30.0, gt=0, alias="LEANIX_TIMEOUT_SECONDS")
    leanix_max_retries: int = Field(default=5, ge=0, le=20, alias="LEANIX_MAX_RETRIES")
    leanix_retry_budget_seconds: float = Field(default=120.0, gt=0, alias="LEANIX_RETRY_BUDGET_SECONDS")

    # --- local platform ---------------------------------------------------------------------
    local_data_dir: str = Field(default=".local-data", alias="LOCAL_DATA_DIR")

    # --- AWS platform -----------------------------------------------------------------------
    aws_region: str = Field(default="eu-central-1", alias="AWS_REGION")
    aws_state_table: str = Field(default="leanix-functions-state", alias="STATE_TABLE_NAME")
    aws_bucket: str = Field(default="leanix-functions-data", alias="BUCKET_NAME")
    aws_secret_prefix: str = Field(default="", alias="SECRET_NAME_PREFIX")

    # --- Azure platform ---------------------------------------------------------------------
    azure_storage_connection: SecretStr | None = Field(default=None, alias="STORAGE_CONNECTION_STRING")
    azure_storage_account_url: str = Field(default="", alias="STORAGE_ACCOUNT_URL")
    azure_queue_account_url: str = Field(default="", alias="QUEUE_ACCOUNT_URL")
    azure_table_account_url: str = Field(default="", alias="TABLE_ACCOUNT_URL")
    azure_key_vault_url: str = Field(default="", alias="KEY_VAULT_URL")
    azure_client_id: str = Field(default="", alias="AZURE_CLIENT_ID")
    blob_container: str = Field(default="leanix-functions", alias="BLOB_CONTAINER")
    state_table: str = Field(default="leanixstate", alias="STATE_TABLE")

    # --- queues (names shared by every platform) --------------------------------------------
    queue_max_attempts: int = Field(default=5, ge=1, le=100, alias="QUEUE_MAX_ATTEMPTS")

    # --- webhook handler (functions/webhook_handler) ---------------------------------------

    # --- metrics ingester (functions/metrics_ingester) -------------------------------------

    # --- LDIF sync (functions/ldif_sync) ----------------------------------------------------

    # --- token rotation (functions/token_rotation) ------------------------------------------

    @model_validator(mode="before")
    @classmethod
    def _reject_unresolved_key_vault_references(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, str) and value.strip().startswith(KEY_VAULT_REFERENCE_PREFIX):
                    raise ValueError(
                        f"setting {key} is an unresolved Key Vault reference: check that the function "
                        "app's identity has 'Key Vault Secrets User' on the vault and that the secret "
                        "URI exists"
                    )
        return data

    @field_validator("leanix_host")
    @classmethod
    def _normalize_host(cls, value: str) -> str:
        return normalize_leanix_host(value)

    @field_validator("log_level")
    @classmethod
    def _upper_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {value!r}")
        return level

    @property
    def uses_emulator(self) -> bool:
        """True when no LeanIX host is configured: the embedded default talks to the emulator."""
        return not self.leanix_host

    def secret_values(self) -> list[str]:
        """Every secret value this object holds, for the log redaction filter."""
        values: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                secret = value.get_secret_value()
                if secret:
                    values.append(secret)
        return values


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's error into a `ConfigurationError` naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            location = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{location.upper()}: {error['msg']}")
        raise ConfigurationError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()

"""The one settings object every function reads.

Values come from the environment: Azure app settings, the Lambda environment, or a `.env` file
locally. With nothing configured the settings select the embedded default: the local platform
and the LeanIX emulator that `make run` starts.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal
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
    webhook_secret: SecretStr | None = Field(default=None, alias="WEBHOOK_SECRET")
    # Where the secret is read from when WEBHOOK_SECRET is unset (the secret store).
    webhook_secret_name: str = Field(default="leanix-webhook-secret", alias="WEBHOOK_SECRET_NAME")
    webhook_queue_name: str = Field(default="leanix-webhook-events", alias="WEBHOOK_QUEUE_NAME")
    # LeanIX retries a failed PUSH every 50 s without end and keeps PULL events 30 days.
    webhook_dedup_ttl_seconds: float = Field(default=30 * 86400.0, ge=3600, alias="WEBHOOK_DEDUP_TTL_SECONDS")
    # Azure Storage Queue messages hold 64 KiB (48 KiB once base64-encoded); larger bodies go to blobs.
    webhook_inline_max_bytes: int = Field(default=48 * 1024, ge=1024, alias="WEBHOOK_INLINE_MAX_BYTES")
    webhook_delivery_mode: str = Field(default="PUSH", pattern="^(PUSH|PULL)$", alias="WEBHOOK_DELIVERY_MODE")
    webhook_pull_schedule: str = Field(default="0 */1 * * * *", alias="WEBHOOK_PULL_SCHEDULE")
    webhook_pull_timeout_seconds: int = Field(default=10, ge=0, le=60, alias="WEBHOOK_PULL_TIMEOUT_SECONDS")
    webhook_subscription_identifier: str = Field(
        default="leanix-functions-webhook",
        min_length=1,
        max_length=255,
        alias="WEBHOOK_SUBSCRIPTION_IDENTIFIER",
    )
    webhook_target_url: str = Field(default="", alias="WEBHOOK_TARGET_URL")
    webhook_payload_mode: str = Field(
        default="DEFAULT", pattern="^(DEFAULT|WRAPPED_EVENT)$", alias="WEBHOOK_PAYLOAD_MODE"
    )
    time_rule_enabled: bool = Field(default=True, alias="TIME_RULE_ENABLED")
    time_rule_config: str = Field(default="", alias="TIME_RULE_CONFIG")
    time_reconcile_schedule: str = Field(default="0 30 2 * * *", alias="TIME_RECONCILE_SCHEDULE")
    notify_event_types: str = Field(default="", alias="NOTIFY_EVENT_TYPES")
    notify_fact_sheet_types: str = Field(default="", alias="NOTIFY_FACT_SHEET_TYPES")
    notify_workspace_name: str = Field(default="", alias="NOTIFY_WORKSPACE_NAME")
    slack_webhook_url: SecretStr | None = Field(default=None, alias="SLACK_WEBHOOK_URL")
    teams_webhook_url: SecretStr | None = Field(default=None, alias="TEAMS_WEBHOOK_URL")

    # --- metrics ingester (functions/metrics_ingester) -------------------------------------
    # Shared secret a pusher sends (`Authorization: Bearer <secret>` or `X-Metrics-Secret`).
    metrics_secret: SecretStr | None = Field(default=None, alias="METRICS_SECRET")
    metrics_api_version: str = Field(default="v2", pattern=r"^v[12]$", alias="METRICS_API_VERSION")
    metrics_bucket: str = Field(default="minute", pattern=r"^(minute|hour|day)$", alias="METRICS_BUCKET")
    metrics_concurrency: int = Field(default=16, ge=1, le=256, alias="METRICS_CONCURRENCY")
    metrics_dead_letter: str = Field(default="blob", pattern=r"^(blob|queue)$", alias="METRICS_DEAD_LETTER")
    metrics_dead_letter_queue: str = Field(
        default="metrics-dead-letter", min_length=3, alias="METRICS_DEAD_LETTER_QUEUE"
    )
    metrics_dedup_ttl_days: int = Field(default=400, ge=1, le=3650, alias="METRICS_DEDUP_TTL_DAYS")
    metrics_pull_schedule: str = Field(default="0 30 6 * * *", alias="METRICS_PULL_SCHEDULE")
    metrics_pull_sources: str = Field(default="aws_cost_explorer", alias="METRICS_PULL_SOURCES")
    cost_measurement: str = Field(default="cloud_costs", alias="COST_MEASUREMENT")
    cost_tag_key: str = Field(default="leanix-fact-sheet-id", min_length=1, alias="COST_TAG_KEY")
    cost_lookback_days: int = Field(default=14, ge=1, le=365, alias="COST_LOOKBACK_DAYS")
    cost_recorded_sample: str = Field(default="", alias="COST_RECORDED_SAMPLE")

    # --- LDIF sync (functions/ldif_sync) ----------------------------------------------------
    ldif_sync_schedule: str = Field(default="0 30 2 * * *", alias="LDIF_SYNC_SCHEDULE")
    ldif_source: Literal["file", "aws_inventory"] = Field(default="file", alias="LDIF_SOURCE")
    ldif_export_key: str = Field(default="exports/cmdb_export.csv", alias="LDIF_EXPORT_KEY")
    # Mapping file: a blob key (wins when set) or a path; empty path = the shipped sample mapping.
    ldif_mapping_key: str = Field(default="", alias="LDIF_MAPPING_KEY")
    ldif_mapping_path: str = Field(default="", alias="LDIF_MAPPING_PATH")
    # Processor configuration file; empty = the shipped one for LDIF_SOURCE.
    ldif_processors_path: str = Field(default="", alias="LDIF_PROCESSORS_PATH")
    # Binding overrides; empty = the processor configuration's value.
    ldif_connector_type: str = Field(default="", alias="LDIF_CONNECTOR_TYPE")
    ldif_connector_id: str = Field(default="", alias="LDIF_CONNECTOR_ID")
    ldif_connector_version: str = Field(default="", alias="LDIF_CONNECTOR_VERSION")
    ldif_processing_mode: Literal["", "partial", "full"] = Field(default="", alias="LDIF_PROCESSING_MODE")
    ldif_custom_fields: dict[str, Any] = Field(default_factory=dict, alias="LDIF_CUSTOM_FIELDS")
    ldif_test_run: bool = Field(default=False, alias="LDIF_TEST_RUN")
    ldif_url_input_threshold_bytes: int = Field(
        default=20_000_000, ge=1, alias="LDIF_URL_INPUT_THRESHOLD_BYTES"
    )
    ldif_large_mode: Literal["url", "chunks"] = Field(default="url", alias="LDIF_LARGE_MODE")
    ldif_chunk_items: int = Field(default=50_000, ge=1, alias="LDIF_CHUNK_ITEMS")
    ldif_run_deadline_seconds: float = Field(default=3600.0, gt=0, alias="LDIF_RUN_DEADLINE_SECONDS")
    ldif_poll_initial_seconds: float = Field(default=2.0, gt=0, alias="LDIF_POLL_INITIAL_SECONDS")
    ldif_poll_max_seconds: float = Field(default=30.0, gt=0, alias="LDIF_POLL_MAX_SECONDS")
    ldif_lock_ttl_seconds: float = Field(default=7200.0, gt=0, alias="LDIF_LOCK_TTL_SECONDS")
    ldif_archive_prefix: str = Field(default="ldif-sync", min_length=1, alias="LDIF_ARCHIVE_PREFIX")
    ldif_metrics_schema: str = Field(default="ldif_sync_runs", alias="LDIF_METRICS_SCHEMA")
    aws_inventory_regions: str = Field(default="", alias="AWS_INVENTORY_REGIONS")
    aws_inventory_app_tag: str = Field(default="leanix-application", alias="AWS_INVENTORY_APP_TAG")

    # --- token rotation (functions/token_rotation) ------------------------------------------
    # NCRONTAB (6 fields): the timer checks daily whether a rotation is due.
    token_rotation_schedule: str = Field(default="0 0 3 * * *", alias="TOKEN_ROTATION_SCHEDULE")
    token_rotation_interval_days: float = Field(default=30.0, gt=0, alias="TOKEN_ROTATION_INTERVAL_DAYS")
    token_rotation_early_days: float = Field(default=14.0, ge=0, alias="TOKEN_ROTATION_EARLY_DAYS")
    # Empty: rotate the user of the stored token; one id: that user; two ids: two-user mode.
    token_rotation_user_ids: str = Field(default="", alias="TOKEN_ROTATION_USER_IDS")

    @field_validator("token_rotation_user_ids")
    @classmethod
    def _check_rotation_users(cls, value: str) -> str:
        ids = [part.strip() for part in value.split(",") if part.strip()]
        if len(ids) > 2 or len(set(ids)) != len(ids):
            raise ValueError("TOKEN_ROTATION_USER_IDS takes at most two different technical user ids")
        return ",".join(ids)

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

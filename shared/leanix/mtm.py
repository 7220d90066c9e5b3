"""MTM (`/services/mtm/v1`): token exchange and technical users (leanix-api.md §2, §3.1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr, field_validator

from shared.leanix.auth import AccessToken
from shared.leanix.errors import (
    AuthenticationError,
    BadRequestError,
    LeanIXError,
    PermissionDeniedError,
    TokenExchangeError,
)
from shared.leanix.models import LeanIXModel, unwrap_data
from shared.logging import register_secret

if TYPE_CHECKING:
    from shared.leanix.client import LeanIXClient

MTM_PATH = "/services/mtm/v1"
MAX_PAGE_SIZE = 100


class ApiTokenData(LeanIXModel):
    """A technical user's API token. `token` is present only once, after create or replace."""

    id: str | None = None
    token: SecretStr | None = None
    description: str | None = None
    expiry: datetime | None = None

    @field_validator("expiry", mode="before")
    @classmethod
    def _tolerant_expiry(cls, value: Any) -> Any:
        # The published swagger types expiry as a Joda Instant object; accept its `millis` too.
        if isinstance(value, dict):
            millis = value.get("millis")
            return datetime.fromtimestamp(millis / 1000, UTC) if isinstance(millis, int | float) else None
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value / 1000 if value > 10**11 else value, UTC)
        return value

    @field_validator("token", mode="after")
    @classmethod
    def _register(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            register_secret(value.get_secret_value())
        return value


class TechnicalUser(LeanIXModel):
    """A technical user (MTM `TechnicalUserData`)."""

    id: str | None = None
    user_name: str | None = None
    email: str | None = None
    permission_role: str | None = None
    workspace_id: str | None = None
    account_id: str | None = None
    customer_roles: str | None = None
    access_control_entities: str | None = None
    api_token_data: ApiTokenData | None = None

    @property
    def api_token(self) -> str | None:
        """The plain API token, when this answer carries one (create / replaceToken)."""
        data = self.api_token_data
        return data.token.get_secret_value() if data and data.token else None


class MTMClient:
    """MTM endpoints. Reached as `client.mtm`."""

    def __init__(self, client: LeanIXClient) -> None:
        self._client = client

    async def exchange_token(self, api_token: str) -> AccessToken:
        """Exchange an API token that is not the client's own (e.g. a freshly rotated one).

        Raises `TokenExchangeError` when LeanIX refuses the token.
        """
        try:
            return await self._client.exchange_api_token(api_token)
        except (BadRequestError, AuthenticationError, PermissionDeniedError) as error:
            raise TokenExchangeError(
                self._client.base_url, status_code=error.status_code, where="the token being tested"
            ) from None

    async def get_technical_user(self, user_id: str) -> TechnicalUser:
        """One technical user by id (raises `NotFoundError` for an unknown id)."""
        body = await self._client.request_json("GET", f"{MTM_PATH}/technicalusers/{user_id}")
        return TechnicalUser.model_validate(unwrap_data(body))

    async def list_technical_users(self, *, page_size: int = MAX_PAGE_SIZE) -> list[TechnicalUser]:
        """All technical users of the workspace (pages through `page`/`size` until `total`)."""
        users: list[TechnicalUser] = []
        page = 1
        size = max(1, min(page_size, MAX_PAGE_SIZE))
        while True:
            body = await self._client.request_json(
                "GET", f"{MTM_PATH}/technicalusers", params={"page": page, "size": size}
            )
            items = unwrap_data(body) or []
            if not isinstance(items, list):
                raise LeanIXError("MTM /technicalusers answered without a data list")
            users.extend(TechnicalUser.model_validate(item) for item in items)
            total = body.get("total") if isinstance(body, dict) else None
            if not items or len(items) < size or (isinstance(total, int) and len(users) >= total):
                return users
            page += 1

    async def replace_token(self, user_id: str) -> TechnicalUser:
        """Mint a new API token for a technical user; the old one stops working at once.

        The new token is in the answer's `api_token_data.token` (and `TechnicalUser.api_token`),
        only this once. Never retried after it may have been sent: a replay would mint a second
        token and invalidate the first one before anyone stored it.
        """
        body = await self._client.request_json(
            "PUT", f"{MTM_PATH}/technicalusers/{user_id}/replaceToken", idempotent=False
        )
        return TechnicalUser.model_validate(unwrap_data(body))

    async def create_technical_user(
        self,
        user_name: str,
        *,
        permission_role: str = "ADMIN",
        expiry: datetime | None = None,
        description: str | None = None,
        email: str | None = None,
    ) -> TechnicalUser:
        """Create a technical user (its API token is in the answer, once)."""
        token_data: dict[str, Any] = {}
        if expiry is not None:
            token_data["expiry"] = expiry.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if description is not None:
            token_data["description"] = description
        payload: dict[str, Any] = {"userName": user_name, "permissionRole": permission_role}
        if email is not None:
            payload["email"] = email
        if token_data:
            payload["apiTokenData"] = token_data
        body = await self._client.request_json(
            "POST", f"{MTM_PATH}/technicalusers", json=payload, idempotent=False
        )
        return TechnicalUser.model_validate(unwrap_data(body))

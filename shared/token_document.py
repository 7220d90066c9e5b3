"""What the LeanIX token secret holds: a small JSON document, or (as first seeded) the bare API token.

Token rotation stores `{"apiToken": ..., "technicalUserId": ..., "rotationId": ..., "rotatedAt": ...,
"tokenExpiry": ...}` so the current version names the technical user in use (two-user mode), when it
was rotated and the token expiry LeanIX reported then (replaceToken keeps the expiry).
Every reader accepts both forms, so a secret set by hand with only the token keeps working.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.errors import InputError
from shared.logging import register_secret

# LeanIX tokens are `LXT_...` or 40 alphanumerics; accept any URL-safe run of 16-512 characters.
_RAW_TOKEN = re.compile(r"^[A-Za-z0-9_\-.~+/=]{16,512}$")


class NotATokenError(InputError):
    """The secret's value is neither an API token nor a token document. Never carries the value."""


@dataclass(frozen=True)
class TokenDocument:
    """One stored API token and what rotation knows about it. The repr never shows the token."""

    api_token: str = field(repr=False)
    technical_user_id: str | None = None
    rotation_id: str | None = None
    rotated_at: datetime | None = None
    token_expiry: datetime | None = None

    def to_json(self) -> str:
        """The stored form (keys sorted, so the same document always serializes the same way)."""
        body: dict[str, Any] = {"apiToken": self.api_token}
        if self.technical_user_id:
            body["technicalUserId"] = self.technical_user_id
        if self.rotation_id:
            body["rotationId"] = self.rotation_id
        if self.rotated_at is not None:
            body["rotatedAt"] = self.rotated_at.isoformat()
        if self.token_expiry is not None:
            body["tokenExpiry"] = self.token_expiry.isoformat()
        return json.dumps(body, sort_keys=True)


def parse_token_document(value: str, where: str = "the secret") -> TokenDocument:
    """Read a stored value: a JSON token document or a bare API token.

    Raises `NotATokenError` (naming `where`, never the value) when it is neither.
    """
    text = value.strip()
    hint = (
        f"{where} does not hold a LeanIX API token: store the technical user's API token, or a JSON "
        'document {"apiToken": "...", "technicalUserId": "..."}'
    )
    if text.startswith("{"):
        try:
            body = json.loads(text)
        except ValueError:
            raise NotATokenError(f"{hint} (the value starts like JSON but does not parse)") from None
        token = body.get("apiToken") if isinstance(body, dict) else None
        if not isinstance(token, str) or not _RAW_TOKEN.match(token):
            raise NotATokenError(f"{hint} (the JSON document has no valid 'apiToken')")
        register_secret(token)
        user = body.get("technicalUserId")
        rotation = body.get("rotationId")
        return TokenDocument(
            api_token=token,
            technical_user_id=user if isinstance(user, str) and user else None,
            rotation_id=rotation if isinstance(rotation, str) and rotation else None,
            rotated_at=_parse_time(body.get("rotatedAt")),
            token_expiry=_parse_time(body.get("tokenExpiry")),
        )
    if not _RAW_TOKEN.match(text):
        raise NotATokenError(hint)
    register_secret(text)
    return TokenDocument(api_token=text)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None

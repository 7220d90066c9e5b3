"""Access tokens of the emulator: issue the MTM JWT and validate `Authorization: Bearer` headers.

Tokens are HS256 JWTs signed with a per-emulator random key (LeanIX uses RS256; clients only
decode the claims, they never verify the signature). Expiry is checked against the emulator's
clock (`Emulator.now`), so tests move time forward instead of sleeping.
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import TYPE_CHECKING, Any

import jwt
from starlette.responses import JSONResponse

from local.emulator.state import Principal, TechnicalUser

if TYPE_CHECKING:
    from local.emulator.state import Emulator

ISSUER = "https://emulator-svc.leanix.local"
TOKEN_PATH = "/services/mtm/v1/oauth2/token"  # noqa: S105 - a URL path, not a secret


def basic_error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A BasicResponse-shaped error (`status` "ERROR" is the emulator's assumption)."""
    return JSONResponse(
        {
            "status": "ERROR",
            "type": "BasicResponse",
            "message": message,
            "errors": [{"value": None, "messages": [message]}],
            "total": 0,
        },
        status_code=status_code,
        headers=headers,
    )


def issue_access_token(emulator: Emulator, user: TechnicalUser) -> tuple[str, int]:
    """A signed access token for `user` and its `expires_in` (lifetime - 1, as LeanIX answers 3599)."""
    lifetime = emulator.config.token_lifetime_seconds
    now = int(emulator.now())
    claims: dict[str, Any] = {
        "sub": user.id,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + lifetime,
        "iss": ISSUER,
        "instanceUrl": emulator.base_url,
        "principal": {
            "id": user.id,
            "username": f"{user.user_name}@technical-user",
            "role": "ACCOUNTUSER",
            "status": "ACTIVE",
            "account": {"id": emulator.account_id, "name": emulator.config.account_name},
            "permission": {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"permission:{user.id}")),
                "workspaceId": emulator.workspace.id,
                "workspaceName": emulator.config.workspace_name,
                "role": user.permission_role,
                "status": "ACTIVE",
                "customerRoles": user.customer_roles,
            },
        },
    }
    token = jwt.encode(claims, emulator.signing_key, algorithm="HS256")
    emulator.stats.tokens_issued += 1
    return token, max(0, lifetime - 1)


@functools.lru_cache(maxsize=4096)
def _verified_claims_cached(token: str, signing_key: bytes | str) -> str | None:
    try:
        claims = jwt.decode(
            token,
            signing_key,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_iat": False, "require": ["exp", "sub"]},  # emulator time
        )
    except jwt.PyJWTError:
        return None
    return json.dumps(claims)


def _verified_claims(token: str, signing_key: bytes | str) -> dict[str, Any] | None:
    """The token's claims when its signature verifies (memoised: the same bearer arrives on every
    request, and verifying it each time made the emulator, not the client, the benchmarks' bottleneck).
    Expiry is checked by the caller against emulator time on every request."""
    cached = _verified_claims_cached(token, signing_key)
    return None if cached is None else dict(json.loads(cached))


def authenticate_bearer(emulator: Emulator, authorization: str | None) -> Principal | str:
    """The principal of a valid, unexpired bearer token, or the reason (a string) it is refused."""
    if not authorization:
        return "Authorization header is missing"
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "Authorization header must be 'Bearer <access token>'"
    claims = _verified_claims(token.strip(), emulator.signing_key)
    if claims is None:
        return "The access token is invalid"
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= emulator.now():
        return "The access token has expired"
    user = emulator.technical_users.get(str(claims.get("sub")))
    if user is None:
        return "The access token belongs to an unknown user"
    return Principal(
        user_id=user.id,
        role=user.permission_role,
        workspace_id=emulator.workspace.id,
        user_name=user.user_name,
        claims=claims,
    )

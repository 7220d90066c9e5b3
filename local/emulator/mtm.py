"""MTM: the OAuth2 token endpoint and technical users (`/services/mtm/v1`)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from local.emulator.auth import TOKEN_PATH, basic_error, issue_access_token
from local.emulator.state import Principal

if TYPE_CHECKING:
    from local.emulator.state import Emulator, TechnicalUser

MTM = "/services/mtm/v1"
PERMISSION_ROLES = (
    "ADMIN",
    "MEMBER",
    "VIEWER",
    "CONTACT",
    "SYSTEM_READ",
    "SYSTEM_WRITE",
    "SYSTEM_AS_USER",
    "TRANSIENT",
)
_INPUT_KEYS = {
    "userName",
    "email",
    "permissionRole",
    "customerRoles",
    "accessControlEntities",
    "apiTokenData",
    "id",
}


def routes(emulator: Emulator) -> list[BaseRoute]:
    """The MTM routes bound to `emulator`."""

    async def token(request: Request) -> Response:
        return await _token(emulator, request)

    async def list_users(request: Request) -> Response:
        return _list_users(emulator, request)

    async def create_user(request: Request) -> Response:
        return await _create_user(emulator, request)

    async def get_user(request: Request) -> Response:
        return _with_user(emulator, request, lambda user: _user_response(emulator, user, include_token=False))

    async def replace_token(request: Request) -> Response:
        def replace(user: TechnicalUser) -> Response:
            return _user_response(emulator, emulator.replace_token(user.id), include_token=True)

        return _with_user(emulator, request, replace)

    async def delete_user(request: Request) -> Response:
        def delete(user: TechnicalUser) -> Response:
            emulator.delete_technical_user(user.id)
            return Response(status_code=200)

        return _with_user(emulator, request, delete)

    return [
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(f"{MTM}/technicalusers", list_users, methods=["GET"]),
        Route(f"{MTM}/technicalusers", create_user, methods=["POST"]),
        Route(f"{MTM}/technicalusers/{{user_id}}", get_user, methods=["GET"]),
        Route(f"{MTM}/technicalusers/{{user_id}}", delete_user, methods=["DELETE"]),
        Route(f"{MTM}/technicalusers/{{user_id}}/replaceToken", replace_token, methods=["PUT"]),
    ]


# --------------------------------------------------------------------------- token endpoint


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


async def _token(emulator: Emulator, request: Request) -> Response:
    raw = await request.body()
    form: dict[str, list[str]] = {}
    content_type = request.headers.get("content-type", "")
    if raw and ("x-www-form-urlencoded" in content_type or not content_type):
        try:
            form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return _oauth_error(400, "invalid_request", "The body is not valid form data")

    def param(name: str) -> str | None:
        values = form.get(name)
        if values:
            return values[0]
        return request.query_params.get(name)

    grant_type = param("grant_type")
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    client_id, secret = _basic_credentials(request.headers.get("authorization"))
    if client_id is None:
        client_id, secret = param("client_id"), param("client_secret")
    if client_id != "apitoken" or not secret:
        return _oauth_error(401, "unauthorized", "Bad credentials: use user 'apitoken' and the API token")
    user = emulator.user_for_api_token(secret)
    if user is None:
        return _oauth_error(401, "unauthorized", "The API token is unknown, expired or replaced")
    access_token, expires_in = issue_access_token(emulator, user)
    return JSONResponse(
        {
            "scope": "",
            "expired": False,
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": expires_in,
        },
        headers={"Cache-Control": "no-store"},
    )


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if not header:
        return None, None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None, None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, None)


# --------------------------------------------------------------------------- technical users


def _admin_only(request: Request) -> Response | None:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or principal.role != "ADMIN":
        return basic_error(403, "The user is not allowed to use this endpoint.")
    return None


def _user_response(emulator: Emulator, user: TechnicalUser, include_token: bool) -> JSONResponse:
    return JSONResponse(
        {
            "status": "OK",
            "type": "TechnicalUserResponse",
            "message": None,
            "errors": [],
            "total": 1,
            "workspaceInstanceUrl": emulator.base_url,
            "workspaceName": emulator.config.workspace_name,
            "data": user.as_data(emulator, include_token=include_token),
        }
    )


def _with_user(emulator: Emulator, request: Request, action: Any) -> Response:
    denied = _admin_only(request)
    if denied is not None:
        return denied
    user = emulator.technical_users.get(request.path_params["user_id"])
    if user is None:
        return basic_error(404, "Technical user not found")
    response: Response = action(user)
    return response


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if low <= value <= high else None


def _list_users(emulator: Emulator, request: Request) -> Response:
    denied = _admin_only(request)
    if denied is not None:
        return denied
    page = _int_param(request, "page", 1, 1, 1_000_000)
    size = _int_param(request, "size", 30, 1, 100)
    if page is None or size is None:
        return basic_error(400, "page must be >= 1 and size between 1 and 100")
    users = sorted(emulator.technical_users.values(), key=lambda u: u.user_name.lower())
    query = request.query_params.get("queryUserName")
    if query:
        users = [u for u in users if query.lower() in u.user_name.lower()]
    chunk = users[(page - 1) * size : page * size]
    return JSONResponse(
        {
            "status": "OK",
            "type": "TechnicalUserListResponse",
            "message": None,
            "errors": [],
            "total": len(users),
            "data": [u.as_data(emulator) for u in chunk],
        }
    )


async def _create_user(emulator: Emulator, request: Request) -> Response:
    denied = _admin_only(request)
    if denied is not None:
        return denied
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return basic_error(400, "The request body is not valid JSON")
    if not isinstance(body, dict):
        return basic_error(400, "The request body must be a TechnicalUserInputData object")
    unknown = set(body) - _INPUT_KEYS
    if unknown:
        return basic_error(400, f"Unknown fields: {', '.join(sorted(unknown))}")
    user_name = body.get("userName")
    role = body.get("permissionRole")
    if not isinstance(user_name, str) or not user_name.strip():
        return basic_error(400, "userName is required")
    if role not in PERMISSION_ROLES:
        return basic_error(400, f"permissionRole must be one of {', '.join(PERMISSION_ROLES)}")
    if any(u.user_name == user_name for u in emulator.technical_users.values()):
        return basic_error(409, f"A technical user named '{user_name}' already exists")
    token_data = body.get("apiTokenData") or {}
    if not isinstance(token_data, dict):
        return basic_error(400, "apiTokenData must be an object")
    expiry: datetime | None = None
    raw_expiry = token_data.get("expiry")
    if raw_expiry is not None:
        try:
            expiry = datetime.fromisoformat(str(raw_expiry).replace("Z", "+00:00"))
        except ValueError:
            return basic_error(400, "apiTokenData.expiry must be an ISO-8601 date-time")
        if expiry.tzinfo is None:
            return basic_error(400, "apiTokenData.expiry must carry a time zone (e.g. Z)")
    description = token_data.get("description")
    for name, value in (("email", body.get("email")), ("apiTokenData.description", description)):
        if value is not None and not isinstance(value, str):
            return basic_error(400, f"{name} must be a string")
    user = emulator.create_technical_user(
        user_name, role, expiry=expiry, description=description, email=body.get("email")
    )
    for key, attr in (
        ("customerRoles", "customer_roles"),
        ("accessControlEntities", "access_control_entities"),
    ):
        if isinstance(body.get(key), str):
            setattr(user, attr, body[key])
    return _user_response(emulator, user, include_token=True)

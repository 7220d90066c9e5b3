"""The LeanIX client's error tree: one class per failure a caller may want to handle.

Every message says what went wrong and what to check. Response bodies kept on an error are
redacted and trimmed, so `str(error)` and `repr(error)` never carry a token.
"""

from __future__ import annotations

from typing import Any

import httpx

from shared.errors import BundleError
from shared.logging import redact

MAX_BODY_CHARS = 500
REQUEST_ID_HEADERS = ("x-request-id", "x-correlation-id", "request-id", "x-amzn-requestid")


class LeanIXError(BundleError):
    """Base of every error the LeanIX client raises."""


class APIStatusError(LeanIXError):
    """LeanIX answered with a non-success HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(redact(message))
        self.status_code = status_code
        self.request_id = request_id
        self.body = redact(body)[:MAX_BODY_CHARS]
        # Seconds the server asked us to wait (parsed `Retry-After`), used by the retry loop.
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400: LeanIX rejected the request as malformed."""


class AuthenticationError(APIStatusError):
    """401: the bearer token was rejected even after a refresh."""


class PermissionDeniedError(APIStatusError):
    """403: the technical user lacks the permission role for this endpoint."""


class NotFoundError(APIStatusError):
    """404: the addressed object does not exist."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the current state of the object."""


class UnprocessableEntityError(APIStatusError):
    """422: LeanIX understood the request but could not process it."""


class RateLimitError(APIStatusError):
    """429: the per-user rate limit was hit and retries did not get through."""


class InternalServerError(APIStatusError):
    """5xx: LeanIX failed; retries did not help."""


class APIConnectionError(LeanIXError):
    """LeanIX could not be reached (DNS, refused connection, TLS, dropped connection)."""


class APITimeoutError(APIConnectionError):
    """LeanIX did not answer in time."""


class TokenExchangeError(LeanIXError):
    """The API token could not be exchanged for an access token (it is invalid, expired or rotated)."""

    def __init__(self, host: str, *, status_code: int | None = None, where: str = "") -> None:
        where = where or "LEANIX_API_TOKEN or the secret store entry named by LEANIX_TOKEN_SECRET_NAME"
        super().__init__(
            f"the LeanIX API token was rejected by {host}: it is invalid, expired or was replaced (rotated); "
            f"set a valid token in {where}"
            + (f" (token endpoint answered HTTP {status_code})" if status_code else "")
        )
        self.host = host
        self.status_code = status_code


class GraphQLError(LeanIXError):
    """A GraphQL request answered HTTP 200 with an `errors` array."""

    def __init__(self, errors: list[dict[str, Any]], data: Any = None) -> None:
        messages = "; ".join(str(error.get("message", error)) for error in errors[:5]) or "unknown error"
        super().__init__(redact(f"LeanIX GraphQL request failed: {messages}"))
        self.errors = errors
        self.data = data

    @property
    def error_types(self) -> list[str]:
        """The `errorType` of every error (from `extensions.errorType`, else a top-level `errorType`)."""
        return [t for t in (error_type(e) for e in self.errors) if t]


class RevisionClash(GraphQLError):
    """The fact sheet changed since it was read (`REVISION_CLASH`): re-read its `rev` and retry."""


class RunDeadlineExceeded(LeanIXError):
    """An Integration API run did not reach a terminal state before the deadline."""

    def __init__(self, run_id: str, last_status: str | None, deadline_seconds: float) -> None:
        super().__init__(
            f"synchronization run {run_id} did not finish within {deadline_seconds:g} s "
            f"(last status: {last_status or 'unknown'}); check the run in the LeanIX Integration API "
            "admin page, stop it if it hangs, or raise the deadline"
        )
        self.run_id = run_id
        self.last_status = last_status
        self.deadline_seconds = deadline_seconds


def error_type(error: dict[str, Any]) -> str | None:
    """The `errorType` of one GraphQL error entry, tolerant of both placements seen in the wild."""
    extensions = error.get("extensions")
    if isinstance(extensions, dict) and isinstance(extensions.get("errorType"), str):
        return str(extensions["errorType"])
    value = error.get("errorType")
    return value if isinstance(value, str) else None


_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_HINTS: dict[type[APIStatusError], str] = {
    BadRequestError: "check the request fields named in the body",
    AuthenticationError: "the access token was refused even after a refresh; check that the technical user "
    "is active and its token valid",
    PermissionDeniedError: "the technical user lacks the permission role for this endpoint (ADMIN is "
    "usually required)",
    NotFoundError: "check the id or path",
    ConflictError: "the object changed or already exists; re-read it and retry",
    UnprocessableEntityError: "check the configuration or payload named in the body",
    RateLimitError: "the per-user rate limit was hit; lower LEANIX_REQUESTS_PER_MINUTE or spread the load",
    InternalServerError: "LeanIX failed; retry later",
}


def error_class_for_status(status_code: int) -> type[APIStatusError]:
    """The error class for an HTTP status (the one place the status-to-class map lives)."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_ERRORS.get(status_code, APIStatusError)


def request_id_of(response: httpx.Response) -> str | None:
    """The request id LeanIX (or a proxy) put on the response, if any."""
    for name in REQUEST_ID_HEADERS:
        value = response.headers.get(name)
        if value:
            return str(value)
    return None


def status_error_from_response(
    response: httpx.Response, *, retry_after: float | None = None
) -> APIStatusError:
    """Build the typed error for a non-success response (body redacted and trimmed)."""
    cls = error_class_for_status(response.status_code)
    try:
        body = response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        body = ""
    request = response.request
    hint = _HINTS.get(cls, "see the response body")
    summary = " ".join(redact(body).split())[:200]
    message = (
        f"LeanIX answered HTTP {response.status_code} to {request.method} {request.url.path}: {hint}"
        + (f" (body: {summary})" if summary else "")
    )
    return cls(
        message,
        status_code=response.status_code,
        request_id=request_id_of(response),
        body=body,
        retry_after=retry_after,
    )

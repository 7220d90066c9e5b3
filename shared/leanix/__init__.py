"""The thin, typed async LeanIX client shared by every function.

async with LeanIXClient.from_settings(get_settings()) as client:
    async for app in client.graphql.iter_fact_sheets(fact_sheet_type="Application"):
        ...
"""

from shared.leanix.auth import (
    PROCESS_BEARERS,
    AccessToken,
    ApiTokenSource,
    BearerCache,
    MTMAuth,
    StaticTokenSource,
    TokenClaims,
    decode_jwt_claims,
)
from shared.leanix.client import LeanIXClient
from shared.leanix.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GraphQLError,
    InternalServerError,
    LeanIXError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RevisionClash,
    RunDeadlineExceeded,
    TokenExchangeError,
    UnprocessableEntityError,
    error_class_for_status,
)
from shared.leanix.graphql import GraphQLClient, Patch, Tag, TagGroup, tag_ids_patch
from shared.leanix.integration import ConfigurationKey, IntegrationClient, RunStatus, SyncRun
from shared.leanix.metrics import MetricsClient, MetricsSchema, Point, PointField, PointTag, SchemaAttribute
from shared.leanix.mtm import ApiTokenData, MTMClient, TechnicalUser
from shared.leanix.ratelimit import RateLimiter, shared_rate_limiter
from shared.leanix.retry import NO_RETRY, RetryPolicy, is_retryable_error, parse_retry_after, retry_async
from shared.leanix.webhooks import Delivery, PullEvent, PullResult, Subscription, WebhooksClient

__all__ = [
    "NO_RETRY",
    "PROCESS_BEARERS",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AccessToken",
    "ApiTokenData",
    "ApiTokenSource",
    "AuthenticationError",
    "BadRequestError",
    "BearerCache",
    "ConfigurationKey",
    "ConflictError",
    "Delivery",
    "GraphQLClient",
    "GraphQLError",
    "IntegrationClient",
    "InternalServerError",
    "LeanIXClient",
    "LeanIXError",
    "MTMAuth",
    "MTMClient",
    "MetricsClient",
    "MetricsSchema",
    "NotFoundError",
    "Patch",
    "PermissionDeniedError",
    "Point",
    "PointField",
    "PointTag",
    "PullEvent",
    "PullResult",
    "RateLimitError",
    "RateLimiter",
    "RetryPolicy",
    "RevisionClash",
    "RunDeadlineExceeded",
    "RunStatus",
    "SchemaAttribute",
    "StaticTokenSource",
    "Subscription",
    "SyncRun",
    "Tag",
    "TagGroup",
    "TechnicalUser",
    "TokenClaims",
    "TokenExchangeError",
    "UnprocessableEntityError",
    "WebhooksClient",
    "decode_jwt_claims",
    "error_class_for_status",
    "is_retryable_error",
    "parse_retry_after",
    "retry_async",
    "shared_rate_limiter",
    "tag_ids_patch",
]

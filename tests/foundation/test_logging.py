from __future__ import annotations

import json
import logging

import pytest

from shared.logging import JsonFormatter, RedactingFilter, invocation, redact, register_secret


def _render(record: logging.LogRecord) -> str:
    RedactingFilter().filter(record)
    return JsonFormatter().format(record)


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)


def test_registered_secret_is_redacted_even_when_passed_as_an_argument() -> None:
    register_secret("my-webhook-secret-xyz")
    line = _render(_record("got header %s", "my-webhook-secret-xyz"))
    assert "my-webhook-secret-xyz" not in line
    assert "[REDACTED]" in line


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        "Basic YXBpdG9rZW46TFhUX3NlY3JldA==",
        "token LXT_abcdefghijklmnop",
        "api_token=abcd1234efgh",
        '{"access_token": "opaque-value-123"}',
    ],
)
def test_secret_shaped_values_are_redacted_without_registration(text: str) -> None:
    out = redact(text)
    assert "[REDACTED]" in out
    for secret in ("eyJzdWIiOiJ4In0", "YXBpdG9rZW46", "abcdefghijklmnop", "abcd1234efgh", "opaque-value-123"):
        assert secret not in out


def test_exception_text_is_redacted() -> None:
    register_secret("exc-secret-value-42")
    try:
        raise ValueError("failed with exc-secret-value-42")
    except ValueError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    line = _render(record)
    assert "exc-secret-value-42" not in line
    assert "ValueError" in line


def test_lines_are_json_with_the_invocation_correlation_id() -> None:
    with invocation("corr-123"):
        record = _record("hello %s", "world")
        from shared.logging import _CorrelationFilter

        _CorrelationFilter().filter(record)
    entry = json.loads(_render(record))
    assert entry["message"] == "hello world"
    assert entry["correlation_id"] == "corr-123"
    assert entry["level"] == "INFO"

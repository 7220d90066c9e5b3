"""The webhook route: authentication first, then size, content type and shape; 202 once queued."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.webhook_handler.models import MAX_BODY_BYTES
from functions.webhook_handler.queueing import CLAIM_CHECK_PREFIX, claim_check_key
from shared.errors import PlatformError
from tests.webhook.conftest import SECRET, WebhookEnv, applications, auth_headers, body_of
from tests.webhook.events import load_event, load_event_bytes


def _json(response: object) -> dict[str, object]:
    data = json.loads(response.get_body())  # type: ignore[attr-defined]
    assert isinstance(data, dict)
    return data


async def test_valid_delivery_is_queued_and_answered_202(webhook_env: WebhookEnv) -> None:
    response = await webhook_env.post(load_event_bytes("webhook_default_fact_sheet_updated"))
    assert response.status_code == 202
    assert _json(response)["eventKey"] == "default:42844"
    messages = await webhook_env.platform.queue.receive("leanix-webhook-events", 10, 30)
    assert [json.loads(m.body) for m in messages] == [load_event("webhook_default_fact_sheet_updated")]


async def test_wrapped_event_is_accepted(webhook_env: WebhookEnv) -> None:
    response = await webhook_env.post(load_event_bytes("webhook_wrapped_fact_sheet_updated"))
    assert response.status_code == 202


@pytest.mark.parametrize("headers", [{"Content-Type": "application/json"}, auth_headers("wrong-secret")])
async def test_missing_or_wrong_authorization_is_401_before_parsing(
    webhook_env: WebhookEnv, headers: dict[str, str]
) -> None:
    # The body is garbage and oversize-free: a 400 would prove it was parsed.
    response = await webhook_env.post(b"{not json", headers=headers)
    assert response.status_code == 401
    assert "Authorization" in str(_json(response)["error"])
    assert await webhook_env.platform.queue.receive("leanix-webhook-events", 10, 30) == []


async def test_no_configured_secret_refuses_every_delivery(webhook_env: WebhookEnv) -> None:
    webhook_env.monkeypatch.delenv("WEBHOOK_SECRET")
    webhook_env.set()
    response = await webhook_env.post(load_event_bytes("webhook_default_fact_sheet_updated"))
    assert response.status_code == 503
    assert "WEBHOOK_SECRET" in str(_json(response)["error"])


async def test_secret_from_the_secret_store_is_used_when_the_setting_is_unset(
    webhook_env: WebhookEnv,
) -> None:
    webhook_env.monkeypatch.delenv("WEBHOOK_SECRET")
    webhook_env.set()
    await webhook_env.platform.secrets.put_version(
        "leanix-webhook-secret", "0" * 32, "store-secret-value", stage="current"
    )
    ok = await webhook_env.post(
        load_event_bytes("webhook_default_fact_sheet_updated"), auth_headers("store-secret-value")
    )
    bad = await webhook_env.post(load_event_bytes("webhook_default_fact_sheet_updated"))
    assert (ok.status_code, bad.status_code) == (202, 401)


async def test_oversize_body_is_413(webhook_env: WebhookEnv) -> None:
    response = await webhook_env.post(b" " * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413


async def test_non_json_content_type_is_415(webhook_env: WebhookEnv) -> None:
    headers = {"Authorization": SECRET, "Content-Type": "text/plain"}
    response = await webhook_env.post(load_event_bytes("webhook_default_fact_sheet_updated"), headers)
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (body_of({"id": "x", "type": "FactSheetUpdatedEvent"}), "id"),
        (
            body_of({"id": 1, "type": "FactSheetUpdatedEvent", "factSheet": {"type": "Application"}}),
            "factSheet.id",
        ),
        (body_of({"something": "else"}), "unknown webhook event shape"),
    ],
)
async def test_malformed_bodies_are_400_naming_the_problem(
    webhook_env: WebhookEnv, body: bytes, names: str
) -> None:
    response = await webhook_env.post(body)
    assert response.status_code == 400
    assert names in str(_json(response)["error"])


async def test_large_delivery_goes_through_a_claim_check_and_is_processed(webhook_env: WebhookEnv) -> None:
    webhook_env.set(WEBHOOK_INLINE_MAX_BYTES="1024")
    app = applications(webhook_env.emulator)[0]
    event = load_event("webhook_default_fact_sheet_updated")
    event["factSheet"] |= {"id": app.id, "type": "Application", "description": "x" * 5000}
    event["userId"] = "someone-else"
    response = await webhook_env.post(body_of(event))
    assert response.status_code == 202
    messages = await webhook_env.platform.queue.receive("leanix-webhook-events", 10, 30)
    assert len(messages) == 1
    await webhook_env.platform.queue.release("leanix-webhook-events", messages[0])
    key = claim_check_key(messages[0].body)
    assert key is not None
    assert key.startswith(CLAIM_CHECK_PREFIX)
    assert json.loads(await webhook_env.platform.blobs.get(key)) == event
    assert await webhook_env.drain() == {"processed": 1, "failed": 0}


async def test_the_secret_never_reaches_the_logs(
    webhook_env: WebhookEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await webhook_env.post(load_event_bytes("webhook_default_fact_sheet_updated"))
    await webhook_env.post(b"{}", auth_headers(SECRET + "x"))
    await webhook_env.drain()
    assert caplog.records  # something was logged
    assert SECRET not in caplog.text


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
_event_like = st.fixed_dictionaries(
    {},
    optional={
        "id": _json_values,
        "type": _json_values,
        "userId": _json_values,
        "transactionSequenceNumber": _json_values,
        "factSheet": _json_values | st.fixed_dictionaries({"id": _json_values, "type": _json_values}),
        "payload": _json_values,
        "tags": _json_values,
        "sourceName": _json_values,
        "sequenceInfo": _json_values,
        "createdAt": _json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(st.binary(max_size=200), _event_like.map(lambda d: json.dumps(d).encode())),
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]),
)
async def test_fuzzed_deliveries_never_get_a_5xx(
    webhook_env: WebhookEnv, body: bytes, content_type: str
) -> None:
    response = await webhook_env.post(body, {"Authorization": SECRET, "Content-Type": content_type})
    assert response.status_code in {202, 400, 413, 415}
    assert "error" in _json(response) or response.status_code == 202


async def test_unreachable_secret_store_is_503_not_a_crash(
    webhook_env: WebhookEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    webhook_env.monkeypatch.delenv("WEBHOOK_SECRET")
    webhook_env.set()

    async def unavailable(name: str) -> str:
        raise PlatformError("reading secret failed (503): check the identity's role")

    monkeypatch.setattr(webhook_env.platform.secrets, "get_current", unavailable)
    response = await webhook_env.post(load_event_bytes("webhook_default_fact_sheet_updated"))
    assert response.status_code == 503
    assert "secret" in str(_json(response)["error"])

"""The templates wire exactly what the code reads: routes, timers, queues, handlers, settings, secrets,
and each function's permissions are the least it needs."""

from __future__ import annotations

import pytest

from tests.infra import wiring
from tests.infra.wiring import CodeWiring


@pytest.fixture(scope="module")
def code() -> CodeWiring:
    return wiring.code_wiring()


def test_every_setting_has_a_decision_for_each_cloud() -> None:
    assert wiring.check_settings_map(wiring.load_settings_map()) == []


def test_azure_template_wires_every_route_timer_queue_and_setting(code: CodeWiring) -> None:
    assert wiring.check_azure(wiring.load_bicep(), code, wiring.load_settings_map()) == []


def test_sam_template_wires_every_handler_route_schedule_queue_and_setting(code: CodeWiring) -> None:
    assert wiring.check_aws(wiring.load_sam(), code, wiring.load_settings_map()) == []


def test_each_lambda_has_only_the_permissions_it_needs() -> None:
    assert wiring.check_aws_permissions(wiring.load_sam()) == []


def test_azure_identity_has_only_the_expected_roles() -> None:
    assert wiring.check_azure_permissions(wiring.load_bicep()) == []


def test_the_code_has_lambda_handlers_and_azure_timers_to_wire(code: CodeWiring) -> None:
    # Guards the derivation itself: an empty discovery would make every check above pass vacuously.
    assert code.handlers
    assert code.timers
    assert code.http


def test_only_the_health_route_is_anonymous(code: CodeWiring) -> None:
    anonymous = {route for folder, route, _m, auth in code.http if auth == "ANONYMOUS"}
    assert anonymous <= {"health"}
    assert all(folder in wiring.AZURE_ONLY_FOLDERS for folder, _r, _m, a in code.http if a == "ANONYMOUS")


def test_http_routes_on_aws_are_gated_by_their_secret() -> None:
    # An HttpApi has no function keys: the webhook reads its secret from the store, metrics from the env.
    sam = wiring.load_sam()
    functions = {p["Handler"]: p for p in wiring.sam_functions(sam).values()}
    assert "AWSSecretsManagerGetSecretValuePolicy:WebhookSecret" in {
        sig
        for pol in functions["functions.webhook_handler.aws.receive"]["Policies"]
        for sig in wiring.policy_signature(pol)
    }
    assert "METRICS_SECRET" in wiring.aws_env(sam, functions["functions.metrics_ingester.aws.push"])
    for props in wiring.sam_functions(sam).values():
        for event in (props.get("Events") or {}).values():
            assert "Auth" not in event.get("Properties", {}) or event["Properties"]["Auth"] != "NONE"


def test_azure_app_is_https_only_with_tls12_and_no_ftp() -> None:
    site = wiring.azure_resources(wiring.load_bicep(), "Microsoft.Web/sites")[0]
    assert site["properties"]["httpsOnly"] is True
    assert site["properties"]["siteConfig"]["minTlsVersion"] == "1.2"
    assert site["properties"]["siteConfig"]["ftpsState"] == "Disabled"
    assert site["properties"]["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}


def test_azure_storage_is_reached_by_identity_only() -> None:
    bicep = wiring.load_bicep()
    storage = wiring.azure_resources(bicep, "Microsoft.Storage/storageAccounts")[0]
    assert storage["properties"]["allowSharedKeyAccess"] is False
    assert storage["properties"]["minimumTlsVersion"] == "TLS1_2"
    settings = wiring.azure_app_settings(bicep)
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert not any("AccountKey" in s for s in wiring._strings(settings))

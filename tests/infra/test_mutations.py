"""Each consistency check fails when a route, schedule, setting, secret or permission is removed from a
copy of a template: proof that the checks in test_consistency.py can fail."""

from __future__ import annotations

import json

import pytest

from tests.infra import wiring
from tests.infra.wiring import BICEP_PATH, SAM_PATH, CodeWiring


@pytest.fixture(scope="module")
def code() -> CodeWiring:
    return wiring.code_wiring()


def _sam_problems(text: str, code: CodeWiring) -> list[str]:
    return wiring.check_aws(wiring.load_sam(text), code, wiring.load_settings_map())


def _bicep_problems(text: str, code: CodeWiring) -> list[str]:
    return wiring.check_azure(wiring.load_bicep(text), code, wiring.load_settings_map())


def _without(text: str, fragment: str) -> str:
    assert fragment in text, f"mutation target {fragment!r} is gone: update the test"
    return text.replace(fragment, "", 1)


def test_removing_the_webhook_route_from_sam_is_caught(code: CodeWiring) -> None:
    text = SAM_PATH.read_text().replace("Path: /api/leanix/webhook", "Path: /api/elsewhere", 1)
    problems = _sam_problems(text, code)
    assert any("/api/leanix/webhook" in p for p in problems), problems


def test_removing_a_schedule_event_from_sam_is_caught(code: CodeWiring) -> None:
    text = SAM_PATH.read_text().replace("Schedule: !Ref LdifSyncSchedule", "Schedule: rate(1 day)", 1)
    problems = _sam_problems(text, code)
    assert any("LDIF_SYNC_SCHEDULE" in p for p in problems), problems


def test_removing_the_rotation_schedule_is_caught(code: CodeWiring) -> None:
    text = SAM_PATH.read_text().replace(
        "ScheduleExpression: !Ref TokenRotationSchedule", "ScheduleExpression: x"
    )
    problems = _sam_problems(text, code)
    assert any("TOKEN_ROTATION_SCHEDULE" in p for p in problems), problems


def test_removing_partial_batch_responses_is_caught(code: CodeWiring) -> None:
    text = _without(
        SAM_PATH.read_text(), "            FunctionResponseTypes:\n              - ReportBatchItemFailures\n"
    )
    assert any("ReportBatchItemFailures" in p for p in _sam_problems(text, code))


def test_removing_the_dead_letter_queue_is_caught(code: CodeWiring) -> None:
    text = SAM_PATH.read_text().replace("QueueName: leanix-webhook-events-dlq", "QueueName: other-dlq")
    assert any("dead-letter" in p for p in _sam_problems(text, code))


def test_removing_a_setting_from_the_lambda_environment_is_caught(code: CodeWiring) -> None:
    text = _without(SAM_PATH.read_text(), '        LDIF_CHUNK_ITEMS: "50000"\n')
    assert any("LDIF_CHUNK_ITEMS" in p for p in _sam_problems(text, code))


def test_an_unused_lambda_variable_is_caught(code: CodeWiring) -> None:
    text = SAM_PATH.read_text().replace(
        "        PLATFORM: aws\n", "        PLATFORM: aws\n        UNUSED_THING: x\n"
    )
    assert any("UNUSED_THING" in p for p in _sam_problems(text, code))


def test_a_secret_in_the_shared_lambda_environment_is_caught(code: CodeWiring) -> None:
    text = SAM_PATH.read_text().replace(
        "        PLATFORM: aws\n", "        PLATFORM: aws\n        METRICS_SECRET: plain\n"
    )
    assert any("METRICS_SECRET" in p for p in _sam_problems(text, code))


def test_a_handler_without_a_function_is_caught(code: CodeWiring) -> None:
    text = SAM_PATH.read_text().replace(
        "Handler: functions.webhook_handler.aws.reconcile", "Handler: x.y.z", 1
    )
    problems = _sam_problems(text, code)
    assert any("functions.webhook_handler.aws.reconcile" in p for p in problems), problems


def test_removing_an_app_setting_from_bicep_is_caught(code: CodeWiring) -> None:
    text = _without(BICEP_PATH.read_text(), "  LDIF_SYNC_SCHEDULE: ldifSyncSchedule\n")
    problems = _bicep_problems(text, code)
    assert any("LDIF_SYNC_SCHEDULE" in p for p in problems), problems


def test_a_plain_secret_app_setting_is_caught(code: CodeWiring) -> None:
    text = BICEP_PATH.read_text()
    start = text.index("  WEBHOOK_SECRET: '@Microsoft.KeyVault")
    end = text.index("\n", start)
    text = text[:start] + "  WEBHOOK_SECRET: webhookSecret" + text[end:]
    assert any("WEBHOOK_SECRET must be a Key Vault reference" in p for p in _bicep_problems(text, code))


def test_removing_a_poison_queue_from_bicep_is_caught(code: CodeWiring) -> None:
    text = _without(BICEP_PATH.read_text(), "  '${webhookQueueName}-poison'\n")
    assert any("leanix-webhook-events-poison" in p for p in _bicep_problems(text, code))


def test_an_unused_app_setting_is_caught(code: CodeWiring) -> None:
    text = BICEP_PATH.read_text().replace(
        "  PLATFORM: 'azure'\n", "  PLATFORM: 'azure'\n  UNUSED_THING: 'x'\n"
    )
    assert any("UNUSED_THING" in p for p in _bicep_problems(text, code))


def test_a_new_setting_without_a_decision_is_caught() -> None:
    mapping = wiring.load_settings_map()
    del mapping["LDIF_CHUNK_ITEMS"]
    problems = wiring.check_settings_map(mapping)
    assert any("LDIF_CHUNK_ITEMS has no entry in infra/settings_map.json" in p for p in problems)


def test_a_secret_wired_as_plain_setting_is_caught() -> None:
    mapping = json.loads(json.dumps(wiring.load_settings_map()))
    mapping["WEBHOOK_SECRET"] = {"azure": "app_setting", "aws": "env"}
    problems = wiring.check_settings_map(mapping)
    assert any("WEBHOOK_SECRET is a secret" in p for p in problems)


def test_a_secret_write_outside_rotation_is_caught() -> None:
    text = SAM_PATH.read_text().replace(
        "        - AWSSecretsManagerGetSecretValuePolicy:\n            SecretArn: !Ref WebhookSecret\n",
        "        - Statement:\n            - Effect: Allow\n"
        "              Action: secretsmanager:PutSecretValue\n"
        "              Resource: !Ref WebhookSecret\n",
        1,
    )
    problems = wiring.check_aws_permissions(wiring.load_sam(text))
    assert any("only the token rotation may" in p for p in problems), problems


def test_removing_a_permission_is_caught() -> None:
    text = _without(SAM_PATH.read_text(), "        - CostExplorerReadOnlyPolicy: {}\n")
    assert any("CostExplorerReadOnlyPolicy" in p for p in wiring.check_aws_permissions(wiring.load_sam(text)))


def test_an_extra_permission_is_caught() -> None:
    text = SAM_PATH.read_text().replace(
        "        - S3ReadPolicy:\n            BucketName: !Ref DataBucket\n",
        "        - S3CrudPolicy:\n            BucketName: !Ref DataBucket\n",
        1,
    )
    assert any("does not need" in p for p in wiring.check_aws_permissions(wiring.load_sam(text)))


def test_secrets_officer_on_the_whole_vault_is_caught() -> None:
    text = BICEP_PATH.read_text().replace("scope: existingTokenSecret", "scope: vault", 1)
    problems = wiring.check_azure_permissions(wiring.load_bicep(text))
    assert any("keyVaultSecretsOfficerRoleId" in p for p in problems), problems


def test_removing_an_azure_role_is_caught() -> None:
    text = BICEP_PATH.read_text()
    start = text.index("resource storageTableDataContributor ")
    end = text.index("resource monitoringMetricsPublisher ")
    problems = wiring.check_azure_permissions(wiring.load_bicep(text[:start] + text[end:]))
    assert any("storageTableDataContributorRoleId" in p for p in problems), problems

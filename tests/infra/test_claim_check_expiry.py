"""Claim-checked webhook bodies (`CLAIM_CHECK_PREFIX`) expire in both blob stores, on the prefix the
code writes; and the check fails when a template loses its rule or drifts from the code."""

from __future__ import annotations

import pytest

from functions.webhook_handler.queueing import CLAIM_CHECK_PREFIX
from tests.infra import wiring
from tests.infra.wiring import BICEP_PATH, SAM_PATH


def _problems(sam_text: str | None = None, bicep_text: str | None = None) -> list[str]:
    return wiring.check_claim_check_expiry(wiring.load_sam(sam_text), wiring.load_bicep(bicep_text))


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"mutation target {old!r} is gone or ambiguous: update the test"
    return text.replace(old, new)


def test_both_templates_expire_the_claim_check_prefix_after_the_same_days() -> None:
    assert _problems() == []
    aws_days, _ = wiring.aws_claim_check_expiry(wiring.load_sam())
    azure_days, _ = wiring.azure_claim_check_expiry(wiring.load_bicep())
    assert aws_days == azure_days == 30


def test_the_rules_name_the_prefix_the_code_writes() -> None:
    assert f"Prefix: {CLAIM_CHECK_PREFIX}\n" in SAM_PATH.read_text()
    assert f"var claimCheckPrefix = '{CLAIM_CHECK_PREFIX}'\n" in BICEP_PATH.read_text()


def test_removing_the_s3_lifecycle_rule_is_caught() -> None:
    text = SAM_PATH.read_text()
    start = text.index("      LifecycleConfiguration:\n")
    end = text.index("\n\n", start)
    problems = _problems(sam_text=text[:start] + text[end + 1 :])
    assert any("no enabled lifecycle rule" in p for p in problems), problems


def test_removing_the_azure_management_policy_is_caught() -> None:
    text = BICEP_PATH.read_text()
    start = text.index("resource blobLifecycle ")
    end = text.index("resource queueServices ")
    problems = _problems(bicep_text=text[:start] + text[end:])
    assert any("managementPolicies" in p for p in problems), problems


@pytest.mark.parametrize(
    ("where", "old", "new", "expected"),
    [
        ("sam", f"Prefix: {CLAIM_CHECK_PREFIX}\n", "Prefix: webhook/other/\n", "no enabled lifecycle rule"),
        ("bicep", f"'{CLAIM_CHECK_PREFIX}'", "'webhook/other/'", "managementPolicies"),
        ("sam", "ExpirationInDays: 30\n", "ExpirationInDays: 14\n", "does not outlive"),
        ("bicep", "claimCheckRetentionDays = 30\n", "claimCheckRetentionDays = 60\n", "differs"),
        (
            "sam",
            "            NoncurrentVersionExpiration:\n              NoncurrentDays: 1\n",
            "",
            "versioned",
        ),
    ],
    ids=["aws-prefix", "azure-prefix", "aws-too-short", "azure-differs", "aws-noncurrent"],
)
def test_a_drifted_rule_is_caught(where: str, old: str, new: str, expected: str) -> None:
    if where == "sam":
        problems = _problems(sam_text=_replace(SAM_PATH.read_text(), old, new))
    else:
        problems = _problems(bicep_text=_replace(BICEP_PATH.read_text(), old, new))
    assert any(expected in p for p in problems), problems

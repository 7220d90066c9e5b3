"""Offline gates on the templates: cfn-lint and the SAM translator (from .venv-sam), the Bicep parse
(pycep), and checkov (from .venv-checkov). The two tool venvs are created by `make test`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.infra.wiring import ROOT, SAM_PATH, load_bicep

SAM_VENV = ROOT / ".venv-sam" / "bin"
CHECKOV_VENV = ROOT / ".venv-checkov" / "bin"


def _tool(venv: Path, name: str) -> str:
    path = venv / name
    if not path.exists():
        pytest.fail(
            f"{path} does not exist: run `make test` (it creates {venv.parent.name} for the infra gates)"
        )
    return str(path)


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **env}, check=False
    )


def test_sam_template_passes_cfn_lint_with_the_sam_transform() -> None:
    result = _run([_tool(SAM_VENV, "cfn-lint"), str(SAM_PATH)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_translator_transforms_the_template_into_cloudformation() -> None:
    result = _run(
        [_tool(SAM_VENV, "python"), "infra/tools/sam_transform.py", str(SAM_PATH)],
        AWS_DEFAULT_REGION="eu-central-1",
    )
    assert result.returncode == 0, result.stderr
    resources = json.loads(result.stdout)["Resources"]
    kinds = {r["Type"] for r in resources.values()}
    assert {"AWS::Lambda::Function", "AWS::IAM::Role", "AWS::ApiGatewayV2::Api"} <= kinds
    assert "AWS::Serverless::Function" not in kinds
    mapping = resources["WebhookWorkerFunctionEvents"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


@pytest.mark.parametrize("path", sorted((ROOT / "infra").rglob("*.bicep")), ids=lambda p: p.name)
def test_every_bicep_file_parses(path: Path) -> None:
    parsed = load_bicep(path.read_text())
    assert parsed["resources"], f"{path} declares no resources"


def test_bicep_parser_rejects_a_syntax_error() -> None:
    broken = (
        (ROOT / "infra" / "azure" / "main.bicep")
        .read_text()
        .replace("resource vault ", "resource vault = ", 1)
    )
    # pycep raises lark errors of several classes
    with pytest.raises(Exception):  # noqa: B017, PT011
        load_bicep(broken)


def test_checkov_passes_on_both_templates_with_only_the_documented_skips() -> None:
    # Parse first: checkov exits 0 on a Bicep file it cannot parse.
    load_bicep()
    result = _run(
        [
            _tool(CHECKOV_VENV, "checkov"),
            "--config-file",
            "infra/checkov.yaml",
            "-f",
            "infra/aws/template.yaml",
            "-f",
            "infra/azure/main.bicep",
            "-o",
            "json",
        ],
        BC_SKIP_MAPPING="TRUE",
    )
    reports = json.loads(result.stdout)
    assert result.returncode == 0, [r["results"]["failed_checks"] for r in reports]
    assert {r["check_type"] for r in reports} == {"cloudformation", "bicep"}
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0
        assert report["summary"]["resource_count"] > 10


def test_every_skipped_checkov_check_is_justified_in_the_readme() -> None:
    import yaml

    skipped = yaml.safe_load((ROOT / "infra" / "checkov.yaml").read_text())["skip-check"]
    readme = (ROOT / "infra" / "README.md").read_text()
    missing = [check for check in skipped if f"`{check}`" not in readme]
    assert not missing, f"infra/README.md must justify these skipped checks: {missing}"

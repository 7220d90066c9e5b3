"""Transform infra/aws/template.yaml with the SAM translator, offline; print the CloudFormation JSON.

Runs in .venv-sam (aws-sam-translator pins an older pydantic than the app). Local CodeUri paths are
replaced by an S3 URI first, as `sam package` does, and managed policies are not looked up (no network).
Usage: python infra/tools/sam_transform.py TEMPLATE
"""

import json
import os
import sys
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

PLACEHOLDER_CODE_URI = "s3://offline-placeholder-bucket/code.zip"


class NoManagedPolicies:
    """The translator asks for AWS managed policy ARNs only when a template names one by name."""

    def load(self) -> dict[str, str]:
        return {}


def main(path: str) -> int:
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
    template = yaml_parse(Path(path).read_text())
    template.get("Globals", {}).get("Function", {})["CodeUri"] = PLACEHOLDER_CODE_URI
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in resource.get(
            "Properties", {}
        ):
            resource["Properties"]["CodeUri"] = PLACEHOLDER_CODE_URI
    print(json.dumps(transform(template, {}, NoManagedPolicies())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

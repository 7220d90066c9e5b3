"""What the code wires and what the templates wire, and the checks that they agree.

Expectations are derived from the code at test time: HTTP routes, timers and queue triggers from
`function_app.app` (via `local.host.discover`), settings and secrets from `Settings.model_fields`,
Lambda entry points from the `(event, context)` functions of `functions/*/aws.py`. The per-setting
decisions live in `infra/settings_map.json`. Each `check_*` returns a list of problems (empty = OK), so
the mutation tests can feed it a broken copy of a template and assert that it complains.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pycep import BicepParser
from pydantic import SecretStr

from functions.webhook_handler.queueing import CLAIM_CHECK_PREFIX
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BICEP_PATH = ROOT / "infra" / "azure" / "main.bicep"
SAM_PATH = ROOT / "infra" / "aws" / "template.yaml"
SETTINGS_MAP_PATH = ROOT / "infra" / "settings_map.json"

AZURE_KINDS = {"app_setting", "key_vault", "not_applicable"}
AWS_KINDS = {"env", "secret_ref", "lambda_runtime", "not_applicable"}
AWS_PREFIXED_KINDS = ("secret_store:", "schedule:", "rotation:")

# App settings the Functions host reads (not our code): storage and telemetry through the identity.
AZURE_HOST_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
# Functions that exist only on Azure, with the reason.
AZURE_ONLY_FOLDERS = {"health": "the anonymous health route; Lambda has its own health (invocation metrics)"}
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault(SecretUri="
AZURE_POISON_SUFFIX = "-poison"
AWS_DLQ_SUFFIX = "-dlq"


# --- loading -------------------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form tags as `{"Fn::X": value}` / `{"Ref": value}`."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_sam(text: str | None = None) -> dict[str, Any]:
    """The SAM template as a dict (short-form intrinsics expanded)."""
    loaded: dict[str, Any] = yaml.load(text if text is not None else SAM_PATH.read_text(), _CfnLoader)  # noqa: S506
    return loaded


def load_bicep(text: str | None = None) -> dict[str, Any]:
    """main.bicep parsed by pycep (raises on a syntax error)."""
    source = text if text is not None else BICEP_PATH.read_text()
    parsed: dict[str, Any] = BicepParser().parse(text=source)
    return parsed


def load_settings_map() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(SETTINGS_MAP_PATH.read_text())["settings"]
    return data


# --- what the code wires -------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeWiring:
    http: list[tuple[str, str, tuple[str, ...], str]]  # (folder, route, methods, auth level)
    timers: list[tuple[str, str]]  # (folder, schedule setting name)
    queues: list[tuple[str, str]]  # (folder, queue name)
    handlers: list[str]  # "functions.<folder>.aws.<name>"


def _folder(module: str) -> str:
    return module.split(".")[1]


def code_wiring() -> CodeWiring:
    """Routes, timers and queues of the Azure app, and every Lambda entry point."""
    from function_app import app
    from local.host import discover

    wiring = discover(app)
    http = [(_folder(h.fn.__module__), h.route, h.methods, h.auth_level) for h in wiring.http]
    timers = [(_folder(t.fn.__module__), t.schedule_expression.strip("%")) for t in wiring.timers]
    queues = [(_folder(q.fn.__module__), _resolve_setting(q.queue_name)) for q in wiring.queues]
    return CodeWiring(http, timers, queues, lambda_handlers())


def _resolve_setting(expression: str) -> str:
    if expression.startswith("%") and expression.endswith("%"):
        return str(setting_defaults()[expression.strip("%")])
    return expression


def lambda_handlers() -> list[str]:
    """`functions.<folder>.aws.<fn>` for each public module-level `fn(event, context)` in aws.py files."""
    found = []
    for path in sorted((ROOT / "functions").glob("*/aws.py")):
        module_name = f"functions.{path.parent.name}.aws"
        module = importlib.import_module(module_name)
        for name, fn in vars(module).items():
            if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != module_name:
                continue
            if list(inspect.signature(fn).parameters) == ["event", "context"]:
                found.append(f"{module_name}.{name}")
    return found


def setting_aliases() -> dict[str, bool]:
    """Every env alias of Settings -> whether it is a secret (`SecretStr`)."""
    result = {}
    for info in Settings.model_fields.values():
        assert info.alias, "every setting has an env alias"
        result[info.alias] = "SecretStr" in str(info.annotation) or info.annotation is SecretStr
    return result


def setting_defaults() -> dict[str, Any]:
    return {
        info.alias: info.get_default(call_default_factory=True) for info in Settings.model_fields.values()
    }


# --- the settings map ---------------------------------------------------------------------------


def check_settings_map(mapping: dict[str, dict[str, Any]]) -> list[str]:
    """Every setting has a decision per cloud, secrets are never plain, and no entry is stale."""
    problems = []
    aliases = setting_aliases()
    for alias, secret in aliases.items():
        entry = mapping.get(alias)
        if entry is None:
            problems.append(
                f"setting {alias} has no entry in infra/settings_map.json: decide how Azure and AWS wire it "
                "(see infra/README.md, 'Adding a setting'), then wire it in both templates"
            )
            continue
        azure, aws = entry.get("azure", ""), entry.get("aws", "")
        if azure not in AZURE_KINDS:
            problems.append(f"{alias}: unknown azure kind {azure!r}")
        if aws not in AWS_KINDS and not aws.startswith(AWS_PREFIXED_KINDS):
            problems.append(f"{alias}: unknown aws kind {aws!r}")
        if "not_applicable" in (azure, aws) and not entry.get("why"):
            problems.append(f"{alias}: 'not_applicable' needs a 'why'")
        if secret and azure == "app_setting":
            problems.append(f"{alias} is a secret: on Azure it must be a Key Vault reference (key_vault)")
        if secret and aws == "env":
            problems.append(f"{alias} is a secret: on AWS use secret_ref or secret_store, never env")
        if not secret and (azure == "key_vault" or aws == "secret_ref"):
            problems.append(f"{alias} is not a SecretStr but is wired as a secret")
    for alias in mapping:
        if alias not in aliases:
            problems.append(
                f"infra/settings_map.json names {alias}, which shared/settings.py no longer reads"
            )
    return problems


# --- Azure -------------------------------------------------------------------------------------


def _bicep_var(bicep: dict[str, Any], name: str) -> Any:
    return bicep["variables"][name]["value"]


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a pycep expression tree."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def azure_app_settings(bicep: dict[str, Any]) -> dict[str, Any]:
    """The union of the objects the `appsettings` config resource receives."""
    for resource in bicep["resources"].values():
        config = resource["config"]
        if resource["type"] == "Microsoft.Web/sites/config" and config.get("name") == "appsettings":
            args = config["properties"]["function"]["parameters"].values()
            merged: dict[str, Any] = {}
            for arg in args:
                merged.update(_bicep_var(bicep, arg) if isinstance(arg, str) else arg)
            return merged
    raise AssertionError("main.bicep has no Microsoft.Web/sites/config 'appsettings' resource")


def _bicep_resolve(bicep: dict[str, Any], value: Any) -> list[str]:
    """A name expression as literal strings: a quoted literal, a variable, or an array variable."""
    if isinstance(value, str) and value in bicep["variables"]:
        resolved = _bicep_var(bicep, value)
        if isinstance(resolved, list):
            return [item for v in resolved for item in _bicep_resolve(bicep, v)]
        return _bicep_resolve(bicep, resolved)
    if isinstance(value, str):
        # `'${webhookQueueName}-poison'`: substitute variables used in an interpolation
        for name, var in bicep["variables"].items():
            if isinstance(var["value"], str):
                value = value.replace("${" + name + "}", var["value"])
        return [value]
    return []


def azure_resources(bicep: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    found = []
    for resource in bicep["resources"].values():
        if resource["type"] == resource_type:
            config = resource["config"]
            found.append(config["config"] if "loop_type" in config or "condition" in config else config)
    return found


def azure_queue_names(bicep: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for resource in bicep["resources"].values():
        if resource["type"] != "Microsoft.Storage/storageAccounts/queueServices/queues":
            continue
        config = resource["config"]
        if "loop_type" in config:
            names.update(_bicep_resolve(bicep, config["loop_type"]["detail"]["array_name"]))
        else:
            names.update(_bicep_resolve(bicep, config["name"]))
    return names


def check_azure(bicep: dict[str, Any], wiring: CodeWiring, mapping: dict[str, dict[str, Any]]) -> list[str]:
    """App settings, Key Vault references, schedules, queues and the storage objects the code names."""
    problems = []
    settings = azure_app_settings(bicep)
    aliases = setting_aliases()
    for alias, entry in mapping.items():
        kind = entry.get("azure")
        if kind in {"app_setting", "key_vault"} and alias not in settings:
            problems.append(f"Azure: setting {alias} ({kind}) is not an app setting in main.bicep")
        referenced = any(s.startswith(KEY_VAULT_REFERENCE) for s in _strings(settings.get(alias)))
        if kind == "key_vault" and alias in settings and not referenced:
            problems.append(f"Azure: {alias} must be a Key Vault reference {KEY_VAULT_REFERENCE}...)")
        if kind == "not_applicable" and alias in settings:
            problems.append(f"Azure: {alias} is not_applicable in settings_map.json but main.bicep sets it")
    for name in settings:
        if name not in aliases and name not in AZURE_HOST_SETTINGS:
            problems.append(
                f"Azure: app setting {name} is read by nothing (not a setting of shared/settings.py)"
            )
    for folder, setting in wiring.timers:
        if setting not in settings:
            problems.append(f"Azure: timer of {folder} reads %{setting}%, which is not an app setting")
    queues = azure_queue_names(bicep)
    wanted = set()
    for folder, queue in wiring.queues:
        wanted |= {queue, queue + AZURE_POISON_SUFFIX}
        for name in (queue, queue + AZURE_POISON_SUFFIX):
            if name not in queues:
                problems.append(f"Azure: queue {name!r} (queue trigger of {folder}) is not created")
    defaults = setting_defaults()
    for alias in ("METRICS_DEAD_LETTER_QUEUE", "WEBHOOK_QUEUE_NAME"):
        if alias in defaults:
            wanted |= {str(defaults[alias]), str(defaults[alias]) + AZURE_POISON_SUFFIX}
    for name in queues - wanted:
        problems.append(f"Azure: queue {name!r} is created but no queue setting or trigger names it")
    for alias, resource_type in (
        ("BLOB_CONTAINER", "Microsoft.Storage/storageAccounts/blobServices/containers"),
        ("STATE_TABLE", "Microsoft.Storage/storageAccounts/tableServices/tables"),
    ):
        names = {n for r in azure_resources(bicep, resource_type) for n in _bicep_resolve(bicep, r["name"])}
        value = _bicep_resolve(bicep, settings.get(alias, ""))
        if not value or value[0] not in names:
            problems.append(f"Azure: {alias} names {value!r}, which main.bicep does not create")
    return problems


# --- AWS -----------------------------------------------------------------------------------------


def sam_functions(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource["Properties"]
        for name, resource in sam["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _handler_folder(handler: str) -> str:
    return handler.split(".")[1]


def _ref(value: Any) -> str | None:
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    return None


def _getatt_resource(value: Any) -> str | None:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return None


def aws_env(sam: dict[str, Any], function: dict[str, Any] | None = None) -> dict[str, Any]:
    if function is None:
        env = sam.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    else:
        env = function.get("Environment", {}).get("Variables", {})
    return dict(env)


def check_aws(sam: dict[str, Any], wiring: CodeWiring, mapping: dict[str, dict[str, Any]]) -> list[str]:
    """Handlers, HttpApi routes, schedules, SQS, rotation and every setting of the map."""
    problems = []
    functions = sam_functions(sam)
    resources = sam["Resources"]
    params = sam.get("Parameters", {})
    handlers = {props.get("Handler"): name for name, props in functions.items()}
    by_folder: dict[str, list[str]] = {}
    for name, props in functions.items():
        by_folder.setdefault(_handler_folder(str(props.get("Handler"))), []).append(name)

    # entry points: each Lambda handler of the code is one function, and each function's handler exists
    for handler in wiring.handlers:
        if handler not in handlers:
            problems.append(f"AWS: Lambda handler {handler} has no AWS::Serverless::Function")
    for handler, name in handlers.items():
        if handler not in wiring.handlers:
            problems.append(f"AWS: {name} points at {handler}, which is not an (event, context) handler")

    def events(folder: str, event_type: str) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for name in by_folder.get(folder, []):
            for event in (functions[name].get("Events") or {}).values():
                if event.get("Type") == event_type:
                    found.append((name, event.get("Properties", {})))
        return found

    # HTTP routes: the same path under /api/ and the same methods, on a function of the same folder
    routed = set()
    for folder, route, methods, _auth in wiring.http:
        if folder in AZURE_ONLY_FOLDERS:
            continue
        path = f"/api/{route}"
        matches = [p for _n, p in events(folder, "HttpApi") if p.get("Path") == path]
        if not matches:
            problems.append(f"AWS: route {path} ({folder}) has no HttpApi event on a {folder} function")
        for props in matches:
            routed.add(path)
            if str(props.get("Method", "")).upper() not in methods:
                problems.append(f"AWS: route {path} uses {props.get('Method')}, the code serves {methods}")
    for name, props in functions.items():
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == "HttpApi" and event["Properties"].get("Path") not in routed:
                problems.append(
                    f"AWS: {name} serves {event['Properties'].get('Path')}, a route the code lacks"
                )

    # schedules: each timer's setting maps to a Schedule event (or the rotation schedule) on its folder
    scheduled = set()
    for folder, setting in wiring.timers:
        kind = str(mapping.get(setting, {}).get("aws", ""))
        param = kind.split(":", 1)[1] if ":" in kind else ""
        if kind.startswith("schedule:"):
            found = [p for _n, p in events(folder, "Schedule") if _ref(p.get("Schedule")) == param]
            if not found:
                problems.append(f"AWS: timer {setting} ({folder}) has no Schedule event on !Ref {param}")
            scheduled.add(param)
        elif kind.startswith("rotation:"):
            rotations = [
                r["Properties"]
                for r in resources.values()
                if r["Type"] == "AWS::SecretsManager::RotationSchedule"
            ]
            ok = [
                r
                for r in rotations
                if _ref(r.get("RotationRules", {}).get("ScheduleExpression")) == param
                and _getatt_resource(r.get("RotationLambdaARN")) in by_folder.get(folder, [])
            ]
            if not ok:
                problems.append(f"AWS: timer {setting} ({folder}) has no RotationSchedule on !Ref {param}")
            scheduled.add(param)
        else:
            problems.append(
                f"AWS: timer setting {setting} needs aws 'schedule:<Param>' or 'rotation:<Param>'"
            )
        if param and param not in params:
            problems.append(f"AWS: schedule parameter {param} is not declared")
    for name, props in functions.items():
        for event in (props.get("Events") or {}).values():
            if event.get("Type") == "Schedule" and _ref(event["Properties"].get("Schedule")) not in scheduled:
                problems.append(f"AWS: {name} has a Schedule event that no timer of the code has")

    # queues: an SQS event with partial batch responses on a queue with a DLQ after QUEUE_MAX_ATTEMPTS
    env = aws_env(sam)
    for folder, queue in wiring.queues:
        queue_resources = [
            n
            for n, r in resources.items()
            if r["Type"] == "AWS::SQS::Queue" and r["Properties"].get("QueueName") == queue
        ]
        if not queue_resources:
            problems.append(f"AWS: queue {queue!r} ({folder}) is not created")
            continue
        queue_resource = queue_resources[0]
        props = resources[queue_resource]["Properties"]
        redrive = props.get("RedrivePolicy", {})
        dlq = _getatt_resource(redrive.get("deadLetterTargetArn"))
        if dlq is None or resources[dlq]["Properties"].get("QueueName") != queue + AWS_DLQ_SUFFIX:
            problems.append(f"AWS: queue {queue!r} has no dead-letter queue {queue + AWS_DLQ_SUFFIX!r}")
        if str(redrive.get("maxReceiveCount")) != str(env.get("QUEUE_MAX_ATTEMPTS")):
            problems.append(f"AWS: {queue!r} maxReceiveCount differs from QUEUE_MAX_ATTEMPTS")
        sqs = [p for _n, p in events(folder, "SQS") if _getatt_resource(p.get("Queue")) == queue_resource]
        if not sqs:
            problems.append(f"AWS: queue {queue!r} has no SQS event on a {folder} function")
        for p in sqs:
            if "ReportBatchItemFailures" not in (p.get("FunctionResponseTypes") or []):
                problems.append(f"AWS: SQS event on {queue!r} lacks ReportBatchItemFailures")

    # settings
    aliases = setting_aliases()
    for alias, entry in mapping.items():
        kind = str(entry.get("aws"))
        only = entry.get("only")
        if kind == "env":
            if alias not in env:
                problems.append(f"AWS: setting {alias} (env) is not in Globals.Function.Environment")
        elif kind == "secret_ref":
            targets = [handlers[h] for h in only or [] if h in handlers]
            if not targets or len(targets) != len(only or []):
                problems.append(
                    f"AWS: {alias} (secret_ref) needs 'only' naming the Lambda handlers that read it"
                )
            for name in targets:
                value = aws_env(sam, functions[name]).get(alias)
                if value is None or "{{resolve:secretsmanager:" not in json.dumps(value):
                    problems.append(
                        f"AWS: {name} lacks {alias} as a {{{{resolve:secretsmanager:...}}}} reference"
                    )
            if alias in env:
                problems.append(f"AWS: secret {alias} must not be in Globals (only on {only})")
        elif kind.startswith("secret_store:"):
            name_setting = kind.split(":", 1)[1]
            secret_name = env.get(name_setting)
            names = [
                r["Properties"].get("Name")
                for r in resources.values()
                if r["Type"] == "AWS::SecretsManager::Secret"
            ]
            expected = {"Fn::Sub": "${AWS::StackName}/" + str(secret_name)}
            if env.get("SECRET_NAME_PREFIX") != {"Fn::Sub": "${AWS::StackName}/"} or expected not in names:
                problems.append(
                    f"AWS: {alias} is read as secret {secret_name!r}, which the stack does not create"
                )
        if kind != "env" and kind != "secret_ref" and alias in env:
            problems.append(f"AWS: {alias} is {kind} in settings_map.json but Globals sets it")
    for name, props in [("Globals", None), *functions.items()]:
        for variable in aws_env(sam, props):
            if variable not in aliases:
                problems.append(f"AWS: {name} sets {variable}, which shared/settings.py does not read")
            elif str(mapping.get(variable, {}).get("aws")) not in {"env", "secret_ref"}:
                problems.append(f"AWS: {name} sets {variable}, which settings_map.json does not wire as env")
    return problems


# --- least privilege -----------------------------------------------------------------------------

# Each Lambda handler's policies, as signatures (see `policy_signature`). A change here is a reviewed
# decision: adding a permission means saying which code path needs it.
_TOKEN_READ = "AWSSecretsManagerGetSecretValuePolicy:LeanixTokenSecret"
_STATE = "DynamoDBCrudPolicy:StateTable"
EXPECTED_AWS_POLICIES: dict[str, set[str]] = {
    "functions.webhook_handler.aws.receive": {
        "AWSSecretsManagerGetSecretValuePolicy:WebhookSecret",
        "SQSSendMessagePolicy:WebhookQueue",
        "Statement:sqs:GetQueueUrl:WebhookQueue",
        "S3WritePolicy:DataBucket",
    },
    "functions.webhook_handler.aws.worker": {_TOKEN_READ, _STATE, "S3ReadPolicy:DataBucket"},
    "functions.webhook_handler.aws.pull": {
        _TOKEN_READ,
        _STATE,
        "SQSSendMessagePolicy:WebhookQueue",
        "Statement:sqs:GetQueueUrl:WebhookQueue",
        "S3WritePolicy:DataBucket",
    },
    "functions.webhook_handler.aws.reconcile": {_TOKEN_READ, _STATE},
    "functions.metrics_ingester.aws.push": {
        _TOKEN_READ,
        _STATE,
        "S3WritePolicy:DataBucket",
        "SQSSendMessagePolicy:MetricsDeadLetterQueue",
        "Statement:sqs:GetQueueUrl:MetricsDeadLetterQueue",
    },
    "functions.metrics_ingester.aws.pull": {
        _TOKEN_READ,
        _STATE,
        "S3WritePolicy:DataBucket",
        "SQSSendMessagePolicy:MetricsDeadLetterQueue",
        "Statement:sqs:GetQueueUrl:MetricsDeadLetterQueue",
        "CostExplorerReadOnlyPolicy",
    },
    "functions.ldif_sync.aws.handler": {
        _TOKEN_READ,
        _STATE,
        "S3CrudPolicy:DataBucket",
        "Statement:ecs:DescribeServices,ecs:ListClusters,ecs:ListServices,ecs:ListTagsForResource,"
        "lambda:ListFunctions,lambda:ListTags,rds:DescribeDBInstances,rds:ListTagsForResource:*",
    },
    "functions.token_rotation.aws.handler": {
        "Statement:secretsmanager:DescribeSecret,secretsmanager:GetSecretValue,secretsmanager:ListSecretVersionIds,"
        "secretsmanager:PutSecretValue,secretsmanager:UpdateSecretVersionStage:LeanixTokenSecret",
    },
}
SECRET_WRITERS = {"functions.token_rotation.aws.handler"}
_SECRET_WRITE_ACTIONS = (
    "secretsmanager:Put",
    "secretsmanager:Update",
    "secretsmanager:Create",
    "secretsmanager:Delete",
    "secretsmanager:Restore",
    "secretsmanager:Rotate",
)


def _resource_name(value: Any) -> str:
    return _ref(value) or _getatt_resource(value) or str(value)


def policy_signature(policy: Any) -> list[str]:
    """`Template:Resource` for a SAM policy template, `Statement:actions:resource` per statement."""
    if isinstance(policy, str):
        return [policy]
    signatures = []
    for key, value in policy.items():
        if key == "Statement":
            for statement in value if isinstance(value, list) else [value]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                resource = _resource_name(statement["Resource"])
                signatures.append(f"Statement:{','.join(sorted(actions))}:{resource}")
        elif isinstance(value, dict) and value:
            signatures.append(f"{key}:{_resource_name(next(iter(value.values())))}")
        else:
            signatures.append(key)
    return signatures


def check_aws_permissions(sam: dict[str, Any]) -> list[str]:
    """Each function has exactly its expected policies; only the rotation writes a secret; no wildcards."""
    problems = []
    for name, props in sam_functions(sam).items():
        handler = str(props.get("Handler"))
        actual = {sig for policy in props.get("Policies") or [] for sig in policy_signature(policy)}
        expected = EXPECTED_AWS_POLICIES.get(handler)
        if expected is None:
            problems.append(f"AWS: {name} ({handler}) has no entry in EXPECTED_AWS_POLICIES")
            continue
        for extra in sorted(actual - expected):
            problems.append(f"AWS: {name} has a permission it does not need: {extra}")
        for missing in sorted(expected - actual):
            problems.append(f"AWS: {name} lacks a permission its code needs: {missing}")
        for sig in actual:
            if handler not in SECRET_WRITERS and any(action in sig for action in _SECRET_WRITE_ACTIONS):
                problems.append(f"AWS: {name} may write a secret; only the token rotation may")
            if sig.startswith("Statement:") and (":*:" in sig or sig.split(":", 1)[1].startswith("*")):
                problems.append(f"AWS: {name} has a wildcard action: {sig}")
    return problems


# Role definition variable -> the resources it may be scoped to (the app's identity is the only principal).
EXPECTED_AZURE_ROLES = {
    ("storageBlobDataOwnerRoleId", "storage"),
    ("storageQueueDataContributorRoleId", "storage"),
    ("storageTableDataContributorRoleId", "storage"),
    ("monitoringMetricsPublisherRoleId", "applicationInsights"),
    ("keyVaultSecretsUserRoleId", "vault"),
    ("keyVaultSecretsOfficerRoleId", "existingTokenSecret"),
}


def azure_role_assignments(bicep: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for config in azure_resources(bicep, "Microsoft.Authorization/roleAssignments"):
        role = config["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"]
        found.add((str(role), str(config.get("scope"))))
    return found


def check_azure_permissions(bicep: dict[str, Any]) -> list[str]:
    """Exactly the expected roles; the write role (Secrets Officer) only on the token secret."""
    problems = []
    actual = azure_role_assignments(bicep)
    for extra in sorted(actual - EXPECTED_AZURE_ROLES):
        problems.append(f"Azure: unexpected role assignment {extra}")
    for missing in sorted(EXPECTED_AZURE_ROLES - actual):
        problems.append(f"Azure: missing role assignment {missing}")
    scope = bicep["resources"].get("existingTokenSecret", {}).get("config", {})
    if scope.get("name") != "tokenSecretName" or scope.get("parent") != "vault":
        problems.append("Azure: the Secrets Officer scope must be the vault's token secret (tokenSecretName)")
    return problems


# --- claim-check expiry --------------------------------------------------------------------------

# Event bodies too large for a message are stored under CLAIM_CHECK_PREFIX and never deleted by the
# code (content-addressed keys: a duplicate message may still be in flight), so each blob store
# expires them. The expiry must outlive every message that can still carry the claim check.
_DAY_SECONDS = 86400


def aws_claim_check_expiry(sam: dict[str, Any]) -> tuple[int | None, list[str]]:
    """(days, problems) of the data bucket's lifecycle rule on the claim-check prefix."""
    resources = sam["Resources"]
    bucket = _ref(aws_env(sam).get("BUCKET_NAME"))
    if bucket not in resources or resources[bucket]["Type"] != "AWS::S3::Bucket":
        return None, ["AWS: BUCKET_NAME is not !Ref of an AWS::S3::Bucket of the stack"]
    props = resources[bucket]["Properties"]
    rules = [
        rule
        for rule in (props.get("LifecycleConfiguration") or {}).get("Rules") or []
        if rule.get("Status") == "Enabled" and rule.get("Prefix") == CLAIM_CHECK_PREFIX
    ]
    if not rules:
        return None, [f"AWS: {bucket} has no enabled lifecycle rule on Prefix {CLAIM_CHECK_PREFIX!r}"]
    days = rules[0].get("ExpirationInDays")
    if not isinstance(days, int):
        return None, [f"AWS: the lifecycle rule on {CLAIM_CHECK_PREFIX!r} sets no ExpirationInDays"]
    versioned = (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled"
    if versioned and not (rules[0].get("NoncurrentVersionExpiration") or {}).get("NoncurrentDays"):
        return days, [
            f"AWS: {bucket} is versioned: the rule on {CLAIM_CHECK_PREFIX!r} needs "
            "NoncurrentVersionExpiration (expiry alone only adds a delete marker)"
        ]
    return days, []


def azure_claim_check_expiry(bicep: dict[str, Any]) -> tuple[int | None, list[str]]:
    """(days, problems) of the storage account's management policy rule on `<container>/<prefix>`."""
    container = _bicep_resolve(bicep, azure_app_settings(bicep).get("BLOB_CONTAINER", ""))
    wanted = f"{container[0] if container else ''}/{CLAIM_CHECK_PREFIX}"
    for resource in bicep["resources"].values():
        config = resource["config"]
        if (
            resource["type"] != "Microsoft.Storage/storageAccounts/managementPolicies"
            or config.get("name") != "default"
            or config.get("parent") != "storage"
        ):
            continue
        for rule in config["properties"]["policy"]["rules"]:
            definition = rule.get("definition", {})
            filters = definition.get("filters", {})
            prefixes = [p for v in filters.get("prefixMatch", []) for p in _bicep_resolve(bicep, v)]
            if rule.get("enabled") is not True or rule.get("type") != "Lifecycle" or wanted not in prefixes:
                continue
            delete = definition.get("actions", {}).get("baseBlob", {}).get("delete", {})
            days = delete.get("daysAfterModificationGreaterThan")
            if isinstance(days, str) and days in bicep["variables"]:
                days = _bicep_var(bicep, days)
            if not isinstance(days, int):
                return None, [f"Azure: the rule on {wanted!r} deletes no base blob after a number of days"]
            return days, []
    return None, [f"Azure: no enabled rule of managementPolicies 'default' on storage deletes {wanted!r}"]


def check_claim_check_expiry(sam: dict[str, Any], bicep: dict[str, Any]) -> list[str]:
    """Both blob stores expire the prefix the code writes, after the same number of days, and only
    after the webhook DLQ's retention (the longest a message can still carry a claim check)."""
    aws_days, problems = aws_claim_check_expiry(sam)
    azure_days, azure_problems = azure_claim_check_expiry(bicep)
    problems += azure_problems
    if aws_days is not None and azure_days is not None and aws_days != azure_days:
        problems.append(f"claim-check expiry differs: AWS {aws_days} days, Azure {azure_days} days")
    dlq_name = str(setting_defaults()["WEBHOOK_QUEUE_NAME"]) + AWS_DLQ_SUFFIX
    retention = [
        int(r["Properties"].get("MessageRetentionPeriod", 4 * _DAY_SECONDS))  # the SQS default
        for r in sam["Resources"].values()
        if r["Type"] == "AWS::SQS::Queue" and r["Properties"].get("QueueName") == dlq_name
    ]
    if aws_days is not None and retention and aws_days * _DAY_SECONDS <= retention[0]:
        problems.append(
            f"claim-check expiry of {aws_days} days does not outlive the retention of {dlq_name} "
            f"({retention[0] // _DAY_SECONDS} days): a redriven message would lose its body"
        )
    return problems

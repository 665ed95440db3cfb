"""A synthesized template's part of the permission model: what deploying it needs (handler
permissions of each resource, for create, update and delete), the roles it creates (their
policies, boundary and trust), and the resource policies it writes (KMS key and bucket
policies). Account and region stay `{account}` and `{region}`, filled per target."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from charter.policy.cfn import (
    CONDITIONAL,
    handler_permissions,
    primary_resource,
    resolve,
    resource_arns,
    stack_arn,
)
from charter.policy.documents import Policy
from charter.policy.managed import managed_policy, managed_policy_name
from charter.policy.model import Need, PermissionModel, RoleGrant, Target

#: What a deployer calls on the stack itself (CreateStack ... DeleteStack, and the reads in between).
STACK_ACTIONS = ("cloudformation:CreateStack", "cloudformation:UpdateStack", "cloudformation:DeleteStack",
                 "cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents", "cloudformation:GetTemplate")


def placeholder_params(template: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, str]:
    """Parameter values for resolving: pseudo parameters as placeholders, context values,
    then each parameter's Default."""
    params = {"AWS::AccountId": "{account}", "AWS::Region": "{region}", "AWS::Partition": "aws",
              "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": str(values.get("AWS::StackName", "*"))}
    for name, spec in (template.get("Parameters") or {}).items():
        if name in values:
            params[name] = values[name]
        elif "Default" in spec:
            params[name] = str(spec["Default"])
    params.update({k: v for k, v in values.items() if k not in params})
    return params


def template_model(template: Mapping[str, Any], stack_name: str, role: str, targets: tuple[Target, ...],
                   values: Mapping[str, str], *, role_path: str = "/", stack_resource: str | None = None,
                   customer: Mapping[str, dict[str, Any]] | None = None) -> PermissionModel:
    """The needs of `role` deploying `template` as `stack_name` to `targets`, and the roles
    and resource policies the template creates."""
    params = placeholder_params(template, {**values, "AWS::StackName": stack_name})
    arns = resource_arns(template, stack_name, params)
    model = PermissionModel()
    source = f"cfn:{stack_name}"
    customer = {**(customer or {}), **customer_managed_policies(template, stack_name, values)}
    per_action: dict[tuple[str, str | None], list[str]] = {}
    for logical, res in (template.get("Resources") or {}).items():
        typ = res.get("Type", "")
        perms = handler_permissions(typ)
        if perms is None:
            model.notes.append(f"{stack_name}: {typ} ({logical}) has no known handler permissions; not checked")
            continue
        bounded = typ == "AWS::IAM::Role" and "PermissionsBoundary" in (res.get("Properties") or {})
        for op, actions in perms.items():
            if op == "delete" and res.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate"):
                continue  # CloudFormation leaves a retained resource in place: no delete call
            for action in actions:
                if bounded and action == "iam:DeleteRolePermissionsBoundary":
                    continue  # called only to remove a boundary, which Charter's roles always keep
                needed_if = CONDITIONAL.get((typ, action))
                if needed_if and needed_if not in (res.get("Properties") or {}):
                    continue
                key = (action, primary_resource(typ, logical, arns, action))
                label = f"{op} {typ} {logical}"
                per_action.setdefault(key, [])
                if len(per_action[key]) < 3 and label not in per_action[key]:
                    per_action[key].append(label)
        _collect_role(model, typ, logical, res, params, arns, stack_name, customer, targets)
        _collect_resource_policy(model, typ, res, params, arns, stack_name)
    ctx = (("aws:CalledVia", "cloudformation.amazonaws.com"), ("aws:ViaAWSService", "true"))
    for (action, resource), labels in sorted(per_action.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        own = (("charter:OwnBucketHandler", "true"),) if resource and resource.startswith("arn:aws:s3:::") else ()
        model.needs.append(Need(role, action, resource, targets, f"{'; '.join(labels)} (stack {stack_name})",
                                source, ctx + own + _request_keys(action, resource, template, params, arns), role_path))
    for key_arn, key_policy in key_policies(template, stack_name, values):
        model.resource_policies.append((key_arn, key_policy, True))
    stack = stack_resource or stack_arn(params, stack_name)
    for action in STACK_ACTIONS:
        model.needs.append(Need(role, action, stack, targets, f"deploy stack {stack_name}", source, (), role_path))
    return model


def _request_keys(action: str, resource: str | None, template: Mapping[str, Any], params: Mapping[str, str],
                  arns: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Request context keys a handler's call carries that Charter's policies test:
    `iam:PermissionsBoundary` on role creation and changes (the boundary the role gets)."""
    if not resource or not action.lower().startswith("iam:") or ":role/" not in resource:
        return ()
    if action.split(":", 1)[1] not in ("CreateRole", "PutRolePolicy", "AttachRolePolicy", "DetachRolePolicy",
                                       "DeleteRolePolicy", "PutRolePermissionsBoundary"):
        return ()
    for logical, res in (template.get("Resources") or {}).items():
        if arns.get(f"{logical}.Arn") == resource:
            boundary = resolve((res.get("Properties") or {}).get("PermissionsBoundary"), params, arns)
            return (("iam:PermissionsBoundary", boundary),) if isinstance(boundary, str) else ()
    return ()


def _policy_doc(value: Any, params: Mapping[str, str], arns: Mapping[str, str]) -> dict[str, Any]:
    doc = resolve(value, params, arns)
    return doc if isinstance(doc, dict) else {"Statement": []}


def _collect_role(model: PermissionModel, typ: str, logical: str, res: Mapping[str, Any], params: Mapping[str, str],
                  arns: Mapping[str, str], stack_name: str, customer: Mapping[str, dict[str, Any]],
                  targets: tuple[Target, ...]) -> None:
    if typ != "AWS::IAM::Role":
        return
    props = res.get("Properties") or {}
    name = arns.get(f"{logical}.Ref", logical)
    grant = RoleGrant(origin=f"stack {stack_name}, {logical}")
    for p in props.get("Policies") or []:
        grant.identity.append(Policy.parse("identity", f"{name} inline policy {p.get('PolicyName', '')}",
                                           _policy_doc(p.get("PolicyDocument"), params, arns)))
    for arn in resolve(props.get("ManagedPolicyArns") or [], params, arns):
        found = _managed(arn, customer)
        if found is not None:
            grant.identity.append(found)
        else:
            model.notes.append(f"{stack_name}: {name}: managed policy {arn} is not known; not evaluated")
    boundary = resolve(props.get("PermissionsBoundary"), params, arns) if props.get("PermissionsBoundary") else None
    if isinstance(boundary, str):
        grant.boundary = _managed(boundary, customer, kind="boundary")
        if grant.boundary is None:
            model.notes.append(f"{stack_name}: {name}: permissions boundary {boundary} is not known; not evaluated")
    if props.get("AssumeRolePolicyDocument"):
        grant.trust = Policy.parse("trust", f"trust policy of {name}",
                                   _policy_doc(props["AssumeRolePolicyDocument"], params, arns))
    accounts = {t.account_id for t in targets}
    if len(accounts) == 1:  # a stack in one account: its role may differ from the same name elsewhere
        model.account_roles[(accounts.pop(), name)] = grant
    else:
        model.roles[name] = grant


def _managed(arn: str, customer: Mapping[str, dict[str, Any]], kind: str = "identity") -> Policy | None:
    """An AWS-managed policy from the shipped documents, or a customer-managed one Charter's
    templates create (`customer`: ARN with placeholders -> document)."""
    if managed_policy_name(arn):
        found = managed_policy(arn)
    elif arn in customer:
        found = Policy.parse("identity", arn.rsplit("/", 1)[-1], customer[arn])
    else:
        return None
    if found is None:
        return None
    return found if kind == "identity" else found.as_kind("boundary")


def customer_managed_policies(template: Mapping[str, Any], stack_name: str, values: Mapping[str, str]
                              ) -> dict[str, dict[str, Any]]:
    """`AWS::IAM::ManagedPolicy` resources: ARN (with placeholders) -> resolved document."""
    params = placeholder_params(template, {**values, "AWS::StackName": stack_name})
    arns = resource_arns(template, stack_name, params)
    out = {}
    for logical, res in (template.get("Resources") or {}).items():
        if res.get("Type") == "AWS::IAM::ManagedPolicy":
            out[arns[f"{logical}.Arn"]] = _policy_doc((res.get("Properties") or {}).get("PolicyDocument"), params, arns)
    return out


def _collect_resource_policy(model: PermissionModel, typ: str, res: Mapping[str, Any], params: Mapping[str, str],
                             arns: Mapping[str, str], stack_name: str) -> None:
    props = res.get("Properties") or {}
    if typ == "AWS::S3::BucketPolicy":
        bucket = resolve(props.get("Bucket"), params, arns)
        if isinstance(bucket, str) and bucket != "*":
            model.resource_policies.append((f"arn:aws:s3:::{bucket}*", Policy.parse(
                "resource", f"bucket policy of {bucket} (stack {stack_name})",
                _policy_doc(props.get("PolicyDocument"), params, arns)), False))


def key_policies(template: Mapping[str, Any], stack_name: str, values: Mapping[str, str]) -> list[tuple[str, Policy]]:
    """(key ARN with placeholders, key policy) of every `AWS::KMS::Key` in the template."""
    params = placeholder_params(template, {**values, "AWS::StackName": stack_name})
    arns = resource_arns(template, stack_name, params)
    out = []
    for logical, res in (template.get("Resources") or {}).items():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::KMS::Key" and props.get("KeyPolicy"):
            out.append((arns[f"{logical}.Arn"], Policy.parse("resource", f"key policy of {logical} (stack {stack_name})",
                                                             _policy_doc(props["KeyPolicy"], params, arns))))
    return out

"""The embedded AWS: moto's server on 127.0.0.1, for `charter local`, `--local` and the demo.

moto is the stand-in for AWS, never a reason to simplify: code talks to it through the
same `SessionFactory` as to real AWS, only with an `endpoint_url`.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from charter.aws import SessionFactory
from charter.errors import CharterError

#: moto's default account: the one whose fake credentials the embedded AWS accepts first.
#: It becomes the management account when the organization is created.
LOCAL_MANAGEMENT_ACCOUNT = "123456789012"


class LocalAwsError(CharterError):
    """The embedded AWS could not start."""

    code = "CHARTER-310"
    fix = "Choose a free port with --port, or stop the process that holds it."


def _guarded_app():
    """moto's WSGI app, answering services moto does not implement with a 4xx AWS error.

    Left alone, moto answers them with HTTP 500, which every AWS SDK retries with backoff
    (ten attempts in Charter's adaptive mode): a call to Access Analyzer would hang for
    minutes before failing. A real AWS account has every service, so the honest answer of
    the embedded AWS is a fast, non-retryable "not implemented here".
    """
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    class Dispatcher(DomainDispatcherApplication):
        def get_backend_for_host(self, host):  # moto's, minus a print() meant for moto's developers
            if host is None or host == "moto_api" or host in backends.list_of_moto_modules():
                return host
            return next((b for b, pattern in self.backend_url_patterns if pattern.match(f"http://{host}")), None)

    inner = Dispatcher(create_backend_app)

    def app(environ, start_response):
        try:
            backend = inner.get_application(environ)
        except Exception:  # moto raises several types when no backend matches the host
            target = environ.get("HTTP_X_AMZ_TARGET", "") or environ.get("HTTP_HOST", "")
            return _unsupported(start_response, f"this service ({target})", environ)
        return _answer(backend, environ, start_response)

    return app


_REST_XML = ("s3", "route53", "cloudfront")  # services whose errors are <Error> XML (s3control signs as s3)


def _unsupported(start_response, what: str, environ: dict | None = None) -> list[bytes]:
    """HTTP 400 `UnsupportedOperation`, in the error shape of the caller's protocol (JSON,
    query XML, EC2 XML or REST XML), so every SDK parses it as an ordinary client error."""
    from xml.sax.saxutils import escape

    environ = environ or {}
    message = f"the embedded AWS (moto) does not implement {what}"
    scope = environ.get("HTTP_AUTHORIZATION", "").partition("Credential=")[2].split(",")[0].split("/")
    service = scope[3] if len(scope) > 3 else ""
    form = "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "")
    code, msg = "<Code>UnsupportedOperation</Code>", f"<Message>{escape(message)}</Message>"
    if environ.get("HTTP_X_AMZ_TARGET") or not (form or service in _REST_XML or service == "ec2"):
        body, ctype = json.dumps({"__type": "UnsupportedOperation", "message": message}).encode(), \
            "application/x-amz-json-1.1"
    elif service == "ec2":
        body, ctype = f"<Response><Errors><Error>{code}{msg}</Error></Errors><RequestID>0</RequestID></Response>".encode(), \
            "text/xml"
    elif service in _REST_XML:
        body, ctype = f"<Error>{code}{msg}</Error>".encode(), "application/xml"
    else:
        body, ctype = (f"<ErrorResponse><Error><Type>Sender</Type>{code}{msg}</Error>"
                       f"<RequestId>0</RequestId></ErrorResponse>").encode(), "text/xml"
    start_response("400 Bad Request", [("Content-Type", ctype), ("x-amzn-ErrorType", "UnsupportedOperation"),
                                       ("Content-Length", str(len(body)))])
    return [body]


def _answer(backend, environ, start_response) -> list[bytes]:
    """A known service's answer, except where moto lacks the operation: moto raises
    NotImplementedError (-> HTTP 500, retried by every SDK) or, for REST APIs, its router
    answers an HTML 404. Both become the same fast 400 `UnsupportedOperation`."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    what = f"this operation ({target or environ.get('REQUEST_METHOD', '') + ' ' + environ.get('PATH_INFO', '')})"
    seen: dict[str, object] = {}

    def capture(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, headers
        return lambda data: None

    try:
        chunks = list(backend(environ, capture))
    except NotImplementedError as exc:
        return _unsupported(start_response, f"{what}: {exc}", environ)
    status = str(seen.get("status", "500"))
    headers = list(seen.get("headers", []))  # type: ignore[call-overload]
    html = any(k.lower() == "content-type" and "text/html" in v for k, v in headers)
    if status.startswith("404") and html:
        return _unsupported(start_response, what, environ)
    start_response(status, headers)
    return chunks


_PATCHED = False
#: moto finds CloudFormation models through `__subclasses__()`, which holds them weakly:
#: the models added here are kept alive by this list.
_MODELS: list[type] = []


def _patch_moto() -> None:
    """Fix, inside the embedded AWS only, what moto's CloudFormation gets wrong for templates
    that real CloudFormation accepts. Each patch makes moto behave like AWS; none changes
    what Charter generates.

    - AWS::KMS::Key: moto passes the template's `Tags` ({Key, Value}) to its KMS tagger,
      which expects KMS's own {TagKey, TagValue} shape, and crashes (moto 5.2.1); it also
      ignores KeySpec/KeyUsage, so a signing key would come out symmetric.
    """
    global _PATCHED
    if _PATCHED:
        return
    from moto.kms import models as kms

    def create_key(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
        key = kms.kms_backends[account_id][region_name].create_key(
            policy=props["KeyPolicy"] if isinstance(props.get("KeyPolicy"), str) else json.dumps(props.get("KeyPolicy")),
            key_usage=props.get("KeyUsage", "ENCRYPT_DECRYPT"), key_spec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            description=props.get("Description"), tags=tags,
        )
        key.key_rotation_status = props.get("EnableKeyRotation", False)
        key.enabled = props.get("Enabled", True)
        return key

    kms.Key.create_from_cloudformation_json = classmethod(create_key)
    _add_lambda_alias_model()
    _patch_service_managed_stacksets()
    _export_only_when_output_exists()
    _add_fn_cidr()
    _add_lambda_version_attributes()
    _patch_api_gateway_method()
    _add_workload_resource_models()
    _failed_resources_roll_back()
    _add_delegated_admin_services()
    _patch_bucket_policy_conditions()
    _add_resource_models()
    _patch_custom_resources()
    _lazy_aws_managed_policies()
    _add_ebs_default_kms_key_read()
    _attach_role_managed_policies()
    _PATCHED = True


def _add_lambda_alias_model() -> None:
    """AWS::Lambda::Alias, which moto's Lambda API supports but its CloudFormation does not:
    without it every stack that points API Gateway or permissions at an alias fails."""
    from moto.awslambda.models import lambda_backends
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    class LambdaAliasModel(CloudFormationModel):
        def __init__(self, alias) -> None:
            self.alias = alias

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Lambda::Alias"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @property
        def physical_resource_id(self) -> str:
            return self.alias.arn

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("AliasArn",)

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.alias.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            props = cloudformation_json["Properties"]
            backend = lambda_backends[account_id][region_name]
            function = str(props["FunctionName"]).split(":function:")[-1].split(":")[0]
            alias = backend.create_alias(name=props["Name"], function_name=function,
                                         function_version=str(props.get("FunctionVersion", "$LATEST")),
                                         description=props.get("Description", ""), routing_config=None)
            return cls(alias)

    _MODELS.append(LambdaAliasModel)
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def _patch_service_managed_stacksets() -> None:
    """StackSet instances as AWS makes them (moto 5.2.1 differs in several ways):

    - AWS never deploys a service-managed instance to the organization's management
      account, even when the target is Root; moto did, colliding with the management stacks.
    - AWS reaches every account in the target OUs' whole subtree; moto only one level down.
    - AWS honours DeploymentTargets.Accounts with AccountFilterType (INTERSECTION,
      DIFFERENCE, UNION) and never duplicates an existing instance; moto ignored both, and
      its UpdateStackInstances read only `Accounts`, so an update addressed by
      DeploymentTargets (the only way for service-managed StackSets) changed nothing.
    - Each instance is a real stack in its account and region (named StackSet-<name>-<id>),
      so its Outputs' exports are importable there and it sees the exports of the stacks
      already in that account; moto's was hidden, without exports or imports.
    - An instance's parameters are the StackSet's, overridden by its ParameterOverrides;
      moto used the overrides alone (or the StackSet's alone when there were none).
    - UpdateStackInstances and UpdateStackSet update each instance's stack with the current
      template and parameters (see `_update_stack`); moto only recorded the new values, so
      a VPC whose CIDR comes from an override was never created.
    An instance whose stack fails is reported by the instance (DetailedStatus FAILED and
    the reason), not as an error of the whole CreateStackInstances call, and is created
    (or updated) again by UpdateStackInstances (how deploy retries it).
    """
    from moto.cloudformation import models as cfn
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult
    from moto.moto_api._internal import mock_random

    def init(self, account_id, region_name, stackset_id, stack_name, name, template, parameters,
             permission_model, defaults=None):
        self.account_id, self.region_name, self.stackset_id = account_id, region_name, stackset_id
        self.stack_name, self.name, self.template = stack_name, name, template
        # moto hands over the StackSet's own parameters (a dict) when no overrides were given
        self.parameters = parameters if isinstance(parameters, list) else []
        self.permission_model = permission_model
        self.status, self.detailed, self.reason = "CURRENT", "SUCCEEDED", ""
        prefix = "StackSet:" if permission_model == "SELF_MANAGED" else "StackSet-"
        suffix = "" if permission_model == "SELF_MANAGED" else f"-{mock_random.uuid4()}"
        self.stack = None
        backend = cfn.cloudformation_backends[account_id][region_name]
        stack_name = f"{prefix}{name}{suffix}"
        try:
            self.stack = backend.create_stack(name=stack_name, template=template,
                                              parameters=_effective_parameters(defaults, self.parameters))
            if self.stack.status == "ROLLBACK_COMPLETE":
                failure = RuntimeError(self.stack.rollback_reason)
                failure.charter_reason = self.stack.rollback_reason
                raise failure
        except Exception as exc:  # noqa: BLE001 - the instance fails, as on AWS
            self.stack = None
            self._failed(exc)
            # AWS rolls a failed creation back: what was made goes, so a retry can make it again
            for stack_id, stack in list(backend.stacks.items()):
                if stack.name == stack_name:
                    try:
                        stack.delete()
                    except Exception:  # noqa: BLE001, S110 - best effort, like a rollback that cannot delete
                        pass
                    backend.stacks.pop(stack_id, None)
                    for export in [e for e in backend.exports.values() if e.exporting_stack_id == stack_id]:
                        backend.exports.pop(export.name, None)

    def failed(self, exc: Exception) -> None:
        self.status, self.detailed = "OUTDATED", "FAILED"
        reason = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
        if hasattr(exc, "charter_resource"):  # which resource, as AWS's instance status says
            reason = f"{exc.charter_resource[0]}: {reason}"
        self.reason = getattr(exc, "charter_reason", None) or reason

    def delete(self):
        if self.stack is not None:
            cfn.cloudformation_backends[self.account_id][self.region_name].delete_stack(self.stack.stack_id)

    def to_dict(self):
        out = {"StackId": self.stack.stack_id if self.stack is not None else cfn.generate_stack_id(
                   self.stack_name, self.region_name, self.account_id),
               "StackSetId": self.stackset_id, "Region": self.region_name, "Account": self.account_id,
               "Status": self.status, "ParameterOverrides": self.parameters,
               "StackInstanceStatus": {"DetailedStatus": self.detailed}}
        if self.reason:
            out["StatusReason"] = self.reason
        return out

    def targets(self, accounts, deployment_targets, permission_model) -> list[str]:
        """The accounts a Create/UpdateStackInstances call addresses, as AWS resolves them."""
        if permission_model != "SERVICE_MANAGED" or not deployment_targets:
            return list(dict.fromkeys(accounts))
        org = self.org_backend
        ous = set(deployment_targets.get("OrganizationalUnitIds", []))
        grew = True
        while grew:  # the whole subtree of every target OU
            below = {ou.id for ou in org.ou if ou.parent_id in ous}
            grew = not below <= ous
            ous |= below
        in_ous = [a.id for a in org.accounts if a.parent_id in ous]
        named = list(deployment_targets.get("Accounts", []) or [])
        how = deployment_targets.get("AccountFilterType", "NONE" if not named else "INTERSECTION")
        found = {"INTERSECTION": [a for a in in_ous if a in named],
                 "DIFFERENCE": [a for a in in_ous if a not in named],
                 "UNION": in_ous + [a for a in named if a not in in_ous]}.get(how, in_ous)
        management = org.org.master_account_id if org.org else None
        return [a for a in dict.fromkeys(found) if a != management]

    def create_instances(self, accounts, regions, parameters, deployment_targets, permission_model):
        found = self.targets(accounts, deployment_targets, permission_model)
        have = {(i.account_id, i.region_name) for i in self.stack_instances}
        new = [cfn.StackInstance(account_id=a, region_name=r, stackset_id=self.stackset_id,
                                 stack_name=self.stack_name, name=self.stackset_name, template=self.template,
                                 parameters=parameters, permission_model=permission_model,
                                 defaults=self.parameters)
               for r in regions for a in found if (a, r) not in have]
        self.stack_instances += new
        return [i.to_dict() for i in new]

    def update(self, accounts, regions, parameters):
        """UpdateStackInstances (`parameters`: the new overrides, None to keep them) and the
        instance side of UpdateStackSet: each addressed instance's stack is brought to the
        StackSet's current template with its parameters; one that has no stack (its creation
        failed and was rolled back) is created again."""
        for instance in self.stack_instances:
            if instance.account_id not in accounts or instance.region_name not in regions:
                continue
            if parameters is not None:
                previous = {p["ParameterKey"]: p for p in instance.parameters}
                instance.parameters = [previous[p["ParameterKey"]] if p.get("UsePreviousValue") else p
                                       for p in parameters
                                       if not p.get("UsePreviousValue") or p["ParameterKey"] in previous]
            if instance.stack is None:
                instance.__init__(instance.account_id, instance.region_name, instance.stackset_id,
                                  instance.stack_name, instance.name, self.template, instance.parameters,
                                  instance.permission_model, defaults=self.parameters)
                continue
            instance.template = self.template
            try:
                _update_stack(cfn.cloudformation_backends[instance.account_id][instance.region_name],
                              instance.stack, self.template, _effective_parameters(self.parameters, instance.parameters))
            except Exception as exc:  # noqa: BLE001 - the instance fails, as on AWS
                instance._failed(exc)
            else:
                instance.status, instance.detailed, instance.reason = "CURRENT", "SUCCEEDED", ""

    def stackset_update(self, template, description, parameters, tags, admin_role, execution_role, accounts,
                        regions, operation_id):
        self.template = template or self.template
        self.description = description if description is not None else self.description
        self.parameters = parameters or self.parameters
        self.tags = tags or self.tags
        self.administration_role_arn = admin_role or self.administration_role_arn
        self.execution_role_name = execution_role or self.execution_role_name
        self.instances.template, self.instances.parameters = self.template, self.parameters
        # without Accounts/Regions, AWS updates every existing instance of the StackSet
        accounts = accounts or [i.account_id for i in self.stack_instances]
        regions = regions or [i.region_name for i in self.stack_instances]
        self.instances.update(accounts, regions, None)
        return self._create_operation(operation_id=operation_id, action="UPDATE", status="SUCCEEDED",
                                      accounts=accounts, regions=regions)

    def update_stack_instances_call(self):
        name = self._get_param("StackSetName")
        stackset = self.cloudformation_backend.describe_stack_set(name)
        accounts = stackset.instances.targets(self._get_param("Accounts", []),
                                              self._get_params().get("DeploymentTargets"),
                                              stackset.permission_model)
        # absent: keep each instance's overrides; present (even empty): they become the list
        overrides = self._get_params().get("ParameterOverrides")
        operation = self.cloudformation_backend.update_stack_instances(
            name, accounts, self._get_param("Regions", []), overrides)
        return ActionResult({"OperationId": operation["OperationId"]})

    cfn.StackInstance.__init__ = init
    cfn.StackInstance._failed = failed
    cfn.StackInstance.delete = delete
    cfn.StackInstance.to_dict = to_dict
    cfn.StackInstances.targets = targets
    cfn.StackInstances.create_instances = create_instances
    cfn.StackInstances.update = update
    cfn.StackSet.update = stackset_update
    CloudFormationResponse.update_stack_instances = update_stack_instances_call


def _effective_parameters(defaults: dict[str, str] | None, overrides: list[dict]) -> dict[str, str]:
    """A StackSet instance's parameters: the StackSet's, each overridden by the instance's."""
    values = dict(defaults or {})
    values.update({p["ParameterKey"]: p["ParameterValue"] for p in overrides if "ParameterValue" in p})
    return values


def _template_references(node, refs: set[str], conditions: set[str]) -> None:
    """Names a template fragment depends on: Ref, Fn::GetAtt and Fn::Sub targets in `refs`,
    Fn::If conditions in `conditions`."""
    import re

    if isinstance(node, list):
        for item in node:
            _template_references(item, refs, conditions)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "Ref" and isinstance(value, str):
            refs.add(value)
        elif key == "Fn::GetAtt":
            refs.add(value[0] if isinstance(value, list) else str(value).split(".")[0])
        elif key == "Fn::Sub":
            text, local = (value[0], value[1]) if isinstance(value, list) else (value, {})
            refs.update(m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", str(text)) if m not in local)
            _template_references(local, refs, conditions)
        elif key == "Fn::If" and isinstance(value, list) and value:
            conditions.add(str(value[0]))
            _template_references(value[1:], refs, conditions)
        else:
            _template_references(value, refs, conditions)


def _update_stack(backend, stack, template: str, parameters: dict[str, str]) -> None:
    """Update `stack` to `template` with `parameters` as CloudFormation does: a resource whose
    definition, parameters, conditions and referenced resources are all unchanged is kept
    (same physical id, so what imports or references it stays valid); a resource whose
    condition became false or that left the template is deleted; every other one is made
    anew from its new definition (AWS updates many of those in place, but the outcome, the
    resource as the new template describes it, is the same). The stack's outputs and its
    exports in the account and region follow.

    moto's own update diffs only the template text, so a resource whose Condition turned
    true with new parameters (the VPC of a network StackSet once its CIDR override arrives)
    was never created, and the exports kept their values from creation.
    """
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.parsing import ResourceMap

    old = stack.resource_map
    # parsed afresh: moto's parsing edits the definitions it creates from (adds "Properties")
    old_json = (stack.parse_template(stack.template) or {}).get("Resources") or {}
    stack.template = template
    stack._parse_template()
    new = ResourceMap(stack.stack_id, stack.name, parameters, stack.tags, account_id=stack.account_id,
                      region_name=stack.region_name, template=stack.template_dict,
                      cross_stack_resources=backend.exports)
    new.load()
    new_json = (stack.parse_template(template) or {}).get("Resources") or {}
    changed_parameters = {k for k in set(old.resolved_parameters) | set(new.resolved_parameters)
                          if old.resolved_parameters.get(k) != new.resolved_parameters.get(k)}
    def holds(conditions, name: str) -> bool:  # indexing evaluates a condition not yet evaluated
        return name in conditions and bool(conditions[name])

    old_conditions, new_conditions = old.lazy_condition_map, new.lazy_condition_map
    changed_conditions = {c for c in set(old_conditions) | set(new_conditions)
                          if holds(old_conditions, c) != holds(new_conditions, c)}
    made = {lid for lid in old_json if lid in old._parsed_resources}

    def wanted(lid: str) -> bool:
        condition = new_json[lid].get("Condition")
        return not condition or holds(new_conditions, condition)

    def was_wanted(lid: str) -> bool:
        condition = old_json[lid].get("Condition")
        return not condition or holds(old_conditions, condition)

    depends: dict[str, set[str]] = {}
    keep = set()
    for lid in made:
        if lid not in new_json or old_json[lid] != new_json[lid] or not wanted(lid):
            continue
        refs: set[str] = set()
        conditions: set[str] = set()
        _template_references(new_json[lid], refs, conditions)
        if refs & changed_parameters or conditions & changed_conditions:
            continue
        depends[lid] = {r for r in refs if r in new_json}
        keep.add(lid)
    def anew(lid: str) -> bool:
        """Made (again) by this update: replaced, or new to the stack. A resource moto never
        makes (a type its CloudFormation skips) is neither, before and after alike."""
        if lid in keep:
            return False
        return lid in made or lid not in old_json or (wanted(lid) and not was_wanted(lid))

    shrinking = True
    while shrinking:  # a resource that references one made anew is made anew too
        dropped = {lid for lid in keep if any(anew(d) for d in depends[lid])}
        keep -= dropped
        shrinking = bool(dropped)

    gone = made - keep
    for _ in range(len(gone) + 1):  # dependents first: retry what a dependency still blocks
        if not gone:
            break
        for lid in sorted(gone):
            resource = old._parsed_resources.get(lid)
            try:
                if resource is not None and not isinstance(resource, str):
                    old._delete_resource(resource, old_json[lid])
            except Exception:  # noqa: BLE001, S112 - still referenced: the next pass deletes it
                continue
            old._parsed_resources.pop(lid, None)
            gone.discard(lid)

    new._parsed_resources.update({lid: old._parsed_resources[lid] for lid in keep})
    new.create(stack.template_dict)
    stack.resource_map, stack.parameters = new, parameters
    stack.output_map = stack._create_output_map()
    exports = stack.exports
    others = {name for name, e in backend.exports.items() if e.exporting_stack_id != stack.stack_id}
    clash = others & {e.name for e in exports}
    if clash:
        raise ValidationError(stack.stack_id, message=f"Export names must be unique across a given region: "
                                                      f"{', '.join(sorted(clash))}")
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        backend.exports.pop(name)
    backend.exports.update({e.name: e for e in exports})
    stack._add_stack_event("UPDATE_COMPLETE")
    stack.status = "UPDATE_COMPLETE"


def _export_only_when_output_exists() -> None:
    """An Output with a false Condition does not exist on AWS, so neither does its export;
    moto exported it anyway, with the value None (list_exports showed `charter-vpc-id` in an
    account without a VPC, and Fn::ImportValue of it then failed with "No export named")."""
    from moto.cloudformation import parsing

    def exports(self) -> list:
        out = []
        for value in (self._output_json_map or {}).values():
            condition, conditions = value.get("Condition"), self._resource_map.lazy_condition_map
            if not value.get("Export") or (condition and not (condition in conditions and conditions[condition])):
                continue
            out.append(parsing.Export(self._stack_id, parsing.clean_json(value["Export"].get("Name"), self._resource_map),
                                      parsing.clean_json(value.get("Value"), self._resource_map)))
        return out

    parsing.OutputMap.exports = property(exports)


def _add_fn_cidr() -> None:
    """Fn::Cidr, which CloudFormation has and moto 5.2.1 lacks: moto left the function
    unevaluated, so a subnet's `Fn::Select [24, Fn::Cidr [...]]` failed with KeyError 24.

    As AWS defines it: the first `count` blocks of `cidrBits` host bits each (a /21 for 11
    bits of IPv4, a /64 for 64 bits of IPv6) carved from `ipBlock` in address order.
    """
    import ipaddress

    from moto.cloudformation import parsing
    from moto.cloudformation.exceptions import ValidationError

    if getattr(parsing.clean_json, "charter_fn_cidr", False):
        return
    original = parsing.clean_json

    def clean_json(resource_json, resources_map):
        if isinstance(resource_json, dict) and "Fn::Cidr" in resource_json:
            block, count, bits = (original(v, resources_map) for v in resource_json["Fn::Cidr"])
            try:
                network = ipaddress.ip_network(str(block))
                prefix = network.max_prefixlen - int(bits)
                blocks = []
                for subnet in network.subnets(new_prefix=prefix):
                    if len(blocks) == int(count):
                        break
                    blocks.append(str(subnet))
            except ValueError as exc:
                raise ValidationError(message=f"Template error: Fn::Cidr {[block, count, bits]}: {exc}") from None
            if len(blocks) < int(count):
                raise ValidationError(message=f"Template error: Fn::Cidr {block} holds only {len(blocks)} "
                                              f"blocks of {bits} bits, not {count}")
            return blocks
        return original(resource_json, resources_map)

    clean_json.charter_fn_cidr = True  # type: ignore[attr-defined]
    # clean_json recurses through the module's global name, so nested uses are covered too
    parsing.clean_json = clean_json


def _add_lambda_version_attributes() -> None:
    """AWS::Lambda::Version's Ref (the version's ARN) and Fn::GetAtt Version / FunctionArn,
    which moto 5.2.1 lacks: an alias pointing at `!GetAtt V.Version` crashed the request
    (HTTP 500) instead of deploying."""
    from moto.awslambda import models as lam

    original = lam.LambdaVersion.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        version = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        fn = lam.lambda_backends[account_id][region_name].get_function(
            cloudformation_json["Properties"]["FunctionName"])
        version.function_arn = fn.function_arn.split(":$LATEST")[0]  # the unqualified ARN
        return version

    lam.LambdaVersion.create_from_cloudformation_json = classmethod(create)
    lam.LambdaVersion.physical_resource_id = property(lambda self: f"{self.function_arn}:{self.version}")
    lam.LambdaVersion.has_cfn_attr = classmethod(lambda cls, attr: attr in ("Version", "FunctionArn"))
    lam.LambdaVersion.get_cfn_attribute = (
        lambda self, attr: str(self.version) if attr == "Version" else self.function_arn)


def _patch_api_gateway_method() -> None:
    """AWS::ApiGateway::Method as CloudFormation defines it: moto 5.2.1 required
    Integration.IntegrationHttpMethod and Uri, which a MOCK integration has neither of
    (KeyError, HTTP 500), and dropped the integration's request templates, the integration
    responses and the method responses."""
    from moto.apigateway import models as apigw

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        api, resource, verb = props["RestApiId"], props["ResourceId"], props["HttpMethod"]
        backend = apigw.apigateway_backends[account_id][region_name]
        method = backend.put_method(function_id=api, resource_id=resource, method_type=verb,
                                    authorization_type=props.get("AuthorizationType", "NONE"),
                                    api_key_required=props.get("ApiKeyRequired"),
                                    request_parameters=props.get("RequestParameters"),
                                    request_models=props.get("RequestModels"),
                                    operation_name=props.get("OperationName"),
                                    authorizer_id=props.get("AuthorizerId"),
                                    authorization_scopes=props.get("AuthorizationScopes"),
                                    request_validator_id=props.get("RequestValidatorId"))
        for response in props.get("MethodResponses", []):
            backend.put_method_response(api, resource, verb, str(response["StatusCode"]),
                                        response.get("ResponseModels"), response.get("ResponseParameters"))
        integration = props.get("Integration")
        if integration:
            backend.put_integration(
                function_id=api, resource_id=resource, method_type=verb, integration_type=integration["Type"],
                uri=integration.get("Uri"), integration_method=integration.get("IntegrationHttpMethod"),
                credentials=integration.get("Credentials"), request_templates=integration.get("RequestTemplates"),
                passthrough_behavior=integration.get("PassthroughBehavior"),
                cache_namespace=integration.get("CacheNamespace"),
                timeout_in_millis=integration.get("TimeoutInMillis"),
                request_parameters=integration.get("RequestParameters"),
                content_handling=integration.get("ContentHandling"),
                connection_type=integration.get("ConnectionType"))
            for response in integration.get("IntegrationResponses", []):
                backend.put_integration_response(api, resource, verb, str(response["StatusCode"]),
                                                 response.get("SelectionPattern"), response.get("ResponseTemplates"),
                                                 response.get("ResponseParameters"), response.get("ContentHandling"))
        return method

    apigw.Method.create_from_cloudformation_json = classmethod(create)


def _distribution_config(props: dict) -> dict:
    """CloudFormation's DistributionConfig in the shape of CloudFront's API (lists as
    {Quantity, Items}, a few renamed keys), which moto's backend reads."""
    def items(values) -> dict:
        values = list(values or [])
        return {"Quantity": len(values), "Items": values}

    def methods(behavior: dict) -> dict:
        allowed = behavior.get("AllowedMethods") or ["GET", "HEAD"]
        return {**items(allowed), "CachedMethods": items(behavior.get("CachedMethods") or ["GET", "HEAD"])}

    def behavior(b: dict) -> dict:
        return {**{k: v for k, v in b.items() if k not in ("AllowedMethods", "CachedMethods")},
                "AllowedMethods": methods(b)}

    def origin(o: dict) -> dict:
        out = {k: v for k, v in o.items() if k not in ("S3OriginConfig", "CustomOriginConfig", "OriginCustomHeaders")}
        if "S3OriginConfig" in o:
            out["S3OriginConfig"] = {"OriginAccessIdentity": o["S3OriginConfig"].get("OriginAccessIdentity", "")}
        if "CustomOriginConfig" in o:
            c = o["CustomOriginConfig"]
            out["CustomOriginConfig"] = {"HTTPPort": c.get("HTTPPort"), "HTTPSPort": c.get("HTTPSPort"),
                                         "OriginProtocolPolicy": c.get("OriginProtocolPolicy"),
                                         "OriginSslProtocols": items(c.get("OriginSSLProtocols"))}
        out["CustomHeaders"] = items(o.get("OriginCustomHeaders"))
        return out

    import uuid

    config = {k: v for k, v in props.items() if k not in (
        "Aliases", "Origins", "DefaultCacheBehavior", "CacheBehaviors", "CustomErrorResponses", "ViewerCertificate",
        "Logging", "IPV6Enabled")}
    config["CallerReference"] = str(uuid.uuid4())
    config["Aliases"] = items(props.get("Aliases"))
    config["Origins"] = items([origin(o) for o in props.get("Origins", [])])
    config["DefaultCacheBehavior"] = behavior(props.get("DefaultCacheBehavior", {}))
    if props.get("CacheBehaviors"):
        config["CacheBehaviors"] = items([behavior(b) for b in props["CacheBehaviors"]])
    if props.get("CustomErrorResponses"):
        config["CustomErrorResponses"] = items(props["CustomErrorResponses"])
    if "ViewerCertificate" in props:
        v = props["ViewerCertificate"]
        config["ViewerCertificate"] = {"CloudFrontDefaultCertificate": v.get("CloudFrontDefaultCertificate", False),
                                       "ACMCertificateArn": v.get("AcmCertificateArn"),
                                       "IAMCertificateId": v.get("IamCertificateId"),
                                       "SSLSupportMethod": v.get("SslSupportMethod"),
                                       "MinimumProtocolVersion": v.get("MinimumProtocolVersion")}
    if "Logging" in props:
        config["Logging"] = {"Enabled": True, **props["Logging"]}
    if "IPV6Enabled" in props:
        config["IsIPV6Enabled"] = props["IPV6Enabled"]
    return config


def _add_workload_resource_models() -> None:
    """CloudFormation types of the optimizer's workload stacks that moto's APIs implement but
    its CloudFormation skips, and that other resources or outputs read (Fn::GetAtt of a
    skipped resource fails the stack, or crashes moto's output validation). Each is created
    through moto's own backend, so it is then visible through the service's API.

    Bedrock guardrails have no moto backend at all: they are recorded with the identifiers
    AWS gives them (`_recorded`), and are not readable through an API here.
    """
    import json as _json
    import secrets
    from types import SimpleNamespace

    from moto.bedrockagent.models import bedrockagent_backends
    from moto.cloudformation import parsing
    from moto.cloudfront.models import cloudfront_backends
    from moto.cognitoidp.models import cognitoidp_backends
    from moto.opensearchserverless.models import Collection, opensearchserverless_backends
    from moto.utilities.utils import get_partition
    from moto.wafv2.models import wafv2_backends

    def tags_dict(tags) -> dict:
        if isinstance(tags, dict):
            return dict(tags)
        return {t["Key"]: t["Value"] for t in tags or []}

    def user_pool(p, account, region, name):
        config = {k: v for k, v in p.items() if k not in ("UserPoolName", "UserPoolTags")}
        config["UserPoolTags"] = tags_dict(p.get("UserPoolTags"))
        pool = cognitoidp_backends[account][region].create_user_pool(p.get("UserPoolName") or name, config)
        pool.provider_name = f"cognito-idp.{region}.amazonaws.com/{pool.id}"
        pool.provider_url = f"https://{pool.provider_name}"
        return pool

    def web_acl(p, account, region, name):
        acl = wafv2_backends[account][region].create_web_acl(
            p.get("Name") or name, p["VisibilityConfig"], p["DefaultAction"], p["Scope"], p.get("Description"),
            p.get("Tags") or [], p.get("Rules") or [], p.get("AssociationConfig"), p.get("CaptchaConfig"),
            p.get("ChallengeConfig"), p.get("CustomResponseBodies"), p.get("TokenDomains"))
        acl.ref = f"{acl.name}|{acl.id}|{p['Scope']}"  # AWS's Ref of a web ACL
        return acl

    def security_policy(p, account, region, name):
        policy = p["Policy"] if isinstance(p["Policy"], str) else _json.dumps(p["Policy"])
        return opensearchserverless_backends[account][region].create_security_policy(
            None, p.get("Description"), p["Name"], policy, p["Type"])

    def collection(p, account, region, name):
        backend = opensearchserverless_backends[account][region]
        # moto takes the last policy naming the collection, a network one as often as not;
        # the collection's key comes from its encryption policy
        encryption = [sp.policy for sp in backend.security_policies.values()
                      if sp.type == "encryption" and f"collection/{p['Name']}" in sp.resources]
        if not encryption:
            from moto.opensearchserverless.exceptions import ValidationException

            raise ValidationException(msg=f"No matching security policy of encryption type found for collection "
                                          f"name: {p['Name']}")
        key = encryption[-1] if "KmsARN" in encryption[-1] else {**encryption[-1], "KmsARN": "auto"}
        made = Collection(client_token=secrets.token_hex(5), description=p.get("Description", ""), name=p["Name"],
                          standby_replicas=p.get("StandbyReplicas", "ENABLED"), tags=p.get("Tags") or [],
                          type=p.get("Type", "SEARCH"), policy=key, region=region, account_id=account)
        backend.collections[made.id] = made
        # this API's tags are {key, value}, CloudFormation's {Key, Value}
        backend.tag_resource(made.arn, [{"key": t["Key"], "value": t["Value"]} for t in made.tags])
        return made

    def agent(p, account, region, name):
        return bedrockagent_backends[account][region].create_agent(
            p["AgentName"], p.get("AgentResourceRoleArn"), None, p.get("Instruction"), p.get("FoundationModel"),
            p.get("Description"), p.get("IdleSessionTTLInSeconds"), p.get("CustomerEncryptionKeyArn"),
            tags_dict(p.get("Tags")), p.get("PromptOverrideConfiguration"))

    def lower_first(node):
        # CloudFormation spells these structures in PascalCase, the Bedrock API in camelCase
        if isinstance(node, dict):
            return {k[:1].lower() + k[1:]: lower_first(v) for k, v in node.items()}
        if isinstance(node, list):
            return [lower_first(v) for v in node]
        return node

    def knowledge_base(p, account, region, name):
        return bedrockagent_backends[account][region].create_knowledge_base(
            p["Name"], p["RoleArn"], lower_first(p["KnowledgeBaseConfiguration"]),
            lower_first(p["StorageConfiguration"]), None, p.get("Description"), tags_dict(p.get("Tags")))

    def origin_access_control(p, account, region, name):
        return cloudfront_backends[account][get_partition(region)].create_origin_access_control(p["OriginAccessControlConfig"])

    def distribution(p, account, region, name):
        config = _distribution_config(p["DistributionConfig"])
        dist, _, _ = cloudfront_backends[account][get_partition(region)].create_distribution(config, p.get("Tags") or [])
        return dist

    def _recorded(kind: str):
        def create(p, account, region, name):
            ident = secrets.token_hex(6)
            return SimpleNamespace(id=ident, arn=f"arn:aws:bedrock:{region}:{account}:{kind}/{ident}", version="DRAFT")
        return create

    def guardrail_version(p, account, region, name):
        return SimpleNamespace(id="1", version="1")

    _cfn_model("AWS::Cognito::UserPool", user_pool,
               {"Arn": "arn", "ProviderName": "provider_name", "ProviderURL": "provider_url", "UserPoolId": "id"})
    _cfn_model("AWS::WAFv2::WebACL", web_acl,
               {"Arn": "arn", "Id": "id", "Capacity": "capacity", "LabelNamespace": "label_namespace"},
               physical="ref")
    _cfn_model("AWS::OpenSearchServerless::SecurityPolicy", security_policy, physical="name")
    _cfn_model("AWS::OpenSearchServerless::Collection", collection,
               {"Arn": "arn", "Id": "id", "CollectionEndpoint": "collection_endpoint",
                "DashboardEndpoint": "dashboard_endpoint"})
    _cfn_model("AWS::Bedrock::Agent", agent, {"AgentArn": "agent_arn", "AgentId": "agent_id",
                                              "AgentVersion": "agent_version"}, physical="agent_id")
    _cfn_model("AWS::Bedrock::KnowledgeBase", knowledge_base,
               {"KnowledgeBaseArn": "knowledge_base_arn", "KnowledgeBaseId": "knowledge_base_id"},
               physical="knowledge_base_id")
    _cfn_model("AWS::Bedrock::Guardrail", _recorded("guardrail"),
               {"GuardrailArn": "arn", "GuardrailId": "id", "Version": "version"}, physical="arn")
    _cfn_model("AWS::Bedrock::GuardrailVersion", guardrail_version, {"Version": "version"})
    _cfn_model("AWS::CloudFront::OriginAccessControl", origin_access_control, {"Id": "id"})
    _cfn_model("AWS::CloudFront::Distribution", distribution, {"DomainName": "domain_name", "Id": "id"})
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def _failed_resources_roll_back() -> None:
    """A resource that cannot be created fails its stack as on AWS: a CREATE_FAILED event
    names the resource and the reason, what was made is deleted and the stack ends
    ROLLBACK_COMPLETE. moto let the exception escape the CreateStack call (HTTP 500, which
    SDKs report as an unparseable response). Template errors (an unknown export, a Fn::GetAtt
    of an undefined resource) still fail the CreateStack call itself, as on AWS."""
    from moto.cloudformation import exceptions as cfn_errors
    from moto.cloudformation import models as cfn
    from moto.cloudformation import parsing

    original_parse = parsing.parse_and_create_resource
    original_create = cfn.Stack.create_resources

    def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):
        try:
            return original_parse(logical_id, resource_json, resources_map, account_id, region_name)
        except Exception as exc:
            if not hasattr(exc, "charter_resource"):  # the innermost resource is the cause
                exc.charter_resource = (logical_id, resource_json.get("Type", ""))
            raise

    def create_resources(self) -> None:
        try:
            original_create(self)
        except (cfn_errors.ValidationError, cfn_errors.ExportNotFound, cfn_errors.UnformattedGetAttTemplateException):
            # refused as a whole, as AWS refuses it: no stack remains (moto kept a half-made
            # one, whose name then blocked the corrected template) and nothing it made
            backend = cfn.cloudformation_backends[self.account_id][self.region_name]
            backend.stacks.pop(self.stack_id, None)
            for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == self.stack_id]:
                backend.exports.pop(name)
            try:
                self.resource_map.delete()
            except Exception:  # noqa: BLE001, S110 - best effort, what was made before the error
                pass
            raise
        except Exception as exc:  # noqa: BLE001 - the stack fails and rolls back, as on AWS
            logical, kind = getattr(exc, "charter_resource", (self.name, "AWS::CloudFormation::Stack"))
            reason = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
            self.events.append(cfn.Event(stack_id=self.stack_id, stack_name=self.name, logical_resource_id=logical,
                                         physical_resource_id="", resource_type=kind,
                                         resource_status="CREATE_FAILED", resource_status_reason=reason,
                                         resource_properties=None))
            self._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=f"The following resource(s) "
                                                                               f"failed to create: [{logical}].")
            try:
                self.resource_map.delete()
            except Exception:  # noqa: BLE001, S110 - a rollback that cannot delete everything still ends
                pass
            self._add_stack_event("ROLLBACK_COMPLETE")
            self.status = "ROLLBACK_COMPLETE"
            self.rollback_reason = f"{logical}: {reason}"

    parsing.parse_and_create_resource = parse_and_create_resource
    cfn.Stack.create_resources = create_resources


def _add_delegated_admin_services() -> None:
    """Services AWS lets the organization delegate that moto 5.2.1 rejects as "unrecognized
    service principal" (AWS Config's aggregator/conformance-pack delegation, Security Hub,
    Inspector, IAM Identity Center, Backup, CloudTrail, StackSets)."""
    from moto.organizations.models import FakeDelegatedAdministrator

    for principal in ("config.amazonaws.com", "securityhub.amazonaws.com", "inspector2.amazonaws.com",
                      "sso.amazonaws.com", "backup.amazonaws.com", "cloudtrail.amazonaws.com",
                      "member.org.stacksets.cloudformation.amazonaws.com"):
        if principal not in FakeDelegatedAdministrator.SUPPORTED_SERVICES:
            FakeDelegatedAdministrator.SUPPORTED_SERVICES.append(principal)


def _deny_applies(condition: dict) -> bool:
    """Whether a Deny statement's Condition holds for a request to the embedded AWS.
    Only `Bool aws:SecureTransport` can be decided: every SDK reaches AWS over TLS, so it is
    "true" (the local HTTP hop stands in for that). A condition that cannot be decided is
    not assumed to hold: AWS denies only what the condition matches."""
    for operator, values in condition.items():
        if operator != "Bool" or set(values) != {"aws:SecureTransport"}:
            return False
        expected = values["aws:SecureTransport"]
        if "true" not in ([str(v).lower() for v in expected] if isinstance(expected, list) else [str(expected).lower()]):
            return False
    return True


def _patch_bucket_policy_conditions() -> None:
    """moto evaluates a bucket policy's conditions only for StringEquals and treats any
    other condition as matching, so a standard `DenyInsecureTransport` statement
    (Bool aws:SecureTransport false) denied every request. Conditional Deny statements now
    apply only when their condition holds (see `_deny_applies`)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self, action: str, resource: str):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        doc = json.loads(self.policy)
        statements = doc.get("Statement", [])
        statements = statements if isinstance(statements, list) else [statements]
        kept = [st for st in statements
                if not (st.get("Effect") == "Deny" and st.get("Condition") and not _deny_applies(st["Condition"]))]
        return IAMPolicy(json.dumps({**doc, "Statement": kept})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission


def _cfn_model(resource_type: str, create, attributes: dict[str, str] | None = None, physical: str = "id"):
    """Register a CloudFormation model for `resource_type` whose creation calls the moto
    backend (`create(props, account_id, region) -> object`); `attributes` maps Fn::GetAtt
    names to attributes of that object, `physical` names its Ref value."""
    from moto.core.common_models import CloudFormationModel

    attrs = dict(attributes or {})

    class Model(CloudFormationModel):
        def __init__(self, obj) -> None:
            self.obj = obj

        @staticmethod
        def cloudformation_type() -> str:
            return resource_type

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @property
        def physical_resource_id(self) -> str:
            return str(getattr(self.obj, physical))

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in attrs

        def get_cfn_attribute(self, attribute_name: str):
            return getattr(self.obj, attrs[attribute_name])

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            return cls(create(cloudformation_json.get("Properties", {}), account_id, region_name, resource_name))

    Model.__name__ = resource_type.replace("::", "")
    _MODELS.append(Model)
    return Model


def _add_resource_models() -> None:
    """CloudFormation types moto's API implements but its CloudFormation skips (it creates
    nothing and crashes on a Fn::GetAtt of them). Each is created through moto's own backend,
    so the resource is then visible through the service API, as after a real deploy."""
    from types import SimpleNamespace

    from moto.cloudformation import parsing
    from moto.cloudtrail.models import Trail, cloudtrail_backends
    from moto.config.models import config_backends
    from moto.guardduty.models import guardduty_backends
    from moto.s3.models import s3_backends
    from moto.securityhub.models import securityhub_backends

    def trail(p, account, region, name):
        t = cloudtrail_backends[account][region].create_trail(
            p.get("TrailName") or name, p["S3BucketName"],
            p.get("S3KeyPrefix"), p.get("SnsTopicName"), str(p.get("IncludeGlobalServiceEvents", True)).lower() == "true",
            str(p.get("IsMultiRegionTrail", False)).lower() == "true",
            str(p.get("EnableLogFileValidation", False)).lower() == "true",
            str(p.get("IsOrganizationTrail", False)).lower() == "true", p.get("CloudWatchLogsLogGroupArn"),
            p.get("CloudWatchLogsRoleArn"), p.get("KMSKeyId"), p.get("Tags", []))
        if p.get("EventSelectors") or p.get("AdvancedEventSelectors"):
            t.put_event_selectors(p.get("EventSelectors") or [], p.get("AdvancedEventSelectors") or [])
        if p.get("InsightSelectors"):
            t.put_insight_selectors(p["InsightSelectors"])
        if str(p.get("IsLogging", True)).lower() == "true":
            t.start_logging()
        return t

    def detector(p, account, region, name):
        features = [{"Name": f["Name"], "Status": f.get("Status", "ENABLED"),
                     "AdditionalConfiguration": f.get("AdditionalConfiguration", [])} for f in p.get("Features", [])]
        tags = {t["Key"]: t["Value"] for t in p.get("Tags", [])}
        backend = guardduty_backends[account][region]
        return backend.get_detector(backend.create_detector(
            str(p.get("Enable", True)).lower() == "true", p.get("FindingPublishingFrequency", "SIX_HOURS"),
            p.get("DataSources") or {}, tags, features))

    def hub(p, account, region, name):
        backend = securityhub_backends[account][region]
        backend.enable_security_hub(enable_default_standards=str(p.get("EnableDefaultStandards", False)).lower() == "true",
                                    tags=p.get("Tags") or {})
        return SimpleNamespace(arn=f"arn:aws:securityhub:{region}:{account}:hub/default")

    def recorder(p, account, region, name):
        backend = config_backends[account][region]
        name = p.get("Name") or "default"  # AWS's name when none is given
        group = p.get("RecordingGroup") or {"allSupported": True}
        backend.put_configuration_recorder({"name": name, "roleARN": p["RoleARN"], "recordingGroup": {
            k[0].lower() + k[1:]: v for k, v in group.items()}})
        return SimpleNamespace(id=name)

    def channel(p, account, region, name):
        backend = config_backends[account][region]
        name = p.get("Name") or "default"  # AWS's name when none is given
        props = p.get("ConfigSnapshotDeliveryProperties")
        backend.put_delivery_channel({k: v for k, v in {
            "name": name, "s3BucketName": p["S3BucketName"], "s3KeyPrefix": p.get("S3KeyPrefix"),
            "s3KmsKeyArn": p.get("S3KmsKeyArn"), "snsTopicARN": p.get("SnsTopicARN"),
            "configSnapshotDeliveryProperties": {"deliveryFrequency": props["DeliveryFrequency"]} if props else None,
        }.items() if v is not None})
        # AWS::Config::DeliveryChannel is the last piece; CloudFormation then starts recording
        for rec in list(backend.recorders):
            backend.start_configuration_recorder(rec)
        return SimpleNamespace(id=name)

    def bucket_policy(p, account, region, name):
        doc = p["PolicyDocument"]
        s3_backends[account]["aws"].put_bucket_policy(p["Bucket"], (doc if isinstance(doc, str) else json.dumps(doc)).encode())
        return SimpleNamespace(id=p["Bucket"])

    def bucket_anywhere(self):
        # S3 bucket names are global: an organization trail writes to the log-archive
        # account's bucket, which moto looked for in the trail's own account only
        from moto.cloudtrail.exceptions import S3BucketDoesNotExistException

        for account_id in list(s3_backends.keys()):
            if self.bucket_name in s3_backends[account_id][self.partition].buckets:
                return
        raise S3BucketDoesNotExistException(f"S3 bucket {self.bucket_name} does not exist!")

    Trail.check_bucket_exists = bucket_anywhere
    _cfn_model("AWS::CloudTrail::Trail", trail, {"Arn": "arn", "SnsTopicArn": "sns_topic_arn"}, physical="trail_name")
    _cfn_model("AWS::GuardDuty::Detector", detector, {"Id": "id"})
    _cfn_model("AWS::SecurityHub::Hub", hub, {"ARN": "arn"}, physical="arn")
    _cfn_model("AWS::Config::ConfigurationRecorder", recorder)
    _cfn_model("AWS::Config::DeliveryChannel", channel)
    _cfn_model("AWS::S3::BucketPolicy", bucket_policy)
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


#: The endpoint of the running embedded AWS, for custom-resource handlers run in-process.
_ENDPOINT: list[str] = []


def _charter_handler_source(fn) -> str | None:
    """The source of `fn` (a moto Lambda function) when it is one of Charter's own
    custom-resource handlers, byte for byte as synth inlines it; else None."""
    import base64
    import io
    import zipfile

    from landing_zone.builders.account_baseline import handler_code

    try:
        with zipfile.ZipFile(io.BytesIO(base64.b64decode(fn.code["ZipFile"]))) as z:
            source = z.read("index.py").decode()
    except (KeyError, ValueError, zipfile.BadZipFile, TypeError):
        return None
    return source if source == handler_code() else None


def _patch_custom_resources() -> None:
    """Custom:: resources served by Charter's own handler run that handler's code in-process.

    moto sends a custom resource's event to its Lambda in a Docker container and leaves the
    stack CREATE_IN_PROGRESS until the function answers; no Docker here, so nothing ever
    would. When the function's code is exactly the handler Charter inlines (compared byte
    for byte), the embedded AWS runs that same source (its `apply(event, account)`), with
    boto3 pointed at this server as the function's own account and region, and answers
    CloudFormation with its result: SUCCESS with the handler's Data, or the stack fails
    with the handler's exception, as the real Lambda would report it. Any other function
    keeps moto's behaviour.
    """
    import types
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    from moto.awslambda import lambda_backends
    from moto.cloudformation import custom_model
    from moto.cloudformation.exceptions import ValidationError

    from landing_zone.naming import MEMBER_ACCESS_ROLE

    original = custom_model.CustomModel.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        try:
            fn = lambda_backends[account_id][region_name].get_function(props["ServiceToken"])
        except Exception:  # noqa: BLE001 - moto's own path reports the missing function
            fn = None
        source = _charter_handler_source(fn) if fn is not None and _ENDPOINT else None
        if source is None:
            return original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        sessions = SessionFactory.local(_ENDPOINT[-1], region=region_name)
        # the handler's module-level `boto3` becomes one that makes this account's clients
        netloc = urlsplit(_ENDPOINT[-1]).netloc

        def single_host(request, **_):
            # s3control's endpoint rules put the account id in front of the host
            # ("<account>.127.0.0.1:port"); the embedded AWS is one host, routed by path
            parts = urlsplit(request.url)
            if parts.netloc.endswith("." + netloc):
                request.url = urlunsplit(parts._replace(netloc=netloc))

        member = None if account_id == LOCAL_MANAGEMENT_ACCOUNT else account_id
        session = sessions.base if member is None else sessions.assumed(member, MEMBER_ACCESS_ROLE, region_name)

        def client(service, config=None, **kw):
            c = session.client(service, region_name=region_name, endpoint_url=sessions.endpoint_url, config=config)
            c.meta.events.register("before-send", single_host)
            return c

        shim = types.SimpleNamespace(client=client)
        module = types.ModuleType("charter_custom_resource")
        exec(compile(source, "index.py", "exec"), module.__dict__)  # noqa: S102 - Charter's own handler
        module.boto3 = shim
        event = {"RequestType": "Create", "ServiceToken": props["ServiceToken"], "StackId": kwargs["StackId"],
                 "RequestId": str(uuid.uuid4()), "LogicalResourceId": kwargs["LogicalId"],
                 "ResourceType": kwargs["ResourceType"], "ResourceProperties": props}
        try:
            data = module.apply(event, account_id) or {}
        except Exception as exc:  # noqa: BLE001 - CloudFormation reports the handler's failure
            raise ValidationError(message=f"{kwargs['LogicalId']}: custom resource handler failed: "
                                          f"{type(exc).__name__}: {exc}") from None
        resource = custom_model.CustomModel(region_name, event["RequestId"], kwargs["LogicalId"], resource_name)
        resource.set_data(data)
        return resource

    custom_model.CustomModel.create_from_cloudformation_json = classmethod(create)


def _lazy_aws_managed_policies() -> None:
    """Every account has the ~1,300 AWS-managed IAM policies, as in AWS, but each account's
    set is built when that account's IAM is first asked about policies, not up front.

    moto builds the whole set for every account x partition the moment anything touches
    the account (about 1 s per account, most of `create_account`). Here the JSON is parsed
    once per process and each backend gets containers that fill themselves on first use;
    the policies stay per account (their attachment counts are per account), so nothing
    is shared that AWS keeps apart.
    """
    import threading

    from moto.iam import models as iam
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.settings import load_iam_aws_managed_policies

    parsed: dict[str, dict] = {}
    parse_lock = threading.Lock()

    def data() -> dict[str, dict]:
        with parse_lock:
            if not parsed:
                parsed.update(json.loads(aws_managed_policies_data))
        return parsed

    def lazy(base, fill_name: str, methods: tuple[str, ...]):
        """A subclass of `base` whose listed methods first call `self.<fill_name>()`."""
        def wrap(name):
            original = getattr(base, name)

            def method(self, *args, **kwargs):
                getattr(self, fill_name)()
                return original(self, *args, **kwargs)
            return method
        return {name: wrap(name) for name in methods}

    list_methods = ("__iter__", "__len__", "__getitem__", "__contains__", "__reversed__", "index", "count",
                    "__repr__", "__eq__", "copy", "append", "extend", "remove", "pop", "__setitem__",
                    "__delitem__", "insert", "sort", "__add__", "__iadd__")
    dict_methods = ("__iter__", "__len__", "__getitem__", "__contains__", "__setitem__", "__delitem__", "keys",
                    "values", "items", "get", "pop", "popitem", "setdefault", "update", "copy", "__repr__",
                    "__eq__", "__reversed__")

    class LazyPolicies(list):
        def __init__(self, account_id: str, region: str) -> None:
            super().__init__()
            self._args, self._filled, self._lock = (account_id, region), False, threading.RLock()

        def _fill(self) -> None:
            if self._filled:
                return
            with self._lock:
                if not self._filled:  # filled, then marked: another thread never sees it half-built
                    list.extend(self, [iam.AWSManagedPolicy.from_data(name, *self._args, d)
                                       for name, d in data().items()])
                    self._filled = True

        locals().update(lazy(list, "_fill", list_methods))

    class LazyManagedPolicies(dict):
        def __init__(self, source: LazyPolicies) -> None:
            super().__init__()
            self._source, self._filled, self._lock = source, False, threading.RLock()

        def _fill(self) -> None:
            if self._filled:
                return
            with self._lock:
                if not self._filled:
                    for policy in self._source:
                        dict.__setitem__(self, policy.arn, policy)
                    self._filled = True

        locals().update(lazy(dict, "_fill", dict_methods))

    def init_aws(self):
        if not load_iam_aws_managed_policies():
            return []
        return LazyPolicies(self.account_id, self.region_name)

    def init_managed(self):
        if isinstance(self.aws_managed_policies, LazyPolicies):
            return LazyManagedPolicies(self.aws_managed_policies)
        return {p.arn: p for p in self.aws_managed_policies}

    iam.IAMBackend._init_aws_policies = init_aws
    iam.IAMBackend._init_managed_policies = init_managed


def _add_ebs_default_kms_key_read() -> None:
    """GetEbsDefaultKmsKeyId, the read of what ModifyEbsDefaultKmsKeyId (which moto has)
    sets; AWS answers the AWS-managed `alias/aws/ebs` key when none was chosen."""
    from moto.core.responses import ActionResult
    from moto.ec2.responses.settings import Settings

    def get_ebs_default_kms_key_id(self) -> ActionResult:
        self.error_on_dryrun()
        backend = self.ec2_backend
        default = f"arn:{backend.partition}:kms:{backend.region_name}:{backend.account_id}:alias/aws/ebs"
        return ActionResult({"KmsKeyId": backend.default_kms_key_id or default})

    Settings.get_ebs_default_kms_key_id = get_ebs_default_kms_key_id


def _attach_role_managed_policies() -> None:
    """AWS::IAM::Role's ManagedPolicyArns, which moto's CloudFormation ignores: the role came
    out with none of its managed policies (the evidence reader without SecurityAudit). An
    ARN that does not exist fails the resource, as on AWS."""
    from moto.iam import models as iam
    from moto.settings import load_iam_aws_managed_policies
    from moto.utilities.utils import get_partition

    original = iam.Role.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        role = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        backend = iam.iam_backends[account_id][get_partition(region_name)]
        for arn in cloudformation_json["Properties"].get("ManagedPolicyArns", []):
            if ":iam::aws:policy/" in arn and not load_iam_aws_managed_policies():
                continue  # started without AWS-managed policies (MOTO_IAM_LOAD_MANAGED_POLICIES=false)
            backend.attach_role_policy(arn, role.name)
        return role

    iam.Role.create_from_cloudformation_json = classmethod(create)


def _server_class():
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class GuardedMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:  # same as moto's, with the guarded app
            self._server = make_server(self._ip_address, self._port, _guarded_app(), True)
            self._server_ready_event.set()
            self._server.serve_forever()

    return GuardedMotoServer


class _SkippedTypeFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No Moto CloudFormation support")


class LocalAws:
    """A moto server in a background thread. Use as a context manager."""

    def __init__(self, port: int = 0, region: str = "us-east-1") -> None:
        self.requested_port = port
        self.region = region
        self._server = None
        self.port = 0

    def start(self) -> LocalAws:
        _patch_moto()
        # AWS-managed policies (ReadOnlyAccess, SecurityAudit, ...) exist in every real account;
        # moto loads them only when asked
        os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        # werkzeug logs every request to stderr; the CLI's own progress is the output
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto's CloudFormation says, per resource, which types it only records (Config
        # rules, alarms, ...): its own limits, not the user's problem, on every deploy
        moto_log = logging.getLogger("moto")
        if not any(isinstance(f, _SkippedTypeFilter) for f in moto_log.filters):
            moto_log.addFilter(_SkippedTypeFilter())
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        server = _server_class()(ip_address="127.0.0.1", port=self.requested_port, verbose=False)
        try:
            server.start()
        except OSError as exc:
            raise LocalAwsError(f"cannot start the embedded AWS on 127.0.0.1:{self.requested_port}: {exc.strerror}",
                                hint="pass --port 0 to pick a free port") from None
        self._server = server
        self.port = server.get_host_and_port()[1]
        _ENDPOINT.append(self.endpoint_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            if self.endpoint_url in _ENDPOINT:
                _ENDPOINT.remove(self.endpoint_url)
            self._server = None

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """Environment variables that point the AWS CLI and SDKs at this server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
        }

    def sessions(self) -> SessionFactory:
        return SessionFactory.local(self.endpoint_url, region=self.region)


@contextmanager
def aws_sessions(*, local: bool, profile: str | None, region: str) -> Iterator[SessionFactory]:
    """The factory every AWS-facing command uses: embedded AWS with --local, else the profile."""
    if local:
        with LocalAws(region=region) as server:
            yield server.sessions()
    else:
        yield SessionFactory(profile=profile, region=region)

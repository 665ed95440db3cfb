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
    """Service-managed StackSet instances as AWS makes them (moto 5.2.1 differs in four ways):

    - AWS never deploys a service-managed instance to the organization's management
      account, even when the target is Root; moto did, colliding with the management stacks.
    - AWS reaches every account in the target OUs' whole subtree; moto only one level down.
    - AWS honours DeploymentTargets.Accounts with AccountFilterType (INTERSECTION,
      DIFFERENCE, UNION) and never duplicates an existing instance; moto ignored both.
    - Each instance is a real stack in its account and region (named StackSet-<name>-<id>),
      so its Outputs' exports are importable there and it sees the exports of the stacks
      already in that account; moto's was hidden, without exports or imports.
    An instance whose stack fails is reported by the instance (DetailedStatus FAILED and
    the reason), not as an error of the whole CreateStackInstances call, and is created
    again by UpdateStackInstances (how deploy retries it).
    """
    from moto.cloudformation import models as cfn
    from moto.moto_api._internal import mock_random

    def init(self, account_id, region_name, stackset_id, stack_name, name, template, parameters,
             permission_model):
        self.account_id, self.region_name, self.stackset_id = account_id, region_name, stackset_id
        self.stack_name, self.name, self.template = stack_name, name, template
        self.parameters = parameters or []
        self.permission_model = permission_model
        self.status, self.detailed, self.reason = "CURRENT", "SUCCEEDED", ""
        params = parameters if isinstance(parameters, dict) else {
            p["ParameterKey"]: p["ParameterValue"] for p in (parameters or [])}
        prefix = "StackSet:" if permission_model == "SELF_MANAGED" else "StackSet-"
        suffix = "" if permission_model == "SELF_MANAGED" else f"-{mock_random.uuid4()}"
        self.stack = None
        backend = cfn.cloudformation_backends[account_id][region_name]
        stack_name = f"{prefix}{name}{suffix}"
        try:
            self.stack = backend.create_stack(name=stack_name, template=template, parameters=params)
        except Exception as exc:  # noqa: BLE001 - the instance fails, as on AWS
            self.status, self.detailed = "OUTDATED", "FAILED"
            self.reason = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
            # AWS rolls a failed creation back: what was made goes, so a retry can make it again
            for stack_id, stack in list(backend.stacks.items()):
                if stack.name == stack_name:
                    try:
                        stack.delete()
                    except Exception:  # noqa: BLE001, S110 - best effort, like a rollback that cannot delete
                        pass
                    backend.stacks.pop(stack_id, None)

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

    def create_instances(self, accounts, regions, parameters, deployment_targets, permission_model):
        org = self.org_backend
        targets = list(accounts)
        if permission_model == "SERVICE_MANAGED":
            ous = set(deployment_targets.get("OrganizationalUnitIds", []))
            grew = True
            while grew:  # the whole subtree of every target OU
                below = {ou.id for ou in org.ou if ou.parent_id in ous}
                grew = not below <= ous
                ous |= below
            in_ous = [a.id for a in org.accounts if a.parent_id in ous]
            named = list(deployment_targets.get("Accounts", []) or [])
            how = deployment_targets.get("AccountFilterType", "NONE" if not named else "INTERSECTION")
            targets = {"INTERSECTION": [a for a in in_ous if a in named],
                       "DIFFERENCE": [a for a in in_ous if a not in named],
                       "UNION": in_ous + [a for a in named if a not in in_ous]}.get(how, in_ous)
            management = org.org.master_account_id if org.org else None
            targets = [a for a in targets if a != management]
        have = {(i.account_id, i.region_name) for i in self.stack_instances}
        new = [cfn.StackInstance(account_id=a, region_name=r, stackset_id=self.stackset_id,
                                 stack_name=self.stack_name, name=self.stackset_name, template=self.template,
                                 parameters=parameters, permission_model=permission_model)
               for r in regions for a in dict.fromkeys(targets) if (a, r) not in have]
        self.stack_instances += new
        return [i.to_dict() for i in new]

    def update(self, accounts, regions, parameters):
        # an instance that failed is created again (AWS retries it on UpdateStackInstances)
        for instance in self.stack_instances:
            if instance.account_id in accounts and instance.region_name in regions:
                if instance.detailed == "FAILED":
                    instance.__init__(instance.account_id, instance.region_name, instance.stackset_id,
                                      instance.stack_name, instance.name, self.template, parameters or instance.parameters,
                                      instance.permission_model)
                elif parameters:
                    instance.parameters = parameters

    cfn.StackInstance.__init__ = init
    cfn.StackInstance.delete = delete
    cfn.StackInstance.to_dict = to_dict
    cfn.StackInstances.create_instances = create_instances
    cfn.StackInstances.update = update


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

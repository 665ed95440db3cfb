"""What deploy needs from a synthesized template: its body, its parameter values, its
per-resource hashes and controls (for per-control plans), and an S3 URL when it is too
big to send inline."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions
import yaml

from charter.aws import error_code
from charter.landing_zone.synth import PlannedStack

from .context import PENDING
from .errors import PlanMissingError
from .run import Change, Run

INLINE_MAX = 51_200


@dataclass
class Template:
    planned: PlannedStack
    body: str
    data: dict[str, Any]
    #: Stack-level parameter values (context + defaults left to CloudFormation).
    parameters: dict[str, str] = field(default_factory=dict)
    #: account id -> parameter -> value.
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.planned.stack_name

    @property
    def parameters_sha256(self) -> str:
        blob = json.dumps({"p": self.parameters, "o": self.overrides}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def parameter_list(self) -> list[dict[str, str]]:
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(self.parameters.items())]

    def tags(self) -> list[dict[str, str]]:
        return [{"Key": "ManagedBy", "Value": "charter"},
                {"Key": "charter:template-sha256", "Value": self.planned.sha256},
                {"Key": "charter:parameters-sha256", "Value": self.parameters_sha256}]

    def resources(self) -> dict[str, list[str]]:
        return resource_index(self.data)


def resource_index(data: dict[str, Any]) -> dict[str, list[str]]:
    out = {}
    for lid, res in (data.get("Resources") or {}).items():
        digest = hashlib.sha256(json.dumps(res, sort_keys=True, default=str).encode()).hexdigest()[:12]
        ctrls = ((res.get("Metadata") or {}).get("Charter") or {}).get("Controls") or []
        out[lid] = [digest, res.get("Type", ""), *ctrls]
    return out


def control_diff(old: dict[str, list[str]], new: dict[str, list[str]]) -> dict[str, list[str]]:
    """control id -> ['+ Key (AWS::KMS::Key)', '~ Bucket', '- Old'] from two resource indexes."""
    out: dict[str, list[str]] = {}
    for lid in sorted(set(old) | set(new)):
        a, b = old.get(lid), new.get(lid)
        if a and b and a[0] == b[0]:
            continue
        mark = "+" if not a else "-" if not b else "~"
        entry = b or a or []
        for ctrl in (entry[2:] or ["(no control)"]):
            out.setdefault(ctrl, []).append(f"{mark} {lid} ({entry[1]})")
    return out


def control_lines(diff: dict[str, list[str]]) -> list[str]:
    """Compact per-control lines: controls with the same changed resources share one line,
    e.g. `DAT-01, ENC-02: ~ AccessLogBucket, + Topic`."""
    merged: dict[tuple[str, ...], list[str]] = {}
    for control, entries in diff.items():
        key = tuple(e.split(" (")[0] for e in entries)
        merged.setdefault(key, []).append(control)
    return sorted(f"{', '.join(sorted(ctrls))}: {', '.join(res)}" for res, ctrls in merged.items())


def load(run: Run, planned: PlannedStack) -> Template:
    path = Path(run.out_dir) / planned.file
    try:
        body = path.read_text()
    except FileNotFoundError:
        raise PlanMissingError(f"{path}: template listed in plan.json is missing",
                               hint=f"re-run `charter synth -o {run.out_dir}`") from None
    data = yaml.safe_load(body) or {}
    tpl = Template(planned, body, data)
    context = run.ctx.values(run.cfg)
    lookups = _Lookups(run, planned.facts.get("resolve") or {})
    for pname, spec in (data.get("Parameters") or {}).items():
        if pname in context:
            tpl.parameters[pname] = context[pname]
        elif "Default" in spec:
            continue
        elif any(pname in o for o in planned.deployment.parameter_overrides.values()):
            continue
        else:
            value = lookups.value(pname)
            if value:
                tpl.parameters[pname] = value
            else:
                tpl.missing.append(pname + (f" ({lookups.errors[pname]})" if pname in lookups.errors else ""))
    for account, values in planned.deployment.parameter_overrides.items():
        tpl.overrides[run.ctx.account_id(account)] = dict(values)
    return tpl


class _Lookups:
    """Parameters a builder asks deploy to look up (`facts["resolve"]`): account ids by
    account name, IAM Identity Center's instance ARN and group ids by display name."""

    def __init__(self, run: Run, resolve: dict[str, Any]) -> None:
        self.run = run
        self.accounts: dict[str, str] = dict(resolve.get("accounts") or {})
        self.groups: dict[str, str] = dict(resolve.get("groups") or {})
        self.sso = {k for k, v in resolve.items() if isinstance(v, dict) and v.get("sso_instance")}
        self.errors: dict[str, str] = {}
        self._instance: tuple[str, str] | None = None

    def value(self, name: str) -> str | None:
        try:
            if name in self.accounts:
                aid = self.run.ctx.account_id(self.accounts[name])
                return aid if aid and aid != PENDING else None
            if self.run.sessions is None or self.run.ctx.management_account_id in ("", PENDING):
                return None  # offline plan: looked up at deploy
            if name in self.sso:
                return self.instance()[0]
            if name in self.groups:
                return self.group_id(self.groups[name])
        except (botocore.exceptions.ClientError, LookupError) as exc:
            self.errors[name] = str(exc) if isinstance(exc, LookupError) else f"{error_code(exc)} looking it up"
        return None

    def group_id(self, display_name: str) -> str:
        store = self.instance()[1]
        ids = self.run.client("identitystore")
        try:
            return ids.get_group_id(IdentityStoreId=store, AlternateIdentifier={"UniqueAttribute": {
                "AttributePath": "displayName", "AttributeValue": display_name}})["GroupId"]
        except botocore.exceptions.ClientError as exc:
            stand_in = self.run.sessions is not None and not self.run.sessions.capabilities.identity_provider
            if error_code(exc) != "ResourceNotFoundException" or not stand_in:
                raise
        # On AWS the groups come from the identity provider (SCIM) and a missing one is a
        # failure to fix there. The embedded AWS has no identity provider (its capabilities
        # say so): deploy stands in for it, creating the group by its display name, and says so.
        created = self.run.mutate(Change("identity-group", display_name, "create",
                                         ["in the embedded AWS's identity store (on AWS: your identity provider)"]),
                                  ids.create_group, IdentityStoreId=store, DisplayName=display_name,
                                  Description="Created by charter deploy on the embedded AWS (stands in for SCIM)")
        self.run.note(f"identity/{display_name}: group created in the embedded AWS (on AWS your identity provider "
                      "provides it)")
        return PENDING if created is None else created["GroupId"]  # None: a dry run

    def instance(self) -> tuple[str, str]:
        if self._instance is None:
            instances = self.run.client("sso-admin").list_instances().get("Instances", [])
            if not instances:
                raise LookupError("IAM Identity Center is not enabled; enable it or set baseline.identity.instance_arn")
            self._instance = (instances[0]["InstanceArn"], instances[0]["IdentityStoreId"])
        return self._instance


def body_args(run: Run, tpl: Template) -> dict[str, str]:
    """TemplateBody inline, or TemplateURL after uploading to the template bucket."""
    if len(tpl.body.encode()) <= run.cfg.limits.template_max_bytes_inline:
        return {"TemplateBody": tpl.body}
    bucket = ensure_bucket(run)
    key = f"charter/{tpl.planned.name}/{tpl.planned.sha256}.yaml"
    s3 = run.client("s3")
    run.mutate(Change("stack", tpl.name, "upload", [f"s3://{bucket}/{key} ({len(tpl.body):,} bytes)"]),
               s3.put_object, Bucket=bucket, Key=key, Body=tpl.body.encode(), ServerSideEncryption="AES256")
    return {"TemplateURL": f"https://{bucket}.s3.{run.home}.amazonaws.com/{key}"}


def ensure_bucket(run: Run) -> str:
    """`deployment.template_bucket`, or a private, encrypted, versioned bucket deploy creates."""
    if run.cfg.deployment.template_bucket:
        return run.cfg.deployment.template_bucket
    mgmt = run.ctx.management_account_id or PENDING
    bucket = f"charter-templates-{mgmt}-{run.home}"
    s3 = run.client("s3")
    try:
        s3.get_bucket_location(Bucket=bucket)
        return bucket
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) not in ("NoSuchBucket", "404"):
            raise
    args: dict[str, Any] = {"Bucket": bucket}
    if run.home != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": run.home}
    run.mutate(Change("stack", bucket, "create", ["template bucket (private, encrypted, versioned)"]),
               s3.create_bucket, **args)
    run.mutate(Change("stack", bucket, "update", ["block public access"]), s3.put_public_access_block,
               Bucket=bucket, PublicAccessBlockConfiguration={k: True for k in (
                   "BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")})
    run.mutate(Change("stack", bucket, "update", ["versioning"]), s3.put_bucket_versioning,
               Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def parse_body(body: Any) -> dict[str, Any]:
    """A template body as returned by AWS (a YAML/JSON string, or already parsed)."""
    if isinstance(body, dict):
        return body
    try:
        return yaml.safe_load(body) or {}
    except yaml.YAMLError:
        return {}

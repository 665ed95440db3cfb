"""An organization on the embedded AWS with the evidence stack deployed through CloudFormation,
for the state machine's tests: N member accounts, the evidence reader in each (except those
asked to lack it), the management account standing in for the audit account."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from charter.aws import SessionFactory
from charter.config.model import OrgConfig
from charter.landing_zone.config import load_config
from charter.landing_zone.deploy.assets import package_zip
from charter.local import LOCAL_MANAGEMENT_ACCOUNT
from charter.naming import MEMBER_ACCESS_ROLE

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "examples" / "small" / "org.yaml"
STACK = "charter-evidence-store"


def config(**run: Any) -> OrgConfig:
    cfg = load_config(CONFIG)
    baseline = cfg.baseline.model_copy(update={"evidence_run": cfg.baseline.evidence_run.model_copy(update=run)})
    return cfg.model_copy(update={"baseline": baseline})


def organization(sessions: SessionFactory, members: int) -> tuple[str, list[str]]:
    org = sessions.client("organizations")
    try:
        org_id = org.describe_organization()["Organization"]["Id"]
    except Exception:  # noqa: BLE001
        org_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    ids = []
    for n in range(members):
        status = org.create_account(AccountName=f"member{n:02d}", Email=f"aws+member{n:02d}@acme-corp.example")
        ids.append(status["CreateAccountStatus"]["AccountId"])
    return org_id, ids


def _role(iam: Any, props: dict[str, Any]) -> None:
    iam.create_role(RoleName=props["RoleName"], AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]))
    for p in props.get("Policies", []):
        iam.put_role_policy(RoleName=props["RoleName"], PolicyName=p["PolicyName"],
                            PolicyDocument=json.dumps(p["PolicyDocument"]))
    for arn in props.get("ManagedPolicyArns", []):
        iam.attach_role_policy(RoleName=props["RoleName"], PolicyArn=arn)


def readers(sessions: SessionFactory, cfg: OrgConfig, org_id: str, accounts: list[str]) -> None:
    """The evidence reader (trusting the audit account's collector, here the management
    account's) in `accounts` and the management account; the operator in the management account."""
    from charter.landing_zone.builders.identity import operator_template, roles_template
    from charter.policy.cfn import resolve

    params = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "ManagementAccountId": LOCAL_MANAGEMENT_ACCOUNT,
              "AuditAccountId": LOCAL_MANAGEMENT_ACCOUNT, "OrganizationId": org_id}
    reader = roles_template(cfg).to_dict()["Resources"]["EvidenceReaderRole"]["Properties"]
    for account in [LOCAL_MANAGEMENT_ACCOUNT, *accounts]:
        iam = sessions.client("iam") if account == LOCAL_MANAGEMENT_ACCOUNT else \
            sessions.client("iam", account_id=account, role_name=MEMBER_ACCESS_ROLE)
        _role(iam, resolve(reader, params | {"AWS::AccountId": account}))
    operator = operator_template(cfg).to_dict()["Resources"]["EvidenceOperatorRole"]["Properties"]
    _role(sessions.client("iam"), resolve(operator, params | {"AWS::AccountId": LOCAL_MANAGEMENT_ACCOUNT}))


def deploy_evidence_stack(sessions: SessionFactory, cfg: OrgConfig, org_id: str) -> dict[str, str]:
    """The evidence-store stack of `cfg`, its code asset uploaded first (as deploy does)."""
    from charter.landing_zone.builders.evidence_store import build

    spec, *replicas = build(cfg)
    for replica in replicas:  # S3 refuses a replication rule into a bucket that does not exist yet
        _create(sessions.client("cloudformation", region=replica.deployment.regions[0]), f"{STACK}-replica",
                replica.template.to_json(), [{"ParameterKey": "AuditAccountId",
                                              "ParameterValue": LOCAL_MANAGEMENT_ACCOUNT}])
    asset = spec.facts["assets"][0]
    region = cfg.organization.home_region
    s3 = sessions.client("s3")
    assets = asset["bucket"].replace("${AWS::AccountId}", LOCAL_MANAGEMENT_ACCOUNT).replace("${AWS::Region}", region)
    s3.create_bucket(Bucket=assets)
    s3.put_object(Bucket=assets, Key=asset["default_key"], Body=package_zip(cfg, asset))
    return _create(sessions.client("cloudformation"), STACK, spec.template.to_json(),
                   [{"ParameterKey": "AuditAccountId", "ParameterValue": LOCAL_MANAGEMENT_ACCOUNT},
                    {"ParameterKey": "OrganizationId", "ParameterValue": org_id}])


def _create(cfn: Any, name: str, body: str, parameters: list[dict[str, str]]) -> dict[str, str]:
    """Create stack `name` and wait for it; its outputs."""
    cfn.create_stack(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"], Parameters=parameters)
    for _ in range(600):
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS"):
            break
        time.sleep(0.5)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
        reasons = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events
                   if e.get("ResourceStatusReason")]
        raise AssertionError(f"{stack['StackStatus']}: {reasons[:5]}")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def wait_execution(sfn: Any, arn: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(1)
    raise AssertionError(f"{arn} still RUNNING after {timeout} s")

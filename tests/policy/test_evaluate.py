"""The evaluator against AWS's documented policy evaluation logic.

Each row is a case from the IAM User Guide ("Policy evaluation logic", "Determining
whether a request is allowed or denied within an account", "Cross-account policy
evaluation logic", "IAM JSON policy elements: Condition operators", "NotAction",
"NotResource", "SCP evaluation") or the Organizations User Guide ("SCP evaluation":
inheritance, FullAWSAccess, management account and service-linked roles), written as a
request, the policies that apply, and the outcome AWS documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from charter.policy import Policy, Principal, Request, evaluate, evaluate_assume
from charter.policy.matching import arn_matches, condition_holds

MEMBER = "111111111111"
OTHER = "222222222222"
MGMT = "999999999999"

FULL = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def scp(name: str, *statements: dict[str, Any]) -> Policy:
    return Policy.parse("scp", name, doc(*statements))


FULL_AWS_ACCESS = scp("FullAWSAccess", FULL)


def ident(*statements: dict[str, Any]) -> list[Policy]:
    return [Policy.parse("identity", "inline", doc(*statements))]


ROLE = Principal.role(MEMBER, "AppRole", session="s1")
ADMIN = ident(FULL)


@dataclass
class Case:
    id: str
    action: str
    allowed: bool
    resource: str | None = "*"
    principal: Principal = ROLE
    identity: list[Policy] = field(default_factory=lambda: ADMIN)
    scps: list[tuple[str, list[Policy]]] = field(default_factory=lambda: [("Root", [FULL_AWS_ACCESS])])
    boundary: dict[str, Any] | None = None
    resource_policy: dict[str, Any] | None = None
    resource_required: bool = False
    context: dict[str, Any] = field(default_factory=dict)
    region: str = "us-east-1"
    resource_account: str | None = None
    #: the decision's policy kind for a denial
    by: str | None = None


def deny_scp(*statements: dict[str, Any]) -> list[tuple[str, list[Policy]]]:
    return [("Root", [FULL_AWS_ACCESS, scp("guardrails", *statements)])]


CASES = [
    # -- the basics: default deny, allow, deny wins -------------------------------------
    Case("implicit deny without any identity allow", "s3:GetObject", False, identity=[], by="identity"),
    Case("identity allow grants", "s3:GetObject", True, identity=ident({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})),
    Case("explicit deny in identity beats its allow", "s3:GetObject", False,
         identity=ident(FULL, {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}), by="identity"),
    Case("actions are case-insensitive", "S3:getobject", True, identity=ident({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})),
    Case("action wildcard with ?", "s3:GetObject", True, identity=ident({"Effect": "Allow", "Action": "s3:Ge?Object", "Resource": "*"})),
    Case("action prefix wildcard", "iam:ListRoles", True, identity=ident({"Effect": "Allow", "Action": "iam:List*", "Resource": "*"})),
    Case("action prefix wildcard does not reach other verbs", "iam:CreateRole", False,
         identity=ident({"Effect": "Allow", "Action": "iam:List*", "Resource": "*"}), by="identity"),
    Case("sts:GetCallerIdentity needs no permission, even under an explicit deny", "sts:GetCallerIdentity", True,
         identity=ident({"Effect": "Deny", "Action": "*", "Resource": "*"})),
    Case("NotAction allows everything else", "ec2:RunInstances", True,
         identity=ident({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})),
    Case("NotAction excludes the named service (PowerUserAccess shape)", "iam:CreateRole", False,
         identity=ident({"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}), by="identity"),
    Case("resource ARN wildcard", "s3:GetObject", True, resource="arn:aws:s3:::logs/2024/a.json",
         identity=ident({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"})),
    Case("resource ARN of another bucket", "s3:GetObject", False, resource="arn:aws:s3:::other/a.json",
         identity=ident({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"}), by="identity"),
    Case("ARN components match one by one (region wildcard)", "logs:PutLogEvents", True,
         resource=f"arn:aws:logs:eu-west-1:{MEMBER}:log-group:/app:log-stream:x",
         identity=ident({"Effect": "Allow", "Action": "logs:*", "Resource": f"arn:aws:logs:*:{MEMBER}:log-group:/app:*"})),
    Case("NotResource allows other resources", "s3:GetObject", True, resource="arn:aws:s3:::public/a",
         identity=ident({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"})),
    Case("NotResource excludes the named resources", "s3:GetObject", False, resource="arn:aws:s3:::secret/a",
         identity=ident({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"}), by="identity"),
    Case("Deny with NotResource denies everything else", "s3:GetObject", False, resource="arn:aws:s3:::other/a",
         identity=ident(FULL, {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::mine/*"}), by="identity"),

    # -- SCPs ---------------------------------------------------------------------------
    Case("SCP allow-list: FullAWSAccess at every level", "ec2:RunInstances", True,
         scps=[("Root", [FULL_AWS_ACCESS]), ("OU Prod", [FULL_AWS_ACCESS]), ("account prod", [FULL_AWS_ACCESS])]),
    Case("SCP allow-list: a level without FullAWSAccess", "ec2:RunInstances", False,
         scps=[("Root", [FULL_AWS_ACCESS]), ("OU Prod", [scp("s3-only", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})])],
         by="scp"),
    Case("SCP allow-list: the level allows the service", "s3:PutObject", True,
         scps=[("Root", [FULL_AWS_ACCESS]), ("OU Prod", [scp("s3-only", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})])]),
    Case("SCP does not grant: an SCP allow without identity allow", "s3:PutObject", False, identity=[], by="identity"),
    Case("SCP explicit deny beats AdministratorAccess", "organizations:LeaveOrganization", False,
         scps=deny_scp({"Effect": "Deny", "Action": "organizations:LeaveOrganization", "Resource": "*"}), by="scp"),
    Case("SCP deny on a child OU is inherited only there", "organizations:LeaveOrganization", False,
         scps=[("Root", [FULL_AWS_ACCESS]), ("OU Prod", [FULL_AWS_ACCESS, scp(
             "ou", {"Effect": "Deny", "Action": "organizations:*", "Resource": "*"})])], by="scp"),
    Case("SCPs do not apply to the management account", "organizations:LeaveOrganization", True,
         principal=Principal.role(MGMT, "Admin"),
         scps=deny_scp({"Effect": "Deny", "Action": "*", "Resource": "*"})),
    Case("SCPs do not apply to service-linked roles", "config:PutConfigurationRecorder", True,
         principal=Principal.role(MEMBER, "AWSServiceRoleForConfig", path="/aws-service-role/config.amazonaws.com/"),
         scps=deny_scp({"Effect": "Deny", "Action": "config:*", "Resource": "*"})),
    Case("SCPs apply to the member account's root user", "ec2:RunInstances", False, principal=Principal.root(MEMBER),
         scps=deny_scp({"Effect": "Deny", "Action": "*", "Resource": "*",
                        "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:root"}}}), by="scp"),
    Case("SCP deny exempting a role by aws:PrincipalArn (assumed-role session is the role ARN)",
         "s3:PutAccountPublicAccessBlock", True, principal=Principal.role(MEMBER, "CharterDeployRole", session="deploy"),
         scps=deny_scp({"Effect": "Deny", "Action": "s3:PutAccountPublicAccessBlock", "Resource": "*",
                        "Condition": {"ArnNotLike": {"aws:PrincipalARN": ["arn:aws:iam::*:role/CharterDeployRole"]}}})),
    Case("the same deny reaches a role not in the exemption", "s3:PutAccountPublicAccessBlock", False,
         principal=Principal.role(MEMBER, "CharterAccountBaseline-us-east-1", session="lambda"),
         scps=deny_scp({"Effect": "Deny", "Action": "s3:PutAccountPublicAccessBlock", "Resource": "*",
                        "Condition": {"ArnNotLike": {"aws:PrincipalARN": ["arn:aws:iam::*:role/CharterDeployRole"]}}}),
         by="scp"),
    Case("region deny with NotAction exempts global services", "iam:CreateRole", True, region="ap-south-1",
         scps=deny_scp({"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*",
                        "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1"]}}})),
    Case("region deny hits regional services outside the list", "ec2:RunInstances", False, region="ap-south-1",
         scps=deny_scp({"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*",
                        "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1"]}}}), by="scp"),
    Case("region deny leaves governed regions alone", "ec2:RunInstances", True, region="us-east-1",
         scps=deny_scp({"Effect": "Deny", "NotAction": ["iam:*"], "Resource": "*",
                        "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["us-east-1"]}}})),
    Case("SCP deny scoped to protected role names", "iam:DeleteRole", False,
         resource=f"arn:aws:iam::{MEMBER}:role/CharterEvidenceReader",
         scps=deny_scp({"Effect": "Deny", "Action": "iam:DeleteRole", "Resource": "arn:aws:iam::*:role/Charter*"}), by="scp"),
    Case("SCP deny scoped to protected role names spares others", "iam:DeleteRole", True,
         resource=f"arn:aws:iam::{MEMBER}:role/app-role",
         scps=deny_scp({"Effect": "Deny", "Action": "iam:DeleteRole", "Resource": "arn:aws:iam::*:role/Charter*"})),

    # -- conditions ----------------------------------------------------------------------
    Case("Bool aws:SecureTransport false denies plain HTTP", "s3:GetObject", False, context={"aws:SecureTransport": "false"},
         scps=deny_scp({"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
         by="scp"),
    Case("Bool aws:SecureTransport false spares TLS", "s3:GetObject", True,
         scps=deny_scp({"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})),
    Case("missing key: StringEquals is false (allow does not apply)", "s3:GetObject", False,
         identity=ident({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "data"}}}),
         by="identity"),
    Case("missing key: StringNotEquals is true (deny applies)", "s3:GetObject", False,
         identity=ident(FULL, {"Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "data"}}}),
         by="identity"),
    Case("...IfExists: missing key makes the condition true", "s3:GetObject", True,
         identity=ident({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEqualsIfExists": {"aws:PrincipalTag/team": "data"}}})),
    Case("Null true matches an absent key", "s3:GetObject", False,
         identity=ident(FULL, {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Null": {"aws:PrincipalTag/team": "true"}}}),
         by="identity"),
    Case("values of one key are ORed", "s3:GetObject", True, context={"aws:PrincipalTag/team": "ml"},
         identity=ident({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["data", "ml"]}}})),
    Case("keys and operators are ANDed", "s3:GetObject", False, context={"aws:PrincipalTag/team": "ml"},
         identity=ident({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {
             "StringEquals": {"aws:PrincipalTag/team": "ml"}, "Bool": {"aws:MultiFactorAuthPresent": "true"}}}), by="identity"),
    Case("condition keys are case-insensitive", "s3:GetObject", True, context={"aws:principaltag/Team": "ml"},
         identity=ident({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/Team": "ml"}}})),
    Case("StringLike with wildcard", "s3:GetObject", True, context={"s3:prefix": "home/alice/x"},
         identity=ident({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"StringLike": {"s3:prefix": "home/*"}}})),
    Case("NumericLessThan", "sts:AssumeRole", True, context={"aws:MultiFactorAuthAge": "300"},
         identity=ident({"Effect": "Allow", "Action": "sts:*", "Resource": "*", "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}})),
    Case("NumericLessThan too old", "sts:AssumeRole", False, context={"aws:MultiFactorAuthAge": "7200"},
         identity=ident({"Effect": "Allow", "Action": "sts:*", "Resource": "*", "Condition": {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}}),
         by="identity"),
    Case("DateLessThan", "s3:GetObject", True, context={"aws:CurrentTime": "2024-01-01T00:00:00Z"},
         identity=ident({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"DateLessThan": {"aws:CurrentTime": "2025-01-01T00:00:00Z"}}})),
    Case("IpAddress in CIDR", "s3:GetObject", True, context={"aws:SourceIp": "10.1.2.3"},
         identity=ident({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}})),
    Case("NotIpAddress outside CIDR denies", "s3:GetObject", False, context={"aws:SourceIp": "192.0.2.1"},
         identity=ident(FULL, {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}),
         by="identity"),
    Case("ForAnyValue:StringEquals on a multivalued key", "s3:GetObject", True, context={"aws:TagKeys": ["env", "owner"]},
         identity=ident({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "owner"}}})),
    Case("ForAllValues:StringEquals with an extra value fails", "s3:GetObject", False, context={"aws:TagKeys": ["env", "secret"]},
         identity=ident({"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "owner"]}}}),
         by="identity"),
    Case("policy variable in Resource", "s3:GetObject", True, resource="arn:aws:s3:::home/AppRole/x",
         identity=ident({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::home/${aws:PrincipalTag/name}/*"}),
         context={"aws:PrincipalTag/name": "AppRole"}),

    # -- boundaries -----------------------------------------------------------------------
    Case("boundary caps an identity allow", "iam:CreateUser", False,
         boundary={"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, by="boundary"),
    Case("boundary and identity both allow", "s3:GetObject", True, boundary={"Effect": "Allow", "Action": "s3:*", "Resource": "*"}),
    Case("boundary alone grants nothing", "s3:GetObject", False, identity=[],
         boundary={"Effect": "Allow", "Action": "*", "Resource": "*"}, by="identity"),

    # -- resource policies ------------------------------------------------------------------
    Case("same account: bucket policy naming the role grants without identity allow", "s3:GetObject", True,
         identity=[], resource="arn:aws:s3:::b/k",
         resource_policy={"Effect": "Allow", "Principal": {"AWS": ROLE.arn}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
    Case("bucket policy explicit deny beats admin", "s3:GetObject", False, resource="arn:aws:s3:::b/k",
         resource_policy={"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}, by="resource"),
    Case("cross-account: identity allow alone is not enough", "s3:GetObject", False, resource="arn:aws:s3:::b/k",
         resource_account=OTHER, resource_policy={"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                                                   "Action": "s3:*", "Resource": "*"}, by="resource"),
    Case("cross-account: both sides allow", "s3:GetObject", True, resource="arn:aws:s3:::b/k", resource_account=OTHER,
         resource_policy={"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:root"}, "Action": "s3:*", "Resource": "*"}),
    Case("KMS key policy enabling IAM through the root: identity allow decides", "kms:Decrypt", True, resource_required=True,
         resource=f"arn:aws:kms:us-east-1:{MEMBER}:key/1",
         resource_policy={"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:root"}, "Action": "kms:*", "Resource": "*"}),
    Case("KMS key policy without the principal or the root: denied even for admins", "kms:Decrypt", False,
         resource_required=True, resource=f"arn:aws:kms:us-east-1:{MEMBER}:key/1",
         resource_policy={"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MEMBER}:role/Other"}, "Action": "kms:*", "Resource": "*"},
         by="resource"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_documented_evaluation(case: Case) -> None:
    req = Request(case.principal, case.action, case.resource, case.region, case.context,
                  resource_account=case.resource_account)
    decision = evaluate(
        req, scps=case.scps, identity=case.identity,
        boundary=Policy.parse("boundary", "boundary", doc(case.boundary)) if case.boundary else None,
        resource_policy=Policy.parse("resource", "resource policy", doc(case.resource_policy)) if case.resource_policy else None,
        resource_policy_required=case.resource_required, management_account=MGMT)
    assert decision.allowed is case.allowed, decision.reason
    if not case.allowed:
        assert decision.policy_kind == case.by, decision


def test_at_least_forty_documented_cases() -> None:
    assert len(CASES) >= 40


# -- trust policies (sts:AssumeRole) ---------------------------------------------------------

READER_TRUST = Policy.parse("trust", "trust policy of CharterEvidenceReader", doc({
    "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
    "Condition": {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{OTHER}:role/CharterEvidenceCollector"}}}))
READER = f"arn:aws:iam::{MEMBER}:role/CharterEvidenceReader"
ASSUME = ident({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})


@pytest.mark.parametrize("caller, identity, allowed", [
    (Principal.role(OTHER, "CharterEvidenceCollector", session="lambda"), ASSUME, True),
    (Principal.role(OTHER, "CharterEvidenceCollector", session="lambda"), [], False),  # account delegation: needs identity allow
    (Principal.role(OTHER, "AWSReservedSSO_Admin_123", session="alice"), ASSUME, False),  # trust excludes the caller
    (Principal.root(MGMT), [], False),
], ids=["collector", "collector-without-identity-allow", "operator-not-trusted", "management-root"])
def test_trust_policy(caller: Principal, identity: list[Policy], allowed: bool) -> None:
    decision = evaluate_assume(caller, READER, READER_TRUST, region="us-east-1", identity=identity)
    assert decision.allowed is allowed, decision.reason


def test_service_principal_trust() -> None:
    trust = Policy.parse("trust", "trust", doc({"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}))
    role = f"arn:aws:iam::{MEMBER}:role/Fn"
    assert evaluate_assume(Principal.service("lambda.amazonaws.com"), role, trust, region="us-east-1").allowed
    assert not evaluate_assume(Principal.service("ec2.amazonaws.com"), role, trust, region="us-east-1").allowed


def test_explicit_deny_message_names_the_policy_type() -> None:
    req = Request(ROLE, "s3:PutAccountPublicAccessBlock", "*", "us-east-1")
    decision = evaluate(req, scps=deny_scp({"Sid": "DAT01", "Effect": "Deny", "Action": "s3:PutAccount*", "Resource": "*"}),
                        identity=ADMIN)
    assert decision.sid == "DAT01"
    assert decision.aws_message(req) == (
        f"User: arn:aws:sts::{MEMBER}:assumed-role/AppRole/s1 is not authorized to perform: "
        "s3:PutAccountPublicAccessBlock on resource: * with an explicit deny in a service control policy")


def test_arn_components_do_not_leak_across_colons() -> None:
    assert not arn_matches("arn:aws:iam::*:role/x", "arn:aws:iam:us-east-1:1:role/x")
    assert arn_matches("arn:aws:iam::*:role/*", "arn:aws:iam::123:role/a/b")


def test_unknown_operator_is_an_error() -> None:
    with pytest.raises(ValueError):
        Policy.parse("identity", "x", doc({"Effect": "Allow", "Action": "*", "Resource": "*",
                                          "Condition": {"StringEqualz": {"a": "b"}}}))
    with pytest.raises(ValueError):
        condition_holds("Nope", "k", ["v"], {"k": "v"})

"""Identity: Identity Center permission sets and assignments, break-glass and evidence roles.

(IAM-06, IAM-07, IAM-08.) Stacks:

- `stackset-roles` (management account, home region, wave 20): the self-managed StackSet
  administration and execution roles that let Charter's self-managed StackSets
  (`kms-management`, `account-baseline-management`, `identity-roles-management`) reach the
  management account, which service-managed StackSets never do. The execution role may
  only do what those templates need, scoped to this account (no AdministratorAccess).
- `identity` (management account, home region, wave 20, when identity is enabled): the
  IAM Identity Center permission sets (managed policies and session length from config;
  Administrator one hour), each ARN an output. The group assignments are not resources of
  the template: one `AWS::SSO::Assignment` per group, permission set and account made this
  stack grow with the organization (past ~480 assignments it broke CloudFormation's
  500-resource limit, and ~200 accounts its 200-parameter limit, one account id each), and
  Identity Center has no OU-level assignment to fold them into. `facts["assignments"]`
  lists them by group and permission set, and `charter deploy` reconciles them through the
  Identity Center API once this stack is in place (`landing_zone/deploy/assignments.py`):
  it creates what is missing and deletes what left org.yaml, reading group ids by display
  name and account ids from the organization it has just reconciled. The instance ARN
  comes from `identity.instance_arn` or the `IdentityCenterInstanceArn` parameter
  (deploy: sso-admin:ListInstances).
- `identity-roles` (service-managed StackSet to Root, home region only: IAM is global) and
  `identity-roles-management` (self-managed StackSet to the management account): in every
  account, the MFA-gated break-glass role trusted only by the management account, and the
  read-only `CharterEvidenceReader` trusted only by the audit account's
  `CharterEvidenceCollector` role. Trust policies name the account and pin the exact role
  with `aws:PrincipalArn`, which IAM accepts before the collector role exists (a role ARN
  as Principal would fail CreateRole until then) and is equally strict.
"""

from __future__ import annotations

from awacs.aws import (
    Action,
    Allow,
    ArnEquals,
    Bool,
    Condition,
    NumericLessThan,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Tags, Template
from troposphere.iam import Policy, Role
from troposphere.sso import PermissionSet

from charter.config.model import OrgConfig
from charter.errors import SynthError
from charter.landing_zone.builders.kms import ADMIN_ACTIONS, BREAK_GLASS_ROLE
from charter.landing_zone.context import context_parameter
from charter.landing_zone.metadata import controls, suppress
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import (
    EVIDENCE_COLLECTOR_ROLE,
    EVIDENCE_OPERATOR_ROLE,
    EVIDENCE_READER_ROLE,
    STACKSET_ADMIN_ROLE,
    STACKSET_EXECUTION_ROLE,
    logical_id,
    permission_set_output,
)

#: The management-account stack holding the self-managed StackSet roles; every self-managed
#: StackSet to the management account depends on it.
STACKSET_ROLES_STACK = "stackset-roles"
#: AWS managed policies that live under the job-function/ path.
JOB_FUNCTION_POLICIES = {"ViewOnlyAccess", "Billing", "DatabaseAdministrator", "DataScientist",
                         "NetworkAdministrator", "SupportUser", "SystemAdministrator"}
BREAK_GLASS_SESSION_SECONDS = 3600
#: Read calls of the evidence collectors and access reviews that SecurityAudit and
#: ViewOnlyAccess lack (`charter preflight` names any that goes missing).
READER_EXTRA_READS = ("backup:GetBackupPlan",)
#: What an operator's CLI does as `CharterEvidenceOperator` in the management account.
OPERATOR_READS = (
    "organizations:DescribeOrganization", "organizations:ListAccounts", "sso:ListInstances", "sso:ListPermissionSets",
    "sso:DescribePermissionSet", "sso:ListAccountAssignments", "identitystore:DescribeUser",
    "identitystore:DescribeGroup", "access-analyzer:ListAnalyzers", "access-analyzer:ListFindings",
)


def managed_policy_arn(name: str) -> Sub | str:
    if name.startswith("arn:"):
        return name
    path = "job-function/" if name in JOB_FUNCTION_POLICIES else ""
    return Sub(f"arn:${{AWS::Partition}}:iam::aws:policy/{path}{name}")


def _actions(*names: str) -> list[Action]:
    return [Action(*n.split(":", 1)) for n in names]


def _arn(service: str, resource: str, region: str = "*") -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:{service}:{region}:${{AWS::AccountId}}:{resource}")


# -- management account: permission sets, assignments, StackSet roles ---------------------

def _stackset_roles(t: Template, cfg: OrgConfig) -> None:
    access_log_prefix = f"{cfg.organization.name}-s3-access-logs"
    admin_trust = PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=Principal("Service", "cloudformation.amazonaws.com"), Action=_actions("sts:AssumeRole"),
        Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))))])
    exec_arn = Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{STACKSET_EXECUTION_ROLE}")
    admin = t.add_resource(controls(Role(
        "StackSetAdministrationRole", RoleName=STACKSET_ADMIN_ROLE, AssumeRolePolicyDocument=admin_trust,
        MaxSessionDuration=3600, Description="Self-managed StackSets: assumes the execution role in the management account",
        Policies=[Policy(PolicyName="assume-execution-role", PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[
            Statement(Effect=Allow, Action=_actions("sts:AssumeRole"), Resource=[exec_arn])]))],
        Tags=Tags(ManagedBy="charter")), "IAM-06"))

    exec_trust = PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Principal=Principal("AWS", GetAtt(admin, "Arn")), Action=_actions("sts:AssumeRole"))])
    # Exactly what Charter's self-managed StackSets (kms-management, account-baseline-management,
    # identity-roles-management) create in this account, each scoped to this account.
    statements = [
        Statement(Sid="StackInstances", Effect=Allow, Action=[Action("cloudformation", "*")],
                  Resource=[_arn("cloudformation", "stack/StackSet-charter-*")]),
        Statement(Sid="ReadExports", Effect=Allow, Action=_actions("cloudformation:ListExports"), Resource=["*"]),
        # CreateKey has no resource-level permission; the key policy then governs the key
        Statement(Sid="CreateKeys", Effect=Allow, Action=_actions("kms:CreateKey", "kms:TagResource", "kms:ListAliases"), Resource=["*"]),
        Statement(Sid="AdministerKeys", Effect=Allow, Action=_actions(*ADMIN_ACTIONS),
                  Resource=[_arn("kms", "key/*"), _arn("kms", "alias/*")]),
        Statement(Sid="CharterRoles", Effect=Allow, Action=_actions(
            "iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole", "iam:UpdateRoleDescription",
            "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
            "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
            "iam:TagRole", "iam:UntagRole", "iam:PassRole", "iam:PutRolePermissionsBoundary",
            "iam:DeleteRolePermissionsBoundary"),
                  Resource=[_arn("iam", "role/Charter*", "")]),
        Statement(Sid="BaselineFunction", Effect=Allow, Action=[Action("lambda", "*")],
                  Resource=[_arn("lambda", "function:charter-*")]),
        Statement(Sid="BaselineLogs", Effect=Allow, Action=[Action("logs", "*")],
                  Resource=[_arn("logs", "log-group:*"), _arn("logs", "log-group:*:*")]),
        # the Lambda handler also reads its code signing, concurrency and runtime settings,
        # the VPC it could attach to and the key of its environment (AWS::Lambda::Function's handlers)
        Statement(Sid="BaselineFunctionSettings", Effect=Allow, Action=_actions(
            "lambda:GetCodeSigningConfig", "lambda:GetLayerVersion", "ec2:DescribeSecurityGroups",
            "ec2:DescribeSubnets", "ec2:DescribeVpcs", "ec2:DescribeNetworkInterfaces",
            "elasticfilesystem:DescribeMountTargets", "logs:CreateLogDelivery", "logs:DescribeResourcePolicies",
            "logs:PutResourcePolicy", "firehose:TagDeliveryStream"), Resource=["*"]),
        Statement(Sid="BaselineKeyUse", Effect=Allow, Action=_actions("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"),
                  Resource=[_arn("kms", "key/*")]),
        # the account baseline's S3 server-access-log bucket and its policy in this account (LOG-05)
        Statement(Sid="AccessLogBucket", Effect=Allow, Action=[Action("s3", "*")],
                  Resource=[Sub(f"arn:${{AWS::Partition}}:s3:::{access_log_prefix}-${{AWS::AccountId}}-*"),
                            Sub(f"arn:${{AWS::Partition}}:s3:::{access_log_prefix}-${{AWS::AccountId}}-*/*")]),
        Statement(Sid="AccessLogBucketTables", Effect=Allow, Action=[Action("s3tables", "*")],
                  Resource=[Sub(f"arn:${{AWS::Partition}}:s3tables:*:${{AWS::AccountId}}:bucket/{access_log_prefix}-*")]),
    ]
    role = Role(STACKSET_EXECUTION_ROLE.replace("AWSCloudFormation", ""), RoleName=STACKSET_EXECUTION_ROLE,
                AssumeRolePolicyDocument=exec_trust, MaxSessionDuration=3600,
                Description="Self-managed StackSets: deploys Charter's baseline stacks into the management account",
                Policies=[Policy(PolicyName="charter-baseline-deploy",
                                 PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements))],
                Tags=Tags(ManagedBy="charter"))
    t.add_resource(controls(role, "IAM-06"))


def assignments_by_grant(cfg: OrgConfig) -> list[dict[str, object]]:
    """`facts["assignments"]`: [{"group", "permission_set", "accounts": [names]}], one entry
    per group and permission set, in config order."""
    grants: dict[tuple[str, str], list[str]] = {}
    for group, ps_name, account in assignment_targets(cfg):
        grants.setdefault((group, ps_name), []).append(account)
    return [{"group": g, "permission_set": p, "accounts": names} for (g, p), names in grants.items()]


def assignment_targets(cfg: OrgConfig) -> list[tuple[str, str, str]]:
    """(group, permission set, account name) triples, deduplicated, in config order."""
    id_cfg = cfg.baseline.identity
    names = {p.name for p in id_cfg.permission_sets}
    accounts = {a.name for a in cfg.accounts}
    out: dict[tuple[str, str, str], None] = {}  # ordered and O(1) to deduplicate (thousands of accounts)
    for i, a in enumerate(id_cfg.assignments):
        if a.permission_set not in names:
            raise SynthError(f"baseline.identity.assignments[{i}]: unknown permission set '{a.permission_set}'",
                             hint=f"use one of {sorted(names)} or add it to baseline.identity.permission_sets")
        targets = list(a.accounts) + [x.name for x in cfg.accounts_in(*a.environments)]
        for name in targets:
            if name not in accounts:
                raise SynthError(f"baseline.identity.assignments[{i}]: unknown account '{name}'",
                                 hint="name an account from `accounts:`")
            out[(a.group, a.permission_set, name)] = None
    return list(out)


def stackset_roles_template(cfg: OrgConfig) -> Template:
    t = Template(Description="Charter: self-managed StackSet administration and execution roles for the management account")
    _stackset_roles(t, cfg)
    return t


def management_template(cfg: OrgConfig) -> tuple[Template | None, dict[str, object]]:
    id_cfg = cfg.baseline.identity
    t = Template(Description="Charter: IAM Identity Center permission sets (IAM-06); deploy assigns them")
    resolve: dict[str, object] = {}
    if not id_cfg.enabled:
        return None, resolve
    if id_cfg.instance_arn:
        instance = id_cfg.instance_arn
    else:
        t.add_parameter(Parameter("IdentityCenterInstanceArn", Type="String",
                                  AllowedPattern=r"^arn:aws[a-z-]*:sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}$",
                                  Description="IAM Identity Center instance ARN (deploy: sso-admin ListInstances)"))
        instance = Ref("IdentityCenterInstanceArn")
        resolve["IdentityCenterInstanceArn"] = {"sso_instance": True}

    permission_sets = {}
    for ps in id_cfg.permission_sets:
        res = PermissionSet(
            logical_id("PermissionSet", ps.name), InstanceArn=instance, Name=ps.name,
            Description=ps.description or f"Charter {ps.name} ({ps.session_hours} h sessions)",
            SessionDuration=f"PT{ps.session_hours}H",
            ManagedPolicies=[managed_policy_arn(p) for p in ps.managed_policies],
            Tags=Tags(ManagedBy="charter"))
        permission_sets[ps.name] = t.add_resource(controls(res, "IAM-06"))

    for name, res in permission_sets.items():
        t.add_output(Output(permission_set_output(name), Value=GetAtt(res, "PermissionSetArn"),
                            Description=f"ARN of permission set {name} (deploy assigns it)"))
    return t, resolve


# -- every account: break-glass and evidence reader -------------------------------------

def roles_template(cfg: OrgConfig) -> Template:
    t = Template(Description="Charter: MFA-gated break-glass role and read-only evidence role (IAM-07, IAM-08)")
    # the trust policies below Sub these in
    context_parameter(t, "AuditAccountId")

    if cfg.baseline.identity.break_glass:
        context_parameter(t, "ManagementAccountId")
        trust = PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Sid="ManagementAccountWithRecentMfa", Effect=Allow, Action=_actions("sts:AssumeRole"),
            Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${ManagementAccountId}:root")),
            Condition=Condition([Bool("aws:MultiFactorAuthPresent", True),
                                 NumericLessThan("aws:MultiFactorAuthAge", BREAK_GLASS_SESSION_SECONDS)]))])
        role = Role("BreakGlassRole", RoleName=BREAK_GLASS_ROLE, AssumeRolePolicyDocument=trust,
                    MaxSessionDuration=BREAK_GLASS_SESSION_SECONDS,
                    Description="Emergency access: MFA required, one-hour sessions; every use alerts (MON-08)",
                    ManagedPolicyArns=[managed_policy_arn("AdministratorAccess")], Tags=Tags(ManagedBy="charter"))
        # checkov's CKV_AWS_274 matches only a literal ARN, not our partition-aware Sub; the
        # suppression records the deliberate admin grant for the control matrix anyway
        suppress(role, "CKV_AWS_274", "Break-glass is by definition full access; MFA-gated, 1 h sessions, management-account only, alerted and reviewed")
        t.add_resource(controls(role, "IAM-07"))

    context_parameter(t, "ManagementAccountId")
    collector = Sub(f"arn:${{AWS::Partition}}:iam::${{AuditAccountId}}:role/{EVIDENCE_COLLECTOR_ROLE}")
    operator = Sub(f"arn:${{AWS::Partition}}:iam::${{ManagementAccountId}}:role/{EVIDENCE_OPERATOR_ROLE}")
    trust = PolicyDocument(Version="2012-10-17", Statement=[
        # the scheduled collector in the audit account
        Statement(Sid="EvidenceCollector", Effect=Allow, Action=_actions("sts:AssumeRole"),
                  Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AuditAccountId}:root")),
                  Condition=Condition(ArnEquals("aws:PrincipalArn", collector))),
        # an operator's CLI (evidence collect, access-review), through the operator role
        Statement(Sid="EvidenceOperator", Effect=Allow, Action=_actions("sts:AssumeRole"),
                  Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${ManagementAccountId}:root")),
                  Condition=Condition(ArnEquals("aws:PrincipalArn", operator))),
    ])
    t.add_resource(controls(Role(
        "EvidenceReaderRole", RoleName=EVIDENCE_READER_ROLE, AssumeRolePolicyDocument=trust, MaxSessionDuration=3600,
        Description=f"Read-only evidence collection, assumable only by {EVIDENCE_COLLECTOR_ROLE} (audit account) "
                    f"and {EVIDENCE_OPERATOR_ROLE} (management account)",
        ManagedPolicyArns=[managed_policy_arn("SecurityAudit"), managed_policy_arn("ViewOnlyAccess")],
        # reads the collectors make that SecurityAudit and ViewOnlyAccess do not grant (preflight checks the sum)
        Policies=[Policy(PolicyName="collector-reads", PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[
            Statement(Sid="ReadsBeyondSecurityAudit", Effect=Allow, Action=_actions(*READER_EXTRA_READS),
                      Resource=["*"])]))],
        Tags=Tags(ManagedBy="charter")), "IAM-08"))
    return t


def operator_template(cfg: OrgConfig) -> Template:
    """`CharterEvidenceOperator` in the management account: what an operator's CLI becomes to
    read evidence and access in every account (the reader trusts it), assumable by the
    management account's principals that IAM allows to (its administrators)."""
    t = Template(Description="Charter: the evidence operator role for charter evidence collect and access reviews (IAM-08)")
    org_id = context_parameter(t, "OrganizationId")
    trust = PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Sid="ManagementAccountPrincipals", Effect=Allow, Action=_actions("sts:AssumeRole"),
        Principal=Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")))])
    policy = PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="AssumeEvidenceReader", Effect=Allow, Action=_actions("sts:AssumeRole"),
                  Resource=[Sub(f"arn:${{AWS::Partition}}:iam::*:role/{EVIDENCE_READER_ROLE}")],
                  Condition=Condition(StringEquals("aws:ResourceOrgID", Ref(org_id)))),
        Statement(Sid="ReadOrganizationAndIdentityCenter", Effect=Allow, Action=_actions(*OPERATOR_READS),
                  Resource=["*"]),
    ])
    t.add_resource(controls(Role(
        "EvidenceOperatorRole", RoleName=EVIDENCE_OPERATOR_ROLE, AssumeRolePolicyDocument=trust, MaxSessionDuration=3600,
        Description="Operators' evidence collection and access reviews from the CLI: assumes CharterEvidenceReader",
        Policies=[Policy(PolicyName="evidence-operator", PolicyDocument=policy)], Tags=Tags(ManagedBy="charter")),
        "IAM-08"))
    return t


@builder("identity", controls=["IAM-06", "IAM-07", "IAM-08"],
         description="Identity Center permission sets and assignments, break-glass and evidence reader roles.",
         grows_with="baseline.identity.permission_sets")
def build(cfg: OrgConfig) -> list[StackSpec]:
    home = cfg.organization.home_region
    mgmt, resolve = management_template(cfg)
    roles = roles_template(cfg)
    specs = [StackSpec(STACKSET_ROLES_STACK, stackset_roles_template(cfg),
                       Deployment(kind="stack", account="management", regions=[home], order=20)),
             StackSpec("evidence-operator", operator_template(cfg),
                       Deployment(kind="stack", account="management", regions=[home], order=20))]
    if mgmt is not None:
        # separate from the StackSet roles: an Identity Center problem must not block the baselines
        specs.append(StackSpec("identity", mgmt, Deployment(kind="stack", account="management", regions=[home], order=20),
                               facts={"resolve": resolve, "assignments": assignments_by_grant(cfg),
                                      "session_hours": {p.name: p.session_hours for p in cfg.baseline.identity.permission_sets}},
                               grows_with="baseline.identity.permission_sets"))
    return specs + [
        StackSpec("identity-roles", roles, Deployment(
            kind="stackset", permission_model="SERVICE_MANAGED", regions=[home], target_ous=["Root"], order=30)),
        StackSpec("identity-roles-management", roles, Deployment(
            kind="stackset", permission_model="SELF_MANAGED", regions=[home], target_accounts=["management"],
            order=30, depends_on=[STACKSET_ROLES_STACK])),
    ]

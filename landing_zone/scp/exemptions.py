"""Charter's own principals and the guardrail statements each is exempt from: one table.

Every guardrail that protects what Charter manages (CloudTrail, Config, detection, the S3
account public access block, Charter's roles and stacks, the governed regions) denies
everyone except the principals listed here, each exempt from exactly the statements its
work needs. A guardrail statement never lists principals itself: it asks this module
(`unless_charter(cfg, sid)`), so adding a principal or narrowing an exemption is one edit,
and `charter preflight` checks the result against every call Charter makes.

Why each one is here:
- the deploy role (`scps.admin_role`) runs `charter deploy` and the StackSet execution
  roles (AWS's service-managed `stacksets-exec-*`, the self-managed
  `AWSCloudFormationStackSetExecutionRole`) apply the baselines in every account;
- `OrganizationAccountAccessRole` deploys the plain stacks of member accounts (log
  archive, detection, security alerting, config aggregator, evidence store) and carries out
  access-review revocations; it trusts only the management account, which can already
  change or remove every SCP, so the exemption gives nobody a power they lack;
- the account-baseline custom resource's role (`CharterAccountBaseline-<region>`) sets the
  S3 account public access block the DAT-01 guardrail protects, and runs in the DR region;
- the workload pipeline's deploy role updates the workload's own `charter-optimizer-*`
  stacks (and nothing else of Charter's: its IAM rights stop at the workload's roles,
  each under a permissions boundary).
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs.aws import ArnNotLike, Condition

from charter.config.model import OrgConfig
from charter.naming import (
    ACCOUNT_BASELINE_ROLE_PREFIX,
    MEMBER_ACCESS_ROLE,
    STACKSET_EXECUTION_ROLE,
    workload_deploy_role_name,
)

#: Sids of the guardrail statements that exempt Charter's principals.
PROTECT_CLOUDTRAIL = "LOG02ProtectCloudTrail"
PROTECT_CONFIG = "MON02ProtectConfig"
PROTECT_DETECTION = "MON03ProtectDetection"
PROTECT_S3_PAB = "DAT01ProtectS3PublicAccessBlock"
DENY_REGIONS = "ORG03DenyUngovernedRegions"
PROTECT_ROLES = "ORG04ProtectCharterRoles"
PROTECT_STACKS = "ORG04ProtectCharterStacks"
ALL = frozenset({PROTECT_CLOUDTRAIL, PROTECT_CONFIG, PROTECT_DETECTION, PROTECT_S3_PAB, DENY_REGIONS,
                 PROTECT_ROLES, PROTECT_STACKS})


@dataclass(frozen=True)
class CharterPrincipal:
    #: IAM role name or pattern, as in `arn:aws:iam::*:role/<role>`.
    role: str
    what: str
    exempt_from: frozenset[str]

    @property
    def arn_pattern(self) -> str:
        return f"arn:aws:iam::*:role/{self.role}"


def charter_principals(cfg: OrgConfig) -> list[CharterPrincipal]:
    """Every principal Charter acts through, with its exemptions."""
    out = [
        CharterPrincipal(cfg.scps.admin_role, "runs charter deploy (management account)", ALL),
        CharterPrincipal("stacksets-exec-*", "service-managed StackSet execution role (every member account)", ALL),
        CharterPrincipal(STACKSET_EXECUTION_ROLE, "self-managed StackSet execution role", ALL),
        CharterPrincipal(MEMBER_ACCESS_ROLE, "member-account stacks and access-review revocations", ALL),
        CharterPrincipal(f"{ACCOUNT_BASELINE_ROLE_PREFIX}-*", "account-baseline custom resource",
                         frozenset({PROTECT_S3_PAB, DENY_REGIONS})),
    ]
    if cfg.workloads.optimizer is not None and cfg.workloads.optimizer.cicd is not None:
        out.append(CharterPrincipal(workload_deploy_role_name(cfg), "workload pipeline deploy role",
                                    frozenset({PROTECT_STACKS})))
    return out


def exempt_arns(cfg: OrgConfig, sid: str) -> list[str]:
    return [p.arn_pattern for p in charter_principals(cfg) if sid in p.exempt_from]


def unless_charter(cfg: OrgConfig, sid: str) -> Condition:
    """The condition that lets Charter's principals exempt from `sid` through it."""
    return Condition(ArnNotLike("aws:PrincipalARN", exempt_arns(cfg, sid)))

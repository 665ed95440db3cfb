"""Names derived from the config, in one place so every builder agrees on them."""

from __future__ import annotations

import re

from charter.config.model import OrgConfig


def logical_id(*parts: str) -> str:
    """CloudFormation logical id (alphanumeric) from free-form parts: ('log-archive', 'key') -> LogArchiveKey."""
    words = [w for part in parts for w in re.split(r"[^A-Za-z0-9]+", part) if w]
    return "".join(w[:1].upper() + w[1:] for w in words)


def stack_name(cfg: OrgConfig, short: str) -> str:
    """The CloudFormation stack / StackSet name; `charter-` prefixed so the guardrail protects it."""
    return f"charter-{short}"


def resource_name(cfg: OrgConfig, *parts: str) -> str:
    """A physical name prefix like `acme-log-archive` (lowercase, dash separated)."""
    return "-".join([cfg.organization.name, *[p.lower() for p in parts]])


# -- names other stacks and the evidence collectors rely on -----------------------------
# Physical names that cross stack or account boundaries are fixed here, so a builder, a
# collector and a runbook can never disagree about them.

#: Read-only role in every account, assumed by the evidence collector (SecurityAudit + ViewOnlyAccess).
EVIDENCE_READER_ROLE = "CharterEvidenceReader"
#: The collector's own role in the audit account (the only principal the reader role trusts).
EVIDENCE_COLLECTOR_ROLE = "CharterEvidenceCollector"
#: Role `charter deploy` assumes in member accounts (created by Organizations CreateAccount).
MEMBER_ACCESS_ROLE = "OrganizationAccountAccessRole"
#: Self-managed StackSet roles, names as AWS documents them.
STACKSET_ADMIN_ROLE = "AWSCloudFormationStackSetAdministrationRole"
STACKSET_EXECUTION_ROLE = "AWSCloudFormationStackSetExecutionRole"
#: The account-baseline custom resource's role, `<prefix>-<region>` in every account.
ACCOUNT_BASELINE_ROLE_PREFIX = "CharterAccountBaseline"
#: Operators' role in the management account for evidence collection and access reviews from
#: the CLI: the evidence reader trusts it beside the collector.
EVIDENCE_OPERATOR_ROLE = "CharterEvidenceOperator"


def workload_deploy_role_name(cfg: OrgConfig, workload: str = "optimizer") -> str:
    """The role a workload's pipeline assumes in each environment's account."""
    return f"{cfg.organization.name}-{workload}-deploy"


def workload_boundary_name(cfg: OrgConfig, environment: str, workload: str = "optimizer") -> str:
    """The permissions boundary of every role a workload's pipeline creates or changes."""
    return f"{cfg.organization.name}-{environment}-{workload}-boundary"


def permission_set_output(name: str) -> str:
    """The identity stack's output holding permission set `name`'s ARN (deploy assigns it)."""
    return logical_id("PermissionSet", name, "Arn")


def log_bucket_name(cfg: OrgConfig, kind: str) -> str:
    """A bucket in the log-archive account (kind: cloudtrail, config, flow-logs), for `Fn::Sub`
    with the `LogArchiveAccountId` context parameter."""
    return f"{cfg.organization.name}-{kind}-${{LogArchiveAccountId}}-{cfg.organization.home_region}"


def access_log_bucket_name(cfg: OrgConfig) -> str:
    """The S3 server-access-log bucket of the account and region a stack runs in (for `Fn::Sub`).
    S3 delivers access logs only to a bucket in the same account and region."""
    return f"{cfg.organization.name}-s3-access-logs-${{AWS::AccountId}}-${{AWS::Region}}"


def evidence_bucket_name(cfg: OrgConfig) -> str:
    """The Object Lock evidence bucket in the audit account (for `Fn::Sub` with `AuditAccountId`)."""
    return f"{cfg.organization.name}-evidence-${{AuditAccountId}}-{cfg.organization.home_region}"


def kms_alias(cfg: OrgConfig, environment: str) -> str:
    """The customer-managed key of an environment, in each account of that environment."""
    return f"alias/{cfg.organization.name}-{environment}"


def security_topic_name(cfg: OrgConfig) -> str:
    """The KMS-encrypted SNS topic that receives security alerts, in every account and region."""
    return f"{cfg.organization.name}-security-alerts"


def signing_key_alias(cfg: OrgConfig) -> str:
    """Alias of the evidence manifests' signing key (the evidence store stack makes it; the
    CLI's default `--kms-key` for S3 stores)."""
    return f"alias/{cfg.organization.name}-evidence-signing"


#: Tag on Object Lock buckets (value `compliance`); the Config rule S3_BUCKET_DEFAULT_LOCK_ENABLED is scoped to it.
OBJECT_LOCK_TAG = "charter:object-lock"
#: (key, value) of the tag the landing zone's backup plans select resources by: a workload's
#: data stores carry it to be backed up.
BACKUP_TAG = ("backup", "charter")
#: Export name of the environment KMS key's ARN (one per account and region), imported by workloads.
KEY_ARN_EXPORT = "charter-kms-key-arn"

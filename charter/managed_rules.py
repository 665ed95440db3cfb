"""The AWS managed Config rules Charter deploys, and the controls each rule evidences.

This table is the one place a rule is linked to its controls: the `config_rules` builder
deploys exactly these rules (each tagged with its controls), the `config` evidence
collector credits each rule's compliance result to the same controls, and the control
matrix lists a control's rules from here. It imports no template library, so the evidence
collector (which runs in a Lambda without troposphere) can read it.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

from charter.config.model import OrgConfig
from charter.naming import OBJECT_LOCK_TAG


class RuleSpec(NamedTuple):
    """One AWS managed Config rule.

    `parameters` values are literals, `cfg:<dotted path>` (read from the org config, e.g.
    `cfg:baseline.password_policy.min_length`) or `ctx:<Name>` (a deploy-time context
    parameter of `landing_zone.context`, e.g. the security account id).
    """

    controls: tuple[str, ...]
    parameters: dict[str, str] = {}
    #: Evaluates account-level/global state: deploy in the home region only (no duplicates).
    global_only: bool = False
    #: Dotted config path of the feature the rule checks; the rule is left out when it is off,
    #: so a switched-off service shows up as a control gap instead of a failing rule.
    requires: str | None = None
    #: Resource types the rule is scoped to (empty: the rule's own default).
    resource_types: tuple[str, ...] = ()
    #: (tag key, tag value) scope.
    tag: tuple[str, str] | None = None
    #: The rule is how Charter implements its controls (a detective control: nothing else
    #: enforces MFA for console users, say); otherwise it checks what a builder implements.
    implements: bool = False


#: rule identifier -> RuleSpec(controls, input parameters, ...). Every rule also evidences
#: MON-01 (managed rules are part of the Config control).
MANAGED_RULES: dict[str, RuleSpec] = {
    "IAM_PASSWORD_POLICY": RuleSpec(("IAM-01", "MON-01"), {
        "RequireUppercaseCharacters": "true", "RequireLowercaseCharacters": "true",
        "RequireSymbols": "true", "RequireNumbers": "true",
        "MinimumPasswordLength": "cfg:baseline.password_policy.min_length",
        "PasswordReusePrevention": "cfg:baseline.password_policy.reuse_prevention",
        "MaxPasswordAge": "cfg:baseline.password_policy.max_age_days",
    }, global_only=True),
    "ROOT_ACCOUNT_MFA_ENABLED": RuleSpec(("IAM-02", "MON-01"), global_only=True),
    "IAM_ROOT_ACCESS_KEY_CHECK": RuleSpec(("IAM-02", "MON-01"), global_only=True),
    "MFA_ENABLED_FOR_IAM_CONSOLE_ACCESS": RuleSpec(("IAM-03", "MON-01"), global_only=True, implements=True),
    "ACCESS_KEYS_ROTATED": RuleSpec(("IAM-04", "MON-01"), {"maxAccessKeyAge": "90"}, global_only=True,
                                   implements=True),
    # 45 days as CIS AWS Foundations 3.0 (1.12) asks.
    "IAM_USER_UNUSED_CREDENTIALS_CHECK": RuleSpec(("IAM-04", "MON-01"), {"maxCredentialUsageAge": "45"},
                                                  global_only=True, implements=True),
    "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS": RuleSpec(("IAM-05", "MON-01"), global_only=True, implements=True),
    "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED": RuleSpec(("LOG-01", "MON-01"), global_only=True,
                                                        requires="baseline.cloudtrail.enabled"),
    "MULTI_REGION_CLOUD_TRAIL_ENABLED": RuleSpec(("LOG-01", "MON-01"), global_only=True,
                                                 requires="baseline.cloudtrail.enabled"),
    "CLOUD_TRAIL_ENCRYPTION_ENABLED": RuleSpec(("LOG-01", "MON-01"), global_only=True,
                                               requires="baseline.cloudtrail.enabled"),
    "EC2_EBS_ENCRYPTION_BY_DEFAULT": RuleSpec(("ENC-03", "MON-01")),
    "S3_BUCKET_SSL_REQUESTS_ONLY": RuleSpec(("ENC-04", "MON-01")),
    "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED": RuleSpec(("ENC-02", "MON-01")),
    "S3_BUCKET_PUBLIC_READ_PROHIBITED": RuleSpec(("DAT-01", "MON-01")),
    "VPC_FLOW_LOGS_ENABLED": RuleSpec(("LOG-06", "MON-01"), requires="baseline.network.enabled"),
    "VPC_DEFAULT_SECURITY_GROUP_CLOSED": RuleSpec(("NET-02", "MON-01")),
    "GUARDDUTY_ENABLED_CENTRALIZED": RuleSpec(("MON-05", "MON-01"),
                                              {"CentralMonitoringAccount": "ctx:SecurityAccountId"},
                                              requires="baseline.guardduty.enabled"),
    "SECURITYHUB_ENABLED": RuleSpec(("MON-04", "MON-01"), requires="baseline.security_hub.enabled"),
    "CMK_BACKING_KEY_ROTATION_ENABLED": RuleSpec(("ENC-01", "MON-01")),
    "CW_LOGGROUP_RETENTION_PERIOD_CHECK": RuleSpec(("LOG-04", "MON-01"),
                                                   {"MinRetentionTime": "cfg:baseline.log_retention_days"}),
    "DYNAMODB_PITR_ENABLED": RuleSpec(("BCK-03", "MON-01"), implements=True),
    "S3_BUCKET_REPLICATION_ENABLED": RuleSpec(("BCK-02", "MON-01"), requires="baseline.backup.enabled"),
    # Only buckets Charter built with Object Lock carry the tag: the rule proves they stay locked
    # instead of flagging every workload bucket.
    "S3_BUCKET_DEFAULT_LOCK_ENABLED": RuleSpec(("LOG-03", "MON-01"), resource_types=("AWS::S3::Bucket",),
                                               tag=(OBJECT_LOCK_TAG, "compliance")),
}


def enabled_rules(cfg: OrgConfig) -> dict[str, RuleSpec]:
    """The rules whose feature is switched on in `cfg` (all of them when Config is on and nothing is off)."""
    if not cfg.baseline.config.enabled:
        return {}
    return {name: spec for name, spec in MANAGED_RULES.items()
            if spec.requires is None or operator.attrgetter(spec.requires)(cfg)}


def rule_name(identifier: str) -> str:
    """`IAM_PASSWORD_POLICY` -> `charter-iam-password-policy` (the deployed rule name)."""
    return "charter-" + identifier.lower().replace("_", "-")


def rule_controls() -> list[str]:
    """Every control some rule evidences, in first-seen order."""
    return list(dict.fromkeys(cid for spec in MANAGED_RULES.values() for cid in spec.controls))


def implemented_controls() -> list[str]:
    """The controls some rule implements (`implements=True`), MON-01 aside (the recorder is MON-01)."""
    return list(dict.fromkeys(cid for spec in MANAGED_RULES.values() if spec.implements
                              for cid in spec.controls if cid != "MON-01"))


def rules_for(control_id: str) -> list[str]:
    """The rule identifiers that evidence `control_id`."""
    return [name for name, spec in MANAGED_RULES.items() if control_id in spec.controls]


def source_identifier(rule_name_or_id: str) -> str | None:
    """`charter-iam-password-policy`, `soc2-iam-password-policy` or `IAM_PASSWORD_POLICY` ->
    `IAM_PASSWORD_POLICY` when it is one of ours, else None."""
    name = rule_name_or_id
    for prefix in ("soc2-charter-", "charter-", "soc2-"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    ident = name.upper().replace("-", "_")
    return ident if ident in MANAGED_RULES else None

"""The pydantic model of `org.yaml`.

Field-level rules live here (types, patterns, ranges); rules that look across fields
(unique names, references, CIDR overlap, OU depth and cycles) live in `checks.py` so each
can point at the exact line of the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    EmailStr,
    Field,
    model_validator,
)

from .cost import CostSettings
from .types import (  # noqa: F401 (re-exported: the model's public names)
    LOG_RETENTION_DAYS,
    ROOT,
    WORKLOAD_ENVIRONMENTS,
    AccountId,
    Cidr,
    ControlId,
    Environment,
    Name,
    OUName,
    Region,
    RetentionDays,
    StrictModel,
    known_regions,
)
from .workloads import WorkloadsConfig


class Organization(StrictModel):
    name: Name = Field(description="Short slug used in resource names, e.g. `acme`.")
    management_account_id: AccountId | None = Field(
        default=None, description="12-digit id of the management account (quote it)."
    )
    management_email: EmailStr
    home_region: Region = Field(description="Where aggregators, findings and the org trail live.")
    governed_regions: list[Region] = Field(min_length=1)
    dr_region: Region | None = Field(
        default=None, description="Backups are copied here; defaults to the second governed region."
    )
    security_contact: EmailStr | None = Field(
        default=None, description="Receives security alerts; defaults to management_email."
    )


class OrganizationalUnit(StrictModel):
    name: OUName
    parent: str = Field(default=ROOT, description="Name of the parent OU, or `Root`.")


NatMode = Literal["per-az", "single", "none"]
#: Interface endpoints in every AZ, in the first AZ only (other AZs reach them across AZs), or none.
EndpointMode = Literal["per-az", "single-az", "none"]


class AccountNetwork(StrictModel):
    cidr: Cidr
    nat_gateways: NatMode | None = Field(
        default=None, description="Defaults to baseline.network.nat_gateways for the account's environment."
    )
    endpoints: EndpointMode | None = Field(
        default=None, description="Interface endpoints; defaults to baseline.network.endpoints for the environment."
    )


class Account(StrictModel):
    name: Name
    email: EmailStr
    ou: str = Field(description="Name of the OU the account lives in.")
    environment: Environment
    owner: EmailStr = Field(description="Reviews this account's access every quarter.")
    account_id: AccountId | None = Field(default=None, description="Set to adopt an existing account.")
    network: AccountNetwork | None = None


class CustomStatement(StrictModel):
    sid: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,64}$")]
    control: ControlId = Field(description="The control id this statement implements.")
    effect: Literal["Deny", "Allow"] = "Deny"
    actions: list[Annotated[str, Field(pattern=r"^(\*|[a-z0-9-]+:[A-Za-z0-9*]+)$")]] = Field(min_length=1)
    resources: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    condition: dict[str, dict[str, str | list[str]]] | None = None
    targets: list[str] = Field(min_length=1, description="OU names or `Root`.")


class ScpSettings(StrictModel):
    guardrails: list[str] | Literal["default"] = Field(
        default="default", description="Guardrail ids to apply; `default` applies them all."
    )
    exclude: list[str] = Field(default_factory=list, description="Guardrail ids to leave out.")
    custom: list[CustomStatement] = Field(default_factory=list)
    targets: list[str] = Field(
        default_factory=lambda: [ROOT],
        description="Where the guardrails attach: OU names or `Root`.",
    )
    suspended_ou: str | None = Field(
        default="Suspended", description="OU that gets deny-all; null to skip."
    )
    protected_roles: list[str] = Field(
        default_factory=lambda: ["Charter*", "stacksets-exec-*", "AWSCloudFormationStackSetExecutionRole"],
        description="IAM role name patterns only Charter's deploy role may change.",
    )
    admin_role: str = Field(
        default="CharterDeployRole", description="Role exempt from the guardrails (deploys Charter)."
    )


class CloudTrailSettings(StrictModel):
    enabled: bool = True
    insights: bool = True
    data_events: list[Literal["s3", "lambda", "dynamodb"]] = Field(default_factory=list)


class ConfigSettings(StrictModel):
    enabled: bool = True
    conformance_pack: bool = True


class SecurityHubSettings(StrictModel):
    enabled: bool = True
    standards: list[Literal["fsbp", "cis-3.0"]] = Field(default_factory=lambda: ["fsbp", "cis-3.0"])


class GuardDutySettings(StrictModel):
    enabled: bool = True
    protection: list[Literal["s3", "eks", "rds", "lambda", "malware", "runtime"]] = Field(
        default_factory=lambda: ["s3", "eks", "rds", "lambda", "malware", "runtime"]
    )


class Toggle(StrictModel):
    enabled: bool = True


class PasswordPolicy(StrictModel):
    min_length: int = Field(default=14, ge=14, le=128)
    max_age_days: int = Field(default=90, ge=1, le=1095)
    reuse_prevention: int = Field(default=24, ge=1, le=24)


_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d)\s*$")
_UNIT_MINUTES = {"m": 1, "min": 1, "h": 60, "d": 1440}


def _minutes(value: object) -> object:
    """`5m`, `1h`, `2d` (or a bare number of minutes) as minutes."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"'{value}' is not a duration; write it as minutes, hours or days, e.g. 5m, 1h, 2d")
        return int(match.group(1)) * _UNIT_MINUTES[match.group(2)]
    return value


def format_minutes(minutes: int) -> str:
    """The shortest exact spelling: 5 min, 1 h, 90 min, 2 d."""
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


#: A duration in minutes, written `5m`, `1h` or `2d` in org.yaml.
Minutes = Annotated[int, BeforeValidator(_minutes, json_schema_input_type=Annotated[int, Field(ge=1)] | Annotated[
    str, Field(pattern=_DURATION.pattern)])]


class RecoveryTarget(StrictModel):
    """How much data an environment may lose (RPO) and how long it may be down (RTO)."""

    rpo: Minutes | None = Field(default=None, ge=1, le=7 * 1440,
                                description="Recovery point objective, e.g. 5m or 1h (at most 7d).")
    rto: Minutes | None = Field(default=None, ge=1, le=30 * 1440,
                                description="Recovery time objective, e.g. 1h or 4h (at most 30d).")


#: What Charter's recovery design can meet, shared by `charter validate` and the builders.
#: DynamoDB point-in-time recovery trails the present by up to about 5 minutes (its latest
#: restorable time), the tightest recovery point any of Charter's data stores offers.
RPO_FLOOR_MINUTES = 5
#: Below this RPO, hourly snapshots are not enough: S3 gets AWS Backup continuous backup and
#: DynamoDB point-in-time recovery (AWS Backup runs a plan at most hourly).
CONTINUOUS_BELOW_MINUTES = 60
#: AWS Backup keeps continuous (point-in-time) backups at most this long.
CONTINUOUS_MAX_DAYS = 35
#: At or below this RPO, S3 replication uses Replication Time Control (15-minute SLA).
RTC_AT_OR_BELOW_MINUTES = 15
#: Recovery means restoring into new resources and redeploying stacks (the disaster-recovery
#: runbook); faster recovery needs a standby that runs all the time, which Charter does not build.
RTO_FLOOR_MINUTES = 60

#: Targets of an environment org.yaml does not set: prod the stricter pair of the
#: specification (RTO 1 h / RPO 5 min), every other environment RTO 4 h / RPO 1 h.
DEFAULT_TARGETS: dict[str, tuple[int, int]] = {"prod": (5, 60)}
DEFAULT_TARGET: tuple[int, int] = (60, 240)


class BackupSettings(StrictModel):
    enabled: bool = True
    targets: dict[Environment, RecoveryTarget] = Field(
        default_factory=dict,
        description="RPO and RTO per environment, e.g. `{prod: {rpo: 5m, rto: 1h}}`. Unset ones default to "
                    "RPO 5m / RTO 1h in prod and RPO 1h / RTO 4h elsewhere. The backup plans (schedule, "
                    "continuous backup) and S3 replication (Replication Time Control) follow them; "
                    "`charter validate` refuses a target the design cannot meet.")
    retention_days: int = Field(default=35, ge=1, le=36500)
    copy_to_dr: bool = True

    @model_validator(mode="before")
    @classmethod
    def _no_hour_maps(cls, data: object) -> object:
        # the first config format had whole hours only; RPO 5 min cannot be written in it
        if isinstance(data, dict) and ({"rpo_hours", "rto_hours"} & set(data)):
            raise ValueError("rpo_hours and rto_hours were replaced by `targets`, durations per environment, "
                             "e.g. targets: {prod: {rpo: 5m, rto: 1h}, dev: {rpo: 24h, rto: 72h}}")
        return data

    def rpo_minutes(self, environment: str) -> int:
        target = self.targets.get(environment)  # type: ignore[call-overload]
        rpo = target.rpo if target else None
        return rpo if rpo is not None else DEFAULT_TARGETS.get(environment, DEFAULT_TARGET)[0]

    def rto_minutes(self, environment: str) -> int:
        target = self.targets.get(environment)  # type: ignore[call-overload]
        rto = target.rto if target else None
        return rto if rto is not None else DEFAULT_TARGETS.get(environment, DEFAULT_TARGET)[1]


class NetworkSettings(StrictModel):
    enabled: bool = True
    flow_log_retention_days: RetentionDays = 365
    interface_endpoints: list[str] = Field(
        default_factory=lambda: ["sts", "kms", "logs", "sagemaker.api", "sagemaker.runtime", "bedrock-runtime"]
    )
    nat_gateways: dict[Environment, NatMode] = Field(
        default_factory=dict,
        description="NAT gateways per environment (per-az, single or none); an environment not listed gets "
                    "per-az in prod and single elsewhere. An account's network.nat_gateways overrides it.",
    )
    endpoints: dict[Environment, EndpointMode] = Field(
        default_factory=dict,
        description="Interface endpoints per environment (per-az, single-az or none); environments not listed "
                    "get per-az. Each endpoint costs about $7.30 a month per AZ. An account's network.endpoints "
                    "overrides it.",
    )


class PermissionSet(StrictModel):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9+=,.@-]{1,32}$")]
    managed_policies: list[str] = Field(default_factory=list)
    session_hours: int = Field(default=4, ge=1, le=12)
    description: str = ""


class Assignment(StrictModel):
    group: str = Field(description="Identity Center group display name.")
    permission_set: str
    accounts: list[str] = Field(default_factory=list, description="Account names.")
    environments: list[Environment] = Field(default_factory=list)


def _default_permission_sets() -> list[PermissionSet]:
    return [
        PermissionSet(name="Administrator", managed_policies=["AdministratorAccess"], session_hours=1,
                      description="Full access, one-hour sessions."),
        PermissionSet(name="ReadOnly", managed_policies=["ReadOnlyAccess"], session_hours=4),
        PermissionSet(name="Auditor", managed_policies=["SecurityAudit", "ViewOnlyAccess"], session_hours=8),
        PermissionSet(name="Developer", managed_policies=["PowerUserAccess"], session_hours=8),
    ]


class IdentitySettings(StrictModel):
    enabled: bool = True
    instance_arn: str | None = Field(
        default=None, description="IAM Identity Center instance ARN; deploy looks it up when unset."
    )
    permission_sets: list[PermissionSet] = Field(default_factory=_default_permission_sets)
    assignments: list[Assignment] = Field(default_factory=list)
    break_glass: bool = True


class EvidenceRunSettings(StrictModel):
    """The evidence state machine's Distributed Map (see evidence/orgscale.py)."""

    batch_accounts: int = Field(default=10, ge=1, le=100, description="Accounts per Map item (one Lambda each).")
    max_concurrency: int = Field(default=40, ge=1, le=1000,
                                 description="Items collecting at once (and the batch Lambda's reserved concurrency).")
    tolerated_failure_percent: float = Field(
        default=10.0, ge=0, le=100,
        description="Failed items the run tolerates (their units become gaps); above it the execution fails "
                    "unsealed, to be redriven.")


class Baseline(StrictModel):
    log_retention_days: RetentionDays = Field(default=2557, description="2557 days = 7 years.")
    object_lock_days: int = Field(default=2557, ge=1, le=36500)
    cloudtrail: CloudTrailSettings = Field(default_factory=CloudTrailSettings)
    config: ConfigSettings = Field(default_factory=ConfigSettings)
    security_hub: SecurityHubSettings = Field(default_factory=SecurityHubSettings)
    guardduty: GuardDutySettings = Field(default_factory=GuardDutySettings)
    access_analyzer: Toggle = Field(default_factory=Toggle)
    macie: Toggle = Field(default_factory=Toggle)
    inspector: Toggle = Field(default_factory=lambda: Toggle(enabled=False))
    kms_rotation_days: int = Field(default=365, ge=90, le=2560)
    password_policy: PasswordPolicy = Field(default_factory=PasswordPolicy)
    backup: BackupSettings = Field(default_factory=BackupSettings)
    network: NetworkSettings = Field(default_factory=NetworkSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    evidence_schedule: str = Field(
        default="rate(1 day)", pattern=r"^(rate|cron)\(.+\)$",
        description="EventBridge schedule of the continuous evidence collector.",
    )
    evidence_run: EvidenceRunSettings = Field(default_factory=EvidenceRunSettings)


class Limits(StrictModel):
    """AWS quotas as settings, so a raised quota needs no new Charter release.

    `charter validate` and `charter synth` check every one of them (landing_zone/limits.py and
    the `quotas` config check) and name the setting in the error."""

    scp_max_chars: int = Field(default=10_240, ge=1, description="Since 2026-05-15 (was 5,120).")
    scp_max_per_target: int = Field(default=10, ge=1, description="Since 2026-05-15 (was 5).")
    full_aws_access_takes_slot: bool = True
    rcp_max_chars: int = Field(default=5_120, ge=1)
    ou_max_depth: int = Field(default=5, ge=1)
    org_max_accounts: int = Field(
        default=10_000, ge=1,
        description="Your organization's account quota (Service Quotas: AWS Organizations, 'Default maximum "
                    "number of accounts'; 10 for a new organization, raised on request). Set it to what you "
                    "were granted so validate catches a config that outgrows it.")
    org_max_ous: int = Field(default=2_000, ge=1, description="OUs in an organization (AWS Organizations).")
    account_email_max_chars: int = Field(default=64, ge=6, description="CreateAccount's Email length.")
    template_max_bytes_inline: int = Field(default=51_200, ge=1)
    template_max_bytes_s3: int = Field(default=1_000_000, ge=1)
    template_max_resources: int = Field(default=500, ge=1)
    template_max_parameters: int = Field(default=200, ge=1)
    template_max_outputs: int = Field(default=200, ge=1)
    template_max_mappings: int = Field(default=200, ge=1)
    template_max_mapping_attributes: int = Field(default=200, ge=1)
    template_max_description_bytes: int = Field(default=1_024, ge=1)
    template_max_name_chars: int = Field(default=255, ge=1, description="Logical id, parameter and output names.")
    template_max_dynamic_references: int = Field(default=60, ge=0, description="`{{resolve:...}}` per template.")
    stacksets_max: int = Field(default=1_000, ge=1, description="StackSets per administrator account and Region.")
    stackset_max_instances: int = Field(default=100_000, ge=1, description="Stack instances per StackSet.")


class DeploymentSettings(StrictModel):
    """StackSet operation preferences."""

    concurrency_mode: Literal["SOFT_FAILURE_TOLERANCE", "STRICT_FAILURE_TOLERANCE"] = "SOFT_FAILURE_TOLERANCE"
    region_concurrency: Literal["PARALLEL", "SEQUENTIAL"] = "PARALLEL"
    max_concurrent_percentage: int = Field(default=100, ge=1, le=100)
    failure_tolerance_percentage: int = Field(default=10, ge=0, le=100)
    template_bucket: str | None = Field(
        default=None, description="S3 bucket for templates over 51,200 bytes."
    )


class OrgConfig(StrictModel):
    version: Literal[1] = 1
    organization: Organization
    ous: list[OrganizationalUnit] = Field(default_factory=list)
    accounts: list[Account] = Field(min_length=1)
    scps: ScpSettings = Field(default_factory=ScpSettings)
    baseline: Baseline = Field(default_factory=Baseline)
    limits: Limits = Field(default_factory=Limits)
    deployment: DeploymentSettings = Field(default_factory=DeploymentSettings)
    # An empty section by default, so `workloads.optimizer` is a path that always resolves.
    workloads: WorkloadsConfig = Field(default_factory=lambda: WorkloadsConfig())
    cost: CostSettings = Field(default_factory=lambda: CostSettings(),
                               description="Usage assumptions and targets of `charter cost`.")

    # -- derived views used by builders -----------------------------------------------
    def accounts_in(self, *environments: str) -> list[Account]:
        return [a for a in self.accounts if a.environment in environments]

    def account(self, environment: str) -> Account:
        """The single account of a role environment (log-archive, audit, security)."""
        return self.accounts_in(environment)[0]

    @property
    def dr_region(self) -> str:
        org = self.organization
        if org.dr_region:
            return org.dr_region
        others = [r for r in org.governed_regions if r != org.home_region]
        return others[0] if others else org.home_region

    @property
    def security_contact(self) -> str:
        return str(self.organization.security_contact or self.organization.management_email)

    def subtree(self, ou_names: Iterable[str]) -> set[str]:
        """The OUs named and every OU below them (`Root` means all)."""
        names = set(ou_names)
        if ROOT in names:
            return {ROOT, *(ou.name for ou in self.ous)}
        children: dict[str, list[str]] = {}
        for ou in self.ous:
            children.setdefault(ou.parent, []).append(ou.name)
        out: set[str] = set()
        stack = list(names)
        while stack:
            name = stack.pop()
            if name not in out:
                out.add(name)
                stack.extend(children.get(name, []))
        return out

    def ou_depths(self) -> dict[str, int]:
        """Depth of each OU below Root (Root's children are depth 1). Assumes no cycles."""
        parents = {ou.name: ou.parent for ou in self.ous}
        depths: dict[str, int] = {}
        for name in parents:
            depth, node = 0, name
            while node != ROOT and node in parents and depth <= len(parents):
                depth, node = depth + 1, parents[node]
            depths[name] = depth
        return depths



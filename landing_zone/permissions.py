"""The landing zone's part of the permission model.

Who deploys what, where: the deploy role (`scps.admin_role`) in the management account
(Organizations, SCPs, StackSets, the management account's stacks); AWS's
`stacksets-exec-*` role in every account a service-managed StackSet reaches; the
self-managed `AWSCloudFormationStackSetExecutionRole` in the management account;
`OrganizationAccountAccessRole` for the plain stacks of member accounts; the
account-baseline custom resource's own role. Each planned stack contributes its handler
permissions (`charter.policy.templates`), the roles it creates and the key and bucket
policies it writes; the SCPs are the ones `charter deploy` attaches (`scp.packing`), on
the organization's OU tree. Accounts without an id yet get a stand-in id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from charter.config.model import ROOT, OrgConfig
from charter.landing_zone.stacks import Deployment
from charter.naming import MEMBER_ACCESS_ROLE, STACKSET_EXECUTION_ROLE, stack_name
from charter.policy.documents import Policy
from charter.policy.evaluate import Principal
from charter.policy.managed import managed_policy
from charter.policy.model import AssumeEdge, Need, PermissionModel, RoleGrant, Target
from charter.policy.templates import template_model

#: The role AWS creates in each member account for service-managed StackSets.
SERVICE_MANAGED_EXECUTION_ROLE = "stacksets-exec-<hash>"
STAND_IN_MANAGEMENT = "999999999999"


@dataclass
class Organization:
    """Account ids (real from org.yaml, or stand-ins), OUs and where each account sits."""

    cfg: OrgConfig
    ids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, cfg: OrgConfig, known: dict[str, str] | None = None) -> Organization:
        ids = {"management": cfg.organization.management_account_id or STAND_IN_MANAGEMENT}
        for i, account in enumerate(cfg.accounts):
            ids[account.name] = (known or {}).get(account.name) or account.account_id or f"{100000000000 + i}"
        return cls(cfg, ids)

    @property
    def management(self) -> str:
        return self.ids["management"]

    def names(self) -> dict[str, str]:
        return {v: k for k, v in self.ids.items()}

    def context(self) -> dict[str, str]:
        """Values of the deploy-time context parameters."""
        cfg = self.cfg
        return {"OrganizationId": "o-preflight0000", "RootId": "r-pf00", "ManagementAccountId": self.management,
                "LogArchiveAccountId": self.ids[cfg.account("log-archive").name],
                "AuditAccountId": self.ids[cfg.account("audit").name],
                "SecurityAccountId": self.ids[cfg.account("security").name]}

    def chain(self, ou: str) -> list[str]:
        parents = {o.name: o.parent for o in self.cfg.ous}
        out = [ou]
        while out[-1] != ROOT and out[-1] in parents and len(out) <= len(parents) + 1:
            out.append(parents[out[-1]])
        if out[-1] != ROOT:
            out.append(ROOT)
        return list(reversed(out))

    def targets(self, accounts: Iterable[str], regions: Iterable[str]) -> tuple[Target, ...]:
        return tuple(Target(self.ids[a], a, r) for a in accounts for r in regions)


def full_aws_access() -> Policy:
    return Policy.parse("scp", "FullAWSAccess", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def scp_levels(org: Organization) -> dict[str, list[tuple[str, list[Policy]]]]:
    """The SCPs on the path root -> OUs -> account of every member account, as deploy attaches
    them (FullAWSAccess stays attached at every level, as AWS attaches it)."""
    from charter.landing_zone.scp.packing import pack

    full = full_aws_access()
    by_target: dict[str, list[Policy]] = {}
    for packed in pack(org.cfg):
        policy = Policy.parse("scp", f"SCP {packed.name}", packed.document)
        for target in packed.targets:
            by_target.setdefault(target, []).append(policy)
    out: dict[str, list[tuple[str, list[Policy]]]] = {}
    for account in org.cfg.accounts:
        levels = [(ROOT if ou == ROOT else f"OU {ou}", [full, *by_target.get(ou, [])]) for ou in org.chain(account.ou)]
        levels.append((f"account {account.name}", [full]))
        out[org.ids[account.name]] = levels
    return out


def aws_roles(cfg: OrgConfig, org: Organization) -> dict[str, RoleGrant]:
    """Roles AWS creates or the deploy guide asks for (not in any template)."""
    admin = managed_policy("AdministratorAccess")
    assert admin is not None
    mgmt_root = {"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                "Principal": {"AWS": f"arn:aws:iam::{org.management}:root"}}]}
    return {
        cfg.scps.admin_role: RoleGrant([admin], origin="the deploy guide (management account)",
                                       trust=Policy.parse("trust", f"trust policy of {cfg.scps.admin_role}", mgmt_root)),
        MEMBER_ACCESS_ROLE: RoleGrant([admin], origin="Organizations CreateAccount (every member account)",
                                      trust=Policy.parse("trust", f"trust policy of {MEMBER_ACCESS_ROLE}", mgmt_root)),
        "stacksets-exec-*": RoleGrant([admin], origin="AWS, for service-managed StackSets"),
    }


def deployer(cfg: OrgConfig, dep: Deployment, account: str) -> str:
    """The role whose credentials CloudFormation uses for a stack of `dep` in `account`."""
    if dep.kind == "stackset":
        return SERVICE_MANAGED_EXECUTION_ROLE if dep.permission_model == "SERVICE_MANAGED" else STACKSET_EXECUTION_ROLE
    return cfg.scps.admin_role if account == "management" else MEMBER_ACCESS_ROLE


def stack_targets(org: Organization, dep: Deployment) -> dict[str, tuple[Target, ...]]:
    """deploying role -> the (account, region) targets of one planned stack."""
    if dep.kind == "stack":
        account = dep.account or "management"
        return {deployer(org.cfg, dep, account): org.targets([account], dep.regions)}
    if dep.permission_model == "SERVICE_MANAGED":
        ous = org.cfg.subtree(dep.target_ous)
        names = [a.name for a in org.cfg.accounts if a.ou in ous]
        if dep.target_accounts:
            names = [n for n in names if n in dep.target_accounts]
    else:
        names = list(dep.target_accounts)
    return {deployer(org.cfg, dep, names[0] if names else "management"): org.targets(names, dep.regions)}


def landing_zone_model(cfg: OrgConfig, stacks: list[Any], org: Organization) -> PermissionModel:
    """`stacks`: `SynthesizedStack`s (spec.deployment, spec.name, data) of the landing zone."""
    from charter.landing_zone.builders.account_baseline import HANDLER_CALLS, ROLE_NAME_PREFIX
    from charter.landing_zone.deploy.calls import MANAGEMENT_CALLS, MEMBER_CALLS

    model = PermissionModel(management_account=org.management, organization_id=org.context()["OrganizationId"],
                            scp_levels=scp_levels(org),
                            roles=aws_roles(cfg, org), account_names=org.names())
    context = org.context()
    member_stack_accounts: set[str] = set()
    for s in stacks:
        dep: Deployment = s.spec.deployment
        name = stack_name(cfg, s.spec.name)
        if dep.kind == "organizations":
            continue
        for role, targets in stack_targets(org, dep).items():
            if not targets:
                continue
            instance = (f"arn:aws:cloudformation:{{region}}:{{account}}:stack/StackSet-{name}-*"
                        if dep.kind == "stackset" else None)
            model.merge(template_model(s.data, name, role, targets, context, stack_resource=instance))
            if role == MEMBER_ACCESS_ROLE:
                member_stack_accounts.update(t.account_name for t in targets)
            if any(res.get("Type") == "Custom::AccountBaseline" for res in (s.data.get("Resources") or {}).values()):
                fn_role = f"{ROLE_NAME_PREFIX}-{{region}}"
                for action, resource in HANDLER_CALLS.items():
                    model.needs.append(Need(fn_role, action, resource, targets, "apply the account baseline "
                                            "(custom resource Custom::AccountBaseline)",
                                            "code:charter.landing_zone.builders.account_baseline.HANDLER_CALLS"))
                model.assumes.append(AssumeEdge(Principal.service("lambda.amazonaws.com"), "Lambda (account baseline)",
                                                fn_role, targets, "run the account-baseline custom resource",
                                                f"cfn:{name}", (("aws:SourceAccount", "{account}"),)))
        for step in s.spec.facts.get("api_steps") or []:
            _api_step_need(model, cfg, org, step, name)

    home = [cfg.organization.home_region]
    mgmt = org.targets(["management"], home)
    for action in MANAGEMENT_CALLS:
        model.needs.append(Need(cfg.scps.admin_role, action, None, mgmt, "charter deploy (management account)",
                                "code:charter.landing_zone.deploy.calls.MANAGEMENT_CALLS"))
    members = org.targets(sorted(member_stack_accounts), cfg.organization.governed_regions)
    for action in MEMBER_CALLS:
        model.needs.append(Need(MEMBER_ACCESS_ROLE, action, None, members, "charter deploy (member-account stacks)",
                                "code:charter.landing_zone.deploy.calls.MEMBER_CALLS"))
    caller = Principal.role(org.management, cfg.scps.admin_role, session="charter")
    model.assumes.append(AssumeEdge(caller, cfg.scps.admin_role, MEMBER_ACCESS_ROLE,
                                    org.targets(sorted(member_stack_accounts), home),
                                    "deploy member-account stacks", "code:charter.landing_zone.deploy.run"))
    return model


def _api_step_need(model: PermissionModel, cfg: OrgConfig, org: Organization, step: dict[str, Any], stack: str) -> None:
    from charter.policy.actions import iam_action

    account = step.get("account") or "management"
    if account not in org.ids:
        return
    regions = step.get("regions") or [cfg.organization.home_region]
    role = cfg.scps.admin_role if account == "management" else MEMBER_ACCESS_ROLE
    model.needs.append(Need(role, iam_action(step["service"], step["operation"]), None, org.targets([account], regions),
                            f"API step {step['service']}:{step['operation']} before/after stack {stack}",
                            f"plan:{stack}.facts.api_steps"))

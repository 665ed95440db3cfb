"""The organization stack: the OU tree, the member accounts and the packed SCPs.

Applied by `charter deploy` through the Organizations API (`Deployment.kind
"organizations"`: incremental, adopts existing accounts by email); the template is kept
for review and lint. Accounts carry
`DeletionPolicy: Retain`: deleting the stack must never close an account.
"""

from __future__ import annotations

from troposphere import Parameter, Ref, Tags, Template
from troposphere.organizations import Account, OrganizationalUnit, Policy

from charter.landing_zone.config.model import ROOT, OrgConfig
from charter.landing_zone.metadata import controls
from charter.landing_zone.naming import logical_id
from charter.landing_zone.registry import builder
from charter.landing_zone.scp.guardrails import (
    SUSPENDED_CONTROL,
    custom_controls,
    guardrail_controls,
)
from charter.landing_zone.scp.packing import pack
from charter.landing_zone.stacks import Deployment, StackSpec


def ou_logical_id(name: str) -> str:
    return "Ou" + logical_id(name)


def account_logical_id(name: str) -> str:
    return "Account" + logical_id(name)


#: The SCP controls are the guardrails' own (`Guardrail.control`), ORG-05 the Suspended OU's
#: deny-all; custom statements in org.yaml add theirs (`from_config`).
@builder("organization", controls=["ORG-01", *guardrail_controls(), SUSPENDED_CONTROL],
         from_config=custom_controls,
         description="OU tree, member accounts and service control policies.")
def build(cfg: OrgConfig):
    t = Template(Description=f"Charter: AWS Organization structure and SCPs for {cfg.organization.name}")
    root = t.add_parameter(Parameter("RootId", Type="String", AllowedPattern=r"^r-[0-9a-z]{4,32}$",
                                     Description="Id of the organization root (r-xxxx)."))

    def target_ref(name: str):
        return Ref(root) if name == ROOT else Ref(ou_logical_id(name))

    ordered = sorted(cfg.ous, key=lambda ou: cfg.ou_depths()[ou.name])
    for ou in ordered:
        res = OrganizationalUnit(ou_logical_id(ou.name), Name=ou.name, ParentId=target_ref(ou.parent),
                                 Tags=Tags(ManagedBy="charter"))
        t.add_resource(controls(res, "ORG-01"))

    for acct in cfg.accounts:
        res = Account(account_logical_id(acct.name), AccountName=acct.name, Email=str(acct.email),
                      ParentIds=[target_ref(acct.ou)],
                      Tags=Tags(ManagedBy="charter", Environment=acct.environment, Owner=str(acct.owner)))
        res.DeletionPolicy = "Retain"
        res.UpdateReplacePolicy = "Retain"
        t.add_resource(controls(res, "ORG-01"))

    for policy in pack(cfg):
        res = Policy(logical_id("Scp", policy.name), Name=policy.name, Type="SERVICE_CONTROL_POLICY",
                     Content=policy.document, Description="Charter guardrails: " + ", ".join(policy.controls),
                     TargetIds=[target_ref(target) for target in policy.targets],
                     Tags=Tags(ManagedBy="charter"))
        t.add_resource(controls(res, *policy.controls))

    home = cfg.organization.home_region
    return [StackSpec("organization", t, Deployment(kind="organizations", account="management", regions=[home], order=0))]

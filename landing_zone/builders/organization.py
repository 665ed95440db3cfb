"""The organization stack: the OU tree and the packed SCPs.

Applied by `charter deploy` through the Organizations API (`Deployment.kind
"organizations"`: incremental, adopts existing accounts by email); the template is kept
for review and lint.

Member accounts are not in the template. They are created, adopted and moved through
the Organizations API from `accounts:` in org.yaml (plan.json lists them in the stack's
facts), because an account resource per account made this the one template that grew
with the organization: past ~480 accounts it broke CloudFormation's 500-resource limit,
and cfn-lint spends ~14 ms on each resource. The OU tree is bounded by AWS (2,000 OUs per
organization); when it outgrows one template it continues in `organization-2`, ... in
depth-first order, so a subtree stays together and a parent OU in an earlier template is
a parameter (`<OU>Id`) of the later one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from troposphere import AWSObject, Parameter, Ref, Tags, Template
from troposphere.organizations import OrganizationalUnit, Policy

from charter.config.model import ROOT, OrgConfig
from charter.landing_zone.context import context_parameter
from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder
from charter.landing_zone.scp.guardrails import (
    SUSPENDED_CONTROL,
    custom_controls,
    guardrail_controls,
)
from charter.landing_zone.scp.packing import pack
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import logical_id

STACK = "organization"
OU_ID_PATTERN = r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$"


def ou_logical_id(name: str) -> str:
    return "Ou" + logical_id(name)


@dataclass
class _Item:
    """One resource of the organization templates, made once its template is known."""

    logical_id: str
    refs: list[str]  # the OU names (or Root) it refers to
    make: Callable[[Callable[[str], Ref]], AWSObject]


def ous_depth_first(cfg: OrgConfig) -> list[str]:
    """OU names, parents before children and each subtree contiguous (config order among siblings)."""
    children: dict[str, list[str]] = {}
    for ou in cfg.ous:
        children.setdefault(ou.parent, []).append(ou.name)
    out: list[str] = []
    stack = list(reversed(children.get(ROOT, [])))
    while stack:
        name = stack.pop()
        out.append(name)
        stack.extend(reversed(children.get(name, [])))
    return out


def _items(cfg: OrgConfig) -> list[_Item]:
    parents = {ou.name: ou.parent for ou in cfg.ous}
    items = []
    for name in ous_depth_first(cfg):
        def make_ou(ref: Callable[[str], Ref], name: str = name) -> AWSObject:
            return controls(OrganizationalUnit(ou_logical_id(name), Name=name, ParentId=ref(parents[name]),
                                               Tags=Tags(ManagedBy="charter")), "ORG-01")
        items.append(_Item(ou_logical_id(name), [parents[name]], make_ou))
    for policy in pack(cfg):
        def make_policy(ref: Callable[[str], Ref], policy=policy) -> AWSObject:
            return controls(Policy(logical_id("Scp", policy.name), Name=policy.name, Type="SERVICE_CONTROL_POLICY",
                                   Content=policy.document, Description="Charter guardrails: " + ", ".join(policy.controls),
                                   TargetIds=[ref(target) for target in policy.targets],
                                   Tags=Tags(ManagedBy="charter")), *policy.controls)
        items.append(_Item(logical_id("Scp", policy.name), list(policy.targets), make_policy))
    return items


def _chunks(items: list[_Item], max_resources: int, max_parameters: int) -> list[list[_Item]]:
    """Consecutive runs of `items`, each within the resource and parameter limits (an OU
    referred to from outside its run costs that run one parameter)."""
    chunks: list[list[_Item]] = []
    current: list[_Item] = []
    inside: set[str] = set()
    params: set[str] = set()
    for item in items:
        outside = {r for r in item.refs if ou_logical_id(r) not in inside or r == ROOT}
        if current and (len(current) >= max_resources or len(params | outside) > max_parameters):
            chunks.append(current)
            current, inside, params = [], set(), set()
            outside = set(item.refs)
        current.append(item)
        inside.add(item.logical_id)
        params |= outside
    return [*chunks, current] if current else chunks


def _template(cfg: OrgConfig, items: list[_Item], part: int, parts: int) -> Template:
    suffix = f" (part {part} of {parts})" if parts > 1 else ""
    t = Template(Description=f"Charter: AWS Organization OUs and SCPs for {cfg.organization.name}{suffix}")
    inside = {item.logical_id for item in items}

    def ref(name: str) -> Ref:
        if name == ROOT:
            return Ref(context_parameter(t, "RootId"))
        lid = ou_logical_id(name)
        if lid in inside:
            return Ref(lid)
        pname = lid + "Id"  # an OU made by an earlier part
        if pname not in t.parameters:
            t.add_parameter(Parameter(pname, Type="String", AllowedPattern=OU_ID_PATTERN,
                                      Description=f"Id of OU '{name}' (made by an earlier organization template)"))
        return Ref(pname)

    for item in items:
        t.add_resource(item.make(ref))
    return t


def stack_names(parts: int) -> list[str]:
    return [STACK if i == 1 else f"{STACK}-{i}" for i in range(1, parts + 1)]


#: The SCP controls are the guardrails' own (`Guardrail.control`), ORG-05 the Suspended OU's
#: deny-all; custom statements in org.yaml add theirs (`from_config`).
@builder("organization", controls=["ORG-01", *guardrail_controls(), SUSPENDED_CONTROL], from_config=custom_controls,
         description="OU tree and service control policies (member accounts through the Organizations API).",
         grows_with="`ous:` and scps.custom")
def build(cfg: OrgConfig) -> list[StackSpec]:
    lim = cfg.limits
    chunks = _chunks(_items(cfg), lim.template_max_resources, lim.template_max_parameters) or [[]]
    home = cfg.organization.home_region
    names = stack_names(len(chunks))
    return [StackSpec(name, _template(cfg, items, i, len(chunks)),
                      Deployment(kind="organizations", account="management", regions=[home], order=0),
                      grows_with="`ous:` (continued in another template past the limit)")
            for i, (name, items) in enumerate(zip(names, chunks, strict=True), start=1)]

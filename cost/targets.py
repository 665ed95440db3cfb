"""Where each synthesized stack lands: one `Instance` per account and region it deploys to.

A stack deploys once per region to its account; a StackSet once per target account and
region: SERVICE_MANAGED to every account of its target OUs and their sub-OUs (or only the
named accounts, AWS's INTERSECTION filter), never to the management account;
SELF_MANAGED to the named accounts. This mirrors what `charter deploy` targets, from the
deployment data in the plan, so the estimate needs no AWS access.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from charter.config.model import OrgConfig

MANAGEMENT = "management"


class StackLike(Protocol):
    """What the estimate reads of a synthesized stack (`landing_zone.synth.SynthesizedStack`)."""

    @property
    def name(self) -> str: ...

    data: dict[str, Any]
    spec: Any  # .deployment (kind, permission_model, account, regions, target_ous, target_accounts, parameter_overrides)


@dataclass(frozen=True, slots=True)
class Instance:
    stack: str
    account: str
    environment: str
    region: str
    parameters: dict[str, Any]


def environment_of(cfg: OrgConfig, account: str) -> str:
    if account == MANAGEMENT:
        return MANAGEMENT
    for a in cfg.accounts:
        if a.name == account:
            return a.environment
    return "unknown"


def accounts_of(cfg: OrgConfig, deployment: Any) -> list[str]:
    """Account names a deployment reaches (`management` for the management account)."""
    kind = deployment.kind
    if kind == "organizations":
        return []  # applied through the Organizations API: no billed resources
    if kind == "stack":
        return [deployment.account or MANAGEMENT]
    if deployment.permission_model == "SERVICE_MANAGED":
        if deployment.target_accounts:
            names = list(deployment.target_accounts)
        else:
            ous = cfg.subtree(deployment.target_ous)
            names = [a.name for a in cfg.accounts if a.ou in ous]
        return [n for n in names if n != MANAGEMENT]  # AWS never deploys service-managed instances there
    return list(deployment.target_accounts)


def instances(cfg: OrgConfig, stack: StackLike) -> Iterator[Instance]:
    dep = stack.spec.deployment
    defaults = {name: p.get("Default") for name, p in (stack.data.get("Parameters") or {}).items()}
    for account in accounts_of(cfg, dep):
        params = {**defaults, **(dep.parameter_overrides or {}).get(account, {})}
        env = environment_of(cfg, account)
        for region in dep.regions:
            yield Instance(stack.name, account, env, region, params)

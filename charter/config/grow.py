"""Grow an organization config to N accounts, deterministically (benchmarks, scale tests, `examples/huge`).

The accounts added are ones a real organization would have: workload accounts of a team,
one per stage (prod, staging, dev), under an OU tree as deep as AWS allows (a business
unit, its division, department, team and stage), each with its own non-overlapping VPC
network and a unique root email. Everything in the base config (its accounts, OUs, SCPs,
baseline, identity assignments by environment) is kept, so a grown `examples/large` is
`examples/large` with more teams. The result passes `charter validate`; the same
arguments always give the same config.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import yaml

from .model import ROOT, Account, AccountNetwork, OrganizationalUnit, OrgConfig, known_regions

#: Regions added (in this order) when a grown config asks for more governed regions.
EXTRA_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2", "ap-northeast-1",
                 "ca-central-1", "eu-north-1", "ap-south-1", "sa-east-1")
#: Stages of a team, the environment of each, and the share of a team's accounts in it.
STAGES = (("Prod", "prod"), ("Staging", "staging"), ("Dev", "dev"))
#: Private ranges the grown VPCs are carved from, in order (RFC 1918, then the shared space of RFC 6598).
POOLS = ("10.0.0.0/8", "172.16.0.0/12", "100.64.0.0/10")


def grow(base: OrgConfig, accounts: int, *, depth: int = 5, regions: int | None = None,
         accounts_per_ou: int = 8, fanout: int = 4, prefix: int = 22) -> OrgConfig:
    """`base` plus synthetic team accounts until it holds `accounts` accounts.

    `depth`: how deep the added OU tree goes (1..limits.ou_max_depth; the accounts sit in
    its deepest OUs). `regions`: governed regions wanted (None keeps the base's).
    `accounts_per_ou`: accounts per stage OU. `fanout`: child OUs per inner OU of the added
    tree. `prefix`: the VPC size of each added account (/16../23).
    """
    if accounts < len(base.accounts):
        raise ValueError(f"the base config already has {len(base.accounts)} accounts (asked for {accounts})")
    depth = max(1, min(depth, base.limits.ou_max_depth))
    org = base.organization
    if regions is not None and regions != len(org.governed_regions):
        org = org.model_copy(update={"governed_regions": _regions(org.governed_regions, regions)})
    new_count = accounts - len(base.accounts)
    ous, leaves = _ou_tree(base, new_count, depth, accounts_per_ou, fanout)
    networks = _networks(base, prefix)
    domain = str(base.organization.management_email).split("@", 1)[1]
    names = {a.name for a in base.accounts}
    added: list[Account] = []
    index = 0
    for leaf, env in leaves:
        for _ in range(accounts_per_ou):
            if len(added) == new_count:
                break
            index += 1
            name = f"t{index:05d}-{env}"
            while name in names:  # never collide with an account the base already has
                index += 1
                name = f"t{index:05d}-{env}"
            names.add(name)
            team = leaf.rsplit("-", 1)[0].lower()
            added.append(Account(
                name=name, email=f"aws+{name}@{domain}", ou=leaf, environment=env,  # type: ignore[arg-type]
                owner=f"{team}-lead@{domain}", network=AccountNetwork(cidr=str(next(networks)))))
    update: dict[str, Any] = {"organization": org, "ous": [*base.ous, *ous], "accounts": [*base.accounts, *added]}
    if ROOT not in base.scps.targets:  # the guardrails reach the added tree as they reach the base's OUs
        update["scps"] = base.scps.model_copy(update={"targets": [*base.scps.targets, ous[0].name]})
    return base.model_copy(update=update)


def _regions(current: list[str], wanted: int) -> list[str]:
    out = list(current)[:wanted]
    for region in EXTRA_REGIONS:
        if len(out) >= wanted:
            break
        if region not in out and region in known_regions():
            out.append(region)
    if len(out) < wanted:
        raise ValueError(f"cannot pick {wanted} governed regions (have {len(out)})")
    return out


def _ou_tree(base: OrgConfig, new_accounts: int, depth: int, per_leaf: int,
             fanout: int) -> tuple[list[OrganizationalUnit], list[tuple[str, str]]]:
    """The added OUs (parents first) and the leaves [(OU name, environment)] in fill order.

    Levels: a top OU (`Teams`) at depth 1, inner levels of `fanout` children, teams at
    depth-1 and their stage OUs (Prod/Staging/Dev) at `depth`. With depth 1 the accounts
    sit in `Teams` itself.
    """
    taken = {ou.name for ou in base.ous} | {ROOT}
    top = _unique("Teams", taken)
    ous = [OrganizationalUnit(name=top)]
    if depth == 1:
        return ous, [(top, env) for _, env in STAGES] * max(1, -(-new_accounts // per_leaf))
    leaves_needed = max(1, -(-new_accounts // per_leaf))
    teams_needed = -(-leaves_needed // len(STAGES))
    inner_levels = max(0, depth - 3)  # depth 1 top, inner levels, a team level, a stage level
    leaves: list[tuple[str, str]] = []

    def paths() -> Iterator[tuple[int, ...]]:
        """Team positions in the inner tree, breadth-first, so the tree fills evenly."""
        if inner_levels == 0:
            yield from ((i,) for i in range(teams_needed))
            return
        per_inner = -(-teams_needed // fanout ** inner_levels) if teams_needed > fanout ** inner_levels else 1
        count = 0
        for n in range(fanout ** inner_levels):
            digits, rest = [], n
            for _ in range(inner_levels):
                digits.append(rest % fanout)
                rest //= fanout
            for t in range(per_inner):
                if count == teams_needed:
                    return
                yield (*reversed(digits), t)
                count += 1

    made: dict[tuple[int, ...], str] = {(): top}
    level_names = ("Unit", "Division", "Department")
    for path in paths():
        for level in range(1, len(path)):  # inner OUs on the way to the team
            key = path[:level]
            if key not in made:
                name = _unique(f"{level_names[min(level - 1, 2)]}{'-'.join(str(p + 1) for p in key)}", taken)
                ous.append(OrganizationalUnit(name=name, parent=made[key[:-1]]))
                made[key] = name
        parent = made[path[:-1]]
        team = _unique(f"Team{len(leaves) // len(STAGES) + 1:04d}", taken)
        if depth == 2:  # no room for stage OUs: the team OU holds every stage
            ous.append(OrganizationalUnit(name=team, parent=parent))
            leaves += [(team, env) for _, env in STAGES]
            continue
        ous.append(OrganizationalUnit(name=team, parent=parent))
        for stage, env in STAGES:
            leaf = _unique(f"{team}-{stage}", taken)
            ous.append(OrganizationalUnit(name=leaf, parent=team))
            leaves.append((leaf, env))
    return ous, leaves


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 1
    while out in taken:
        n += 1
        out = f"{name}{n}"
    taken.add(out)
    return out


def _networks(base: OrgConfig, prefix: int) -> Iterator[ipaddress.IPv4Network]:
    """/prefix networks from POOLS that overlap no network of the base config."""
    used = sorted(ipaddress.IPv4Network(a.network.cidr) for a in base.accounts if a.network)
    for pool in POOLS:
        for net in ipaddress.IPv4Network(pool).subnets(new_prefix=prefix):
            if not any(net.overlaps(u) for u in used):
                yield net
    raise ValueError("no private address space left for another VPC")


def to_yaml(cfg: OrgConfig, header: str = "") -> str:
    """The config as org.yaml text (settings at their defaults left out)."""
    data: dict[str, Any] = cfg.model_dump(mode="json", exclude_defaults=True)
    data = {"version": 1, **data}
    # one account per line keeps a 5,000-account file readable and its diff reviewable
    body = yaml.safe_dump({k: v for k, v in data.items() if k not in ("ous", "accounts")},
                          sort_keys=False, width=120)
    lines = [header.rstrip("\n")] if header else []
    lines.append(body.rstrip("\n"))
    for key in ("ous", "accounts"):
        if data.get(key):
            lines.append(f"{key}:")
            lines += ["  - " + yaml.safe_dump(item, default_flow_style=True, sort_keys=False, width=10_000).strip()
                      for item in data[key]]
    return "\n".join(lines) + "\n"

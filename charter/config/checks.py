"""Checks that look across fields of a valid-shaped `org.yaml`.

Each check yields `(path, message, hint)` where `path` is the location of the offending
value as a tuple (`("accounts", 2, "email")`), so the loader can turn it into
`org.yaml:23:7`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Sequence
from difflib import get_close_matches

from .model import (
    CONTINUOUS_BELOW_MINUTES,
    CONTINUOUS_MAX_DAYS,
    ROOT,
    RPO_FLOOR_MINUTES,
    RTO_FLOOR_MINUTES,
    WORKLOAD_ENVIRONMENTS,
    OrgConfig,
    format_minutes,
)
from .workloads import workload_checks

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, str]

ROLE_ENVIRONMENTS = ("log-archive", "audit", "security")


def did_you_mean(value: str, choices: list[str]) -> str:
    close = get_close_matches(value, choices, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return "use one of: " + ", ".join(choices[:12]) + (" ..." if len(choices) > 12 else "")


def unique_accounts(cfg: OrgConfig) -> Iterator[Problem]:
    seen_names: dict[str, int] = {}
    seen_emails: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    for i, acct in enumerate(cfg.accounts):
        if acct.name in seen_names:
            yield (("accounts", i, "name"), f"duplicate account name '{acct.name}' "
                   f"(also accounts[{seen_names[acct.name]}])", "give every account a unique name")
        seen_names.setdefault(acct.name, i)
        email = str(acct.email).lower()
        if email in seen_emails:
            yield (("accounts", i, "email"), f"duplicate account email '{acct.email}' "
                   f"(also accounts[{seen_emails[email]}])",
                   "AWS requires a unique root email per account; use plus-addressing, e.g. aws+dev@example.com")
        seen_emails.setdefault(email, i)
        if acct.account_id:
            if acct.account_id in seen_ids:
                yield (("accounts", i, "account_id"), f"duplicate account_id {acct.account_id}",
                       "each account_id may appear once")
            seen_ids.setdefault(acct.account_id, i)
        if str(acct.email).lower() == str(cfg.organization.management_email).lower():
            yield (("accounts", i, "email"), "member account uses the management account's email",
                   "use a different address for each member account")


def role_accounts(cfg: OrgConfig) -> Iterator[Problem]:
    for env in ROLE_ENVIRONMENTS:
        matches = [i for i, a in enumerate(cfg.accounts) if a.environment == env]
        if not matches:
            yield (("accounts",), f"no account has environment '{env}'",
                   f"add one account with `environment: {env}`; the landing zone needs it")
        for i in matches[1:]:
            yield (("accounts", i, "environment"), f"more than one '{env}' account "
                   f"(first is accounts[{matches[0]}])", f"keep exactly one '{env}' account")


def ou_tree(cfg: OrgConfig) -> Iterator[Problem]:
    names = [ou.name for ou in cfg.ous]
    seen: dict[str, int] = {}
    for i, ou in enumerate(cfg.ous):
        if ou.name == ROOT:
            yield (("ous", i, "name"), "'Root' is reserved for the organization root", "rename the OU")
        if ou.name in seen:
            yield (("ous", i, "name"), f"duplicate OU name '{ou.name}' (also ous[{seen[ou.name]}])",
                   "OU names must be unique; accounts refer to OUs by name")
        seen.setdefault(ou.name, i)
        if ou.parent != ROOT and ou.parent not in names:
            yield (("ous", i, "parent"), f"parent OU '{ou.parent}' does not exist",
                   did_you_mean(ou.parent, [ROOT, *names]))
    parents = {ou.name: ou.parent for ou in cfg.ous}
    index = {ou.name: i for i, ou in enumerate(cfg.ous)}
    reported: set[str] = set()
    for start in parents:
        chain, node = [start], parents[start]
        while node in parents and node not in chain:
            chain.append(node)
            node = parents[node]
        if node in chain and node not in reported:
            cycle = chain[chain.index(node):] + [node]
            reported.update(cycle)
            yield (("ous", index[node], "parent"), "OUs form a cycle: " + " -> ".join(cycle),
                   "every OU chain must end at Root; point one of these at Root or another OU")
    if reported:
        return
    limit = cfg.limits.ou_max_depth
    for name, depth in cfg.ou_depths().items():
        if depth > limit:
            yield (("ous", index[name], "parent"), f"OU '{name}' is nested {depth} deep; AWS allows {limit}",
                   "flatten the OU tree: AWS Organizations allows 5 levels below Root")


def account_ous(cfg: OrgConfig) -> Iterator[Problem]:
    names = [ou.name for ou in cfg.ous]
    for i, acct in enumerate(cfg.accounts):
        if acct.ou != ROOT and acct.ou not in names:
            yield (("accounts", i, "ou"), f"OU '{acct.ou}' does not exist", did_you_mean(acct.ou, [ROOT, *names]))


def regions(cfg: OrgConfig) -> Iterator[Problem]:
    org = cfg.organization
    if org.home_region not in org.governed_regions:
        yield (("organization", "home_region"), f"home region {org.home_region} is not in governed_regions",
               f"add {org.home_region} to governed_regions")
    seen: set[str] = set()
    for i, region in enumerate(org.governed_regions):
        if region in seen:
            yield (("organization", "governed_regions", i), f"region {region} listed twice", "list each region once")
        seen.add(region)
    if org.dr_region and org.dr_region == org.home_region:
        yield (("organization", "dr_region"), "dr_region equals home_region",
               "choose a different region for disaster recovery")


def networks(cfg: OrgConfig) -> Iterator[Problem]:
    parsed: list[tuple[int, ipaddress.IPv4Network]] = []
    for i, acct in enumerate(cfg.accounts):
        if not acct.network:
            continue
        loc = ("accounts", i, "network", "cidr")
        try:
            net = ipaddress.IPv4Network(acct.network.cidr, strict=True)
        except ValueError as exc:
            yield (loc, f"'{acct.network.cidr}' is not a valid network: {exc}",
                   "use a network address such as 10.1.0.0/16 (host bits zero)")
            continue
        if not 16 <= net.prefixlen <= 23:
            yield (loc, f"/{net.prefixlen} is outside /16../23",
                   "a VPC across 3 AZs with 3 tiers needs /16 to /23 (its public and isolated subnets are "
                   "/prefix+5; AWS's smallest subnet is /28)")
            continue
        parsed.append((i, net))
    # Two CIDR blocks overlap only when one contains the other, so in address order every
    # block that overlaps the current one is still on the stack of blocks containing it:
    # O(n log n) rather than comparing every pair (12.5 million pairs at 5,000 accounts).
    pairs: list[tuple[int, int]] = []
    stack: list[tuple[int, ipaddress.IPv4Network]] = []
    for i, net in sorted(parsed, key=lambda p: (int(p[1].network_address), p[1].prefixlen, p[0])):
        while stack and int(net.network_address) > int(stack[-1][1].broadcast_address):
            stack.pop()
        pairs += [(max(i, j), min(i, j)) for j, _ in stack]
        stack.append((i, net))
    nets = dict(parsed)
    for i, j in sorted(pairs):
        yield (("accounts", i, "network", "cidr"), f"{nets[i]} overlaps {nets[j]} of accounts[{j}] ({cfg.accounts[j].name})",
               "give every account a non-overlapping CIDR so VPCs can be peered or attached")


def quotas(cfg: OrgConfig) -> Iterator[Problem]:
    """AWS Organizations quotas a config alone can exceed (CloudFormation and SCP limits depend
    on what synth generates: `landing_zone/limits.py`). OU nesting is checked in `ou_tree`."""
    lim = cfg.limits
    if len(cfg.accounts) > lim.org_max_accounts:
        yield (("accounts",), f"{len(cfg.accounts):,} accounts; the organization's account quota is "
               f"{lim.org_max_accounts:,} (limits.org_max_accounts)",
               "request a higher 'Default maximum number of accounts' in Service Quotas (AWS Organizations) and "
               "set limits.org_max_accounts to the value granted")
    if len(cfg.ous) > lim.org_max_ous:
        yield (("ous",), f"{len(cfg.ous):,} OUs; AWS Organizations allows {lim.org_max_ous:,} per organization "
               "(limits.org_max_ous)", "group accounts into fewer OUs (an OU may hold any number of accounts)")
    for i, acct in enumerate(cfg.accounts):
        if len(str(acct.email)) > lim.account_email_max_chars:
            yield (("accounts", i, "email"), f"email is {len(str(acct.email))} characters; CreateAccount accepts "
                   f"{lim.account_email_max_chars} (limits.account_email_max_chars)",
                   "use a shorter address, e.g. shorter plus-addressing")


def identity(cfg: OrgConfig) -> Iterator[Problem]:
    ident = cfg.baseline.identity
    sets = [p.name for p in ident.permission_sets]
    accounts = [a.name for a in cfg.accounts]
    for i, assignment in enumerate(ident.assignments):
        if assignment.permission_set not in sets:
            yield (("baseline", "identity", "assignments", i, "permission_set"),
                   f"permission set '{assignment.permission_set}' is not defined", did_you_mean(assignment.permission_set, sets))
        for j, name in enumerate(assignment.accounts):
            if name not in accounts:
                yield (("baseline", "identity", "assignments", i, "accounts", j),
                       f"account '{name}' does not exist", did_you_mean(name, accounts))
        if not assignment.accounts and not assignment.environments:
            yield (("baseline", "identity", "assignments", i), "assignment names no accounts or environments",
                   "add `accounts: [...]` or `environments: [...]`")


def recovery_targets(cfg: OrgConfig) -> Iterator[Problem]:
    """Refuse an RPO or RTO the backup and replication design cannot meet, saying why."""
    b = cfg.baseline.backup
    envs = list(b.targets) + [e for e in WORKLOAD_ENVIRONMENTS if cfg.accounts_in(e) and e not in b.targets]
    for env in envs:
        base: Loc = ("baseline", "backup", "targets", env)
        rpo, rto = b.rpo_minutes(env), b.rto_minutes(env)
        set_rpo = env in b.targets and b.targets[env].rpo is not None  # type: ignore[index]
        rpo_at: Loc = (*base, "rpo") if set_rpo else ("baseline", "backup")
        if rpo < RPO_FLOOR_MINUTES:
            yield (rpo_at, f"{env}: RPO {format_minutes(rpo)} is below what the design can meet "
                   f"({RPO_FLOOR_MINUTES} min): DynamoDB point-in-time recovery restores to at most about "
                   "5 minutes before a failure", f"set rpo to {RPO_FLOOR_MINUTES}m or more")
        if b.enabled and rpo < CONTINUOUS_BELOW_MINUTES and b.retention_days > CONTINUOUS_MAX_DAYS:
            yield (rpo_at, f"{env}: RPO {format_minutes(rpo)} needs AWS Backup continuous backup, which AWS "
                   f"keeps at most {CONTINUOUS_MAX_DAYS} days, but baseline.backup.retention_days is "
                   f"{b.retention_days}",
                   f"set baseline.backup.retention_days to {CONTINUOUS_MAX_DAYS} or less, or the {env} rpo to 1h "
                   "or more (hourly snapshots, kept as long as you like)")
        if b.enabled and rpo > b.retention_days * 1440:
            yield (rpo_at, f"{env}: RPO {format_minutes(rpo)} is longer than the {b.retention_days}-day retention: "
                   "each recovery point would expire before the next one is taken",
                   "shorten the rpo or raise baseline.backup.retention_days")
        if rto < RTO_FLOOR_MINUTES:
            rto_at: Loc = (*base, "rto") if env in b.targets and b.targets[env].rto is not None else (  # type: ignore[index]
                "baseline", "backup")
            yield (rto_at, f"{env}: RTO {format_minutes(rto)} is below what the design can meet "
                   f"({format_minutes(RTO_FLOOR_MINUTES)}): recovery restores backups into new resources and "
                   "redeploys the stacks (runbooks/disaster-recovery), with no standby running in the DR region",
                   f"set rto to {RTO_FLOOR_MINUTES // 60}h or more")


Check = Callable[[OrgConfig], Iterator[Problem]]

#: The checks the ground floor can make alone; a domain adds its own through `run_checks(extra=)`
#: (the landing zone checks SCP guardrail names: `charter.landing_zone.config`).
CHECKS: list[Check] = [
    unique_accounts, role_accounts, ou_tree, account_ous, regions, networks, identity, quotas,
    recovery_targets, workload_checks,
]


#: Checks only a landing zone needs: an assessment of existing accounts has no role accounts to name.
LANDING_ZONE_ONLY = (role_accounts,)


def run_checks(cfg: OrgConfig, *, landing_zone: bool = True, extra: Sequence[Check] = ()) -> list[Problem]:
    checks = [*(CHECKS if landing_zone else [c for c in CHECKS if c not in LANDING_ZONE_ONLY]), *extra]
    return [problem for check in checks for problem in check(cfg)]

"""Evaluate a permission model: every need and every link of the trust chain, as AWS would.

Accounts whose SCPs are the same policies at every level share one evaluation per need
and region; a denial names every account and region it reaches.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass

from charter.policy.documents import Policy
from charter.policy.evaluate import Decision, Principal, Request, evaluate, evaluate_assume
from charter.policy.matching import arn_matches
from charter.policy.model import AssumeEdge, Need, PermissionModel, RoleGrant, Target

EXEMPTION_MODEL = "charter.landing_zone.scp.exemptions"


@dataclass(frozen=True)
class Finding:
    principal: str
    action: str
    resource: str
    accounts: tuple[str, ...]
    regions: tuple[str, ...]
    decision: Decision
    why: str
    source: str
    fix: str

    @property
    def statement(self) -> str:
        """The statement that denies, or where the allow is missing."""
        if self.decision.outcome == "explicit-deny":
            return f"{self.decision.policy}" + (f" statement {self.decision.sid}" if self.decision.sid else "")
        return f"missing allow: {self.decision.reason}"

    def line(self) -> str:
        accounts = ", ".join(self.accounts[:6]) + (f" (+{len(self.accounts) - 6} more)" if len(self.accounts) > 6 else "")
        return (f"{self.principal} {self.action} on {self.resource} in {accounts} / {', '.join(self.regions)}: "
                f"{'denied by ' + self.statement if self.decision.outcome == 'explicit-deny' else self.statement} "
                f"(to {self.why}); fix: {self.fix}")

    def to_json(self) -> dict[str, object]:
        return {"principal": self.principal, "action": self.action, "resource": self.resource,
                "accounts": list(self.accounts), "regions": list(self.regions), "outcome": self.decision.outcome,
                "policy_type": self.decision.policy_kind, "policy": self.decision.policy, "statement": self.decision.sid,
                "reason": self.decision.reason, "why": self.why, "source": self.source, "fix": self.fix}


def grant_for(model: PermissionModel, account_id: str, role: str, region: str = "") -> RoleGrant | None:
    found = model.account_roles.get((account_id, role)) or model.roles.get(role)
    if found is None and region and region in role:
        found = model.roles.get(role.replace(region, "{region}"))  # one role per region, e.g. Name-{region}
    if found is not None:
        return found
    for pattern, grant in model.roles.items():
        if any(c in pattern for c in "*?") and fnmatch.fnmatchcase(role, pattern):
            return grant
    return None


class _Filled:
    """Policies with a template's `{account}`/`{region}` filled, once per account and region."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, str, str], Policy] = {}

    def __call__(self, policy: Policy | None, account: str, region: str) -> Policy | None:
        if policy is None or not policy.has_placeholders:
            return policy
        key = (id(policy), account, region)
        if key not in self._cache:
            self._cache[key] = policy.fill(account, region)
        return self._cache[key]

    def many(self, policies: list[Policy], account: str, region: str) -> list[Policy]:
        return [self(p, account, region) for p in policies]  # type: ignore[misc]


def _org_keys(model: PermissionModel) -> dict[str, str]:
    if not model.organization_id:
        return {}
    return {"aws:PrincipalOrgID": model.organization_id, "aws:ResourceOrgID": model.organization_id}


def _fill(resource: str | None, t: Target) -> str | None:
    return None if resource is None else resource.replace("{account}", t.account_id).replace("{region}", t.region)


def _scp_key(model: PermissionModel, account_id: str) -> tuple[tuple[str, ...], ...]:
    if account_id == model.management_account:
        return ()
    return tuple(tuple(p.name for p in policies) for _, policies in model.scp_levels.get(account_id, []))


def _resource_policy(model: PermissionModel, resource: str | None, t: Target) -> tuple[Policy | None, bool]:
    if resource:
        service = resource.split(":", 3)[2] if resource.count(":") >= 3 else ""
        for pattern, policy, required in model.resource_policies:
            if pattern.split(":", 3)[2:3] == [service] and arn_matches(_fill(pattern, t) or pattern, resource):
                return policy, required
    return None, False


def _fix(d: Decision, role: str, action: str, resource: str, grant: RoleGrant | None, caller: str = "") -> str:
    if d.policy_kind == "scp" and d.outcome == "explicit-deny":
        return (f"exempt {role} from {d.sid or d.policy} through Charter's exemption model ({EXEMPTION_MODEL}); "
                f"for an `scps.custom` statement, add ArnNotLike aws:PrincipalArn arn:aws:iam::*:role/{role} "
                "to its condition or narrow its actions")
    if d.policy_kind == "scp":
        return f"attach an SCP that allows {action} (FullAWSAccess) to {d.policy.removeprefix('SCPs attached to ')}"
    if d.policy_kind == "boundary":
        return f"allow {action} in the permissions boundary {d.policy}, or stop needing it"
    if d.policy_kind == "trust":
        return f"let the trust policy of {role} admit {caller} (aws:PrincipalArn)"
    if d.policy_kind == "resource":
        return f"allow {role} to {action} in {d.policy}"
    where = f" ({grant.origin})" if grant and grant.origin else ""
    return f"grant {action} on {resource} to {role}{where}"


def check(model: PermissionModel) -> list[Finding]:
    """Every denial in `model`, grouped by principal, action, resource and reason."""
    findings: dict[tuple[object, ...], tuple[set[str], set[str], Finding]] = {}

    def add(f: Finding, targets: Iterable[Target]) -> None:
        key = (f.principal, f.action, f.resource, f.decision, f.why)
        accounts, regions, _ = findings.setdefault(key, (set(), set(), f))
        for t in targets:
            accounts.add(t.account_name)
            regions.add(t.region)

    filled = _Filled()
    for need in model.needs:
        groups: dict[tuple[object, ...], list[Target]] = {}
        for t in need.targets:
            grant = grant_for(model, t.account_id, need.role, t.region)
            groups.setdefault((_scp_key(model, t.account_id), t.region, id(grant)), []).append(t)
        for targets in groups.values():
            t = targets[0]
            decision, resource = _decide(model, need, t, filled)
            if not decision.allowed:
                grant = grant_for(model, t.account_id, need.role, t.region)
                generic = (need.resource or "*").replace("{region}", "<region>").replace("{account}", "<account>")
                add(Finding(need.role, need.action, generic, (), (), decision, need.why, need.source,
                            _fix(decision, need.role, need.action, generic, grant)), targets)

    for edge in model.assumes:
        _check_assume(model, edge, add, filled)

    out = []
    for accounts, regions, f in findings.values():
        out.append(Finding(f.principal, f.action, f.resource, tuple(sorted(accounts)), tuple(sorted(regions)),
                           f.decision, f.why, f.source, f.fix))
    return sorted(out, key=lambda f: (f.principal, f.action, f.resource, f.accounts))


def _decide(model: PermissionModel, need: Need, t: Target, filled: _Filled) -> tuple[Decision, str | None]:
    role = need.role.replace("{region}", t.region)
    grant = grant_for(model, t.account_id, role, t.region)
    resource = _fill(need.resource, t)
    if grant is None:
        return Decision("implicit-deny", "identity", role, "",
                        f"no role {role} in {t.account_name} (nothing creates it)"), resource
    principal = Principal.role(t.account_id, role, need.role_path, session="charter")
    # a bucket's own handlers run before its policy (a separate resource) exists
    own = ("charter:OwnBucketHandler", "true") in need.context
    policy, required = (None, False) if own else _resource_policy(model, resource, t)
    context = {**_org_keys(model), **{k: _fill(v, t) or v for k, v in need.context}}
    req = Request(principal, need.action, resource, t.region, context)
    return evaluate(req, scps=model.scp_levels.get(t.account_id, []),
                    identity=filled.many(grant.identity, t.account_id, t.region),
                    boundary=filled(grant.boundary, t.account_id, t.region),
                    resource_policy=filled(policy, t.account_id, t.region), resource_policy_required=required,
                    management_account=model.management_account), resource


def _check_assume(model: PermissionModel, edge: AssumeEdge, add, filled: _Filled) -> None:  # type: ignore[no-untyped-def]
    caller = edge.caller
    caller_grant = grant_for(model, caller.account, caller.name) if caller.kind == "role" else None
    home = edge.targets[0].region if edge.targets else ""
    identity = filled.many(caller_grant.identity, caller.account, home) if caller_grant else []
    boundary = filled(caller_grant.boundary, caller.account, home) if caller_grant else None
    if caller.kind == "root":
        identity = [Policy.parse("identity", "root user", {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})]
    groups: dict[tuple[object, ...], list[Target]] = {}
    for t in edge.targets:
        groups.setdefault((id(grant_for(model, t.account_id, edge.role.replace("{region}", t.region), t.region)),
                           _scp_key(model, t.account_id) if caller.account == t.account_id else ()), []).append(t)
    for targets in groups.values():
        t = targets[0]
        role = edge.role.replace("{region}", t.region)
        grant = grant_for(model, t.account_id, role, t.region)
        role_arn = f"arn:aws:iam::{t.account_id}:role/{role}"
        if grant is None or grant.trust is None:
            decision = Decision("implicit-deny", "trust", role, "", f"no role {role} in {t.account_name}")
        else:
            context = {**_org_keys(model), **{k: _fill(v, t) or v for k, v in edge.context}}
            decision = evaluate_assume(caller, role_arn, filled(grant.trust, t.account_id, t.region),  # type: ignore[arg-type]
                                       region=t.region, identity=identity, boundary=boundary,
                                       scps=model.scp_levels.get(caller.account, []),
                                       management_account=model.management_account, context=context)
        if not decision.allowed:
            add(Finding(edge.caller_label, "sts:AssumeRole", f"arn:aws:iam::<account>:role/{edge.role}", (), (),
                        decision, edge.why, edge.source,
                        _fix(decision, edge.role, "sts:AssumeRole", edge.role, caller_grant, edge.caller_label)), targets)

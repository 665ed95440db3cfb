"""One request, every policy that applies to it, one decision (AWS's evaluation order)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from charter.policy.documents import AWS_KIND_NAMES, Policy, Statement
from charter.policy.matching import Context, ContextValue

PrincipalKind = Literal["role", "user", "root", "service"]


@dataclass(frozen=True)
class Principal:
    """Who makes a request. For a role, `arn` is the role's ARN, which is what
    `aws:PrincipalArn` is for each of its sessions; `session_arn` is the session's."""

    arn: str
    account: str
    kind: PrincipalKind = "role"
    service_linked: bool = False
    session_arn: str | None = None

    @classmethod
    def role(cls, account: str, name: str, path: str = "/", session: str | None = None) -> Principal:
        arn = f"arn:aws:iam::{account}:role{path}{name}"
        session_arn = f"arn:aws:sts::{account}:assumed-role/{name}/{session}" if session else None
        return cls(arn=arn, account=account, kind="role", service_linked=path.startswith("/aws-service-role/"),
                   session_arn=session_arn)

    @classmethod
    def root(cls, account: str) -> Principal:
        return cls(arn=f"arn:aws:iam::{account}:root", account=account, kind="root")

    @classmethod
    def service(cls, name: str) -> Principal:
        return cls(arn=name, account="", kind="service")

    @property
    def name(self) -> str:
        return self.arn.rsplit("/", 1)[-1] if self.kind in ("role", "user") else self.arn

    @property
    def caller_arn(self) -> str:
        """The ARN AWS names in an AccessDenied message (the session for a role)."""
        return self.session_arn or self.arn


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    #: The resource's ARN; None when it is not known (then policies scoped to specific
    #: resources neither grant nor deny it unless `evaluate(..., strict_resources=...)`).
    resource: str | None
    region: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    #: Account that owns the resource (default: the principal's).
    resource_account: str | None = None

    def full_context(self) -> dict[str, ContextValue]:
        p = self.principal
        ctx: dict[str, ContextValue] = {"aws:RequestedRegion": self.region, "aws:SecureTransport": "true"}
        if p.kind == "service":
            ctx.update({"aws:PrincipalIsAWSService": "true", "aws:PrincipalServiceName": p.arn})
        else:
            ctx.update({"aws:PrincipalArn": p.arn, "aws:PrincipalAccount": p.account,
                        "aws:PrincipalIsAWSService": "false",
                        "aws:PrincipalType": {"role": "AssumedRole", "user": "User", "root": "Account"}[p.kind]})
        ctx["aws:ResourceAccount"] = self.resource_account or p.account
        ctx.update(self.context)
        return ctx


Outcome = Literal["allowed", "explicit-deny", "implicit-deny"]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    #: The kind of policy that decided a denial (scp, identity, boundary, resource, trust).
    policy_kind: str | None = None
    #: The policy that denies (explicit) or the place an allow is missing (implicit).
    policy: str = ""
    sid: str = ""
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.outcome == "allowed"

    def aws_message(self, request: Request) -> str:
        """The message AWS puts in AccessDenied for this decision."""
        who = request.principal.caller_arn
        head = f"User: {who} is not authorized to perform: {request.action} on resource: {request.resource or '*'}"
        kind = AWS_KIND_NAMES.get(self.policy_kind or "", "policy")
        if self.outcome == "explicit-deny":
            return f"{head} with an explicit deny in a {kind}"
        if self.policy_kind == "scp":
            return f"{head} because no service control policy allows the {request.action} action"
        if self.policy_kind == "boundary":
            return f"{head} because no permissions boundary allows the {request.action} action"
        if self.policy_kind in ("resource", "trust"):
            return f"{head} because no resource-based policy allows the {request.action} action"
        return f"{head} because no identity-based policy allows the {request.action} action"


ALLOWED = Decision("allowed")

#: Actions AWS never denies: "No permissions are required to perform this operation. If an
#: administrator attaches a policy that explicitly denies access to sts:GetCallerIdentity,
#: you can still perform this operation" (STS API reference).
ALWAYS_ALLOWED = frozenset({"sts:getcalleridentity"})

#: One SCP level: a label ("Root", "OU Prod", "account dev") and the policies attached there.
ScpLevel = tuple[str, Sequence[Policy]]


def _applies(stmt: Statement, req: Request, ctx: Context, *, unknown: bool) -> bool:
    return (stmt.matches_action(req.action) and stmt.matches_resource(req.resource, ctx, unknown=unknown)
            and stmt.matches_conditions(ctx))


def principal_match(stmt: Statement, principal: Principal) -> Literal["direct", "account"] | None:
    """How a resource or trust policy statement names the principal: directly (its ARN,
    its session, `*`, the service) or through its account (root or the account id, which
    delegates to the account's own identity policies)."""
    if stmt.not_principals is not None:
        named = stmt.not_principals
        return None if _names(named, principal) else "direct"
    if stmt.principals is None:
        return None
    return _names(stmt.principals, principal)


def _names(principals: Mapping[str, Sequence[str]], p: Principal) -> Literal["direct", "account"] | None:
    if p.kind == "service":
        return "direct" if p.arn in principals.get("Service", ()) else None
    found: Literal["direct", "account"] | None = None
    for value in principals.get("AWS", ()):
        if value == "*" or value in (p.arn, p.session_arn):
            return "direct"
        if value in (p.account, f"arn:aws:iam::{p.account}:root"):
            if p.kind == "root":
                return "direct"
            found = "account"
    return found


def _explicit_deny(policies: Sequence[Policy], req: Request, ctx: Context, *, resource_policy: bool = False
                   ) -> Decision | None:
    for policy in policies:
        for stmt in policy.statements:
            if stmt.effect != "Deny":
                continue
            if resource_policy and principal_match(stmt, req.principal) is None:
                continue
            if _applies(stmt, req, ctx, unknown=False):
                return Decision("explicit-deny", policy.kind, policy.name, stmt.sid,
                                f"explicit deny in {policy.name}" + (f" statement {stmt.sid}" if stmt.sid else ""))
    return None


def _allows(policies: Sequence[Policy], req: Request, ctx: Context) -> Statement | None:
    for policy in policies:
        for stmt in policy.statements:
            if stmt.effect == "Allow" and _applies(stmt, req, ctx, unknown=True):
                return stmt
    return None


def evaluate(req: Request, *, scps: Sequence[ScpLevel] = (), identity: Sequence[Policy] = (),
             boundary: Policy | None = None, resource_policy: Policy | None = None,
             resource_policy_required: bool = False, management_account: str | None = None) -> Decision:
    """AWS's decision for `req`.

    `scps`: the levels from the root down to the principal's account (ignored for the
    management account, service-linked roles and service principals, as AWS documents).
    `resource_policy_required`: the resource's policy must allow, directly or by naming the
    account (trust policies, KMS key policies); otherwise a same-account identity allow suffices.
    """
    if req.action.lower() in ALWAYS_ALLOWED:
        return ALLOWED
    ctx = req.full_context()
    p = req.principal
    scp_applies = bool(scps) and p.kind != "service" and not p.service_linked and p.account != management_account
    scp_policies = [pol for _, level in scps for pol in level] if scp_applies else []
    resource_policies = [resource_policy] if resource_policy is not None else []

    # 1. an explicit deny anywhere wins
    for found in (_explicit_deny(scp_policies, req, ctx),
                  _explicit_deny(resource_policies, req, ctx, resource_policy=True),
                  _explicit_deny(identity, req, ctx),
                  _explicit_deny([boundary] if boundary else [], req, ctx)):
        if found:
            return found

    # 2. SCPs are an allow-list at every level
    if scp_applies:
        for label, level in scps:
            if _allows(level, req, ctx) is None:
                return Decision("implicit-deny", "scp", f"SCPs attached to {label}", "",
                                f"no SCP attached to {label} allows {req.action}")

    # 3. the resource policy (trust policy, key policy, bucket policy)
    via_resource: Literal["direct", "account"] | None = None
    if resource_policy is not None:
        for stmt in resource_policy.statements:
            if stmt.effect != "Allow":
                continue
            how = principal_match(stmt, p)
            if how and _applies(stmt, req, ctx, unknown=True):
                via_resource = "direct" if how == "direct" else (via_resource or "account")
                if how == "direct":
                    break
    if resource_policy_required and via_resource is None:
        return Decision("implicit-deny", resource_policy.kind if resource_policy else "resource",
                        resource_policy.name if resource_policy else "resource policy", "",
                        f"{resource_policy.name if resource_policy else 'the resource policy'} does not allow "
                        f"{p.caller_arn} to {req.action}")
    if p.kind in ("service", "root"):
        # a service principal has no identity policies; the root user is allowed everything in its account
        if p.kind == "service" and via_resource is None:
            return Decision("implicit-deny", "resource", resource_policy.name if resource_policy else "resource policy",
                            "", f"no resource policy allows {p.arn}")
        if p.kind == "root" and (req.resource_account or p.account) != p.account and via_resource is None:
            return Decision("implicit-deny", "resource", "resource policy", "",
                            "cross-account access needs the resource policy's allow")
        return ALLOWED

    same_account = (req.resource_account or p.account) == p.account
    identity_allow = _allows(identity, req, ctx)
    if via_resource == "direct" and same_account:
        granted = True
    elif identity_allow is None:
        return Decision("implicit-deny", "identity", f"policies of {p.name}", "",
                        f"no identity policy of {p.name} allows it")
    else:
        granted = same_account or via_resource is not None
    if not granted:
        return Decision("implicit-deny", "resource", resource_policy.name if resource_policy else "resource policy",
                        "", f"cross-account: the resource policy does not allow {p.arn}")

    # 4. the permissions boundary caps identity-based grants
    if boundary is not None and _allows([boundary], req, ctx) is None:
        return Decision("implicit-deny", "boundary", boundary.name, "",
                        f"permissions boundary {boundary.name} does not allow {req.action}")
    return ALLOWED


def evaluate_assume(caller: Principal, role_arn: str, trust: Policy, *, region: str,
                    identity: Sequence[Policy] = (), boundary: Policy | None = None,
                    scps: Sequence[ScpLevel] = (), management_account: str | None = None,
                    context: Mapping[str, ContextValue] | None = None) -> Decision:
    """sts:AssumeRole of `role_arn` by `caller`: the role's trust policy must allow the
    caller (directly, or its account, whose identity policies must then allow it too)."""
    account = role_arn.split(":")[4]
    req = Request(caller, "sts:AssumeRole", role_arn, region, context or {}, resource_account=account)
    return evaluate(req, scps=scps, identity=identity, boundary=boundary, resource_policy=trust,
                    resource_policy_required=True, management_account=management_account)

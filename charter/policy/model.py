"""Charter's permission model: who acts where, what each principal is granted, what it needs.

The domains each contribute a `PermissionModel` (beside their code); the CLI merges them
and `charter.policy.check` evaluates every need. A `Need` is one action on one resource by
one role, in a set of accounts and regions (`targets`): the same need in sixty accounts is
evaluated once per distinct set of SCPs, not sixty times. Resources may hold `{account}`
and `{region}`, filled per target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from charter.policy.documents import Policy
from charter.policy.evaluate import Principal, ScpLevel


@dataclass(frozen=True)
class Target:
    account_id: str
    account_name: str
    region: str


@dataclass(frozen=True)
class Need:
    #: The role that acts, by name, in each target account ("OrganizationAccountAccessRole").
    role: str
    action: str
    resource: str | None
    targets: tuple[Target, ...]
    #: Why Charter needs it: "create AWS::IAM::Role CollectorRole (stack charter-evidence-store)".
    why: str
    #: Where the need is declared: "cfn:charter-evidence-store", "code:charter.landing_zone.deploy".
    source: str = ""
    context: tuple[tuple[str, str], ...] = ()
    role_path: str = "/"


@dataclass(frozen=True)
class AssumeEdge:
    """`caller` assumes `role` in each target account (a link of the trust chain)."""

    caller: Principal
    #: How the report names the caller ("CharterEvidenceCollector (audit)", "operator CLI").
    caller_label: str
    role: str
    targets: tuple[Target, ...]
    why: str
    source: str = ""
    #: Request context of the AssumeRole call (e.g. aws:SourceAccount for a service).
    context: tuple[tuple[str, str], ...] = ()


@dataclass
class RoleGrant:
    """What a role is granted, and who may assume it."""

    identity: list[Policy] = field(default_factory=list)
    boundary: Policy | None = None
    trust: Policy | None = None
    #: Where the role comes from ("stack charter-identity-roles", "AWS (Organizations CreateAccount)").
    origin: str = ""


@dataclass
class PermissionModel:
    management_account: str = ""
    #: The organization's id: `aws:PrincipalOrgID` and `aws:ResourceOrgID` of every request.
    organization_id: str = ""
    #: account id -> the SCP levels from the root down to the account
    scp_levels: dict[str, list[ScpLevel]] = field(default_factory=dict)
    #: role name (a pattern such as `stacksets-exec-*` allowed) -> grant in every account ...
    roles: dict[str, RoleGrant] = field(default_factory=dict)
    #: ... unless an account has its own: (account id, role name) -> grant
    account_roles: dict[tuple[str, str], RoleGrant] = field(default_factory=dict)
    needs: list[Need] = field(default_factory=list)
    assumes: list[AssumeEdge] = field(default_factory=list)
    #: Resource policies Charter writes (KMS key policies, bucket policies): (ARN pattern, policy, required)
    resource_policies: list[tuple[str, Policy, bool]] = field(default_factory=list)
    #: account id -> account name
    account_names: dict[str, str] = field(default_factory=dict)
    #: Needs that could not be modelled (a resource type with no known handler permissions).
    notes: list[str] = field(default_factory=list)

    def merge(self, other: PermissionModel) -> PermissionModel:
        self.management_account = self.management_account or other.management_account
        self.organization_id = self.organization_id or other.organization_id
        for k, v in other.scp_levels.items():
            self.scp_levels.setdefault(k, v)
        for name, grant in other.roles.items():
            self.roles.setdefault(name, grant)
        for key, grant in other.account_roles.items():
            self.account_roles.setdefault(key, grant)
        self.needs += other.needs
        self.assumes += other.assumes
        self.resource_policies += other.resource_policies
        self.account_names.update(other.account_names)
        self.notes += [n for n in other.notes if n not in self.notes]
        return self

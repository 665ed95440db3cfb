"""Evidence's part of the permission model: the trust chain to the read-only evidence role
and what is read through it.

- the scheduled collector (`CharterEvidenceCollector`, audit account) assumes
  `CharterEvidenceReader` in every account and runs every collector's declared calls there;
- an operator's CLI (`charter evidence collect`, `charter access-review`) first becomes
  `CharterEvidenceOperator` in the management account (from the management profile), then
  assumes the same reader; the Identity Center and Organizations reads of an access review
  are made as the operator in the management account;
- access-review revocations use the write role (`--role`, default
  `OrganizationAccountAccessRole`) in the member account, Identity Center ones the caller.

The roles' policies and trust come from the templates that create them (the landing zone's
model); this module only says who acts, where and what it calls. Account ids are passed
in (`ids`: account name -> id, `management` included), so this module needs nothing
from the landing zone's builders.
"""

from __future__ import annotations

from charter.config.model import OrgConfig
from charter.naming import (
    EVIDENCE_COLLECTOR_ROLE,
    EVIDENCE_OPERATOR_ROLE,
    EVIDENCE_READER_ROLE,
    MEMBER_ACCESS_ROLE,
)
from charter.policy.evaluate import Principal
from charter.policy.model import AssumeEdge, Need, PermissionModel, Target


def evidence_model(cfg: OrgConfig, ids: dict[str, str], *, operator_caller: str | None = None) -> PermissionModel:
    """`operator_caller`: the management-account role an operator's CLI starts from
    (default: the deploy role, the documented management profile)."""
    from charter.evidence.access_review.revoke import MANAGEMENT_REVOKE_CALLS, MEMBER_REVOKE_CALLS
    from charter.evidence.access_review.snapshot import MANAGEMENT_READ_CALLS, READER_CALLS
    from charter.evidence.collectors import all_collectors

    home = cfg.organization.home_region
    regions = list(cfg.organization.governed_regions)
    mgmt = ids["management"]
    names = {"management": "management", **{a.name: a.name for a in cfg.accounts}}
    every = ["management", *[a.name for a in cfg.accounts]]

    def targets(accounts: list[str], where: list[str]) -> tuple[Target, ...]:
        return tuple(Target(ids[a], names[a], r) for a in accounts for r in where)

    model = PermissionModel()
    audit = ids[cfg.account("audit").name]
    collector = Principal.role(audit, EVIDENCE_COLLECTOR_ROLE, session="collector")
    operator = Principal.role(mgmt, EVIDENCE_OPERATOR_ROLE, session="operator")
    caller = Principal.role(mgmt, operator_caller or cfg.scps.admin_role, session="operator")
    src = "code:charter.evidence.fanout"
    all_home = targets(every, [home])
    model.assumes += [
        AssumeEdge(collector, f"{EVIDENCE_COLLECTOR_ROLE} (scheduled collector)", EVIDENCE_READER_ROLE, all_home,
                   "read evidence in every account", src),
        AssumeEdge(caller, f"{caller.name} (operator CLI)", EVIDENCE_OPERATOR_ROLE, targets(["management"], [home]),
                   "become the evidence operator", "code:charter.commands.evidence"),
        AssumeEdge(operator, f"{EVIDENCE_OPERATOR_ROLE} (operator CLI)", EVIDENCE_READER_ROLE, all_home,
                   "read evidence and access in every account", src),
    ]
    for c in all_collectors():
        where = [home] if c.scope == "global" else regions
        accounts = ["management"] if c.management_only else every
        for action in c.calls:
            model.needs.append(Need(EVIDENCE_READER_ROLE, action, None, targets(accounts, where),
                                    f"collect evidence ({c.name})", f"code:charter.evidence.collectors.{c.name}"))
    for action in READER_CALLS:
        model.needs.append(Need(EVIDENCE_READER_ROLE, action, None, all_home, "snapshot access (access review)",
                                "code:charter.evidence.access_review.snapshot"))
    for action in MANAGEMENT_READ_CALLS:
        model.needs.append(Need(EVIDENCE_OPERATOR_ROLE, action, None, targets(["management"], [home]),
                                "snapshot Identity Center and the organization (access review)",
                                "code:charter.evidence.access_review.snapshot"))
    members = [a.name for a in cfg.accounts]
    for action in MEMBER_REVOKE_CALLS:
        model.needs.append(Need(MEMBER_ACCESS_ROLE, action, f"arn:aws:iam::{{account}}:{'role' if 'Role' in action else 'user'}/reviewed-principal",
                                targets(members, [home]), "revoke access (access-review close --apply)",
                                "code:charter.evidence.access_review.revoke"))
    for action in MANAGEMENT_REVOKE_CALLS:
        model.needs.append(Need(cfg.scps.admin_role, action, None, targets(["management"], [home]),
                                "revoke Identity Center access (access-review close --apply)",
                                "code:charter.evidence.access_review.revoke"))
    return model

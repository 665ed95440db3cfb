"""IAM Identity Center (management account, home region): permission sets with their
session limits and every account assignment, checked against `org.yaml`."""

from __future__ import annotations

import re

from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    instances = rec.drain("sso-admin", "list_instances", "Instances") or []
    out = []
    for inst in instances:
        arn, store = inst["InstanceArn"], inst.get("IdentityStoreId")
        groups = {g["GroupId"]: g.get("DisplayName")
                  for g in (rec.drain("identitystore", "list_groups", "Groups", IdentityStoreId=store) or [])} \
            if store else {}
        permission_sets = []
        for ps_arn in rec.drain("sso-admin", "list_permission_sets", "PermissionSets", InstanceArn=arn) or []:
            ps = (rec.call("sso-admin", "describe_permission_set", InstanceArn=arn,
                           PermissionSetArn=ps_arn) or {}).get("PermissionSet", {})
            assignments = []
            for account in rec.drain("sso-admin", "list_accounts_for_provisioned_permission_set", "AccountIds",
                                     InstanceArn=arn, PermissionSetArn=ps_arn) or []:
                for a in rec.drain("sso-admin", "list_account_assignments", "AccountAssignments", InstanceArn=arn,
                                   AccountId=account, PermissionSetArn=ps_arn) or []:
                    assignments.append({"account": a.get("AccountId"), "principal_type": a.get("PrincipalType"),
                                        "principal": groups.get(a.get("PrincipalId"), a.get("PrincipalId"))})
            permission_sets.append({"arn": ps_arn, "name": ps.get("Name"), "session": ps.get("SessionDuration"),
                                    "assignments": assignments})
        out.append({"arn": arn, "identity_store": store, "permission_sets": permission_sets})
    return {"instances": out}


def duration_hours(iso: str | None) -> float | None:
    """ISO 8601 duration (PT4H, PT1H30M) in hours."""
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?", iso or "")
    return None if not m else int(m.group(1) or 0) + int(m.group(2) or 0) / 60


def check_identity(snap: Snapshot, ctx: Context) -> list:
    ident = ctx.cfg.baseline.identity
    if not ident.enabled:
        return []
    if not snap["instances"]:
        return [item(f"{ctx.target.account_id}/identity-center", "IAM-06", False, "no Identity Center instance")]
    inst = snap["instances"][0]
    sets = {ps["name"]: ps for ps in inst["permission_sets"]}
    out = []
    for want in ident.permission_sets:
        ps = sets.get(want.name)
        if ps is None:
            out.append(item(f"permission-set/{want.name}", "IAM-06", False, "permission set missing"))
            continue
        hours = duration_hours(ps["session"])
        ok = hours is not None and hours <= want.session_hours
        out.append(item(ps["arn"], "IAM-06", ok, f"session {ps['session']} (limit {want.session_hours} h)",
                        name=want.name))
    # Expected assignments: (group, permission set, account id) from org.yaml.
    expected: set[tuple[str, str, str]] = set()
    for a in ident.assignments:
        names = set(a.accounts) | {acct.name for acct in ctx.cfg.accounts_in(*a.environments)}
        for name in names:
            if name in ctx.account_ids:
                expected.add((a.group, a.permission_set, ctx.account_ids[name]))
    actual = {(x["principal"], ps["name"], x["account"]) for ps in inst["permission_sets"] for x in ps["assignments"]}
    for group, ps_name, account in sorted(expected | actual):
        aid = f"{group}/{ps_name}/{account}"
        if (group, ps_name, account) in expected and (group, ps_name, account) in actual:
            out.append(item(aid, "IAM-06", True, "assigned as configured"))
        elif (group, ps_name, account) in expected:
            out.append(item(aid, "IAM-06", False, "configured in org.yaml but not assigned"))
        else:
            out.append(item(aid, "IAM-06", False, "assigned but not in org.yaml (review or remove)"))
    return out


COLLECTOR = register(Collector(
    calls=("identitystore:ListGroups", "sso:DescribePermissionSet", "sso:ListAccountAssignments",
           "sso:ListAccountsForProvisionedPermissionSet", "sso:ListInstances", "sso:ListPermissionSets"),
    name="identity_center", scope="global", management_only=True, services=("sso-admin", "identitystore"),
    description="Identity Center permission sets, session limits, account assignments vs org.yaml",
    fetch=fetch, checks=(("IAM-06", check_identity),), landing_zone=("IAM-06",),
))

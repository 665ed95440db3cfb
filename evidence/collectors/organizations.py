"""Organizations (management account, once): accounts and the OU each sits in, SCPs and
the targets they are attached to, checked against `org.yaml` (statement Sids start with
their control id, so an SCP read back from AWS still says which control it serves).

The statements org.yaml expects on each target are data the caller passes
(`Context.sources["organizations"]["scp_statements"]`: Sid, control, targets; the CLI and
the evidence Lambda's package get them from the landing zone's guardrails), so the
collector needs no landing-zone builder. Without them the SCP checks are gaps naming that.
"""

from __future__ import annotations

import json
from functools import partial

from charter.config.model import ROOT
from charter.evidence.collectors import register
from charter.evidence.collectors.base import (
    Check,
    Collector,
    Context,
    Recorder,
    Snapshot,
    item,
    reads,
)

#: The controls SCP statements serve: the guardrails' and ORG-05 (custom statements). A test
#: proves this is the set the landing zone's guardrails declare.
SCP_CONTROLS = ("DAT-01", "ENC-03", "ENC-04", "IAM-02", "LOG-02", "MON-02", "MON-03", "ORG-02", "ORG-03",
                "ORG-04", "ORG-05")


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    org = (rec.call("organizations", "describe_organization") or {}).get("Organization", {})
    roots = rec.drain("organizations", "list_roots", "Roots") or []
    names: dict[str, str] = {r["Id"]: ROOT for r in roots}  # target id -> Root / OU name / account name
    parents: dict[str, str] = {}  # OU or account id -> parent id
    queue = [r["Id"] for r in roots]
    while queue:
        parent = queue.pop(0)
        for ou in rec.drain("organizations", "list_organizational_units_for_parent", "OrganizationalUnits",
                            ParentId=parent) or []:
            names[ou["Id"]] = ou["Name"]
            parents[ou["Id"]] = parent
            queue.append(ou["Id"])
        for acct in rec.drain("organizations", "list_accounts_for_parent", "Accounts", ParentId=parent) or []:
            parents[acct["Id"]] = parent
    accounts = [{"id": a["Id"], "name": a.get("Name"), "email": a.get("Email"), "status": a.get("Status"),
                 "parent": names.get(parents.get(a["Id"], ""), None)}
                for a in rec.drain("organizations", "list_accounts", "Accounts") or []]
    for a in accounts:
        names.setdefault(a["id"], a["name"])
    policies = []
    for p in rec.drain("organizations", "list_policies", "Policies", Filter="SERVICE_CONTROL_POLICY") or []:
        doc = ((rec.call("organizations", "describe_policy", PolicyId=p["Id"]) or {}).get("Policy") or {}).get(
            "Content") or "{}"
        targets = rec.drain("organizations", "list_targets_for_policy", "Targets", PolicyId=p["Id"]) or []
        statements = json.loads(doc).get("Statement", [])
        policies.append({"id": p["Id"], "name": p.get("Name"), "aws_managed": p.get("AwsManaged", False),
                         "sids": [s.get("Sid") for s in (statements if isinstance(statements, list) else [statements])],
                         "targets": [names.get(t["TargetId"], t.get("Name")) for t in targets]})
    expected = (ctx.sources.get("organizations") or {}).get("scp_statements")
    if expected is None:
        rec.missing("scp_statements", "the SCP statements org.yaml expects were not given to the collector "
                                      "(`charter evidence collect` and the deployed collector pass them)")
    return {"organization": {"id": org.get("Id"), "management_account": org.get("MasterAccountId"),
                             "feature_set": org.get("FeatureSet")},
            "accounts": accounts, "policies": policies, "expected_scp_statements": expected or []}


def check_structure(snap: Snapshot, ctx: Context) -> list:
    want = {str(a.email).lower(): a for a in ctx.cfg.accounts}
    by_name = {a.name: a for a in ctx.cfg.accounts}
    out = []
    mgmt = snap["organization"]["management_account"]
    for acct in snap["accounts"]:
        cfg_acct = want.get((acct["email"] or "").lower()) or by_name.get(acct["name"] or "")
        if acct["id"] == mgmt:
            out.append(item(acct["id"], "ORG-01", "not_applicable", "management account", name=acct["name"]))
        elif acct["status"] != "ACTIVE":
            out.append(item(acct["id"], "ORG-01", "not_applicable", f"account {acct['status']}",
                            name=acct["name"], ou=acct["parent"]))
        elif cfg_acct is None:
            out.append(item(acct["id"], "ORG-01", False, "account is not in org.yaml (ungoverned)",
                            name=acct["name"], ou=acct["parent"]))
        else:
            ok = acct["parent"] == cfg_acct.ou
            out.append(item(acct["id"], "ORG-01", ok,
                            f"in OU {acct['parent']} as configured" if ok
                            else f"in {acct['parent']}, org.yaml says {cfg_acct.ou}",
                            name=acct["name"], environment=cfg_acct.environment))
    for cfg_acct in ctx.cfg.accounts:
        known = {(a["email"] or "").lower() for a in snap["accounts"]} | {a["name"] for a in snap["accounts"]}
        if str(cfg_acct.email).lower() not in known and cfg_acct.name not in known:
            out.append(item(cfg_acct.name, "ORG-01", False, "in org.yaml but not in the organization"))
    return out


def check_scp(snap: Snapshot, ctx: Context, *, control: str) -> list:
    """Every statement org.yaml puts on a target for `control` is in an SCP attached there."""
    attached: dict[str, set[str]] = {}
    for policy in snap["policies"]:
        for target in policy["targets"]:
            attached.setdefault(target, set()).update(s for s in policy["sids"] if s)
    out = []
    for stmt in snap["expected_scp_statements"]:
        if stmt["control"] != control:
            continue
        for target in stmt["targets"]:
            ok = stmt["sid"] in attached.get(target, set())
            out.append(item(f"{target}/{stmt['sid']}", control, ok,
                            f"SCP statement {stmt['sid']} attached to {target}" if ok
                            else f"SCP statement {stmt['sid']} is not attached to {target}"))
    return out


_checks: list[tuple[str, Check]] = [("ORG-01", check_structure)]
_checks += [(c, reads("scp_statements")(partial(check_scp, control=c))) for c in SCP_CONTROLS]

COLLECTOR = register(Collector(
    calls=("organizations:DescribeOrganization", "organizations:DescribePolicy",
           "organizations:ListAccounts", "organizations:ListAccountsForParent",
           "organizations:ListOrganizationalUnitsForParent", "organizations:ListPolicies",
           "organizations:ListRoots", "organizations:ListTargetsForPolicy"),
    name="organizations", scope="global", management_only=True, services=("organizations",),
    description="Accounts and their OUs vs org.yaml; SCP statements attached per target",
    fetch=fetch, checks=tuple(_checks), landing_zone=tuple(control for control, _ in _checks),
))

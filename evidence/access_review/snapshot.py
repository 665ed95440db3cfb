"""Snapshot every principal's access in every account: IAM users and roles, Identity Center.

Reads only. Each account is read through the read-only evidence role; an account that
cannot be read is recorded as a gap in the snapshot (the review of it is incomplete), never
skipped silently. Access Analyzer unused-access findings enrich the rows where an
organization analyzer with unused-access findings is available.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions

from charter.aws import AwsError, SessionFactory, error_message, paginate
from charter.config.model import OrgConfig
from charter.evidence.artifact import ApiCall, utcnow
from charter.naming import EVIDENCE_READER_ROLE

from .model import AccessRow, Account, Snapshot

#: Reads through the evidence reader in every account, and in the management account with
#: the caller's own credentials (Identity Center, Access Analyzer, Organizations).
READER_CALLS: tuple[str, ...] = (
    "iam:ListUsers", "iam:ListRoles", "iam:GetRole", "iam:GetLoginProfile", "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed", "iam:ListGroupsForUser", "iam:ListAttachedUserPolicies", "iam:ListUserPolicies",
    "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:ListMFADevices",
)
MANAGEMENT_READ_CALLS: tuple[str, ...] = (
    "organizations:DescribeOrganization", "organizations:ListAccounts", "sso:ListInstances",
    "sso:ListPermissionSets", "sso:DescribePermissionSet", "sso:ListAccountAssignments", "identitystore:DescribeUser",
    "identitystore:DescribeGroup", "access-analyzer:ListAnalyzers",
    "access-analyzer:ListFindings",
)

KEY_MAX_AGE_DAYS = 90
UNUSED_DAYS = 90


class _Recorder:
    """Records every call made (service, operation, parameters, pages) for the evidence."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.calls: list[ApiCall] = []

    def drain(self, client: Any, operation: str, key: str, **params: Any) -> list[Any]:
        drained = paginate(client, operation, key, **params)
        self.calls.append(ApiCall(service=client.meta.service_model.service_name, operation=operation,
                                  parameters=params, region=self.region, pages=drained.pages,
                                  drained=True))  # paginate returns only after the last page
        return drained.items

    def call(self, client: Any, operation: str, **params: Any) -> dict[str, Any]:
        result = getattr(client, operation)(**params)
        self.calls.append(ApiCall(service=client.meta.service_model.service_name, operation=operation,
                                  parameters=params, region=self.region))
        return result


def discover_accounts(sessions: SessionFactory, cfg: OrgConfig) -> list[Account]:
    """Every ACTIVE account of the organization, named and owned as org.yaml says.

    The listing and the matching to org.yaml are the evidence fan-out's; accounts AWS has
    but the config does not know are reviewed by the security contact.
    """
    from charter.evidence.fanout import discover_accounts as organization_accounts

    owners = {a.name: str(a.owner) for a in cfg.accounts}
    refs = organization_accounts(sessions, cfg)
    mgmt = sessions.client("organizations").describe_organization()["Organization"]["MasterAccountId"]
    out = []
    for ref in refs:
        if ref.status != "ACTIVE":
            continue
        if ref.name in owners:
            out.append(Account(id=ref.id, name=ref.name, owner=owners[ref.name]))
        else:
            out.append(Account(id=ref.id, name="management" if ref.id == mgmt else ref.name,
                               owner=cfg.security_contact))
    return sorted(out, key=lambda a: a.name)


def _age_days(when: Any, now: datetime) -> int | None:
    if not isinstance(when, datetime):
        return None
    return (now - when.astimezone(UTC)).days


def _trust_principals(document: Any) -> list[str]:
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    principals: list[str] = []
    for stmt in document.get("Statement", []):
        if stmt.get("Effect") != "Allow":
            continue
        principal = stmt.get("Principal", {})
        if principal == "*":
            principals.append("*")
            continue
        for kind, values in principal.items():
            for value in [values] if isinstance(values, str) else values:
                principals.append(f"{kind}:{value}")
    return principals


def _iam_users(rec: _Recorder, iam: Any, account: Account, now: datetime) -> list[AccessRow]:
    rows = []
    for user in rec.drain(iam, "list_users", "Users"):
        name = user["UserName"]
        mfa = rec.drain(iam, "list_mfa_devices", "MFADevices", UserName=name)
        base = {"account_id": account.id, "account_name": account.name, "reviewer": account.owner,
                "principal_type": "iam-user", "principal": name, "principal_id": name}
        last_login = user.get("PasswordLastUsed")
        created = _age_days(user.get("CreateDate"), now)
        try:
            rec.call(iam, "get_login_profile", UserName=name)
            flags = [] if mfa else ["console-without-mfa"]
            # idle since the last sign-in, or since creation for a password never used: a user
            # made this week is not "unused for 90 days"
            idle = _age_days(last_login, now) if last_login else created
            if idle is None or idle > UNUSED_DAYS:
                flags.append(f"console-unused-{UNUSED_DAYS}d")
            rows.append(AccessRow(**base, access_type="console", access="login profile",
                                  details={"mfa": "yes" if mfa else "no",
                                           "password_last_used": last_login.isoformat() if last_login else "never",
                                           **_created(user.get("CreateDate"), created)},
                                  flags=flags))
        except iam.exceptions.NoSuchEntityException:
            pass
        for key in rec.drain(iam, "list_access_keys", "AccessKeyMetadata", UserName=name):
            used = rec.call(iam, "get_access_key_last_used", AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed", {})
            age = _age_days(key.get("CreateDate"), now) or 0
            last = used.get("LastUsedDate")
            flags = []
            if age > KEY_MAX_AGE_DAYS:
                flags.append(f"key-older-than-{KEY_MAX_AGE_DAYS}d")
            idle = _age_days(last, now) if last else age  # a key never used is idle since it was made
            if key.get("Status") == "Active" and idle > UNUSED_DAYS:
                flags.append(f"key-unused-{UNUSED_DAYS}d")
            rows.append(AccessRow(**base, access_type="access-key", access=key["AccessKeyId"],
                                  details={"status": key.get("Status", ""), "age_days": str(age),
                                           "last_used": last.isoformat() if last else "never",
                                           "last_service": used.get("ServiceName", "")},
                                  flags=flags))
        for group in rec.drain(iam, "list_groups_for_user", "Groups", UserName=name):
            rows.append(AccessRow(**base, access_type="group", access=group["GroupName"]))
        for policy in rec.drain(iam, "list_attached_user_policies", "AttachedPolicies", UserName=name):
            rows.append(AccessRow(**base, access_type="managed-policy", access=policy["PolicyArn"],
                                  flags=["admin-policy"] if policy["PolicyName"] == "AdministratorAccess" else []))
        for policy_name in rec.drain(iam, "list_user_policies", "PolicyNames", UserName=name):
            rows.append(AccessRow(**base, access_type="inline-policy", access=policy_name))
    return rows


def _created(when: Any, age: int | None) -> dict[str, str]:
    if not isinstance(when, datetime) or age is None:
        return {}
    return {"created": when.astimezone(UTC).date().isoformat(), "age_days": str(age)}


def charter_managed(role_name: str, patterns: list[str]) -> bool:
    """A role Charter deploys and guards (scps.protected_roles): changed by a Charter deploy, not
    by hand, so a reviewer's "revoke" belongs in org.yaml, not in the account."""
    return any(fnmatch.fnmatchcase(role_name, p) for p in patterns)


def _iam_roles(rec: _Recorder, iam: Any, account: Account, now: datetime,
               excluded: list[dict[str, str]], managed: list[str] | None = None) -> list[AccessRow]:
    rows = []
    for role in rec.drain(iam, "list_roles", "Roles"):
        name = role["RoleName"]
        if role.get("Path", "/").startswith("/aws-service-role/"):
            excluded.append({"account_id": account.id, "principal": name,
                             "reason": "AWS service-linked role: managed by AWS, not revocable by the account"})
            continue
        principals = _trust_principals(role.get("AssumeRolePolicyDocument", {}))
        flags = []
        if "*" in principals or any(p.endswith(":*") for p in principals):
            flags.append("wildcard-trust")
        if any(p.startswith("AWS:") and account.id not in p for p in principals):
            flags.append("cross-account-trust")
        last_used = rec.call(iam, "get_role", RoleName=name)["Role"].get("RoleLastUsed", {}).get("LastUsedDate")
        created = _age_days(role.get("CreateDate"), now)
        # idle since last use, or since creation for a role never used (one made today is not unused)
        idle = _age_days(last_used, now) if last_used else created
        if idle is None or idle > UNUSED_DAYS:
            flags.append(f"role-unused-{UNUSED_DAYS}d")
        if charter_managed(name, managed or []):
            flags.append("charter-managed")
        details = {"trusted_by": ", ".join(principals), "last_used": last_used.isoformat() if last_used else "never",
                   **_created(role.get("CreateDate"), created)}
        base = {"account_id": account.id, "account_name": account.name, "reviewer": account.owner,
                "principal_type": "iam-role", "principal": name, "principal_id": name, "details": details}
        for policy in rec.drain(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
            extra = ["admin-policy"] if policy["PolicyName"] == "AdministratorAccess" else []
            rows.append(AccessRow(**base, access_type="managed-policy", access=policy["PolicyArn"], flags=flags + extra))
        for policy_name in rec.drain(iam, "list_role_policies", "PolicyNames", RoleName=name):
            rows.append(AccessRow(**base, access_type="inline-policy", access=policy_name, flags=list(flags)))
    return rows


def _identity_center(rec: _Recorder, sessions: SessionFactory, accounts: list[Account],
                     notes: list[str]) -> list[AccessRow]:
    """Permission-set assignments per account, read from the management account."""
    sso = sessions.client("sso-admin")
    instances = rec.drain(sso, "list_instances", "Instances")
    if not instances:
        notes.append("IAM Identity Center: no instance found; no Identity Center assignments to review")
        return []
    instance = instances[0]
    store = sessions.client("identitystore")
    names: dict[tuple[str, str], str] = {}

    def principal_name(kind: str, pid: str) -> str:
        if (kind, pid) not in names:
            try:
                if kind == "USER":
                    names[(kind, pid)] = rec.call(store, "describe_user", IdentityStoreId=instance["IdentityStoreId"],
                                                  UserId=pid)["UserName"]
                else:
                    names[(kind, pid)] = rec.call(store, "describe_group", IdentityStoreId=instance["IdentityStoreId"],
                                                  GroupId=pid)["DisplayName"]
            except botocore.exceptions.ClientError:
                names[(kind, pid)] = pid
        return names[(kind, pid)]

    rows = []
    permission_sets = rec.drain(sso, "list_permission_sets", "PermissionSets", InstanceArn=instance["InstanceArn"])
    set_names = {arn: rec.call(sso, "describe_permission_set", InstanceArn=instance["InstanceArn"],
                               PermissionSetArn=arn)["PermissionSet"]["Name"] for arn in permission_sets}
    for account in accounts:
        for arn in permission_sets:
            for assignment in rec.drain(sso, "list_account_assignments", "AccountAssignments",
                                        InstanceArn=instance["InstanceArn"], AccountId=account.id, PermissionSetArn=arn):
                kind = assignment["PrincipalType"]
                rows.append(AccessRow(
                    account_id=account.id, account_name=account.name, reviewer=account.owner,
                    principal_type="sso-user" if kind == "USER" else "sso-group",
                    principal=principal_name(kind, assignment["PrincipalId"]), principal_id=assignment["PrincipalId"],
                    access_type="permission-set", access=set_names[arn], access_ref=arn,
                    details={"instance": instance["InstanceArn"]},
                ))
    return rows


def _unused_access(rec: _Recorder, sessions: SessionFactory, rows: list[AccessRow], notes: list[str]) -> None:
    """Flag rows IAM Access Analyzer reports as unused (organization unused-access analyzer)."""
    client = sessions.client("accessanalyzer")
    try:
        analyzers = rec.drain(client, "list_analyzers", "analyzers", type="ORGANIZATION_UNUSED_ACCESS")
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, NotImplementedError) as exc:
        notes.append(f"Access Analyzer unused-access findings not available: {error_message(exc)}")
        return
    if not analyzers:
        notes.append("Access Analyzer: no ORGANIZATION_UNUSED_ACCESS analyzer; rows not enriched")
        return
    findings = rec.drain(client, "list_findings_v2", "findings", analyzerArn=analyzers[0]["arn"],
                         filter={"status": {"eq": ["ACTIVE"]}})
    unused = {(f.get("resourceOwnerAccount"), f.get("resource", "").split("/")[-1]): f.get("findingType", "")
              for f in findings}
    for row in rows:
        finding = unused.get((row.account_id, row.principal))
        if finding:
            row.flags.append(f"analyzer:{finding}")


def take_snapshot(sessions: SessionFactory, cfg: OrgConfig, accounts: list[Account] | None = None, *,
                  read_role: str = EVIDENCE_READER_ROLE,
                  progress: Callable[[str], None] | None = None) -> Snapshot:
    accounts = accounts if accounts is not None else discover_accounts(sessions, cfg)
    rec = _Recorder(sessions.region)
    now = datetime.now(UTC)
    rows: list[AccessRow] = []
    excluded: list[dict[str, str]] = []
    gaps: list[dict[str, str]] = []
    notes: list[str] = []
    caller = sessions.caller_arn()
    for account in accounts:
        if progress:
            progress(account.name)
        try:
            iam = sessions.client("iam", account_id=account.id, role_name=read_role)
            rows += _iam_users(rec, iam, account, now)
            rows += _iam_roles(rec, iam, account, now, excluded, cfg.scps.protected_roles)
        except (AwsError, botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            message = exc.render() if isinstance(exc, AwsError) else error_message(exc)
            gaps.append({"account_id": account.id, "account_name": account.name, "error": message})
    try:
        rows += _identity_center(rec, sessions, accounts, notes)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        gaps.append({"account_id": "identity-center", "account_name": "IAM Identity Center", "error": error_message(exc)})
    _unused_access(rec, sessions, rows, notes)
    rows.sort(key=lambda r: (r.reviewer, r.account_name, r.principal_type, r.principal, r.access_type, r.access))
    return Snapshot(taken_at=utcnow(), caller_arn=caller, accounts=accounts, rows=rows, excluded=excluded,
                    gaps=gaps, calls=rec.calls, notes=notes)

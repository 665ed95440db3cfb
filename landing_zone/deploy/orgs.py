"""The organization through the Organizations API: org, nested OUs, accounts, moves,
trusted access and delegated administrators.

Why not the `organization` CloudFormation stack: CloudFormation cannot adopt an account
that already exists (it would try to create a second one with the same email and fail),
and every account change would be a stack update over the whole tree. Through the API,
each object is read once, compared and touched only when it differs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import botocore.exceptions

from charter.aws import error_code, error_message, paginate
from charter.config.model import ROOT, OrgConfig
from charter.naming import MEMBER_ACCESS_ROLE

from .context import PENDING
from .errors import OrganizationStateError, WrongAccountError
from .run import Change, Run

#: Service principals given trusted access, by the baseline switch that needs them.
STACKSETS_PRINCIPAL = "member.org.stacksets.cloudformation.amazonaws.com"


def trusted_principals(cfg: OrgConfig) -> list[str]:
    b = cfg.baseline
    wanted = [STACKSETS_PRINCIPAL]
    wanted += ["cloudtrail.amazonaws.com"] if b.cloudtrail.enabled else []
    wanted += ["config.amazonaws.com", "config-multiaccountsetup.amazonaws.com"] if b.config.enabled else []
    wanted += ["securityhub.amazonaws.com"] if b.security_hub.enabled else []
    wanted += ["guardduty.amazonaws.com"] if b.guardduty.enabled else []
    wanted += ["access-analyzer.amazonaws.com"] if b.access_analyzer.enabled else []
    wanted += ["macie.amazonaws.com"] if b.macie.enabled else []
    wanted += ["inspector2.amazonaws.com"] if b.inspector.enabled else []
    wanted += ["sso.amazonaws.com"] if b.identity.enabled else []
    wanted += ["backup.amazonaws.com"] if b.backup.enabled else []
    return wanted


def delegated_admins(cfg: OrgConfig) -> list[str]:
    """Principals whose delegated administrator deploy registers itself for the security
    account. GuardDuty, Security Hub, Macie and Inspector delegate through their own
    EnableOrganizationAdminAccount and Config to the audit account; the builders emit those
    as API steps, which deploy runs with the stack that needs them."""
    return ["access-analyzer.amazonaws.com"] if cfg.baseline.access_analyzer.enabled else []


@dataclass
class OrgState:
    organization_id: str = ""
    management_account_id: str = ""
    feature_set: str = ""
    root_id: str = ""
    scp_enabled: bool = False
    ous: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (name, parent id)
    accounts: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> {Name, Email, Status, Parent}

    def child_ou(self, parent_id: str, name: str) -> str | None:
        for ou_id, (ou_name, parent) in self.ous.items():
            if parent == parent_id and ou_name == name:
                return ou_id
        return None


def read_state(run: Run) -> OrgState | None:
    """The organization as it is, or None when the caller has no organization yet."""
    org = run.client("organizations")
    try:
        desc = org.describe_organization()["Organization"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == "AWSOrganizationsNotInUseException":
            return None
        raise
    state = OrgState(organization_id=desc["Id"], management_account_id=desc["MasterAccountId"],
                     feature_set=desc.get("FeatureSet", "ALL"))
    root = paginate(org, "list_roots", "Roots").items[0]
    state.root_id = root["Id"]
    state.scp_enabled = any(p["Type"] == "SERVICE_CONTROL_POLICY" and p["Status"] == "ENABLED"
                            for p in root.get("PolicyTypes", []))
    for acct in paginate(org, "list_accounts", "Accounts").items:
        state.accounts[acct["Id"]] = {"Name": acct.get("Name", ""), "Email": acct.get("Email", ""),
                                      "Status": acct.get("Status", ""), "Parent": ""}
    queue = [state.root_id]
    while queue:  # breadth first: one List per OU, not one ListParents per account
        parent = queue.pop(0)
        for ou in paginate(org, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent).items:
            state.ous[ou["Id"]] = (ou["Name"], parent)
            queue.append(ou["Id"])
        for acct in paginate(org, "list_accounts_for_parent", "Accounts", ParentId=parent).items:
            state.accounts.setdefault(acct["Id"], {"Name": acct.get("Name", ""), "Email": acct.get("Email", ""),
                                                   "Status": acct.get("Status", "")})["Parent"] = parent
    return state


def ensure_organization(run: Run, state: OrgState | None, *, check_management: bool) -> OrgState:
    org = run.client("organizations")
    if state is None:
        res = run.mutate(Change("organization", run.cfg.organization.name, "create", ["feature set ALL"]),
                         org.create_organization, FeatureSet="ALL")
        if res is None:  # dry run: nothing exists yet
            me = run.sessions.caller_arn().split(":")[4] if run.sessions else ""
            state = OrgState(organization_id=PENDING, management_account_id=me, feature_set="ALL",
                             root_id=PENDING, scp_enabled=False)
        else:
            state = read_state(run)
            assert state is not None
    if state.feature_set != "ALL":
        raise OrganizationStateError(
            f"organization {state.organization_id} has feature set {state.feature_set}; SCPs need ALL",
            hint="enable all features (`aws organizations enable-all-features`; every member accepts the "
                 "handshake), then deploy again")
    wanted = run.cfg.organization.management_account_id
    if check_management and wanted and wanted != state.management_account_id:
        raise WrongAccountError(
            f"these credentials are in organization {state.organization_id} managed by "
            f"{state.management_account_id}, but org.yaml says organization.management_account_id: {wanted}",
            hint="use a profile of the management account, or correct organization.management_account_id")
    run.ctx.organization_id = state.organization_id
    run.ctx.root_id = state.root_id
    run.ctx.management_account_id = state.management_account_id
    run.ctx.ou_ids[ROOT] = state.root_id
    run.journal.organization_id = state.organization_id
    run.journal.root_id = state.root_id
    run.journal.management_account_id = state.management_account_id
    return state


def ensure_ous(run: Run, state: OrgState) -> None:
    """Create missing OUs parent first, matching existing ones by (parent, name)."""
    org = run.client("organizations")
    depths = run.cfg.ou_depths()
    for ou in sorted(run.cfg.ous, key=lambda o: (depths[o.name], o.name)):
        parent_id = run.ctx.ou_id(ou.parent)
        existing = state.child_ou(parent_id, ou.name) if parent_id != PENDING else None
        if existing:
            run.ctx.ou_ids[ou.name] = existing
            continue
        where = f"OU {ou.name}"
        try:
            res = run.mutate(Change("ou", ou.name, "create", [f"under {ou.parent}"]),
                             org.create_organizational_unit, ParentId=parent_id, Name=ou.name,
                             Tags=[{"Key": "ManagedBy", "Value": "charter"}])
        except botocore.exceptions.ClientError as exc:
            run.fail_exc(where, exc)
            continue
        if res is not None:
            new_id = res["OrganizationalUnit"]["Id"]
            run.ctx.ou_ids[ou.name] = new_id
            state.ous[new_id] = (ou.name, parent_id)
    run.journal.ous = {k: v for k, v in run.ctx.ou_ids.items() if k != ROOT and v != PENDING}


def ensure_accounts(run: Run, state: OrgState) -> None:
    """Adopt accounts by id or email; create the rest (in batches, polling each request)."""
    org = run.client("organizations")
    by_email = {a["Email"].lower(): aid for aid, a in state.accounts.items() if a.get("Email")}
    to_create = []
    for acct in run.cfg.accounts:
        if acct.account_id:
            if acct.account_id in state.accounts:
                run.ctx.account_ids[acct.name] = acct.account_id
            else:
                run.fail(f"account/{acct.name}: account_id {acct.account_id} is not in organization "
                         f"{state.organization_id}; invite it (InviteAccountToOrganization) or remove account_id")
            continue
        found = by_email.get(str(acct.email).lower())
        if found:
            run.ctx.account_ids[acct.name] = found  # adopted, never duplicated
            run.journal.pending_accounts.pop(acct.name, None)
        else:
            to_create.append(acct)

    pending: dict[str, str] = {}  # name -> request id
    for acct in to_create:
        request = run.journal.pending_accounts.get(acct.name)
        if request and not run.dry_run:
            pending[acct.name] = request  # resume polling a request a previous run started
            continue
        try:
            res = run.mutate(Change("account", acct.name, "create", [f"{acct.email} in {acct.ou}"]),
                             org.create_account, Email=str(acct.email), AccountName=acct.name,
                             RoleName=MEMBER_ACCESS_ROLE,
                             Tags=[{"Key": "ManagedBy", "Value": "charter"},
                                   {"Key": "Environment", "Value": acct.environment},
                                   {"Key": "Owner", "Value": str(acct.owner)}])
        except botocore.exceptions.ClientError as exc:
            run.fail_exc(f"account/{acct.name}", exc)
            continue
        if res is not None:
            pending[acct.name] = res["CreateAccountStatus"]["Id"]
            run.journal.pending_accounts[acct.name] = pending[acct.name]
            if res["CreateAccountStatus"].get("AccountId"):
                pass
    if pending:
        run.save_journal()  # a crash now must not create the accounts twice
    _poll_accounts(run, state, pending)


def _poll_accounts(run: Run, state: OrgState, pending: dict[str, str]) -> None:
    org = run.client("organizations")
    deadline = time.monotonic() + run.timeout
    while pending:
        for name, request in list(pending.items()):
            try:
                status = org.describe_create_account_status(CreateAccountRequestId=request)["CreateAccountStatus"]
            except botocore.exceptions.ClientError as exc:
                run.fail_exc(f"account/{name}", exc)
                pending.pop(name)
                run.journal.pending_accounts.pop(name, None)
                continue
            if status["State"] == "SUCCEEDED":
                run.ctx.account_ids[name] = status["AccountId"]
                state.accounts[status["AccountId"]] = {"Name": name, "Email": "", "Status": "ACTIVE",
                                                       "Parent": state.root_id}
            elif status["State"] == "FAILED":
                run.fail(f"account/{name}: CreateAccount failed: {status.get('FailureReason', 'unknown')}")
            else:
                continue
            pending.pop(name)
            run.journal.pending_accounts.pop(name, None)
        if pending:
            if time.monotonic() > deadline:
                for name in pending:
                    run.fail(f"account/{name}: still being created; the next deploy resumes it")
                return
            run.sleep()


def move_accounts(run: Run, state: OrgState) -> None:
    org = run.client("organizations")
    for acct in run.cfg.accounts:
        aid = run.ctx.account_ids.get(acct.name)
        if not aid:
            continue
        want = run.ctx.ou_id(acct.ou)
        have = state.accounts.get(aid, {}).get("Parent") or state.root_id
        run.journal.account_ous[acct.name] = acct.ou
        if want == have:
            continue
        source = _ou_name(state, have)
        try:
            run.mutate(Change("account", acct.name, "move", [f"{source} -> {acct.ou}"]),
                       org.move_account, AccountId=aid, SourceParentId=have, DestinationParentId=want)
            state.accounts.setdefault(aid, {})["Parent"] = want
        except botocore.exceptions.ClientError as exc:
            run.fail_exc(f"account/{acct.name}", exc)
    run.journal.accounts = {k: v for k, v in run.ctx.account_ids.items() if v != PENDING}


def _ou_name(state: OrgState, ou_id: str) -> str:
    if ou_id == state.root_id:
        return ROOT
    return state.ous.get(ou_id, (ou_id, ""))[0]


def ensure_service_access(run: Run) -> None:
    org = run.client("organizations")
    enabled = {p["ServicePrincipal"] for p in
               paginate(org, "list_aws_service_access_for_organization", "EnabledServicePrincipals").items}
    for principal in trusted_principals(run.cfg):
        if principal in enabled:
            continue
        try:
            run.mutate(Change("trusted-access", principal, "enable"), org.enable_aws_service_access,
                       ServicePrincipal=principal)
        except botocore.exceptions.ClientError as exc:
            run.fail_exc(f"trusted-access/{principal}", exc)
    security = run.ctx.account_ids.get(run.cfg.account("security").name)
    if not security:
        return
    admins = paginate(org, "list_delegated_administrators", "DelegatedAdministrators").items
    registered = set()
    for admin in admins:
        if admin["Id"] == security:
            services = paginate(org, "list_delegated_services_for_account", "DelegatedServices",
                                AccountId=security).items
            registered = {s["ServicePrincipal"] for s in services}
    for principal in delegated_admins(run.cfg):
        if principal in registered:
            continue
        try:
            run.mutate(Change("delegated-admin", principal, "register", [f"account {run.cfg.account('security').name}"]),
                       org.register_delegated_administrator, AccountId=security, ServicePrincipal=principal)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) != "AccountAlreadyRegisteredException":
                run.fail_exc(f"delegated-admin/{principal}", exc)


def ensure_scp_type(run: Run, state: OrgState) -> None:
    if state.scp_enabled:
        return
    org = run.client("organizations")
    try:
        run.mutate(Change("organization", "SERVICE_CONTROL_POLICY", "enable", ["policy type on Root"]),
                   org.enable_policy_type, RootId=state.root_id, PolicyType="SERVICE_CONTROL_POLICY")
        state.scp_enabled = True
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != "PolicyTypeAlreadyEnabledException":
            run.fail_exc("organization/SERVICE_CONTROL_POLICY", exc)


def ensure_stacksets_access(run: Run) -> None:
    """CloudFormation's own switch for service-managed StackSets (it also creates the
    StackSets service-linked roles); EnableAWSServiceAccess above is its Organizations half."""
    if not any(ps.deployment.kind == "stackset" and ps.deployment.permission_model == "SERVICE_MANAGED"
               for ps in run.plan.stacks) or run.sessions is None:
        return
    from botocore.config import Config

    # one attempt: an endpoint without this API answers at once, not worth retrying
    cfn = run.sessions.client("cloudformation", region=run.home, config=Config(
        retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30))
    try:
        status = cfn.describe_organizations_access()["Status"]
    except botocore.exceptions.ClientError as exc:
        if run.unsupported_here(exc):
            # the embedded AWS has no switch to read; its StackSets work service-managed anyway
            run.note(f"trusted-access/cloudformation-stacksets: not checked, {error_message(exc)}")
        else:
            run.fail_exc("trusted-access/cloudformation-stacksets", exc)
        return
    except Exception:  # noqa: BLE001 - not implemented at this endpoint (moto)
        return
    if status != "ENABLED":
        try:
            run.mutate(Change("trusted-access", "CloudFormation StackSets", "enable", ["ActivateOrganizationsAccess"]),
                       cfn.activate_organizations_access)
        except botocore.exceptions.ClientError as exc:
            run.fail_exc("trusted-access/cloudformation-stacksets", exc)

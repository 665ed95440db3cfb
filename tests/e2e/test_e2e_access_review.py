"""A whole quarterly access review on the embedded AWS: seed three accounts, start, fill the
workbooks as reviewers would, record, close --apply, and prove every revoked access is gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from evidence_roles import provision_evidence_roles
from openpyxl import load_workbook

from charter.evidence.access_review import campaign as camp
from charter.evidence.access_review.errors import CloseRefused, WorkbookRejected
from charter.evidence.access_review.snapshot import take_snapshot
from charter.evidence.access_review.workbook import HEADERS
from charter.local import LocalAws

QUARTER = "2026Q4"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ = "arn:aws:iam::aws:policy/ReadOnlyAccess"


@pytest.fixture(scope="module")
def aws(small_config):
    with LocalAws() as server:
        sessions = server.sessions()
        org = sessions.client("organizations")
        org.create_organization(FeatureSet="ALL")
        ids = {}
        for name in ("prod", "staging", "dev"):
            acct = next(a for a in small_config.accounts if a.name == name)
            ids[name] = org.create_account(AccountName=name, Email=str(acct.email))["CreateAccountStatus"]["AccountId"]
        for account_id in ids.values():
            iam = sessions.client("iam", account_id=account_id, role_name="OrganizationAccountAccessRole")
            iam.create_group(GroupName="deployers")
            for user in ("alice", "bob"):
                iam.create_user(UserName=user)
                iam.create_login_profile(UserName=user, Password="Initial-Passw0rd!")
                iam.create_access_key(UserName=user)
                iam.attach_user_policy(UserName=user, PolicyArn=READ)
                iam.add_user_to_group(UserName=user, GroupName="deployers")
            iam.put_user_policy(UserName="bob", PolicyName="extra", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
            iam.create_role(RoleName="vendor-access", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}]}))
            iam.attach_role_policy(RoleName="vendor-access", PolicyArn=ADMIN)
        sso = sessions.client("sso-admin")
        instance = sso.list_instances()["Instances"][0]
        store = sessions.client("identitystore")
        user_id = store.create_user(IdentityStoreId=instance["IdentityStoreId"], UserName="carol",
                                    DisplayName="Carol", Name={"GivenName": "Carol", "FamilyName": "C"})["UserId"]
        pset = sso.create_permission_set(InstanceArn=instance["InstanceArn"], Name="Developer")["PermissionSet"]
        for account_id in ids.values():
            sso.create_account_assignment(InstanceArn=instance["InstanceArn"], TargetId=account_id,
                                          TargetType="AWS_ACCOUNT", PermissionSetArn=pset["PermissionSetArn"],
                                          PrincipalType="USER", PrincipalId=user_id)
        # the read-only role and the operator it trusts, as the landing zone makes them
        operator = provision_evidence_roles(sessions, small_config, list(ids.values()))
        yield sessions, ids, operator


def _fill(path: Path, decide) -> None:
    """Fill decisions the way a reviewer does in Excel (only the decision/comment cells)."""
    wb = load_workbook(path)
    ws = wb["Review"]
    col = {name: i + 1 for i, name in enumerate(HEADERS)}
    for line in range(2, ws.max_row + 1):
        row = {name: ws.cell(line, i).value for name, i in col.items()}
        decision, comment = decide(row)
        ws.cell(line, col["decision"]).value = decision
        ws.cell(line, col["comment"]).value = comment
    wb.save(path)


def _decide(row: dict) -> tuple[str, str]:
    if row["principal"] == "bob" and row["account_name"] == "prod":
        return "revoke", "left the team"
    if row["principal"] == "vendor-access":
        return "revoke", "vendor contract ended"
    if row["principal"] == "carol" and row["account_name"] == "dev":
        return "revoke", "no longer needs dev"
    if row["principal"] == "alice" and row["access_type"] == "group":
        return "modify", "move alice to the read-only group"
    return "keep", ""


def test_quarter_closed_loop(aws, small_config, tmp_path: Path) -> None:
    sessions, ids, operator = aws
    state = tmp_path / "reviews"
    campaign, snapshot, workbooks = camp.start(operator, small_config, QUARTER, state)

    # the snapshot covers users, roles and Identity Center in all three seeded accounts
    kinds = {(r.account_name, r.principal_type) for r in snapshot.rows}
    for name in ids:
        assert {(name, "iam-user"), (name, "iam-role"), (name, "sso-user")} <= kinds
    vendor = [r for r in snapshot.rows if r.principal == "vendor-access"]
    assert vendor and all("cross-account-trust" in r.flags for r in vendor)
    assert any("admin-policy" in r.flags for r in vendor)
    assert {p.name for p in workbooks} >= {"platform-lead-acme-corp-example.xlsx",
                                           "engineering-lead-acme-corp-example.xlsx"}

    # closing before every reviewer returned a workbook is refused, naming them
    with pytest.raises(CloseRefused, match="platform-lead@acme-corp.example"):
        camp.pending_revocations(QUARTER, state)

    for path in workbooks:
        _fill(path, _decide)
        camp.record(path, state)
    _, reviewers = camp.status(QUARTER, state)
    assert all(r.recorded for r in reviewers if r.rows)

    revoked = {r.row_id for r in camp.pending_revocations(QUARTER, state)}
    report = camp.close(sessions, small_config, QUARTER, state, apply=True, read_sessions=operator)

    assert {r.row_id for r in report.revocations} == revoked
    assert all(r.applied and r.verified for r in report.revocations)
    assert any("move alice to the read-only group" in e for e in report.exceptions)
    after = take_snapshot(operator, small_config, snapshot.accounts)
    assert not revoked & set(after.by_id()), "a revoked access is still present"
    assert not [r for r in after.rows if r.principal == "bob" and r.account_name == "prod"]
    assert not [r for r in after.rows if r.principal == "carol" and r.account_name == "dev"]
    assert [r for r in after.rows if r.principal == "carol" and r.account_name == "prod"], "kept access must stay"

    artifact = camp.report_artifact(report, "arn:aws:sts::123456789012:user/moto", "us-east-1")
    assert artifact.kind == "campaign" and artifact.controls == ["IAM-09"]
    assert len(artifact.population) == len(revoked) and all(p.result == "pass" for p in artifact.population)


def test_tampered_and_incomplete_workbooks_are_rejected_by_row(aws, small_config, tmp_path: Path) -> None:
    _, _, sessions = aws  # reads go through the evidence operator
    state = tmp_path / "reviews"
    _, _, workbooks = camp.start(sessions, small_config, "2027Q1", state)
    path = next(p for p in workbooks if p.name.startswith("platform-lead"))

    _fill(path, lambda row: ("keep", ""))
    wb = load_workbook(path)
    ws = wb["Review"]
    ws.cell(2, HEADERS.index("access") + 1).value = "arn:aws:iam::aws:policy/ReadOnlyAccess-edited"
    ws.cell(3, HEADERS.index("decision") + 1).value = None
    wb.save(path)
    with pytest.raises(WorkbookRejected) as info:
        camp.record(path, state)
    problems = info.value.problems
    assert any(p.startswith("row 2 (") and "snapshot cells edited (access)" in p for p in problems), problems
    assert any(p.startswith("row 3 (") and "no decision" in p for p in problems), problems

    # a workbook from another campaign is rejected too
    other = tmp_path / "other"
    _, _, other_books = camp.start(sessions, small_config, "2027Q1", other)
    target = next(p for p in other_books if p.name.startswith("platform-lead"))
    _fill(target, lambda row: ("keep", ""))
    with pytest.raises(WorkbookRejected, match="belongs to campaign"):
        camp.record(target, state)


def test_cli_closed_loop_writes_signed_evidence(aws, small_config_path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from charter.cli import app
    from charter.evidence.store import EvidenceStore, open_backend
    from charter.evidence.verify import verify

    sessions, _, _ = aws
    state, store = tmp_path / "reviews", tmp_path / "evidence"
    common = ["-c", str(small_config_path), "--endpoint-url", sessions.endpoint_url, "--state-dir", str(state),
              "--store", str(store)]
    runner = CliRunner()
    started = runner.invoke(app, ["access-review", "start", "--quarter", "2027Q2", *common])
    assert started.exit_code == 0, started.output
    for book in sorted((state / "2027Q2" / "workbooks").glob("*.xlsx")):
        _fill(book, lambda row: ("revoke", "cli test") if row["principal"] == "alice" and row["access_type"] == "console"
              else ("keep", ""))
        recorded = runner.invoke(app, ["access-review", "record", str(book), "--state-dir", str(state)])
        assert recorded.exit_code == 0, recorded.output
    status = runner.invoke(app, ["access-review", "status", "--quarter", "2027Q2", "--state-dir", str(state)])
    assert status.exit_code == 0 and "returned" in status.output
    closed = runner.invoke(app, ["access-review", "close", "--quarter", "2027Q2", "--apply", "--yes", *common])
    assert closed.exit_code == 0, closed.output
    assert "revocation(s) verified" in closed.output
    ev = EvidenceStore(open_backend(str(store)))
    assert len(ev.manifest_paths()) == 2  # the snapshot at start, the report at close
    assert verify(ev.backend).ok
    # indexed for the scheduled collector, which has no --state-dir
    from charter.evidence.access_review.ledger import read_campaigns

    found = read_campaigns(ev)
    assert [(c["quarter"], c["status"]) for c in found["campaigns"]] == [("2027Q2", "closed")]
    assert not found["rejected"]

    missing = runner.invoke(app, ["access-review", "status", "--quarter", "2031Q1", "--state-dir", str(state)])
    from charter.evidence.access_review.errors import CampaignNotFoundError

    assert isinstance(missing.exception, CampaignNotFoundError)  # main() turns it into exit 2
    assert "charter access-review start --quarter 2031Q1" in missing.exception.render()

"""The reviewer workbook as a reviewer meets it: instructions first, people before roles,
Charter-managed roles marked, role and user age taken into account, and a sign-off sheet."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from openpyxl import load_workbook

from charter.evidence.access_review.model import AccessRow, Account, row_hash
from charter.evidence.access_review.snapshot import _iam_roles, _iam_users, _Recorder
from charter.evidence.access_review.workbook import (
    HEADERS,
    INSTRUCTIONS_SHEET,
    SIGNOFF_FIELDS,
    SIGNOFF_SHEET,
    read_workbook,
    write_workbook,
)

ACCOUNT = Account(id="123456789012", name="prod", owner="owner@acme-corp.example")


def _row(principal: str, ptype: str, access: str, flags: list[str]) -> AccessRow:
    return AccessRow(account_id=ACCOUNT.id, account_name="prod", reviewer=ACCOUNT.owner, principal_type=ptype,
                     principal=principal, access_type="managed-policy" if ptype == "iam-role" else "console",
                     access=access, flags=flags)


def _rows() -> list[AccessRow]:
    roles = [_row(f"app-role-{i}", "iam-role", f"arn:aws:iam::aws:policy/P{i}", ["role-unused-90d"] if i % 2 else [])
             for i in range(7)]
    roles += [_row(name, "iam-role", "arn:aws:iam::aws:policy/AdministratorAccess", ["charter-managed"])
              for name in ("CharterDeployRole", "CharterEvidenceReader", "stacksets-exec-abc", "CharterBreakGlass")]
    people = [_row("alice", "iam-user", "login profile", []),
              _row("bob", "iam-user", "login profile", ["console-without-mfa"])]
    return [*roles, *people, _row("admins", "sso-group", "Administrator", ["admin-policy"])]


@pytest.fixture()
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / "review.xlsx", campaign_id="acme-2026Q4-ab12", quarter="2026Q4",
                          reviewer=ACCOUNT.owner, rows=_rows())


def test_instructions_are_the_first_visible_sheet_the_reviewer_opens_on(workbook: Path) -> None:
    wb = load_workbook(workbook)
    assert wb.sheetnames[0] == INSTRUCTIONS_SHEET and wb.active.title == INSTRUCTIONS_SHEET
    ws = wb[INSTRUCTIONS_SHEET]
    assert ws.sheet_state == "visible"
    text = "\n".join(str(c.value) for c in ws["A"] if c.value)
    assert "What to do" in text and "decision" in text and "Sign-off" in text
    assert "charter-managed" in text and "console-without-mfa" in text
    assert sum(1 for name in wb.sheetnames if wb[name].sheet_view.tabSelected) == 1


def test_people_come_before_roles_and_charter_managed_roles_last_and_marked(workbook: Path) -> None:
    ws = load_workbook(workbook)["Review"]
    col = {h: i for i, h in enumerate(HEADERS)}
    rows = [r for r in ws.iter_rows(min_row=2)]
    order = [(r[col["principal_type"]].value, r[col["principal"]].value) for r in rows]
    types = [t for t, _ in order]
    assert types[:3] == ["sso-group", "iam-user", "iam-user"]  # people, flagged ones first
    assert order[1] == ("iam-user", "bob") and order[2] == ("iam-user", "alice")
    managed = [i for i, r in enumerate(rows) if "charter-managed" in str(r[col["flags"]].value)]
    assert managed == list(range(len(rows) - 4, len(rows)))  # all four at the end
    unmanaged_roles = [i for i, (t, _) in enumerate(order) if t == "iam-role" and i not in managed]
    assert max(i for i, (t, _) in enumerate(order) if t != "iam-role") < min(unmanaged_roles)
    # flagged roles before unflagged ones; Charter-managed rows are greyed, flags in red elsewhere
    flagged = [bool(rows[i][col["flags"]].value) for i in unmanaged_roles]
    assert flagged == sorted(flagged, reverse=True)
    assert all(rows[i][col["principal"]].font.i for i in managed)
    assert rows[1][col["flags"]].font.b and rows[1][col["flags"]].font.color.rgb.endswith("B00020")


def test_sign_off_is_filled_by_the_reviewer_and_read_back(workbook: Path, tmp_path: Path) -> None:
    wb = load_workbook(workbook)
    ws = wb[SIGNOFF_SHEET]
    cells = {row[0].value: row[1] for row in ws.iter_rows(min_col=1, max_col=2) if row[0].value in SIGNOFF_FIELDS}
    assert set(cells) == set(SIGNOFF_FIELDS)
    assert all(not c.protection.locked for c in cells.values()) and ws.protection.sheet
    answers = dict(zip(SIGNOFF_FIELDS, ("Olivia Owner", "2026-11-30", "yes"), strict=True))
    for label, cell in cells.items():
        cell.value = answers[label]
    wb.save(tmp_path / "signed.xlsx")
    book = read_workbook(tmp_path / "signed.xlsx")
    assert book.signoff == answers
    assert sorted(r.stored_hash for r in book.rows) == sorted(row_hash(r.cells()) for r in _rows())
    assert read_workbook(workbook).signoff == dict.fromkeys(SIGNOFF_FIELDS, "")


@pytest.fixture()
def iam(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("iam")


TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def test_a_role_or_user_created_today_is_not_unused_for_90_days(iam) -> None:
    policy = iam.create_policy(PolicyName="read", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
    for role in ("fresh-app-role", "CharterEvidenceReader"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
        iam.attach_role_policy(RoleName=role, PolicyArn=policy["Policy"]["Arn"])
    iam.create_user(UserName="newhire")
    iam.create_login_profile(UserName="newhire", Password="Xx1!" * 5)
    patterns = ["Charter*", "stacksets-exec-*"]
    now = datetime.now(UTC)
    roles = {r.principal: r for r in _iam_roles(_Recorder("us-east-1"), iam, ACCOUNT, now, [], patterns)}
    assert "role-unused-90d" not in roles["fresh-app-role"].flags
    assert roles["fresh-app-role"].details["last_used"] == "never" and roles["fresh-app-role"].details["age_days"] == "0"
    assert "charter-managed" in roles["CharterEvidenceReader"].flags
    assert "charter-managed" not in roles["fresh-app-role"].flags
    users = _iam_users(_Recorder("us-east-1"), iam, ACCOUNT, now)
    console = next(r for r in users if r.access_type == "console")
    assert not any("unused" in f for f in console.flags)
    # the same principals, never used, 120 days on: now they are unused
    later = now + timedelta(days=120)
    roles = {r.principal: r for r in _iam_roles(_Recorder("us-east-1"), iam, ACCOUNT, later, [], patterns)}
    assert "role-unused-90d" in roles["fresh-app-role"].flags
    console = next(r for r in _iam_users(_Recorder("us-east-1"), iam, ACCOUNT, later) if r.access_type == "console")
    assert "console-unused-90d" in console.flags

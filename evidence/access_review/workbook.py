"""Reviewer workbooks (.xlsx): instructions first, rows ordered by risk, locked snapshot
columns, decision and comment drop-downs, and a reviewer sign-off.

A reviewer opens the workbook on the Instructions sheet (what to do, what each flag means).
On the Review sheet people come first (IAM users with a console password or keys, Identity
Center users and groups), then roles, then the roles Charter itself deploys and guards
(marked "charter-managed", greyed: revoking one is a change to org.yaml, not to the
account); within each, rows with more risk flags (admin policy, no MFA, wildcard trust,
unused) come first. The Sign-off sheet takes the reviewer's name, date and attestation.

Sheet protection stops accidental edits in Excel; it is not security. What makes a
tampered workbook detectable is the row hash of the snapshot cells, checked against the
campaign's own stored snapshot when the workbook is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from .errors import WorkbookError
from .model import SNAPSHOT_COLUMNS, AccessRow, row_hash

REVIEW_SHEET = "Review"
META_SHEET = "Campaign"
INSTRUCTIONS_SHEET = "Instructions"
SIGNOFF_SHEET = "Sign-off"
#: The sign-off cells a reviewer fills (column B of the Sign-off sheet), by label.
SIGNOFF_FIELDS = ("Reviewed by (name)", "Date (YYYY-MM-DD)", "I confirm I reviewed every row (yes)")
HUMAN_TYPES = ("iam-user", "sso-user", "sso-group")
#: Flags that make a row riskier to keep, most serious first.
RISK_FLAGS = ("admin-policy", "wildcard-trust", "console-without-mfa", "cross-account-trust", "key-older-than",
              "key-unused", "console-unused", "role-unused", "analyzer:")
FLAG_MEANINGS = [
    ("admin-policy", "AdministratorAccess is attached: full control of the account."),
    ("console-without-mfa", "Signs in to the console with a password and no MFA device."),
    ("wildcard-trust", "Any principal may assume this role (trust policy with *)."),
    ("cross-account-trust", "Another AWS account may assume this role."),
    ("key-older-than-90d", "Access key not rotated for more than 90 days."),
    ("key-unused-90d / console-unused-90d / role-unused-90d",
     "Not used for more than 90 days (or never used, and created more than 90 days ago)."),
    ("analyzer:...", "IAM Access Analyzer reports unused access."),
    ("charter-managed", "A role Charter deploys and guards (CharterDeployRole, evidence roles, StackSet roles): "
                        "to remove it, change org.yaml; revoking it by hand is undone by the next deploy."),
]
HEADERS = [*SNAPSHOT_COLUMNS, "row_hash", "decision", "comment"]
DECISIONS = ("keep", "revoke", "modify")
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
_WIDTHS = {"row_id": 18, "account_name": 16, "account_id": 14, "principal_type": 12, "principal": 24,
           "access_type": 15, "access": 48, "details": 60, "flags": 30, "row_hash": 12, "decision": 11, "comment": 40}


def risk_key(row: AccessRow) -> tuple:
    """Sort key: people, then roles, then Charter-managed roles; more and worse flags first."""
    managed = "charter-managed" in row.flags
    tier = 0 if row.principal_type in HUMAN_TYPES else (2 if managed else 1)
    ranks = sorted(i for i, f in enumerate(RISK_FLAGS) for flag in row.flags if flag.startswith(f))
    return (tier, -len(ranks), ranks[:1] or [len(RISK_FLAGS)], row.account_name, row.principal, row.access_type,
            row.access)


def _instructions(wb: Workbook, *, campaign_id: str, quarter: str, reviewer: str, rows: list[AccessRow]) -> None:
    ws = wb.create_sheet(INSTRUCTIONS_SHEET, 0)
    humans = sum(1 for r in rows if r.principal_type in HUMAN_TYPES)
    managed = sum(1 for r in rows if "charter-managed" in r.flags)
    lines = [
        (f"Access review {quarter}", TITLE),
        (f"Reviewer: {reviewer} · campaign {campaign_id} · {len(rows)} rows: {humans} for people, "
         f"{len(rows) - humans - managed} for roles, {managed} for Charter-managed roles", None),
        ("", None),
        ("What to do", BOLD),
        ("1. Open the Review sheet. Each row is one access one principal has in one account.", None),
        ("2. In 'decision' choose keep, revoke or modify for EVERY row; say why in 'comment' for revoke and "
         "modify (and for keeping anything flagged).", None),
        ("3. Rows are ordered by risk: people first, then roles, then Charter-managed roles (greyed); "
         "flagged rows first within each.", None),
        ("4. Do not edit the other columns, insert or delete rows: every row is checked against the "
         "campaign's snapshot, and an edited row rejects the workbook.", None),
        ("5. Fill the Sign-off sheet (name, date, confirmation), save, and send the workbook back to the "
         "security team, who run `charter access-review record <file>.xlsx`.", None),
        ("", None),
        ("What the flags mean", BOLD),
        *[(f"{flag}: {meaning}", None) for flag, meaning in FLAG_MEANINGS],
    ]
    for text, font in lines:
        ws.append([text])
        if font is not None:
            ws.cell(ws.max_row, 1).font = font
    ws.column_dimensions["A"].width = 130
    for row in ws.iter_rows():
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    ws.protection.sheet = True
    ws.sheet_view.tabSelected = True
    ws.sheet_properties.tabColor = "0B5CAD"


def _signoff(wb: Workbook, *, quarter: str, reviewer: str) -> None:
    ws = wb.create_sheet(SIGNOFF_SHEET)
    ws.append([f"Reviewer sign-off, access review {quarter}"])
    ws.cell(1, 1).font = TITLE
    ws.append([f"Reviewer of record: {reviewer}"])
    ws.append([])
    editable = PatternFill("solid", fgColor="FFF7D6")
    for label in SIGNOFF_FIELDS:
        ws.append([label, ""])
        ws.cell(ws.max_row, 1).font = BOLD
        cell = ws.cell(ws.max_row, 2)
        cell.protection = Protection(locked=False)
        cell.fill = editable
    ws.append([])
    ws.append(["By signing, the reviewer attests that every row on the Review sheet was reviewed and that the "
               "decisions are theirs."])
    ws.column_dimensions["A"].width = 42
    ws.column_dimensions["B"].width = 48
    ws.protection.sheet = True


def write_workbook(path: Path, *, campaign_id: str, quarter: str, reviewer: str, rows: list[AccessRow]) -> Path:
    rows = sorted(rows, key=risk_key)
    wb = Workbook()
    ws = wb.active
    ws.title = REVIEW_SHEET
    ws.append(HEADERS)
    for cell in ws[1]:
        cell.font = BOLD
        cell.fill = PatternFill("solid", fgColor="DDE7F3")
    editable = PatternFill("solid", fgColor="FFF7D6")
    managed_font = Font(italic=True, color="6E7781")
    flags_col = HEADERS.index("flags") + 1
    for row in rows:
        cells = row.cells()
        ws.append([*(cells[c] for c in SNAPSHOT_COLUMNS), row_hash(cells), "", ""])
        line = ws.max_row
        if "charter-managed" in row.flags:
            for col in range(1, len(SNAPSHOT_COLUMNS) + 1):
                ws.cell(line, col).font = managed_font
        elif any(f.startswith(RISK_FLAGS) for f in row.flags):
            ws.cell(line, flags_col).font = Font(bold=True, color="B00020")
        for col in (len(HEADERS) - 1, len(HEADERS)):
            target = ws.cell(row=line, column=col)
            target.protection = Protection(locked=False)
            target.fill = editable
    last = max(ws.max_row, 2)
    decision_col = get_column_letter(HEADERS.index("decision") + 1)
    validation = DataValidation(type="list", formula1='"' + ",".join(DECISIONS) + '"', allow_blank=True,
                                showErrorMessage=True, errorTitle="Decision",
                                error="Choose keep, revoke or modify.")
    validation.add(f"{decision_col}2:{decision_col}{last}")
    ws.add_data_validation(validation)
    for i, name in enumerate(HEADERS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = _WIDTHS.get(name, 14)
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(HEADERS))}{last}"
    ws.protection.sheet = True
    ws.protection.autoFilter = False
    ws.protection.sort = False

    meta = wb.create_sheet(META_SHEET)
    for key, value in (("campaign_id", campaign_id), ("quarter", quarter), ("reviewer", reviewer),
                       ("rows", str(len(rows))),
                       ("instructions", "Fill 'decision' (keep / revoke / modify) and 'comment' on the Review "
                                        "sheet only; snapshot columns are checked against the campaign.")):
        meta.append([key, value])
    meta.protection.sheet = True
    meta.sheet_state = "hidden"
    _instructions(wb, campaign_id=campaign_id, quarter=quarter, reviewer=reviewer, rows=rows)
    _signoff(wb, quarter=quarter, reviewer=reviewer)
    wb.active = 0  # the reviewer opens the workbook on its instructions
    ws.sheet_view.tabSelected = False
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


@dataclass
class WorkbookRow:
    line: int  # spreadsheet row number, as a reviewer sees it
    cells: dict[str, Any]
    stored_hash: str
    decision: str
    comment: str


@dataclass
class ReadWorkbook:
    campaign_id: str
    quarter: str
    reviewer: str
    rows: list[WorkbookRow]
    #: the Sign-off sheet's fields as the reviewer filled them (label -> text; "" when blank)
    signoff: dict[str, str] = field(default_factory=dict)


def read_workbook(path: Path) -> ReadWorkbook:
    try:
        wb = load_workbook(path, read_only=False, data_only=True)
    except FileNotFoundError:
        raise WorkbookError(f"{path}: file not found", hint="pass the path of a returned reviewer workbook") from None
    except Exception as exc:  # openpyxl raises several unrelated types for a non-xlsx file
        raise WorkbookError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__})",
                            hint="send the reviewer the workbook `charter access-review start` wrote") from None
    if REVIEW_SHEET not in wb.sheetnames or META_SHEET not in wb.sheetnames:
        raise WorkbookError(f"{path}: not a Charter access-review workbook (sheets {wb.sheetnames})",
                            hint="use the workbook `charter access-review start` wrote for this reviewer")
    meta = {str(r[0].value): ("" if r[1].value is None else str(r[1].value)) for r in wb[META_SHEET].iter_rows()
            if r and r[0].value is not None and len(r) > 1}
    ws = wb[REVIEW_SHEET]
    header = [c.value for c in ws[1]]
    if header[: len(HEADERS)] != HEADERS:
        raise WorkbookError(f"{path}: the Review sheet's columns were changed (row 1)",
                            hint="restore the original column order; do not insert or delete columns")
    rows = []
    for line, values in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
        if all(v in (None, "") for v in values):
            continue
        data = dict(zip(HEADERS, values, strict=False))
        rows.append(WorkbookRow(line=line, cells={c: data.get(c) for c in SNAPSHOT_COLUMNS},
                                stored_hash=str(data.get("row_hash") or ""),
                                decision=str(data.get("decision") or "").strip().lower(),
                                comment=str(data.get("comment") or "").strip()))
    signoff: dict[str, str] = {}
    if SIGNOFF_SHEET in wb.sheetnames:
        for label, value in wb[SIGNOFF_SHEET].iter_rows(min_col=1, max_col=2, values_only=True):
            if label in SIGNOFF_FIELDS:
                signoff[label] = "" if value is None else str(value).strip()
    return ReadWorkbook(meta.get("campaign_id", ""), meta.get("quarter", ""), meta.get("reviewer", ""), rows,
                        signoff)

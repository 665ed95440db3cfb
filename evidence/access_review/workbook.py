"""Reviewer workbooks (.xlsx): locked snapshot columns, decision and comment drop-downs.

Sheet protection stops accidental edits in Excel; it is not security. What makes a
tampered workbook detectable is the row hash of the snapshot cells, checked against the
campaign's own stored snapshot when the workbook is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from .errors import WorkbookError
from .model import SNAPSHOT_COLUMNS, AccessRow, row_hash

REVIEW_SHEET = "Review"
META_SHEET = "Campaign"
HEADERS = [*SNAPSHOT_COLUMNS, "row_hash", "decision", "comment"]
DECISIONS = ("keep", "revoke", "modify")
_WIDTHS = {"row_id": 18, "account_name": 16, "account_id": 14, "principal_type": 12, "principal": 24,
           "access_type": 15, "access": 48, "details": 60, "flags": 30, "row_hash": 12, "decision": 11, "comment": 40}


def write_workbook(path: Path, *, campaign_id: str, quarter: str, reviewer: str, rows: list[AccessRow]) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = REVIEW_SHEET
    ws.append(HEADERS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE7F3")
    editable = PatternFill("solid", fgColor="FFF7D6")
    for row in rows:
        cells = row.cells()
        ws.append([*(cells[c] for c in SNAPSHOT_COLUMNS), row_hash(cells), "", ""])
        for col in (len(HEADERS) - 1, len(HEADERS)):
            target = ws.cell(row=ws.max_row, column=col)
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
    return ReadWorkbook(meta.get("campaign_id", ""), meta.get("quarter", ""), meta.get("reviewer", ""), rows)

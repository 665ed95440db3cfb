"""The export package's `evidence.xlsx`, formatted for an auditor who filters and sorts.

Every tabular sheet is an Excel table (filter buttons on the header) with a bold header
row frozen in place, set column widths, real date cells (UTC; Excel has no time zones,
so the header says so), and a hyperlink from each row to its artifact in `store/`,
relative to the workbook so it opens from the extracted zip. Gaps carry the reason the
collector recorded, never a pointer to go and read JSON.

Written in openpyxl's write-only mode: a quarter of a large organization is hundreds of
thousands of population rows, which a normal workbook would hold in memory as cells.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.table import Table, TableColumn, TableStyleInfo

#: Excel's limit is 1,048,576 rows a sheet; a longer population continues on "Population (2)", ...
SHEET_ROWS = 1_000_000
DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
FAIL = Font(bold=True, color="B00020")
GAP = Font(bold=True, color="8A6D00")
LINK = Font(color="0563C1", underline="single")
WRAP = Alignment(wrap_text=True, vertical="top")


class _Sheet:
    """A write-only sheet with one table: header, typed rows, widths, frozen header."""

    def __init__(self, wb: Workbook, title: str, columns: Sequence[tuple[str, int]], *, table: str,
                 preamble: Iterable[Sequence[Any]] = ()) -> None:
        self.ws = wb.create_sheet(title)
        self.columns = [c for c, _ in columns]
        self.table = table
        for i, (_, width) in enumerate(columns, 1):
            self.ws.column_dimensions[get_column_letter(i)].width = width
        preamble = list(preamble)
        self.header_row = len(preamble) + 1
        # write-only sheets write their view with the first row: freeze before appending
        self.ws.freeze_panes = f"A{self.header_row + 1}"
        for i, row in enumerate(preamble):
            self.ws.append([self._cell(v, font=TITLE if j == 0 and i == 0 else None) for j, v in enumerate(row)])
        self.ws.append([self._cell(c, font=BOLD, fill=HEADER_FILL) for c in self.columns])
        self.rows = 0

    def _cell(self, value: Any, *, font: Font | None = None, fill: PatternFill | None = None,
              link: str | None = None, wrap: bool = False) -> WriteOnlyCell:
        if isinstance(value, datetime):
            value = value.astimezone(UTC).replace(tzinfo=None)
        cell = WriteOnlyCell(self.ws, value=value)
        if isinstance(value, datetime):
            cell.number_format = DATE_FORMAT
        if link:
            cell.hyperlink = link
            cell.font = LINK
        if font is not None:
            cell.font = font
        if fill is not None:
            cell.fill = fill
        if wrap:
            cell.alignment = WRAP
        return cell

    def append(self, values: Sequence[Any], *, links: dict[int, str] | None = None,
               fonts: dict[int, Font] | None = None, wrap: Iterable[int] = ()) -> None:
        links, fonts, wrapped = links or {}, fonts or {}, set(wrap)
        # a styled cell object only where a style is needed: plain values are several times
        # cheaper to write, and a datetime gets openpyxl's date format by itself
        self.ws.append([self._cell(v, link=links.get(i), font=fonts.get(i), wrap=i in wrapped)
                        if i in links or i in fonts or i in wrapped
                        else (v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v)
                        for i, v in enumerate(values)])
        self.rows += 1

    def close(self) -> None:
        """Make the header and rows an Excel table (its own filter buttons)."""
        if not self.rows:  # a table needs a data row: say there is none
            self.append(["(none)"] + [None] * (len(self.columns) - 1))
        ref = f"A{self.header_row}:{get_column_letter(len(self.columns))}{self.header_row + self.rows}"
        table = Table(displayName=self.table, ref=ref, autoFilter=AutoFilter(ref=ref))
        # write-only mode cannot read the header back, so the table's columns are named here
        table.tableColumns = [TableColumn(id=i, name=name) for i, name in enumerate(self.columns, 1)]
        table.tableStyleInfo = TableStyleInfo(name="TableStyleLight9", showRowStripes=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="In write-only mode you must add table columns manually")
            self.ws.add_table(table)


def _table_name(text: str) -> str:
    return "T_" + re.sub(r"[^A-Za-z0-9_]", "_", text)


def _when(text: str | datetime) -> datetime:
    return text if isinstance(text, datetime) else datetime.fromisoformat(text)


def _result_font(result: str) -> Font | None:
    return FAIL if result == "fail" else GAP if result == "gap" else None


def build_workbook(meta: dict[str, Any], crit_rows: list[tuple[str, str, list[str]]], controls: dict[str, Any],
                   population: list[dict[str, Any]], samples: list[Any], *,
                   sample_sizes: list[tuple[str, int, int, str]]) -> bytes:
    from charter.evidence.export import SAMPLING_CODE, SAMPLING_PLAIN

    wb = Workbook(write_only=True)
    ordered = [controls[c] for c in sorted(controls)]

    summary = _Sheet(wb, "Summary", [("field", 34), ("value", 110)], table="T_Summary",
                     preamble=[["Charter evidence export"]])
    for key, label in (("organization", "organization"), ("from", "from (UTC)"), ("to", "to (UTC)"),
                       ("generated_at", "generated at (UTC)"), ("charter_version", "charter version"),
                       ("store", "store"), ("last_manifest_sha256", "last manifest SHA-256")):
        value: Any = meta[key]
        if key == "generated_at":
            value = _when(value)
        summary.append([label, value])
    summary.append(["runs", f"{len(meta['runs'])} (#{meta['first_sequence']} .. #{meta['last_sequence']})"])
    summary.append(["population items", len(population)])
    summary.append(["pass", sum(1 for r in population if r["result"] == "pass")])
    summary.append(["fail", sum(1 for r in population if r["result"] == "fail")], fonts={1: FAIL})
    summary.append(["gaps", sum(v.gaps for v in ordered)], fonts={1: GAP})
    summary.append(["not applicable", sum(1 for r in population if r["result"] == "not_applicable")])
    summary.append(["sampling seed", meta["seed"]])
    summary.append(["sampling method", SAMPLING_PLAIN], wrap=[1])
    summary.append(["sampling method (reproducible)", SAMPLING_CODE], wrap=[1])
    summary.append(["signing keys (SHA-256 of public key)", ", ".join(meta["keys"])])
    summary.append(["sheets", "Controls and Criteria: counts per control and per criterion; one sheet per "
                              "criterion; Population: every item; Samples; Gaps; Runs; Sample sizes"], wrap=[1])
    summary.close()

    sheet = _Sheet(wb, "Controls", [("control", 10), ("title", 50), ("family", 8), ("artifacts", 10),
                                    ("population", 11), ("pass", 8), ("fail", 8), ("gaps", 8), ("n/a", 8),
                                    ("sample size", 11), ("frequency", 26)], table="T_Controls")
    by_sample = {s.control: s for s in samples}
    for v in ordered:
        s = by_sample.get(v.control)
        sheet.append([v.control, v.title, v.family, len(v.items), v.population, v.passed, v.failed, v.gaps,
                      v.not_applicable, s.size if s else 0, s.frequency if s else ""],
                     fonts={6: FAIL} if v.failed else {})
    sheet.close()

    sheet = _Sheet(wb, "Criteria", [("criterion", 10), ("title", 44), ("controls", 40), ("evidence items", 14),
                                    ("population pass", 15), ("population fail", 15), ("gaps", 8), ("n/a", 8)],
                   table="T_Criteria")
    for cid, title, ctrls in crit_rows:
        views = [controls[c] for c in ctrls if c in controls]
        sheet.append([cid, title, ", ".join(ctrls) or "no automated evidence (attestation: see runbooks)",
                      sum(len(v.items) for v in views), sum(v.passed for v in views),
                      sum(v.failed for v in views), sum(v.gaps for v in views),
                      sum(v.not_applicable for v in views)])
    sheet.close()

    item_columns = [("control", 10), ("kind", 9), ("collector", 14), ("account", 14), ("account name", 16),
                    ("region", 12), ("collected (UTC)", 20), ("pass", 7), ("fail", 7), ("gaps", 7), ("n/a", 7),
                    ("failures and gaps: reasons", 70), ("sampled rows", 13), ("run", 18), ("artifact", 48),
                    ("SHA-256", 20)]
    for cid, title, ctrls in crit_rows:
        sheet = _Sheet(wb, cid, item_columns, table=_table_name(cid), preamble=[[f"{cid} {title}"]])
        if not ctrls:
            sheet.append(["no automated evidence in this period (attestation controls: see the runbooks)"])
        for c in ctrls:
            for item in controls[c].items if c in controls else []:
                e = item.entry
                reasons = item.gap_reason if item.is_gap else "; ".join(
                    f"{result}: {what}: {why}" for result, what, why in item.findings)
                sheet.append([c, e.kind, e.collector, e.account_id, e.account_name, e.region, e.collected_at,
                              item.passed, item.failed, item.gaps, item.not_applicable, reasons[:32000],
                              ", ".join(str(r) for r in item.sampled), item.run_id, item.href, e.sha256],
                             links={14: item.href}, wrap=[11],
                             fonts={8: FAIL} if item.failed else ({9: GAP} if item.gaps else {}))
        sheet.close()

    columns = ["run_id", "collected_at", "control", "account_id", "account_name", "region", "collector", "item",
               "result", "reason", "artifact"]
    widths = {"run_id": 18, "collected_at": 20, "control": 10, "account_id": 14, "account_name": 16, "region": 12,
              "collector": 14, "item": 48, "result": 10, "reason": 60, "artifact": 48}
    sampled_rows = {row["population_row"] for s in samples for row in s.rows}

    def population_row(row: dict[str, Any]) -> list[Any]:
        return [_when(row[c]) if c == "collected_at" else row[c] for c in columns]

    _long_table(wb, "Population", [("row", 8), *[(c, widths[c]) for c in columns], ("sampled", 9)],
                ([row["row"], *population_row(row), "yes" if row["row"] in sampled_rows else ""]
                 for row in population), link_column=11)
    _long_table(wb, "Samples", [("control", 10), ("frequency", 26), ("population", 11), ("sample size", 11),
                                ("seed", 18), ("population row", 14), *[(c, widths[c]) for c in columns]],
                ([s.control, s.frequency, s.population, s.size, s.seed, row["population_row"], *population_row(row)]
                 for s in samples for row in s.rows), link_column=16)

    sheet = _Sheet(wb, "Gaps", [("run", 18), ("collector", 14), ("control", 10), ("account", 14), ("region", 12),
                                ("collected (UTC)", 20), ("what could not be read", 22), ("item", 40),
                                ("reason", 80), ("artifact", 48)], table="T_Gaps")
    for v in ordered:
        for item in v.items:
            e = item.entry
            if item.is_gap:
                sheet.append([item.run_id, e.collector, v.control, e.account_id, e.region, e.collected_at,
                              "the whole collector", "", item.gap_reason, item.href], links={9: item.href}, wrap=[8])
            for result, what, why in item.findings:
                if result == "gap":
                    sheet.append([item.run_id, e.collector, v.control, e.account_id, e.region, e.collected_at,
                                  "one check", what, why, item.href], links={9: item.href}, wrap=[8])
    sheet.close()

    sheet = _Sheet(wb, "Runs", [("sequence", 10), ("run", 20), ("started (UTC)", 20), ("sealed (UTC)", 20),
                                ("artifacts", 10), ("manifest", 30), ("manifest SHA-256", 70)], table="T_Runs")
    for r in meta["runs"]:
        sheet.append([r["sequence"], r["run_id"], _when(r["started_at"]), _when(r["sealed_at"]), r["artifacts"],
                      "store/" + r["manifest"], r["sha256"]], links={5: "store/" + r["manifest"]})
    sheet.close()

    sheet = _Sheet(wb, "Sample sizes", [("frequency", 24), ("collections per year >=", 24), ("sample size", 12),
                                        ("common range", 14)], table="T_SampleSizes",
                   preamble=[["Sample sizes commonly used for recurring controls (AICPA prescribes none)"]])
    for row in sample_sizes:
        sheet.append(list(row))
    sheet.close()

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _long_table(wb: Workbook, title: str, columns: list[tuple[str, int]], rows: Iterable[list[Any]], *,
                link_column: int) -> None:
    """Rows under one header, continuing on numbered sheets past Excel's row limit."""
    part = 1
    sheet = _Sheet(wb, title, columns, table=_table_name(title))
    for row in rows:
        if sheet.rows == SHEET_ROWS:
            sheet.close()
            part += 1
            sheet = _Sheet(wb, f"{title} ({part})", columns, table=_table_name(f"{title}_{part}"))
        result_col = [c for c, _ in columns].index("result") if "result" in [c for c, _ in columns] else -1
        sheet.append(row, links={link_column: row[link_column]},
                     fonts={result_col: f} if (f := _result_font(row[result_col])) else {})
    sheet.close()

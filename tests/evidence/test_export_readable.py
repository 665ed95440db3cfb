"""The auditor package as people read it: every count in index.html and evidence.xlsx against
a seeded run whose per-control outcomes are known, the workbook's formatting read back with
openpyxl, and index.html driven in headless Chromium (summary, reasons inline, search,
filters, links, no horizontal overflow at 1280 px)."""

from __future__ import annotations

import zipfile
from datetime import datetime
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest
import seeded_package as seed
from chromium_page import CHROMIUM, LAYOUT_PROBE, SKIP_REASON, load_in_chromium
from openpyxl import load_workbook


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return seed.build_package(tmp_path_factory.mktemp("seeded"))


@pytest.fixture(scope="module")
def extracted(package, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("extracted")
    with zipfile.ZipFile(package.path) as zf:
        zf.extractall(root)
    return root


class _Attrs(HTMLParser):
    """data-* attributes of the elements with a given class, keyed by an attribute."""

    def __init__(self, cls: str, key: str) -> None:
        super().__init__()
        self.cls, self.key = cls, key
        self.found: dict[str, dict[str, str]] = {}
        self.ids: dict[str, str] = {}
        self._text_for: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self.cls in (a.get("class") or "").split() and self.key in a:
            self.found[a[self.key]] = a
        if a.get("id", "").startswith("total-"):
            self._text_for = a["id"]

    def handle_data(self, data):
        if self._text_for:
            self.ids[self._text_for] = data.strip()
            self._text_for = None


def test_index_counts_are_each_controls_own(extracted):
    html = (extracted / "index.html").read_text()
    controls = _Attrs("control", "data-control")
    controls.feed(html)
    got = {c: (int(a["data-pass"]), int(a["data-fail"]), int(a["data-gap"]), int(a["data-na"]))
           for c, a in controls.found.items()}
    assert got == {c: e[:4] for c, e in seed.EXPECTED.items()}
    # the visible heading says the same numbers
    for c, (p, f, g, na, _) in seed.EXPECTED.items():
        section = html[html.index(f'id="control-{c}"'):]
        head = section[:section.index("</h3>")]
        assert f"{p} pass" in head and f"{f} fail" in head and f"{g} gaps" in head and f"{na} n/a" in head, c
    criteria = _Attrs("criterion", "data-criterion")
    criteria.feed(html)
    for cid, (p, f, g) in seed.EXPECTED_CRITERIA.items():
        a = criteria.found[cid]
        assert (int(a["data-pass"]), int(a["data-fail"]), int(a["data-gap"])) == (p, f, g), cid
    # every criterion is listed; the ones no control serves say so
    assert len(criteria.found) == 61 and criteria.found["P1.1"]["data-pass"] == "0"
    t = seed.EXPECTED_TOTALS
    totals = controls.ids
    assert totals["total-pass"] == str(t["pass"]) and totals["total-fail"] == str(t["fail"])
    assert totals["total-gaps"] == str(t["item_gaps"] + t["artifact_gaps"])
    assert totals["total-na"] == str(t["na"]) and totals["total-population"] == str(t["population"])
    # a per-criterion total never exceeds the run's
    assert all(f <= t["fail"] and p <= t["pass"] for p, f, _ in seed.EXPECTED_CRITERIA.values())


def test_index_shows_every_failure_and_gap_with_its_reason(extracted):
    html = (extracted / "index.html").read_text()
    findings = unescape(html[html.index('id="findings"'):html.index('id="criteria"')])
    for reason in (seed.REASON_IAM04_FAIL, seed.REASON_IAM01_FAIL, seed.REASON_DAT01_FAIL, seed.REASON_LOG01_GAP):
        assert reason in findings, reason
    assert seed.REASON_IAM02_GAP[:40] in findings
    assert "gap: not collected" not in html and "see the artifact" not in html
    assert findings.count('class="row finding"') == 5  # 3 failures, 1 item gap, 1 artifact gap
    assert "sampled ×" in html  # sampled items are marked where they sit


def _sheet(ws) -> tuple[list[str], list[tuple]]:
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r and r[0] in ("control", "criterion", "field", "row", "run",
                                                                 "sequence", "frequency"))
    return list(rows[start]), [r for r in rows[start + 1:] if any(v is not None for v in r)]


def test_workbook_counts_are_each_controls_own(package, extracted):
    wb = load_workbook(extracted / "evidence.xlsx")
    header, rows = _sheet(wb["Controls"])
    col = {h: i for i, h in enumerate(header)}
    got = {r[col["control"]]: (r[col["pass"]], r[col["fail"]], r[col["gaps"]], r[col["n/a"]], r[col["artifacts"]])
           for r in rows}
    assert got == seed.EXPECTED
    header, rows = _sheet(wb["Criteria"])
    col = {h: i for i, h in enumerate(header)}
    crit = {r[col["criterion"]]: (r[col["population pass"]], r[col["population fail"]], r[col["gaps"]]) for r in rows}
    for cid, expected in seed.EXPECTED_CRITERIA.items():
        assert crit[cid] == expected, cid
    assert crit["P1.1"] == (0, 0, 0) and len(crit) == 61
    # each criterion sheet's rows add up to the same numbers, control by control
    for cid, (p, f, g) in seed.EXPECTED_CRITERIA.items():
        header, rows = _sheet(wb[cid])
        col = {h: i for i, h in enumerate(header)}
        assert (sum(r[col["pass"]] for r in rows), sum(r[col["fail"]] for r in rows),
                sum(r[col["gaps"]] for r in rows)) == (p, f, g), cid
    header, rows = _sheet(wb["Summary"])
    summary = {r[0]: r[1] for r in rows}
    t = seed.EXPECTED_TOTALS
    assert (summary["pass"], summary["fail"], summary["gaps"], summary["not applicable"],
            summary["population items"]) == (t["pass"], t["fail"], t["item_gaps"] + t["artifact_gaps"], t["na"],
                                             t["population"])
    header, rows = _sheet(wb["Population"])
    col = {h: i for i, h in enumerate(header)}
    assert len(rows) == t["population"]
    assert sum(1 for r in rows if r[col["result"]] == "fail") == t["fail"]


def test_workbook_gaps_carry_their_actual_reasons(extracted):
    wb = load_workbook(extracted / "evidence.xlsx")
    header, rows = _sheet(wb["Gaps"])
    col = {h: i for i, h in enumerate(header)}
    reasons = {(r[col["control"]], r[col["what could not be read"]]): r[col["reason"]] for r in rows}
    assert reasons[("LOG-01", "the whole collector")] == seed.REASON_LOG01_GAP
    assert reasons[("IAM-02", "one check")] == seed.REASON_IAM02_GAP
    assert not any("see the artifact" in str(v) for v in reasons.values())
    summary = {r[0]: r[1] for r in _sheet(wb["Summary"])[1]}
    assert "picked at random" in summary["sampling method"] and "random.Random" not in summary["sampling method"]
    assert "random.Random" in summary["sampling method (reproducible)"]


def test_workbook_sheets_have_frozen_bold_headers_filters_dates_and_working_links(extracted):
    wb = load_workbook(extracted / "evidence.xlsx")
    tabular = ["Summary", "Controls", "Criteria", "Population", "Samples", "Gaps", "Runs", "Sample sizes", "CC6.1",
               "P1.1"]
    for name in tabular:
        ws = wb[name]
        assert ws.tables, f"{name}: no table (no filter buttons)"
        (table,) = ws.tables.values()
        assert table.autoFilter is not None and table.autoFilter.ref == table.ref, name
        first = int("".join(ch for ch in table.ref.split(":")[0] if ch.isdigit()))
        assert ws.freeze_panes == f"A{first + 1}", f"{name}: header row {first} is not frozen"
        header = [c for c in ws[first] if c.value is not None]
        assert header and all(c.font.b for c in header), f"{name}: header not bold"
        assert [c.value for c in header] == [col.name for col in table.tableColumns], name
        assert any((ws.column_dimensions[k].width or 0) > 12 for k in ws.column_dimensions), f"{name}: no widths"
    # real date cells, formatted, not ISO strings
    for name, column in (("Population", "collected_at"), ("CC6.1", "collected (UTC)"), ("Runs", "started (UTC)"),
                         ("Gaps", "collected (UTC)")):
        ws = wb[name]
        (table,) = ws.tables.values()
        first = int("".join(ch for ch in table.ref.split(":")[0] if ch.isdigit()))
        idx = [c.value for c in ws[first]].index(column)
        cells = [row[idx] for row in ws.iter_rows(min_row=first + 1) if row[idx].value is not None]
        assert cells and all(isinstance(c.value, datetime) and c.is_date for c in cells), name
        assert all("yyyy" in c.number_format for c in cells), name
    # every artifact link opens a file of the extracted package
    links = 0
    for name in ("Population", "Samples", "Gaps", "CC6.1", "Runs"):
        for row in wb[name].iter_rows():
            for cell in row:
                if cell.hyperlink is not None:
                    target = cell.hyperlink.target
                    assert not target.startswith(("/", "http")) and (extracted / target).is_file(), target
                    links += 1
    assert links >= seed.EXPECTED_TOTALS["population"]


# -- in the browser -----------------------------------------------------------------------------

INDEX_PROBE = """
  function visible(el) { return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length); }
  function shown() { return Array.prototype.filter.call(document.querySelectorAll("tr.row"), visible); }
  var out = {cards: document.querySelectorAll("#summary .card").length,
             totalFail: document.getElementById("total-fail").textContent.trim(),
             charts: document.querySelectorAll("#charts svg").length, rows: shown().length};
  var reason = Array.prototype.filter.call(document.querySelectorAll(".fail-reason"), function (el) {
    return el.textContent.indexOf(%REASON%) >= 0; });
  out.reasonVisible = reason.length > 0 && visible(reason[0]);
  var search = document.getElementById("search");
  search.value = "unused for 120";
  search.dispatchEvent(new Event("input"));
  out.searchRows = shown().map(function (r) { return r.textContent.replace(/\\s+/g, " "); });
  search.value = "";
  search.dispatchEvent(new Event("input"));
  var filter = document.getElementById("result-filter");
  filter.value = "gap";
  filter.dispatchEvent(new Event("change"));
  out.gapRows = shown().map(function (r) { return r.getAttribute("data-result"); });
  filter.value = "sampled";
  filter.dispatchEvent(new Event("change"));
  out.sampledRows = shown().length;
  filter.value = "";
  filter.dispatchEvent(new Event("change"));
  out.rowsAfter = shown().length;
  var layout = (function () { %LAYOUT% })();
  out.layout = layout;
  return out;
"""


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_index_in_chromium_summary_reasons_search_filters_links_and_fit(extracted, tmp_path):
    probe = (INDEX_PROBE.replace("%REASON%", repr(seed.REASON_IAM04_FAIL))
             .replace("%LAYOUT%", LAYOUT_PROBE))
    _, errors, console, got = load_in_chromium(extracted / "index.html", tmp_path, probe)
    assert errors == [] and console == []
    assert got["cards"] >= 8 and got["totalFail"] == "3" and got["charts"] >= 4  # IAM, ENC, DAT, ORG, LOG
    assert got["reasonVisible"], "a failure's reason is on the page without opening JSON"
    # search narrows the rows to the failure and the item row that holds it
    assert 0 < len(got["searchRows"]) < got["rows"]
    assert all("unused for 120" in r for r in got["searchRows"])
    # the gap filter shows gap rows only; clearing it brings every row back
    assert got["gapRows"] and all("gap" in r.split() for r in got["gapRows"])
    assert 0 < got["sampledRows"] < got["rows"] == got["rowsAfter"]
    layout = got["layout"]
    assert layout["innerWidth"] == 1280
    assert layout["scrollWidth"] <= layout["innerWidth"], layout  # no horizontal scrolling at 1280 px
    assert layout["brokenAnchors"] == []

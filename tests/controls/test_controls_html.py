"""The HTML matrix in a real browser (tests/chromium_page.py): it loads offline with no console
errors, criteria and the status filter come before the suppressions, its filters and search
narrow the rows, the gap reasons are on the page, runbook names link to rendered runbooks,
and nothing is wider than a 1280 px window."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chromium_page import CHROMIUM, LAYOUT_PROBE, SKIP_REASON, load_in_chromium

from charter.controls.matrix import compute_matrix, render

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)

PROBE = """
  function visible(el) { return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length); }
  function shown() { return Array.prototype.filter.call(document.querySelectorAll("tr.control-row"), visible); }
  var out = {rows: shown().length};
  var select = document.getElementById("status-filter");
  select.value = "gap";
  select.dispatchEvent(new Event("change"));
  out.gapRows = shown().length;
  out.gapStatuses = shown().map(function (r) { return r.getAttribute("data-status"); });
  select.value = "";
  select.dispatchEvent(new Event("change"));
  var search = document.getElementById("search");
  search.value = "inspector";
  search.dispatchEvent(new Event("input"));
  out.searchRows = shown().map(function (r) { return r.textContent.toLowerCase().indexOf("inspector") >= 0; });
  search.value = "";
  search.dispatchEvent(new Event("input"));
  out.rowsAfter = shown().length;
  var reason = Array.prototype.filter.call(document.querySelectorAll(".reason"), function (el) {
    return el.textContent.indexOf("baseline.inspector.enabled is false") >= 0; });
  out.reasonVisible = reason.length > 0 && visible(reason[0]);
  function top(sel) { var el = document.querySelector(sel); return el ? el.getBoundingClientRect().top + window.scrollY : -1; }
  out.order = {filter: top("#status-filter"), criteria: top("#criteria"), chart: top("svg.chart"),
               suppressions: top("#suppressions")};
  out.charts = document.querySelectorAll("svg.chart").length;
  var latest = document.querySelector('.latest-evidence[data-status="failing"]');
  out.latestFailing = latest ? (visible(latest) ? latest.textContent.trim() : "hidden") : null;
  out.layout = (function () { %LAYOUT% })();
  return out;
"""


def test_harness_catches_errors(tmp_path: Path) -> None:
    broken = ("<!DOCTYPE html><html><head><title>t</title></head><body>"
              "<img src='missing.png'><script>console.error('boom'); notDefined();</script></body></html>")
    _, errors, console, _ = load_in_chromium(broken, tmp_path)
    assert any("notDefined" in e for e in errors) and any("boom" in e for e in errors)
    assert any("missing.png" in e for e in errors)
    assert console


def test_matrix_html_in_chromium(small_config, tmp_path: Path) -> None:
    from charter.commands.runbooks import _controls_by_runbook
    from charter.controls.matrix import EvidenceState
    from charter.landing_zone.synth import synthesize
    from charter.runbooks.context import build_context
    from charter.runbooks.render import render_all

    # LOG-01's latest evidence fails (as `charter controls --store` joins it): the row says so.
    matrix = compute_matrix(small_config, evidence={
        "LOG-01": EvidenceState(status="failing", reason="1 of 4 items failed", run_id="r-1")})
    html = render(matrix, "html")
    assert not re.search(r'(src|href)="(https?:)?//', html), "the report must work offline"
    page = tmp_path / "control-matrix.html"
    page.write_text(html, encoding="utf-8")
    render_all(build_context(small_config, synthesize(small_config), controls_by_runbook=_controls_by_runbook()),
               tmp_path / "runbooks")
    dom, errors, console, got = load_in_chromium(page, tmp_path, PROBE.replace("%LAYOUT%", LAYOUT_PROBE))
    assert errors == [] and console == []
    for crit in matrix.criteria:
        assert f'data-criterion="{crit.id}"' in dom, crit.id
        assert f'href="#{crit.id}"' in dom
    assert f"{matrix.summary.criteria_with_controls} / 61" in dom
    assert 'class="badge implemented"' in dom and 'class="badge inherited"' in dom
    for x, _ in matrix.suppressions():
        assert x.check_id in dom
    # reading order: summary and charts, then the filter and criteria, the suppressions last
    order = got["order"]
    assert 0 <= order["chart"] < order["criteria"] < order["filter"] < order["suppressions"], order
    assert got["charts"] == 2
    # the status filter keeps the gap rows only; search narrows; clearing brings every row back
    expected = sum(1 for _, c in matrix.rows() if c.status == "gap")
    assert got["gapRows"] == expected > 0 and set(got["gapStatuses"]) == {"gap"}
    assert got["searchRows"] and all(got["searchRows"]) and len(got["searchRows"]) < got["rows"]
    assert got["rowsAfter"] == got["rows"] == sum(1 for _ in matrix.rows())
    assert got["reasonVisible"]
    assert got["latestFailing"] == "latest: failing (run r-1)"
    assert matrix.controls["LOG-01"].status == "failing"
    layout = got["layout"]
    assert layout["innerWidth"] == 1280 and layout["scrollWidth"] <= 1280, layout
    assert layout["brokenAnchors"] == []
    # runbook names are links to the rendered runbooks, and every one resolves
    links = set(re.findall(r'class="runbook" href="([^"]+)"', html))
    with_runbook = {c.runbook for c in matrix.controls.values() if c.runbook}
    assert links == {f"runbooks/{r}.html" for r in with_runbook} and links
    for href in links:
        assert (tmp_path / href).is_file(), href

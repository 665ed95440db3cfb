"""The HTML matrix in a real browser: headless Chromium loads it offline with no console
errors, its filter script runs, and every criterion is on the page.

Console errors are caught two ways: a collector injected at the top of <head> records
`error` events (script errors and failed resource loads, capture phase) and `console.error`
calls into an attribute that `--dump-dom` returns; and Chromium's own console log
(`--enable-logging=stderr`) must carry no CONSOLE line. A deliberately broken page proves
the harness sees errors.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pytest

from charter.controls.matrix import compute_matrix, render

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install -y chromium)")

PROBE = """<script>
window.__charterErrors = [];
window.addEventListener("error", function (e) {
  var t = e.target || {};
  window.__charterErrors.push(String(e.message || ("failed to load " + (t.src || t.href || t.tagName))));
}, true);
(function () {
  var original = console.error;
  console.error = function () {
    window.__charterErrors.push(Array.prototype.join.call(arguments, " "));
    original.apply(console, arguments);
  };
})();
window.addEventListener("load", function () {
  var select = document.getElementById("status-filter");
  if (select) {
    select.value = "gap";
    select.dispatchEvent(new Event("change"));
    var shown = document.querySelectorAll("tr.control-row:not(.hidden)").length;
    document.documentElement.setAttribute("data-gap-rows-shown", String(shown));
  }
  document.documentElement.setAttribute("data-charter-errors", JSON.stringify(window.__charterErrors));
});
</script>"""


def load_in_chromium(html: str, tmp_path: Path) -> tuple[str, list[str], list[str]]:
    """(dumped DOM, errors the page saw, CONSOLE lines Chromium logged)."""
    page = tmp_path / "page.html"
    page.write_text(html.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    res = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'data-charter-errors="([^"]*)"', res.stdout)
    assert m, "the page never finished loading (no load event)"
    errors = json.loads(unescape(m.group(1)))
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
    return res.stdout, errors, console


def test_harness_catches_errors(tmp_path: Path) -> None:
    broken = ("<!DOCTYPE html><html><head><title>t</title></head><body>"
              "<img src='missing.png'><script>console.error('boom'); notDefined();</script></body></html>")
    _, errors, console = load_in_chromium(broken, tmp_path)
    assert any("notDefined" in e for e in errors) and any("boom" in e for e in errors)
    assert any("missing.png" in e for e in errors)
    assert console


def test_matrix_html_loads_without_errors_and_shows_every_criterion(small_config, tmp_path: Path) -> None:
    matrix = compute_matrix(small_config)
    html = render(matrix, "html")
    assert not re.search(r'(src|href)="(https?:)?//', html), "the report must work offline"
    dom, errors, console = load_in_chromium(html, tmp_path)
    assert errors == []
    assert console == []
    for crit in matrix.criteria:
        assert f'data-criterion="{crit.id}"' in dom, crit.id
        assert f'href="#{crit.id}"' in dom
    # Summary, badges and the gap reason reached the page.
    assert f"{matrix.summary.criteria_with_controls} / 61" in dom
    assert 'class="badge implemented"' in dom and 'class="badge inherited"' in dom
    assert "baseline.inspector.enabled is false" in dom
    for x, _ in matrix.suppressions():
        assert x.check_id in dom
    # The status filter ran: only the gap rows stay visible.
    shown = int(re.search(r'data-gap-rows-shown="(\d+)"', dom).group(1))
    expected = sum(1 for _, c in matrix.rows() if c.status == "gap")
    assert shown == expected > 0

"""Load an HTML report in headless Chromium and run a probe in it: the one browser harness
every HTML test uses (`--dump-dom`, no driver to install).

Console errors are caught two ways: a collector injected at the top of <head> records
`error` events (script errors and failed resource loads, capture phase) and `console.error`
calls into an attribute that `--dump-dom` returns; and Chromium's own console log
(`--enable-logging=stderr`) must carry no CONSOLE line. A probe (JavaScript run on `load`,
after the page's own scripts) returns a JSON-able value: what the test asserts on, measured
by the browser (visible rows after typing in a search box, the page's scroll width at a
1280 px window, which anchors resolve).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path
from typing import Any

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
SKIP_REASON = "chromium is not on PATH (apt-get install -y chromium)"

_COLLECTOR = """<script>
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
  var result = null;
  try { result = (function () { %PROBE% })(); }
  catch (e) { window.__charterErrors.push("probe: " + e); }
  document.documentElement.setAttribute("data-probe", JSON.stringify(result === undefined ? null : result));
  document.documentElement.setAttribute("data-charter-errors", JSON.stringify(window.__charterErrors));
});
</script>"""

#: A probe that measures what every report must satisfy: nothing wider than the window, and
#: every in-page anchor pointing at an element that exists.
LAYOUT_PROBE = """
  var broken = [];
  document.querySelectorAll("a[href^='#']").forEach(function (a) {
    var id = decodeURIComponent(a.getAttribute("href").slice(1));
    if (id && !document.getElementById(id)) { broken.push(a.getAttribute("href")); }
  });
  return {innerWidth: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
          bodyScrollWidth: document.body.scrollWidth, brokenAnchors: broken};
"""


def load_in_chromium(html: str | Path, tmp_path: Path, probe: str = "return null;", *,
                     width: int = 1280, height: int = 900) -> tuple[str, list[str], list[str], Any]:
    """(dumped DOM, errors the page saw, CONSOLE lines Chromium logged, the probe's result).

    `html` is markup (written to a temporary file) or the path of a page on disk: it is then
    copied beside itself with the collector injected, so its relative links still resolve."""
    assert CHROMIUM, SKIP_REASON
    if isinstance(html, Path):
        page = html.with_name("_probe_" + html.name)
        source = html.read_text(encoding="utf-8")
    else:
        page = tmp_path / "page.html"
        source = html
    injected = _COLLECTOR.replace("%PROBE%", probe)
    page.write_text(source.replace("<head>", "<head>" + injected, 1) if "<head>" in source
                    else injected + source, encoding="utf-8")
    try:
        res = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
             "--hide-scrollbars", f"--window-size={width},{height}",
             f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
             "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=180)
    finally:
        if isinstance(html, Path):
            page.unlink(missing_ok=True)
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'data-charter-errors="([^"]*)"', res.stdout)
    assert m, "the page never finished loading (no load event)"
    errors = json.loads(unescape(m.group(1)))
    p = re.search(r'data-probe="([^"]*)"', res.stdout)
    result = json.loads(unescape(p.group(1))) if p else None
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]
    return res.stdout, errors, console, result

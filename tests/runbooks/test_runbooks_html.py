"""Runbook HTML as GitHub shows it (CommonMark): lists are lists, every Markdown list item is an
<li>; the index groups runbooks by criterion, owner and frequency; in headless Chromium the
pages fit 1280 px, every link resolves and the index's search narrows the entries."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from chromium_page import CHROMIUM, LAYOUT_PROBE, SKIP_REASON, load_in_chromium

from charter.commands.runbooks import _controls_by_runbook
from charter.landing_zone.config import load_config
from charter.landing_zone.synth import synthesize
from charter.runbooks.context import build_context
from charter.runbooks.render import render_all, runbook_ids

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    cfg = load_config(EXAMPLES / "small" / "org.yaml")
    out = tmp_path_factory.mktemp("runbooks")
    render_all(build_context(cfg, synthesize(cfg), config_path="examples/small/org.yaml",
                             controls_by_runbook=_controls_by_runbook()), out)
    return out


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.li = 0
        self.paragraphs: list[str] = []
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.stack.append(tag)
        if tag == "li":
            self.li += 1
        if tag == "p":
            self.paragraphs.append("")
        if a.get("href"):
            self.hrefs.append(a["href"])
        if a.get("id"):
            self.ids.add(a["id"])

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        if "p" in self.stack and self.paragraphs:
            self.paragraphs[-1] += data


def _list_items(markdown: str) -> int:
    """Markdown list items outside fenced code."""
    count, fenced = 0, False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"\s*([-*+]|\d+\.)\s+\S", line):
            count += 1
    return count


@pytest.mark.parametrize("rid", runbook_ids())
def test_every_markdown_list_item_is_an_html_list_item(rendered, rid):
    page = _Page()
    page.feed((rendered / f"{rid}.html").read_text())
    assert page.li == _list_items((rendered / f"{rid}.md").read_text()), rid
    for text in page.paragraphs:  # nothing run on into a paragraph
        assert not re.search(r"(^|\n)\s*(- |\d+\. )\S", text), (rid, text[:200])


def test_headings_carry_github_anchors(rendered):
    page = _Page()
    page.feed((rendered / "access-review.html").read_text())
    assert {"steps", "reviewers"} <= page.ids


def test_index_groups_runbooks_by_criterion_owner_and_frequency(rendered):
    html = (rendered / "index.html").read_text()
    for anchor in ("by-criterion", "by-owner", "by-frequency"):
        assert f'id="{anchor}"' in html
    owners = html[html.index('id="by-owner"'):html.index('id="by-frequency"')]
    assert "Security lead" in owners and "Platform lead" in owners
    assert 'href="access-review.html"' in owners
    criteria = html[html.index('id="by-criterion"'):html.index('id="by-owner"')]
    assert "<dt>CC6.2</dt>" in criteria and criteria.index("<dt>CC6.2</dt>") < criteria.index("<dt>A1.2</dt>")
    frequency = html[html.index('id="by-frequency"'):]
    assert "<dt>quarterly</dt>" in frequency
    md = (rendered / "index.md").read_text()
    assert "## By SOC 2 criterion" in md and "## By owner" in md and "## By frequency" in md


def test_every_link_resolves(rendered):
    for page_path in rendered.glob("*.html"):
        page = _Page()
        page.feed(page_path.read_text())
        for href in page.hrefs:
            if href == "data:,":
                continue
            if href.startswith("#"):
                assert href[1:] in page.ids, (page_path.name, href)
            else:
                assert "://" not in href and (rendered / href.split("#")[0]).is_file(), (page_path.name, href)


SEARCH_PROBE = """
  function visible(el) { return !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length); }
  var rows = document.querySelectorAll(".row");
  var before = Array.prototype.filter.call(rows, visible).length;
  var search = document.getElementById("search");
  search.value = "break";
  search.dispatchEvent(new Event("input"));
  var after = Array.prototype.filter.call(rows, visible).map(function (r) { return r.textContent; });
  search.value = "";
  search.dispatchEvent(new Event("input"));
  var layout = (function () { %LAYOUT% })();
  return {before: before, after: after, layout: layout};
"""


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_index_and_a_runbook_in_chromium(rendered, tmp_path):
    _, errors, console, got = load_in_chromium(rendered / "index.html", tmp_path,
                                               SEARCH_PROBE.replace("%LAYOUT%", LAYOUT_PROBE))
    assert errors == [] and console == []
    assert 0 < len(got["after"]) < got["before"]
    assert all("break" in t.lower() for t in got["after"])
    assert got["layout"]["innerWidth"] == 1280 and got["layout"]["scrollWidth"] <= 1280, got["layout"]
    assert got["layout"]["brokenAnchors"] == []
    for rid in ("access-review", "incident-response", "disaster-recovery"):
        _, errors, console, layout = load_in_chromium(rendered / f"{rid}.html", tmp_path, LAYOUT_PROBE)
        assert errors == [] and console == []
        assert layout["scrollWidth"] <= layout["innerWidth"] == 1280, (rid, layout)
        assert layout["brokenAnchors"] == []

"""Render every runbook to Markdown and HTML with the org's real names.

StrictUndefined makes a template that names a fact the context lacks fail loudly at
render time (and in the tests), instead of printing an empty string into an incident
procedure.

The HTML comes from markdown-it-py, a CommonMark renderer with GitHub's table and
strikethrough extensions, so a runbook's HTML is what GitHub shows for its Markdown (a
list right after a line of text is a list, not a run-on paragraph, as in CommonMark),
and headings carry GitHub-style anchors. The index groups the runbooks by the SOC 2
criterion, the owner and the frequency of the controls each one operates.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin

from charter.errors import CharterError

TEMPLATE_SUFFIX = ".md.j2"


def runbook_ids() -> list[str]:
    folder = files("charter.runbooks")
    return sorted(p.name[: -len(TEMPLATE_SUFFIX)] for p in folder.iterdir()
                  if p.name.endswith(TEMPLATE_SUFFIX) and not p.name.startswith("_"))


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("charter.runbooks", "."),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_markdown(runbook_id: str, context: dict[str, Any]) -> str:
    env = _environment()
    try:
        return env.get_template(runbook_id + TEMPLATE_SUFFIX).render(**context, runbook_id=runbook_id)
    except jinja2.TemplateNotFound:
        raise CharterError(f"no runbook named '{runbook_id}'",
                           hint="available: " + ", ".join(runbook_ids())) from None


def markdown_to_html(text: str) -> str:
    """CommonMark + GitHub tables/strikethrough, raw HTML off, headings with GitHub-style ids."""
    md = (MarkdownIt("commonmark", {"html": False, "typographer": False})
          .enable(["table", "strikethrough"])
          .use(anchors_plugin, min_level=1, max_level=4))
    return md.render(text)


def _html(title: str, body_md: str) -> str:
    page = _environment().get_template("_page.html.j2")
    return page.render(title=title, body=markdown_to_html(body_md))


#: Order of the catalog's frequencies in the index (most often first).
FREQUENCIES = ("continuous", "per-change", "daily", "quarterly", "annual")


def group_runbooks(entries: list[tuple[str, str]], controls_by_runbook: dict[str, list[dict[str, Any]]]
                   ) -> dict[str, list[tuple[str, list[tuple[str, str, list[str]]]]]]:
    """{"criterion"|"owner"|"frequency": [(group, [(runbook id, title, control ids)])]}: each
    runbook under every group one of its controls belongs to; runbooks operating no catalog
    control under "(no catalog control)"."""
    titles = dict(entries)
    grouped: dict[str, dict[str, dict[str, list[str]]]] = {"criterion": {}, "owner": {}, "frequency": {}}
    for rid, _ in entries:
        controls = controls_by_runbook.get(rid, [])
        if not controls:
            for axis in grouped:
                grouped[axis].setdefault("(no catalog control)", {}).setdefault(rid, [])
        for c in controls:
            for crit in c.get("criteria") or ["(no criterion)"]:
                grouped["criterion"].setdefault(crit, {}).setdefault(rid, []).append(c["id"])
            grouped["owner"].setdefault(c.get("owner") or "(no owner)", {}).setdefault(rid, []).append(c["id"])
            grouped["frequency"].setdefault(c.get("frequency") or "(not set)", {}).setdefault(rid, []).append(c["id"])

    def order(axis: str, key: str) -> tuple:
        if key.startswith("("):
            return (2, key)
        if axis == "criterion":
            return (0, _criterion_order(key))
        if axis == "frequency":
            return (0, FREQUENCIES.index(key) if key in FREQUENCIES else 99, key)
        return (0, key.lower())

    return {axis: [(g, [(rid, titles[rid], sorted(set(ids))) for rid, ids in sorted(by.items())])
                   for g, by in sorted(groups.items(), key=lambda kv: order(axis, kv[0]))]
            for axis, groups in grouped.items()}


def _criterion_order(cid: str) -> tuple[int, int, int]:
    """CC before A, C, PI, P; numerically within each (CC1.2 < CC1.10)."""
    prefix = cid.rstrip("0123456789.")
    major, _, minor = cid[len(prefix):].partition(".")
    families = ("CC", "A", "C", "PI", "P")
    return (families.index(prefix) if prefix in families else 9, int(major or 0), int(minor or 0))


def _index_markdown(org: str, entries: list[tuple[str, str]], groups: dict[str, Any]) -> str:
    lines = [f"# Runbooks for {org}", "", "| runbook | id |", "|---|---|"]
    lines += [f"| [{title}]({rid}.md) | `{rid}` |" for rid, title in entries]
    for axis, heading in (("criterion", "By SOC 2 criterion"), ("owner", "By owner"),
                          ("frequency", "By frequency")):
        lines += ["", f"## {heading}", ""]
        for group, books in groups[axis]:
            lines.append(f"- **{group}**: " + ", ".join(
                f"[{title}]({rid}.md)" + (f" ({', '.join(ids)})" if ids else "") for rid, title, ids in books))
    return "\n".join(lines) + "\n"


def render_all(context: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write `<id>.md` and `<id>.html` for every runbook plus an index; returns the paths."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CharterError(f"{out}: cannot create output directory: {exc.strerror}",
                           hint="choose a writable directory with -o") from None
    written: list[Path] = []
    entries = []
    for rid in runbook_ids():
        text = render_markdown(rid, context)
        title = text.splitlines()[0].lstrip("# ").strip() if text else rid
        entries.append((rid, title))
        (out / f"{rid}.md").write_text(text)
        (out / f"{rid}.html").write_text(_html(title, text))
        written += [out / f"{rid}.md", out / f"{rid}.html"]
    org = context["org"]["name"]
    groups = group_runbooks(entries, context.get("controls_by_runbook") or {})
    (out / "index.md").write_text(_index_markdown(org, entries, groups))
    (out / "index.html").write_text(_environment().get_template("_index.html.j2").render(
        title=f"Runbooks for {org}", entries=entries, groups=groups,
        controls={rid: context.get("controls_by_runbook", {}).get(rid, []) for rid, _ in entries}))
    return written + [out / "index.md", out / "index.html"]

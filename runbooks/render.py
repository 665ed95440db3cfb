"""Render every runbook to Markdown and HTML with the org's real names.

StrictUndefined makes a template that names a fact the context lacks fail loudly at
render time (and in the tests), instead of printing an empty string into an incident
procedure.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
import markdown

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


def _html(title: str, body_md: str, index: bool = False) -> str:
    body = markdown.markdown(body_md, extensions=["tables", "fenced_code", "toc"])
    page = _environment().get_template("_page.html.j2")
    return page.render(title=title, body=body, index=index)


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
    index_md = f"# Runbooks for {context['org']['name']}\n\n" + "\n".join(
        f"- [{title}]({rid}.html) — `{rid}`" for rid, title in entries) + "\n"
    (out / "index.md").write_text(index_md.replace(".html)", ".md)"))
    (out / "index.html").write_text(_html(f"Runbooks for {context['org']['name']}", index_md, index=True))
    return written + [out / "index.md", out / "index.html"]

"""`charter runbooks`: render the runbooks from the org config."""

from __future__ import annotations

from pathlib import Path

import typer

from charter.options import CONFIG
from charter.output import console, ok

app = typer.Typer(help="Runbooks rendered from org.yaml with the org's real names, accounts and objectives.",
                  no_args_is_help=True)


@app.command("render")
def render(config: Path = CONFIG,
           out: Path = typer.Option(Path("runbooks-out"), "-o", "--out", help="Output directory.")) -> None:
    """Render every runbook to Markdown and HTML.

    Example: `charter runbooks render -c examples/small/org.yaml -o out/runbooks`
    """
    from charter.landing_zone.config import load_config
    from charter.landing_zone.synth import synthesize
    from charter.runbooks.context import build_context
    from charter.runbooks.render import render_all

    cfg = load_config(config)
    context = build_context(cfg, synthesize(cfg), config_path=str(config),
                            controls_by_runbook=_controls_by_runbook())
    written = render_all(context, out)
    ok(f"wrote {len(written)} files to {out}; open {out / 'index.html'}")


@app.command("list")
def list_runbooks() -> None:
    """List the runbook ids.

    Example: `charter runbooks list`
    """
    from charter.runbooks.render import runbook_ids

    for rid in runbook_ids():
        console.print(rid)


def _controls_by_runbook() -> dict[str, list[dict[str, str]]]:
    """Catalog controls grouped by the runbook that operates them."""
    from charter.controls.catalog import load_catalog

    grouped: dict[str, list[dict[str, str]]] = {}
    for control in load_catalog().controls:
        if control.runbook:
            grouped.setdefault(control.runbook, []).append(
                {"id": control.id, "title": control.title, "criteria": list(control.criteria),
                 "owner": control.owner, "frequency": control.frequency})
    return grouped

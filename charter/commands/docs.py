"""`charter docs`: generated documentation for an org."""

from __future__ import annotations

from pathlib import Path

import typer

from charter.options import CONFIG
from charter.output import ok

app = typer.Typer(help="Generated docs: architecture diagram, CLI reference, deploy guide, troubleshooting.",
                  no_args_is_help=True)


@app.command("build")
def build(config: Path = CONFIG,
          out: Path = typer.Option(Path("docs-out"), "-o", "--out", help="Output directory.")) -> None:
    """Write the docs as Markdown and HTML, with the architecture as SVG.

    Example: `charter docs build -c examples/small/org.yaml -o out/docs`
    """
    from charter.docs.build import build_docs
    from charter.landing_zone.config import load_config

    written = build_docs(load_config(config), out, config_path=str(config))
    ok(f"wrote {len(written)} files to {out}")

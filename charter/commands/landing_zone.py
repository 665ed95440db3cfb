"""Landing-zone commands: init, validate, schema, synth, lint, builders."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from charter.options import CONFIG, OUTPUT, QUIET, LintFormat, OutputFormat
from charter.output import console, emit_json, err_console, ok

ConfigOpt = CONFIG
OutOpt = typer.Option(Path("out"), "-o", "--out", help="Output directory.", show_default=True)


def validate(config: Path = ConfigOpt, output: OutputFormat = OUTPUT, quiet: bool = QUIET) -> None:
    """Check org.yaml: every problem with file:line:column, what is wrong and how to fix it,
    and every AWS limit what it generates would break (synthesized in memory, nothing written).

    Example: `charter validate -c examples/small/org.yaml --output json`
    """
    from charter.landing_zone.config import load_config
    from charter.landing_zone.synth import synthesize

    cfg = load_config(config)
    stacks = synthesize(cfg)
    if output == OutputFormat.json:
        emit_json("validate", {"config": str(config), "valid": True, "accounts": len(cfg.accounts),
                               "ous": len(cfg.ous), "governed_regions": list(cfg.organization.governed_regions)})
        return
    ok(f"{config}: valid — {len(cfg.accounts)} accounts, {len(cfg.ous)} OUs, "
       f"{len(cfg.organization.governed_regions)} governed regions; {len(stacks)} stacks within AWS's limits")


def schema(out: Path | None = typer.Option(None, "-o", "--out", help="Write to a file instead of stdout.")) -> None:
    """Print the JSON Schema of org.yaml, for editor completion.

    Example: `charter schema -o org.schema.json`, then add
    `# yaml-language-server: $schema=org.schema.json` at the top of org.yaml.
    """
    from charter.config.model import OrgConfig

    text = json.dumps(OrgConfig.model_json_schema(), indent=2)
    if out:
        from charter.options import write_text

        write_text(out, text + "\n")
        ok(f"wrote {out}")
    else:
        typer.echo(text)


def init(path: Path = typer.Argument(Path("org.yaml"), help="Where to write the starter file."),
         force: bool = typer.Option(False, "--force", help="Overwrite an existing file.")) -> None:
    """Write a commented starter org.yaml (six accounts, two regions).

    Example: `charter init org.yaml && charter validate -c org.yaml`
    """
    from charter.config.starter import starter_text
    from charter.errors import CharterError

    if path.exists() and not force:
        raise CharterError(f"{path} already exists", hint="pass --force to overwrite it, or choose another path")
    from charter.options import write_text

    write_text(path, starter_text(), "charter init")
    ok(f"wrote {path}; edit the names and emails, then run `charter validate -c {path}`")


def synth(config: Path = ConfigOpt, out: Path = OutOpt) -> None:
    """Synthesize CloudFormation templates and out/plan.json from org.yaml.

    Example: `charter synth -c examples/small/org.yaml -o out/`
    """
    from charter.landing_zone.config import load_config
    from charter.landing_zone.synth import build_plan, synthesize, write_output

    start = time.perf_counter()
    cfg = load_config(config)
    stacks = synthesize(cfg)
    plan = build_plan(cfg, stacks, config.read_text())
    path = write_output(stacks, plan, out)
    from rich.table import Table

    table = Table("stack", "deploys as", "resources", "bytes", "upload", title=f"{len(stacks)} stacks")
    for s in plan.stacks:
        d = s.deployment
        how = d.kind if d.kind in ("stack", "organizations") else f"stackset {d.permission_model or ''}".strip()
        table.add_row(s.name, how, str(s.resources), f"{s.bytes:,}", s.upload)
    console.print(table)
    ok(f"wrote {len(stacks)} templates and {path} in {time.perf_counter() - start:.1f}s")


def lint(out: Path = typer.Argument(Path("out"), help="Directory written by `charter synth`."),
         fmt: LintFormat = typer.Option(LintFormat.text, "--format", case_sensitive=False,
                                        help="text; json (schema charter/schemas/lint.json); sarif (SARIF 2.1.0, "
                                             "for GitHub code scanning)."),
         sarif_out: Path | None = typer.Option(None, "--sarif-file",
                                               help="Also write the SARIF report to this file."),
         regions: str = typer.Option("", "--regions", help="Comma-separated regions for cfn-lint "
                                     "(default: the plan's governed regions)."),
         config: Path | None = typer.Option(None, "-c", "--config",
                                            help="org.yaml the templates came from: also run `charter preflight`.")) -> None:
    """Lint every template with cfn-lint and checkov, in-process. Exit 1 on any finding.

    Suppressions are only honoured when written on the resource with a reason; they are
    listed here and in the control matrix.

    With `-c org.yaml`, every call the templates make Charter do is also evaluated against
    the SCPs, identity, trust and resource policies (`charter preflight`).

    Example: `charter synth -c examples/large/org.yaml -o out && charter lint out -c examples/large/org.yaml`
    """
    from charter.landing_zone.lint import Linter
    from charter.landing_zone.synth import Plan

    start = time.perf_counter()
    region_list = [r for r in regions.split(",") if r]
    if not region_list:
        try:
            region_list = Plan.read(out).governed_regions
        except Exception:  # a plan is not required to lint a directory of templates
            region_list = ["us-east-1"]
    with err_console.status("linting with cfn-lint and checkov..."):
        report = Linter(region_list).lint_dir(out)
    elapsed = time.perf_counter() - start
    preflight = None
    if config is not None:
        from charter.commands.preflight import run_preflight
        from charter.landing_zone.config import load_config

        with err_console.status("evaluating Charter's permission model..."):
            preflight = run_preflight(load_config(config))
    if fmt == LintFormat.sarif or sarif_out is not None:
        from charter.landing_zone.lint_sarif import to_sarif

        sarif = json.dumps(to_sarif(report), indent=2)
        if sarif_out is not None:
            from charter.options import write_text

            write_text(sarif_out, sarif + "\n", "--sarif-file")
        if fmt == LintFormat.sarif:
            typer.echo(sarif)
    if fmt == LintFormat.json:
        emit_json("lint", {
            "ok": report.ok,
            "templates": report.templates,
            "findings": [f.__dict__ for f in report.findings],
            "suppressions": [s.__dict__ for s in report.suppressions],
            "checkov_passed": report.checkov_passed,
            **({"preflight": preflight.to_json()} if preflight is not None else {}),
        })
    elif fmt == LintFormat.text:
        for f in report.findings:
            console.print(f.render(), markup=False)
        if report.suppressions:
            console.print(f"\n{len(report.suppressions)} suppression(s), each with its reason:")
            for s in report.suppressions:
                console.print(f"  {s.template}: {s.resource}: {s.rule}: {s.reason}", markup=False)
        summary = (f"{len(report.templates)} templates: {report.count('cfn-lint')} cfn-lint findings, "
                   f"{report.count('checkov')} checkov failures ({report.checkov_passed} checks passed), "
                   f"{len(report.suppressions)} suppressions, {elapsed:.1f}s")
        (ok if report.ok else err_console.print)(summary)
        if preflight is not None:
            from charter.commands.preflight import print_report

            print_report(preflight)
    if not report.ok or (preflight is not None and not preflight.ok):
        raise typer.Exit(1)


def builders_cmd() -> None:
    """List the builders (landing zone and workload stacks) and the control ids each implements.

    The ids are declared once, on each builder (`@builder(controls=...)`); "checks" are ids its
    resources only evaluate (the Config rules). Synth fails on a resource that carries none.

    Example: `charter builders`
    """
    from rich.table import Column, Table

    from charter.controls.links import all_builders

    # A builder's name is what a user types: never split it over lines.
    table = Table(Column("builder", no_wrap=True), "implements", "checks", "description")
    for b in all_builders().values():
        table.add_row(b.name, ", ".join(b.controls), ", ".join(b.evaluates), b.description)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(validate)
    app.command()(schema)
    app.command()(synth)
    app.command()(lint)
    app.command("builders")(builders_cmd)

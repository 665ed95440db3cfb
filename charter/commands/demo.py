"""`charter demo`: the whole flow on the embedded AWS, no AWS account needed."""

from __future__ import annotations

from pathlib import Path

import typer

from charter.output import console, err_console, ok

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


def demo(config: Path = typer.Option(None, "-c", "--config", help="org.yaml (default: examples/small)."),
         keep: Path = typer.Option(Path("charter-demo"), "--keep", help="Directory for everything the demo "
                                   "produces (matrix, evidence, auditor package, runbooks).")) -> None:
    """Run Charter end to end on the embedded AWS: synth, lint, deploy, matrix, evidence, access review,
    the optimizer workload, the auditor package and the runbooks.

    Example: `charter demo --keep charter-demo`
    """
    from rich.table import Table

    from charter.demo import Demo, DemoFailed
    from charter.landing_zone.config import load_config

    config = config or DEFAULT_CONFIG
    cfg = load_config(config)
    with err_console.status("starting...") as status:
        try:
            result = Demo(cfg, config, keep, on_step=lambda name: status.update(f"{name}...")).run()
        except DemoFailed as exc:
            err_console.print(f"[bold red]demo failed at {exc.step}:[/]\n{exc.detail}")
            raise typer.Exit(1) from None
    table = Table("step", "seconds", "result", title=f"charter demo — {cfg.organization.name}")
    for step in result.steps:
        table.add_row(step.name, f"{step.seconds:.1f}", step.summary)
    console.print(table)
    stacks = result.facts.get("workload_stacks") or {}
    if stacks:  # what CloudFormation says of each workload stack, read back from its account
        deployed = Table("workload stack", "region", "status", title="optimizer workload stacks (dev)")
        for key, status in sorted(stacks.items()):
            name, _, region = key.rpartition("/")
            deployed.add_row(name, region, status)
        console.print(deployed)
    total = sum(s.seconds for s in result.steps)
    for label, path in result.paths.items():
        console.print(f"  {label}: {path}")
    ok(f"demo finished in {total:.0f}s; everything is in {keep}/")


def register(app: typer.Typer) -> None:
    app.command()(demo)

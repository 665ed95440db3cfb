"""`charter demo`: the whole flow on the embedded AWS, no AWS account needed."""

from __future__ import annotations

from pathlib import Path

import typer

from charter.output import console, err_console, escape, ok

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


def demo(config: Path = typer.Option(None, "-c", "--config", help="org.yaml (default: examples/small)."),
         keep: Path = typer.Option(Path("charter-demo"), "--keep", help="Directory for everything the demo "
                                   "produces (matrix, evidence, auditor package, runbooks)."),
         serve: bool = typer.Option(False, "--serve", help="Afterwards, serve the web console (both faces) on "
                                    "the embedded AWS until Ctrl-C."),
         port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port of the console with --serve.")) -> None:
    """Run Charter end to end on the embedded AWS: synth, lint, deploy, matrix, evidence, access review,
    the optimizer workload, the auditor package and the runbooks.

    Example: `charter demo --keep charter-demo --serve` (then open the console URL it prints)
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
            err_console.print(f"[bold red]demo failed at {escape(exc.step)}:[/]\n{escape(exc.detail)}")
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
    if result.facts.get("console_url"):
        console.print(f"  console: {result.facts['console_url']} — start it with `{result.facts['console_command']}`; "
                      f"both faces: `charter workload serve -c {config} --local --store {keep}/evidence`")
    ok(f"demo finished in {total:.0f}s; everything is in {keep}/")
    if serve:
        _serve_console(cfg, keep / "evidence", port)


def _serve_console(cfg, store: Path, port: int) -> None:
    """The console on a fresh embedded AWS: the optimizer API of the dev environment with the
    demo's market data ingested, and the compliance face of the demo's evidence store."""
    import os
    from urllib.parse import quote_plus

    from charter.commands.console import EvidenceCompliance, open_store
    from charter.local import LOCAL_MANAGEMENT_ACCOUNT, LocalAws
    from charter.naming import resource_name
    from charter.workloads.console_site import ConsoleSite
    from charter.workloads.demo import _prices_csv
    from charter.workloads.handlers import aws, ingest
    from charter.workloads.handlers.settings import Settings
    from charter.workloads.server import LocalApiServer

    region = cfg.organization.home_region
    with LocalAws(region=region) as embedded:
        os.environ.update(embedded.env())
        aws.reset()
        settings = Settings.for_names(resource_name(cfg, "dev", "optimizer"), LOCAL_MANAGEMENT_ACCOUNT, region,
                                      environment="dev", local=True)
        site = ConsoleSite(optimizer=True, compliance=EvidenceCompliance(open_store(str(store))),
                           title=f"{cfg.organization.name} demo")
        server = LocalApiServer(settings, port=port, console=site).start()
        try:
            body, assets = _prices_csv()
            key = "incoming/demo-prices.csv"
            aws.client("s3").put_object(Bucket=settings.market_data_bucket, Key=key, Body=body)
            ingest.handler({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "awsRegion": region,
                                         "s3": {"bucket": {"name": settings.market_data_bucket},
                                                "object": {"key": quote_plus(key, safe="/"), "size": len(body)}}}]})
            ok(f"console on {server.url}/ — optimizations (assets {', '.join(assets)}) and "
               f"{server.url}/#/compliance ({store}); Ctrl-C stops it")
            server.serve_forever()
        finally:
            server.stop()
            aws.reset()


def register(app: typer.Typer) -> None:
    app.command()(demo)

"""Deploy commands: `charter deploy`, `plan`, `drift` and `local` (the embedded AWS)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from charter.errors import CharterError
from charter.options import OUTPUT, QUIET, OutputFormat, aws_target, endpoint_from_env
from charter.output import console, emit_json, err_console, error, ok, warn

ConfigOpt = typer.Option(Path("org.yaml"), "-c", "--config", help="Path to org.yaml.")
OutOpt = typer.Option(Path("out"), "-o", "--out", help="Output directory (templates, plan.json, the deploy journal).")
LocalOpt = typer.Option(False, "--local", help="Run against a fresh embedded AWS (moto) started for this run.")
ProfileOpt = typer.Option(None, "--profile", help="AWS profile of the management account.")
RegionOpt = typer.Option(None, "--region", help="Region for API calls (default: organization.home_region).")
EndpointOpt = typer.Option(None, "--endpoint-url", help="Talk to a running `charter local` server at this URL.")


@contextmanager
def sessions_for(*, local: bool, profile: str | None, region: str, endpoint_url: str | None) -> Iterator[Any]:
    """The session factory of one command: --endpoint-url, --local or the profile."""
    import logging

    from charter.local import aws_sessions

    with aws_sessions(local=local, profile=profile, region=region, endpoint_url=endpoint_url) as sessions:
        if local and not endpoint_url:
            # moto prints a server-side traceback for each API it lacks; deploy already turns
            # each into a one-line failure naming the stack, account and region
            logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        yield sessions


def _config_and_plan(config: Path, out: Path, synth: bool) -> Any:
    from charter.landing_zone.config import load_config

    cfg = load_config(config)
    if synth:
        from charter.landing_zone.synth import build_plan, synthesize, write_output

        stacks = synthesize(cfg)
        write_output(stacks, build_plan(cfg, stacks, config.read_text()), out)
    return cfg


def _print_changes(changes: list[Any], *, limit: int = 60) -> None:
    for change in changes[:limit]:
        console.print(change.render(), markup=False, highlight=False)
    if len(changes) > limit:
        console.print(f"... and {len(changes) - limit} more")


def _summary(changes: list[Any]) -> str:
    counts = Counter(f"{c.action} {c.area}" for c in changes)
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no changes"


def _print_failures(failures: list[str]) -> None:
    err_console.print(f"[bold red]{len(failures)} failed[/] (the next `charter deploy` resumes):")
    for line in failures:
        err_console.print("  " + line, markup=False, highlight=False, soft_wrap=True)


def deploy(config: Path = ConfigOpt, out: Path = OutOpt, local: bool = LocalOpt, profile: str | None = ProfileOpt,
           region: str | None = RegionOpt, endpoint_url: str | None = EndpointOpt,
           no_synth: bool = typer.Option(False, "--no-synth", help="Deploy out/plan.json as it is, without synthesizing."),
           verbose: bool = typer.Option(False, "-v", "--verbose", help="List every change made.")) -> None:
    """Deploy the landing zone: organization, OUs, accounts, SCPs, trusted access, then StackSets.

    Incremental (unchanged StackSets and SCPs are not touched) and resumable (a journal in
    out/.charter/, mirrored to SSM). Failures print one line each and exit 1.

    Example: `charter deploy -c examples/small/org.yaml -o out --local`
    """
    from charter.landing_zone.deploy import deploy as run_deploy
    from charter.landing_zone.deploy.progress import OperationProgress

    cfg = _config_and_plan(config, out, not no_synth)
    with sessions_for(local=local, profile=profile, region=region or cfg.organization.home_region,
                      endpoint_url=endpoint_url) as sessions, OperationProgress(console) as progress:
        result = run_deploy(cfg, out, sessions, progress=progress)
    if verbose:
        _print_changes(result.changes, limit=10_000)
    ok(f"deploy {'finished' if result.ok else 'ran'} in {result.elapsed:.1f}s: {_summary(result.changes)}"
       + (f"; journal {result.journal_path}" if result.journal_path else ""))
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    if result.failures:
        _print_failures(result.failures)
        raise typer.Exit(1)
    from charter.commands.cost import record_deployed_cost

    record_deployed_cost(cfg, out)  # what `charter plan` shows cost deltas against


def plan(config: Path = ConfigOpt, out: Path = OutOpt, local: bool = LocalOpt, profile: str | None = ProfileOpt,
         region: str | None = RegionOpt, endpoint_url: str | None = EndpointOpt,
         offline: bool = typer.Option(False, "--offline", help="Compare with the journal of the last deploy only."),
         no_synth: bool = typer.Option(False, "--no-synth", help="Use out/plan.json as it is."),
         detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode",
                                                help="Exit 0 when there are no changes, 2 when there are, 1 on an "
                                                     "error (as terraform plan does)."),
         output: OutputFormat = OUTPUT, quiet: bool = QUIET,
         verbose: bool = typer.Option(False, "-v", "--verbose", help="Every change, not the first 60.")) -> None:
    """Show what `charter deploy` would do: accounts, OUs, SCP statements, StackSets and controls.

    Without --profile/--local/--endpoint-url (or $AWS_ENDPOINT_URL), or with --offline, it compares
    against the journal of the last deploy; with AWS access it is a dry run of deploy against what is
    there. Ends with the totals: N to add, N to change, N to destroy.

    Example: `charter plan -c org.yaml -o out --offline --detailed-exitcode`
    """
    from charter.landing_zone.deploy.run import totals, unique_changes

    try:
        aws_target(local=local, profile=profile, endpoint_url=endpoint_url)
        endpoint_url = endpoint_from_env(local=local, profile=profile, endpoint_url=endpoint_url)
        cfg = _config_and_plan(config, out, not no_synth)
        use_aws = not offline and (local or profile or endpoint_url)
        if use_aws:
            from charter.landing_zone.deploy import deploy as run_deploy

            with sessions_for(local=local, profile=profile, region=region or cfg.organization.home_region,
                              endpoint_url=endpoint_url) as sessions:
                result = run_deploy(cfg, out, sessions, dry_run=True)
            changes, against = result.changes, "AWS"
        else:
            from charter.landing_zone.deploy.planner import offline_plan

            changes, journal = offline_plan(cfg, out)
            against = f"the last deploy ({journal.updated_at})" if journal else "nothing deployed yet (no journal)"
    except CharterError as exc:
        if not detailed_exitcode:
            raise
        error(exc.render(), exc.code)
        raise typer.Exit(1) from None
    changes = unique_changes(changes)
    total = totals(changes)
    footer = f"Plan: {total['add']} to add, {total['change']} to change, {total['destroy']} to destroy."
    if output == OutputFormat.json:
        emit_json("plan", {"against": against, "changes": [
            {"area": c.area, "target": c.target, "action": c.action, "details": list(c.details)} for c in changes],
            "totals": total})
    else:
        if not quiet:
            console.print(f"plan against {against}: {_summary(changes)}", markup=False)
            _print_changes(changes, limit=10_000 if verbose else 60)
        console.print(footer if changes else "No changes.", markup=False, highlight=False)
    if detailed_exitcode and changes:
        raise typer.Exit(2)


def drift(config: Path = ConfigOpt, out: Path = OutOpt, local: bool = LocalOpt, profile: str | None = ProfileOpt,
          region: str | None = RegionOpt, endpoint_url: str | None = EndpointOpt) -> None:
    """Detect StackSet drift and report it per control id. Exit 1 when anything drifted.

    Example: `charter drift -c org.yaml -o out --profile management`
    """
    from charter.landing_zone.deploy.commands import run_drift

    cfg = _config_and_plan(config, out, False)
    with sessions_for(local=local, profile=profile, region=region or cfg.organization.home_region,
                      endpoint_url=endpoint_url) as sessions:
        report = run_drift(cfg, out, sessions)
    for line in report.errors:
        warn(line)
    for control, drifts in report.by_control().items():
        console.print(f"[bold]{control}[/]: {len(drifts)} drifted")
        for d in drifts:
            console.print("  " + d.render(), markup=False)
    if report.ok:
        ok(report.summary())
        return
    # a StackSet the plan has but the account lacks is not "no drift": it is not there at all
    error(report.summary())
    raise typer.Exit(1)


def local(port: int = typer.Option(0, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."),
          region: str = typer.Option("us-east-1", "--region", help="Default region.")) -> None:
    """Start the embedded AWS (moto) on 127.0.0.1 until Ctrl-C, and print how to use it.

    Example: `charter local --port 5000`, then `charter deploy -c org.yaml --endpoint-url http://127.0.0.1:5000`
    """
    import time

    from charter.local import LocalAws

    server = LocalAws(port=port, region=region).start()
    try:
        for key, value in server.env().items():
            typer.echo(f"export {key}={value}")
        err_console.print(f"embedded AWS at {server.endpoint_url}; use --endpoint-url {server.endpoint_url}. "
                          "Ctrl-C stops it.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        err_console.print("embedded AWS stopped")


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.command("plan")(plan)
    app.command("drift")(drift)
    app.command("local")(local)

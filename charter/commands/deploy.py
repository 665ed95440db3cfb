"""Deploy commands: `charter deploy`, `plan`, `drift` and `local` (the embedded AWS)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from charter.errors import CharterError, ConfirmationError, PlanFileError
from charter.options import (
    CONFIG,
    ENDPOINT,
    LOCAL,
    MAX_ATTEMPTS,
    OUTPUT,
    PROFILE,
    QUIET,
    READ_TIMEOUT,
    REGION,
    OutputFormat,
    aws_sessions,
    aws_target,
    endpoint_from_env,
)
from charter.output import console, emit_json, err_console, error, escape, ok, warn

ConfigOpt = CONFIG
OutOpt = typer.Option(Path("out"), "-o", "--out", help="Output directory (templates, plan.json, the deploy journal).")
LocalOpt = LOCAL
ProfileOpt = PROFILE
RegionOpt = REGION
EndpointOpt = ENDPOINT


@contextmanager
def sessions_for(*, local: bool, profile: str | None, region: str, endpoint_url: str | None,
                 max_attempts: int | None = None, read_timeout: float | None = None) -> Iterator[Any]:
    """The session factory of one command, picked as every command picks it (`options.aws_sessions`)."""
    import logging

    with aws_sessions(local=local, profile=profile, region=region, endpoint_url=endpoint_url,
                      max_attempts=max_attempts, read_timeout=read_timeout) as sessions:
        if sessions.capabilities.embedded:
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


#: Changes `charter deploy` asks about on real AWS before making them: new accounts cannot be
#: deleted for 90 days, and an SCP change can lock every account of the organization out.
_CONFIRM = {("organization", "create"), ("account", "create"), ("account", "move")} | {
    ("scp", a) for a in ("create", "update", "attach", "detach", "delete")}


def _plan_fingerprint(config: Path, out: Path) -> dict[str, str]:
    import hashlib

    plan_file = out / "plan.json"
    return {"config_sha256": hashlib.sha256(config.read_bytes()).hexdigest(),
            "plan_sha256": hashlib.sha256(plan_file.read_bytes()).hexdigest() if plan_file.is_file() else ""}


def _change_dicts(changes: list[Any]) -> list[dict[str, Any]]:
    return [{"area": c.area, "target": c.target, "action": c.action, "details": list(c.details)} for c in changes]


def deploy(config: Path = ConfigOpt, out: Path = OutOpt, local: bool = LocalOpt, profile: str | None = ProfileOpt,
           region: str | None = RegionOpt, endpoint_url: str | None = EndpointOpt,
           max_attempts: int | None = MAX_ATTEMPTS, read_timeout: float | None = READ_TIMEOUT,
           no_synth: bool = typer.Option(False, "--no-synth", help="Deploy out/plan.json as it is, without synthesizing."),
           yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before creating accounts or changing SCPs."),
           plan_file: Path | None = typer.Option(None, "--plan-file",
                                                 help="Apply exactly the plan `charter plan --save FILE` saved (refused "
                                                      "when org.yaml, out/plan.json or AWS changed since)."),
           output: OutputFormat = OUTPUT, quiet: bool = QUIET,
           verbose: bool = typer.Option(False, "-v", "--verbose", help="List every change made.")) -> None:
    """Deploy the landing zone: organization, OUs, accounts, SCPs, trusted access, then StackSets.

    Incremental (unchanged StackSets and SCPs are not touched) and resumable (a journal in
    out/.charter/, mirrored to SSM). Against real AWS it first shows the plan and asks before it
    creates accounts or changes SCPs (--yes skips the question; a --plan-file saved by `charter plan
    --save` is applied as saved). Failures print one line each and exit 1.

    Example: `charter plan -c org.yaml --profile mgmt --save plan.out && charter deploy -c org.yaml --profile mgmt --plan-file plan.out`
    """
    from charter.landing_zone.deploy import deploy as run_deploy
    from charter.landing_zone.deploy.progress import OperationProgress
    from charter.landing_zone.deploy.run import totals, unique_changes

    aws_target(local=local, profile=profile, endpoint_url=endpoint_url)
    endpoint_url = endpoint_from_env(local=local, profile=profile, endpoint_url=endpoint_url)
    real_aws = not local and not endpoint_url  # the user named real AWS: no embedded AWS flag or variable
    saved = _read_plan_file(plan_file) if plan_file else None
    if saved is not None and no_synth is False:
        no_synth = True  # a saved plan is applied against the plan.json it was made from
    cfg = _config_and_plan(config, out, not no_synth)
    if saved is not None and {k: saved.get(k) for k in ("config_sha256", "plan_sha256")} != _plan_fingerprint(config, out):
        raise PlanFileError(f"{plan_file}: org.yaml or {out / 'plan.json'} changed since this plan was saved",
                           hint="run `charter plan --save FILE` again and review it")
    region = region or cfg.organization.home_region
    with sessions_for(local=local, profile=profile, region=region, endpoint_url=endpoint_url,
                      max_attempts=max_attempts, read_timeout=read_timeout) as sessions:
        if real_aws or saved is not None:
            with OperationProgress(err_console) as progress:
                planned = unique_changes(run_deploy(cfg, out, sessions, dry_run=True, progress=progress).changes)
            if saved is not None:
                if saved.get("against") != "AWS":
                    raise PlanFileError(f"{plan_file}: saved from an offline plan (against {saved.get('against')})",
                                       hint="save it against AWS: `charter plan --profile P --save FILE`")
                if _canonical(_change_dicts(planned)) != _canonical(saved.get("changes") or []):
                    raise PlanFileError(f"{plan_file}: AWS changed since this plan was saved",
                                       hint="run `charter plan --save FILE` again and review it")
            else:
                risky = [c for c in planned if (c.area, c.action) in _CONFIRM]
                if not quiet or risky:
                    _print_changes(planned)
                    t = totals(planned)
                    console.print(f"Plan: {t['add']} to add, {t['change']} to change, {t['destroy']} to destroy.",
                                  markup=False)
                if risky and not yes:
                    if not sys.stdin.isatty():
                        raise ConfirmationError(f"deploy would create accounts or change SCPs ({len(risky)} change(s) "
                                           "above) and there is no terminal to confirm",
                                           hint="review the plan and re-run with --yes, or apply a saved plan "
                                                "with --plan-file")
                    if not typer.confirm(f"Make these {len(planned)} change(s) in the organization?"):
                        raise typer.Exit(1)
        with OperationProgress(err_console if output == OutputFormat.json else console) as progress:
            result = run_deploy(cfg, out, sessions, progress=progress)
    if output == OutputFormat.json:
        emit_json("deploy", {"ok": result.ok, "elapsed_seconds": round(result.elapsed, 1),
                             "changes": _change_dicts(result.changes), "failures": list(result.failures),
                             "notes": list(result.notes),
                             "journal": str(result.journal_path) if result.journal_path else None})
    else:
        if verbose:
            _print_changes(result.changes, limit=10_000)
        ok(f"deploy {'finished' if result.ok else 'ran'} in {result.elapsed:.1f}s: {_summary(result.changes)}"
           + (f"; journal {result.journal_path}" if result.journal_path else ""))
        for note in result.notes:
            console.print(f"note: {note}", markup=False, highlight=False)
    if result.failures:
        if output != OutputFormat.json:
            _print_failures(result.failures)
        raise typer.Exit(1)
    from charter.commands.cost import record_deployed_cost

    record_deployed_cost(cfg, out)  # what `charter plan` shows cost deltas against


def _canonical(changes: list[Any]) -> list[str]:
    """Changes as a sorted list: StackSets of one wave are planned concurrently, in any order."""
    import json

    return sorted(json.dumps(c, sort_keys=True) for c in changes)


def _read_plan_file(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PlanFileError(f"--plan-file {path}: not a plan saved by `charter plan --save` ({exc})",
                           hint="save one with `charter plan -c org.yaml --save FILE`") from None
    if not isinstance(data, dict) or data.get("schema") != "charter/plan/v1" or "config_sha256" not in data:
        raise PlanFileError(f"--plan-file {path}: not a plan saved by `charter plan --save`",
                           hint="save one with `charter plan -c org.yaml --save FILE`")
    return data


def plan(config: Path = ConfigOpt, out: Path = OutOpt, local: bool = LocalOpt, profile: str | None = ProfileOpt,
         region: str | None = RegionOpt, endpoint_url: str | None = EndpointOpt,
         max_attempts: int | None = MAX_ATTEMPTS, read_timeout: float | None = READ_TIMEOUT,
         offline: bool = typer.Option(False, "--offline", help="Compare with the journal of the last deploy only."),
         no_synth: bool = typer.Option(False, "--no-synth", help="Use out/plan.json as it is."),
         detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode",
                                                help="Exit 0 when there are no changes, 2 when there are, 1 on an "
                                                     "error (as terraform plan does)."),
         save: Path | None = typer.Option(None, "--save", help="Save the plan to apply it exactly with "
                                          "`charter deploy --plan-file FILE`."),
         output: OutputFormat = OUTPUT, quiet: bool = QUIET,
         verbose: bool = typer.Option(False, "-v", "--verbose", help="Every change, not the first 60.")) -> None:
    """Show what `charter deploy` would do: accounts, OUs, SCP statements, StackSets and controls.

    Without --profile/--local/--endpoint-url (or $AWS_ENDPOINT_URL), or with --offline, it compares
    against the journal of the last deploy; with AWS access it is a dry run of deploy against what is
    there. Ends with the totals: N to add, N to change, N to destroy. Then every call the plan makes
    Charter do is checked as `charter preflight` does; exit 1 on a denial.

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
                              endpoint_url=endpoint_url, max_attempts=max_attempts,
                              read_timeout=read_timeout) as sessions:
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
    from charter.commands.cost import plan_cost_delta

    cost = plan_cost_delta(cfg, out)
    # what AWS would refuse, before anything is deployed (the same check as `charter preflight`)
    from charter.commands.preflight import print_report, run_preflight

    report = run_preflight(cfg)
    document = {"against": against, "changes": _change_dicts(changes), "totals": total, "cost": cost,
                "preflight": report.to_json()}
    if save is not None:
        import json

        from charter.options import write_text

        write_text(save, json.dumps({"schema": "charter/plan/v1", **document, **_plan_fingerprint(config, out)},
                                    indent=2) + "\n", "--save")
    if output == OutputFormat.json:
        emit_json("plan", document)
    else:
        if not quiet:
            console.print(f"plan against {against}: {_summary(changes)}", markup=False)
            _print_changes(changes, limit=10_000 if verbose else 60)
        console.print(footer if changes else "No changes.", markup=False, highlight=False)
        if not quiet:
            console.print(cost, markup=False, highlight=False, soft_wrap=True)
        if not quiet or not report.ok:
            print_report(report)
    if not report.ok:
        raise typer.Exit(1)
    if detailed_exitcode and changes:
        raise typer.Exit(2)


def drift(config: Path = ConfigOpt, out: Path = OutOpt, local: bool = LocalOpt, profile: str | None = ProfileOpt,
          region: str | None = RegionOpt, endpoint_url: str | None = EndpointOpt,
          max_attempts: int | None = MAX_ATTEMPTS, read_timeout: float | None = READ_TIMEOUT,
          output: OutputFormat = OUTPUT) -> None:
    """Detect StackSet drift and report it per control id. Exit 1 when anything drifted.

    Example: `charter drift -c org.yaml -o out --profile management --output json`
    """
    from charter.landing_zone.deploy.commands import run_drift

    cfg = _config_and_plan(config, out, False)
    with sessions_for(local=local, profile=profile, region=region or cfg.organization.home_region,
                      endpoint_url=endpoint_url, max_attempts=max_attempts, read_timeout=read_timeout) as sessions:
        report = run_drift(cfg, out, sessions)
    if output == OutputFormat.json:
        emit_json("drift", {"ok": report.ok, "summary": report.summary(), "checked": list(report.checked),
                            "not_deployed": list(report.not_deployed), "errors": list(report.errors),
                            "drifts": [{"stackset": d.stackset, "account": d.account, "region": d.region,
                                        "logical_id": d.logical_id, "status": d.status,
                                        "properties": list(d.properties), "controls": list(d.controls)}
                                       for d in report.drifts]})
        if not report.ok:
            raise typer.Exit(1)
        return
    for line in report.errors:
        warn(line)
    for control, drifts in report.by_control().items():
        console.print(f"[bold]{escape(control)}[/]: {len(drifts)} drifted")
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
    """Start the embedded AWS (moto) on 127.0.0.1 until Ctrl-C or SIGTERM, and print how to use it.

    Example: `charter local --port 5000`, then `charter deploy -c org.yaml --endpoint-url http://127.0.0.1:5000`
    """
    import signal
    import threading
    import time

    from charter.local import LocalAws

    stopping: list[int] = []

    def stop(signum: int, frame: object) -> None:
        if not stopping:  # a second signal while stopping must not break the cleanup
            stopping.append(signum)
            raise KeyboardInterrupt

    # Explicit handlers: a process started in the background inherits SIGINT ignored (Python
    # then installs no Ctrl-C handler of its own) and Python's default SIGTERM kills without
    # the cleanup below; either way the server must stop when asked.
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = LocalAws(port=port, region=region)
    try:
        server.start()
        for key, value in server.env().items():
            typer.echo(f"export {key}={value}")
        err_console.print(f"embedded AWS at {server.endpoint_url}; use --endpoint-url {server.endpoint_url}. "
                          "Ctrl-C (or SIGTERM) stops it.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if server.port:
            server.stop()
            err_console.print("embedded AWS stopped")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def register(app: typer.Typer) -> None:
    app.command("deploy")(deploy)
    app.command("plan")(plan)
    app.command("drift")(drift)
    app.command("local")(local)

"""`charter assess`: judge an existing account or organization (no Charter landing zone needed)
against the SOC 2 controls; findings as OCSF JSON and CSV beside the signed evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from charter.options import (
    ENDPOINT,
    LOCAL,
    MAX_ATTEMPTS,
    OUTPUT,
    PROFILE,
    QUIET,
    READ_TIMEOUT,
    VERBOSE,
    OutputFormat,
    aws_sessions,
)
from charter.output import console, err_console, escape, ok, warn

_STYLE = {"fail": "bold red", "gap": "yellow", "pass": "green", "not_applicable": "dim", "not_deployed": "cyan",
          "manual": "dim", "not_covered": "dim"}


def assess(
    config: Path | None = typer.Option(None, "-c", "--config",
                                       help="org.yaml naming the accounts and the baseline to judge against "
                                            "(optional: Charter's SOC 2 baseline otherwise; no log-archive, audit "
                                            "or security account is required)."),
    out: Path = typer.Option(Path("charter-assessment"), "-o", "--out",
                             help="Directory for findings.ocsf.json, findings.csv and assessment.json."),
    store: str | None = typer.Option(None, "--store", "-s",
                                     help="Evidence store for the signed run (default: OUT/evidence)."),
    local: bool = LOCAL,
    profile: str | None = PROFILE,
    endpoint: str | None = ENDPOINT,
    region: str | None = typer.Option(None, "--region", help="Home region (global services are read here)."),
    regions: list[str] | None = typer.Option(None, "--regions", help="Regions to assess (comma separated; "
                                             "default: the home region, or org.yaml's governed regions)."),
    accounts: list[str] | None = typer.Option(None, "--accounts", "-a",
                                              help="Only these account ids or names (comma separated)."),
    collectors: list[str] | None = typer.Option(None, "--collector", help="Only these collectors (repeatable)."),
    role: str | None = typer.Option(None, "--role", help="Role to assume in member accounts (default: "
                                    "OrganizationAccountAccessRole; with --landing-zone, CharterEvidenceReader)."),
    landing_zone: bool = typer.Option(False, "--landing-zone",
                                      help="Also judge the controls Charter's landing zone implements (its SCPs, "
                                           "StackSets, log archive, permission sets, access reviews): for an "
                                           "organization where `charter deploy` ran, with its org.yaml."),
    key: Path | None = typer.Option(None, "--key", help="Private signing key of a local store (default: "
                                    "~/.config/charter/keys/ed25519-private.pem)."),
    max_workers: int = typer.Option(16, "--max-workers", min=1, max=128, help="Concurrent AWS reads."),
    max_attempts: int | None = MAX_ATTEMPTS,
    read_timeout: float | None = READ_TIMEOUT,
    output: OutputFormat = OUTPUT,
    quiet: bool = QUIET,
    verbose: bool = VERBOSE,
) -> None:
    """Assess the current credentials' account (or the organization it manages) against the SOC 2
    controls, without Charter's landing zone.

    Reads every account and region with the evidence collectors, seals the run into a signed
    evidence store, maps each result to its control and criteria and prints pass/fail/gap per
    criterion. Controls that only Charter's landing zone implements are "not deployed", not
    failures. Writes OUT/findings.ocsf.json (OCSF Compliance Findings, as Prowler and Security Hub
    read them), OUT/findings.csv and OUT/assessment.json. Exit 3 when a control fails, 0 when
    none does, 2 on bad input.

    Example: `charter assess --profile prod-readonly --regions us-east-1,eu-west-1 -o assessment`
    """
    from datetime import UTC, datetime

    from charter.controls.links import default_links
    from charter.evidence.assessment import (
        DEFAULT_MEMBER_ROLE,
        assessment_collectors,
        assessment_config,
        assessment_scope,
        judge,
        to_csv,
    )
    from charter.evidence.continuous import collect_to_store
    from charter.evidence.ocsf import to_json as ocsf_json
    from charter.evidence.signing import signer_for
    from charter.evidence.store import EvidenceStore, open_backend
    from charter.naming import EVIDENCE_READER_ROLE

    fmt = OutputFormat(output).value
    wanted_regions = _split(regions)
    if config is not None:
        from charter.landing_zone.config import load_config

        cfg = load_config(config, landing_zone=landing_zone)
        home = region or cfg.organization.home_region
        wanted_regions = wanted_regions or list(cfg.organization.governed_regions)
    else:
        if landing_zone:
            from charter.errors import CharterError

            raise CharterError("--landing-zone judges the landing zone org.yaml describes, and no org.yaml was given",
                               hint="pass -c org.yaml of the deployed landing zone, or leave out --landing-zone")
        home = region or _default_region()
        cfg = assessment_config(home, wanted_regions)
    regions_read = wanted_regions or [home]
    chosen = assessment_collectors(landing_zone=landing_zone, names=_split(collectors))
    if collectors:
        from charter.evidence.collectors import get

        for name in _split(collectors) or []:
            get(name)  # an unknown name is an error, not an empty run
    target = out.expanduser()
    _writable_dir(target)
    store_url = store or str(target / "evidence")
    artifacts: list[Any] = []
    with aws_sessions(local=local, profile=profile, region=home, endpoint_url=endpoint, max_attempts=max_attempts,
                      read_timeout=read_timeout) as sessions:
        scope = assessment_scope(sessions, cfg, _split(accounts))
        if not scope.accounts:
            from charter.evidence.errors import EmptyOrganizationError

            raise EmptyOrganizationError("no active account to assess", hint="check --accounts")
        backend = open_backend(store_url, sessions=sessions, region=home)
        signer = signer_for(store_url, backend, sessions, None, cfg, key_file=key)
        caller = sessions.caller_arn()
        if not quiet:
            from charter.aws import botocore_session

            where = f"{len(scope.accounts)} account(s)" if len(scope.accounts) > 1 else \
                f"account {scope.accounts[0][1]} ({scope.accounts[0][0]})"
            err_console.print(f"assessing {escape(where)} in {', '.join(regions_read)} as {escape(caller)}; "
                              f"{sessions.retry.describe(botocore_session(sessions.base))}", highlight=False)
        with _progress(sessions, quiet) as progress:
            result = collect_to_store(
                EvidenceStore(backend), sessions, cfg, signer, accounts=list(scope.accounts), regions=regions_read,
                collectors=[c.name for c in chosen], resume=False, max_workers=max_workers,
                progress=progress, caller_arn=caller, on_artifact=lambda art, _stored: artifacts.append(art),
                role_name=role or (EVIDENCE_READER_ROLE if landing_zone else DEFAULT_MEMBER_ROLE))
    assessment = judge(artifacts, caller_arn=caller, accounts=scope.accounts, regions=regions_read,
                       assessed_at=datetime.now(UTC).replace(microsecond=0), landing_zone=landing_zone,
                       links=default_links(), collectors=chosen, organization_id=scope.organization_id)
    (target / "findings.ocsf.json").write_text(ocsf_json(assessment), encoding="utf-8")
    (target / "findings.csv").write_text(to_csv(assessment), encoding="utf-8")
    (target / "assessment.json").write_text(assessment.model_dump_json(indent=2) + "\n", encoding="utf-8")
    manifest = result.manifest
    if fmt == "json":
        typer.echo(assessment.model_dump_json(indent=2))
    else:
        _print(assessment, quiet=quiet, verbose=verbose)
        if not quiet:
            console.print(f"  findings: {target / 'findings.ocsf.json'} (OCSF), {target / 'findings.csv'}",
                          markup=False)
            if manifest is not None:
                console.print(f"  evidence: {backend.url}, run {result.run.run_id} sealed as manifest "
                              f"#{manifest.sequence}; verify with `charter evidence verify {store_url}`",
                              markup=False, highlight=False)
    raise typer.Exit(assessment.exit_code)


def _split(values: list[str] | None) -> list[str] | None:
    out = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    return out or None


def _default_region() -> str:
    import boto3

    return boto3.session.Session().region_name or "us-east-1"


def _writable_dir(path: Path) -> None:
    from charter.errors import CharterError

    if path.exists() and not path.is_dir():
        raise CharterError(f"{path}: exists and is not a directory", hint="pass a directory with -o")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CharterError(f"{path}: cannot create the output directory: {exc.strerror}",
                           hint="pass a writable directory with -o") from None


def _progress(sessions: Any, quiet: bool) -> Any:
    """A progress bar over the account-region-collector units, naming the call it waits for."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from charter.output import waiting_column

    @contextmanager
    def bar() -> Any:
        if quiet:
            yield None
            return
        with Progress(TextColumn("[bold]assessing[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      waiting_column(sessions.guard), console=err_console, transient=True) as prog:
            task = prog.add_task("assess", total=None)
            yield lambda done, total, _artifact: prog.update(task, completed=done, total=total)

    return bar()


def _print(assessment: Any, *, quiet: bool, verbose: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    s = assessment.summary
    crit = s.get("criteria", {})
    line = (f"{len(assessment.criteria)} criteria: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in crit.items())
            + f"; {s.get('controls', {}).get('fail', 0)} failing controls, "
              f"{s.get('findings', {}).get('fail', 0)} failing findings")
    if not quiet:
        table = Table("criterion", "status", "controls", title="SOC 2 criteria", title_justify="left")
        for c in assessment.criteria:
            if c.status in ("manual", "not_covered"):
                continue  # shown in assessment.json; nothing read from AWS speaks to them
            cells = Text()
            for cid, st in sorted(c.controls.items()):
                if st in ("manual",):
                    continue
                cells.append((", " if cells else "") + f"{cid} {st.replace('_', ' ')}", style=_STYLE.get(st, ""))
            table.add_row(Text(f"{c.id} {c.title}"), Text(c.status.replace("_", " "), style=_STYLE[c.status]), cells)
        console.print(table)
        failing = [f for f in assessment.findings if f.result == "fail"]
        shown = failing if verbose else failing[:25]
        for f in shown:
            console.print(Text.assemble(("FAIL ", "bold red"), f"{f.control} [{' '.join(f.criteria)}] "
                                        f"{f.account_id}/{f.region} {f.resource}: {f.reason}"), soft_wrap=True)
        if len(failing) > len(shown):
            console.print(f"... and {len(failing) - len(shown)} more failing findings (-v lists them all)")
        gaps = [c for c in assessment.controls if c.status == "gap"]
        for c in gaps:
            warn(f"gap {c.id}: {c.reason}")
    (ok if assessment.exit_code == 0 else err_console.print)(line)


def register(app: typer.Typer) -> None:
    app.command("assess")(assess)

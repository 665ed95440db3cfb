"""`charter access-review`: quarterly access reviews, closed loop."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from charter.options import CONFIG, ENDPOINT, LOCAL, OPERATOR_ROLE, OUTPUT, PROFILE, OutputFormat
from charter.output import console, emit_json, err_console, escape, ok

app = typer.Typer(help="Quarterly access reviews: snapshot, reviewer workbooks, decisions, verified removal.",
                  no_args_is_help=True)

StateOpt = typer.Option(Path(".charter/access-reviews"), "--state-dir", help="Where campaigns are kept.")
ConfigOpt = CONFIG
ProfileOpt = PROFILE
RegionOpt = typer.Option(None, "--region", help="Region for global calls (default: the org's home region).")
LocalOpt = LOCAL
EndpointOpt = ENDPOINT
StoreOpt = typer.Option(None, "--store", help="Evidence store (directory or s3://bucket/prefix).")
OperatorOpt = OPERATOR_ROLE


def _sessions(cfg, profile, region, local, endpoint):
    from charter.options import aws_sessions

    return aws_sessions(local=local, profile=profile, region=region or cfg.organization.home_region,
                        endpoint_url=endpoint)


@app.command()
def start(quarter: str = typer.Option(..., "--quarter", help="The quarter under review, e.g. 2026Q4."),
          config: Path = ConfigOpt, profile: str | None = ProfileOpt, region: str | None = RegionOpt,
          local: bool = LocalOpt, endpoint_url: str | None = EndpointOpt, state_dir: Path = StateOpt,
          store: str | None = StoreOpt, operator_role: str = OperatorOpt) -> None:
    """Snapshot every account's access and write one workbook per reviewer (the account owners).

    Example: `charter access-review start --quarter 2026Q4 -c org.yaml --profile mgmt`
    """
    from charter.evidence.access_review import campaign as camp
    from charter.landing_zone.config import load_config

    cfg = load_config(config)
    with _sessions(cfg, profile, region, local, endpoint_url) as sessions:
        with err_console.status("snapshotting access...") as status:
            from charter.aws import acting_as

            campaign, snapshot, paths = camp.start(acting_as(sessions, operator_role), cfg, quarter, state_dir,
                                                   progress=lambda name: status.update(f"snapshotting {name}..."))
        _store(store, [camp.snapshot_artifact(snapshot, quarter, cfg.organization.home_region)], cfg, sessions)
    ok(f"campaign {campaign.id}: {len(snapshot.rows)} accesses in {len(snapshot.accounts)} accounts")
    for gap in snapshot.gaps:
        err_console.print(f"[yellow]gap:[/] {escape(gap['account_name'])} ({gap['account_id']}): {escape(gap['error'])}")
    for path in paths:
        console.print(f"  workbook: {path}")


@app.command()
def record(workbook: Path = typer.Argument(..., help="A reviewer's returned workbook."),
           state_dir: Path = StateOpt) -> None:
    """Import a reviewer's decisions; edited snapshot rows or missing decisions are rejected by row.

    Example: `charter access-review record .charter/access-reviews/2026Q4/workbooks/alice-example-com.xlsx`
    """
    from charter.evidence.access_review.campaign import record as do_record

    recorded = do_record(workbook, state_dir)
    counts: dict[str, int] = {}
    for d in recorded.decisions:
        counts[d.decision] = counts.get(d.decision, 0) + 1
    ok(f"recorded {len(recorded.decisions)} decisions from {recorded.reviewer}: "
       + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


@app.command()
def status(quarter: str = typer.Option(..., "--quarter", help="e.g. 2026Q4"), state_dir: Path = StateOpt,
           output: OutputFormat = OUTPUT) -> None:
    """Progress per reviewer.

    Example: `charter access-review status --quarter 2026Q4 --output json`
    """
    from rich.table import Table

    from charter.evidence.access_review.campaign import status as do_status

    campaign, reviewers = do_status(quarter, state_dir)
    if output == OutputFormat.json:
        emit_json("access-review-status", {
            "campaign": campaign.id, "quarter": campaign.quarter, "status": campaign.status,
            "reviewers": [{"reviewer": r.reviewer, "rows": r.rows, "returned": bool(r.recorded),
                           "decisions": {k: int(v) for k, v in r.counts.items()}} for r in reviewers]})
        return
    table = Table("reviewer", "rows", "returned", "keep", "revoke", "modify",
                  title=f"{campaign.id} ({campaign.status})")
    for r in reviewers:
        table.add_row(r.reviewer, str(r.rows), "yes" if r.recorded else "no",
                      *(str(r.counts.get(k, 0)) for k in ("keep", "revoke", "modify")))
    console.print(table)


@app.command()
def close(quarter: str = typer.Option(..., "--quarter", help="e.g. 2026Q4"),
          apply: bool = typer.Option(False, "--apply", help="Carry out the revocations (after listing them)."),
          yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation before --apply."),
          config: Path = ConfigOpt, profile: str | None = ProfileOpt, region: str | None = RegionOpt,
          local: bool = LocalOpt, endpoint_url: str | None = EndpointOpt, state_dir: Path = StateOpt,
          store: str | None = StoreOpt,
          role: str = typer.Option("OrganizationAccountAccessRole", "--role",
                                   help="Role assumed in member accounts to revoke access."),
          operator_role: str = OperatorOpt) -> None:
    """Verify every revoke took effect (with --apply, carry them out first) and write the signed report.

    Example: `charter access-review close --quarter 2026Q4 --apply -c org.yaml --profile mgmt`
    """
    from charter.evidence.access_review import campaign as camp
    from charter.landing_zone.config import load_config

    cfg = load_config(config)
    pending = camp.pending_revocations(quarter, state_dir)
    console.print(f"{len(pending)} revocation(s) decided:")
    for rev in pending:
        console.print(f"  {rev.account_id}: {rev.principal} {rev.access_type} {rev.access} ({rev.reviewer})",
                      markup=False)
    if apply and pending and not yes:
        if not sys.stdin.isatty():
            from charter.errors import CharterError

            raise CharterError("--apply needs confirmation and there is no terminal",
                               hint="review the list above and re-run with --apply --yes")
        typer.confirm("Carry out these revocations?", abort=True)
    with _sessions(cfg, profile, region, local, endpoint_url) as sessions:
        with err_console.status("verifying...") as status_line:
            from charter.aws import acting_as

            report = camp.close(sessions, cfg, quarter, state_dir, apply=apply, write_role=role,
                                read_sessions=acting_as(sessions, operator_role),
                                progress=lambda msg: status_line.update(msg))
        _store(store, [camp.report_artifact(report, sessions.caller_arn(), cfg.organization.home_region)],
               cfg, sessions)
    ok(f"campaign {report.campaign_id} closed: {len(report.revocations)} revocation(s) verified, "
       f"{len(report.exceptions)} exception(s)")


def _store(store: str | None, artifacts: list, cfg, sessions=None) -> None:
    """Write campaign artifacts into the evidence store, sealed and signed as one run."""
    from charter.evidence.access_review.ledger import seal_campaign
    from charter.evidence.manifest import Scope
    from charter.evidence.signing import signer_for
    from charter.evidence.store import DEFAULT_LOCAL_STORE, EvidenceStore, open_backend

    url = store or str(DEFAULT_LOCAL_STORE)
    backend = open_backend(url, sessions=sessions, region=cfg.organization.home_region)
    manifest = seal_campaign(
        EvidenceStore(backend), artifacts, signer_for(url, backend, sessions, None, cfg),
        Scope(organization=cfg.organization.name, collectors=["access_review"]),
        caller_arn=artifacts[0].caller_arn if artifacts else "")
    ok(f"evidence sealed as manifest #{manifest.sequence} in {backend.url}")

"""`charter evidence`: collect into the tamper-evident store, verify it, export it, list collectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from charter.options import (
    CONFIG,
    ENDPOINT,
    LOCAL,
    MAX_ATTEMPTS,
    OPERATOR_ROLE,
    OUTPUT,
    PROFILE,
    READ_TIMEOUT,
    REGION,
    STORE,
    OutputFormat,
    aws_sessions,
)
from charter.output import console, emit_json, err_console, escape, ok, waiting_column, warn

app = typer.Typer(
    help="Evidence: collect from every account and region into a signed, hash-chained store; "
         "verify it; export a period for the auditor.\n\n"
         "Example: `charter evidence collect --profile mgmt -c org.yaml --store s3://acme-evidence-.../`",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

DEFAULT_STORE = str(Path(".charter") / "evidence")
StoreOpt = STORE
ProfileOpt = PROFILE
LocalOpt = LOCAL
EndpointOpt = ENDPOINT
RegionOpt = REGION
KeyOpt = typer.Option(None, "--key", help="Local stores: the private signing key (Ed25519 PEM, made on first use), "
                                          "kept OUTSIDE the store. Default: $CHARTER_SIGNING_KEY, else "
                                          "~/.config/charter/keys/ed25519-private.pem.")


def _split(values: list[str] | None) -> list[str] | None:
    out = [v.strip() for value in values or [] for v in value.split(",") if v.strip()]
    return out or None


def _sessions(*, local: bool, profile: str | None, endpoint: str | None, region: str,
              max_attempts: int | None = None, read_timeout: float | None = None):
    return aws_sessions(local=local, profile=profile, region=region, endpoint_url=endpoint,
                        max_attempts=max_attempts, read_timeout=read_timeout)


def _check_org(sessions: Any, where: str) -> bool:
    """Whether the caller's account is in an organization. One in none is collected alone (the
    caller's account); say so, since with the embedded AWS it usually means the organization was
    not deployed there yet."""
    import botocore.exceptions

    from charter.aws import error_code
    from charter.evidence.fanout import NO_ORGANIZATION

    try:
        accounts = sessions.client("organizations").list_accounts()["Accounts"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != NO_ORGANIZATION:
            return True  # not the management account: the accounts are named with --accounts, or discovery says why
        warn(f"{where} has no organization: collecting the caller's account only, with the caller's credentials "
             "(deploy org.yaml there first for the organization's evidence, or use `charter assess` for an "
             "account without Charter)")
        return False
    if len(accounts) <= 1:
        warn(f"the organization in {where} has only the management account: deploy org.yaml for member evidence")
    return True


def _resolve_accounts(sessions: Any, cfg: Any, wanted: list[str] | None) -> list[Any] | None:
    """--accounts by id or org.yaml name -> fanout AccountRefs (None: the whole organization)."""
    if not wanted:
        return None
    from charter.evidence.errors import CollectError
    from charter.evidence.fanout import discover_accounts

    known = discover_accounts(sessions, cfg)
    out = []
    for w in wanted:
        match = [a for a in known if w in (a.id, a.name)]
        if not match:
            listed = ", ".join(f"{a.name} ({a.id})" for a in known)
            raise CollectError(f"--accounts {w}: no such account in the organization",
                               hint=f"pass one of the accounts these credentials can read: {listed}" if listed
                               else "these credentials can read no account: check --profile/--endpoint-url")
        out.extend(match)
    return out


@app.command()
def collect(
    config: Path = CONFIG,
    store: str = StoreOpt,
    local: bool = LocalOpt,
    profile: str | None = ProfileOpt,
    endpoint: str | None = EndpointOpt,
    region: str | None = RegionOpt,
    accounts: list[str] | None = typer.Option(None, "--accounts", "-a", help="Account ids or names (comma separated)."),
    regions: list[str] | None = typer.Option(None, "--regions", help="Regions (default: governed_regions)."),
    collectors: list[str] | None = typer.Option(None, "--collector", help="Only these collectors (repeatable)."),
    kms_key: str | None = typer.Option(None, "--kms-key", help="KMS signing key (default for S3 stores: "
                                                               "alias/<org>-evidence-signing)."),
    key: Path | None = KeyOpt,
    new_run: bool = typer.Option(False, "--new-run", help="Start a new run instead of resuming an unfinished one."),
    max_workers: int = typer.Option(16, "--max-workers", min=1, max=128, help="Concurrent AWS reads."),
    processes: int = typer.Option(0, "--processes", min=0, max=64,
                                  help="Worker processes sharing the accounts (0: one per 16 accounts, "
                                       "at most one per CPU; 1: all in this process)."),
    operator_role: str = OPERATOR_ROLE,
    max_attempts: int | None = MAX_ATTEMPTS,
    read_timeout: float | None = READ_TIMEOUT,
    output: OutputFormat = OUTPUT,
) -> None:
    """Collect evidence from every account and region into the store, then seal and sign the run.

    Interrupted runs resume: what is already stored for the run is not stored again. An S3
    store is signed with the evidence stack's KMS key; a local store with an Ed25519 key kept
    outside it (--key, default ~/.config/charter/keys/ed25519-private.pem), so whoever can
    write the store cannot re-sign it. Publish keys/<fingerprint>.pem and verify with
    --public-key.

    Example: `charter evidence collect --profile mgmt -c org.yaml --store .charter/evidence`
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from charter.aws import acting_as
    from charter.evidence.continuous import collect_all_fn, collect_to_store
    from charter.evidence.signing import signer_for
    from charter.evidence.store import EvidenceStore, open_backend
    from charter.landing_zone.config import load_config
    from charter.landing_zone.scp.expected import evidence_sources

    cfg = load_config(config)
    collect_fn = collect_all_fn()
    region = region or cfg.organization.home_region
    with _sessions(local=local, profile=profile, endpoint=endpoint, region=region, max_attempts=max_attempts,
                   read_timeout=read_timeout) as sessions:
        in_org = _check_org(sessions, sessions.describe())
        backend = open_backend(store, sessions=sessions, region=region)
        ev_store = EvidenceStore(backend)
        signer = signer_for(store, backend, sessions, kms_key, cfg, key_file=key)
        # the evidence reader trusts the operator role; both come with Charter's landing zone, which
        # always has an organization: in none, the caller reads its own account itself
        reader = acting_as(sessions, operator_role) if in_org else sessions
        refs = _resolve_accounts(reader, cfg, _split(accounts))
        caller = reader.caller_arn()
        with Progress(TextColumn("[bold]collecting[/]"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("account-region-collector units · {task.fields[ar]} account-regions"),
                      TimeElapsedColumn(), waiting_column(reader.guard), console=err_console,
                      transient=False) as bar:
            task = bar.add_task("collect", total=None, ar=0)
            seen: set[tuple[str, str]] = set()

            def progress(done: int, total: int, artifact: Any) -> None:
                seen.add((artifact.account_id, artifact.region))
                bar.update(task, completed=done, total=total, ar=len(seen))

            result = collect_to_store(
                ev_store, reader, cfg, signer,
                accounts=[(a.id, a.name) for a in refs] if refs else None,
                regions=_split(regions), collectors=_split(collectors), resume=not new_run,
                max_workers=max_workers, processes=processes, progress=progress, caller_arn=caller,
                collect=collect_fn, sources=evidence_sources(cfg), role_name=None if in_org else "")
    run = result.run
    m = result.manifest
    assert m is not None
    if output == OutputFormat.json:
        emit_json("evidence-collect", {
            "run_id": run.run_id, "resumed": bool(run.resumed), "store": backend.url, "manifest": m.sequence,
            "artifacts": len(m.artifacts), "stored": result.stored, "skipped": result.skipped,
            "signing_key": signer.key_id,
            "gaps": [{"collector": g.collector, "account_id": g.account_id, "region": g.region, "error": g.error or ""}
                     for g in result.gaps]})
        return
    if result.run.resumed:
        ok(f"resumed run {run.run_id}: {result.skipped} artifacts were already stored")
    ok(f"run {run.run_id} sealed as manifest #{m.sequence}: {len(m.artifacts)} artifacts "
       f"({result.stored} new), {len(result.gaps)} gaps, signed by key {signer.key_id[:16]} → {backend.url}")
    for gap in result.gaps[:20]:
        warn(f"gap {gap.collector} {gap.account_id}/{gap.region}: {gap.error}")
    if len(result.gaps) > 20:
        warn(f"... and {len(result.gaps) - 20} more gaps (see the Gaps sheet of `charter evidence export`)")


def _trusted(keys: list[Path] | None) -> list[Any]:
    from charter.evidence.errors import SigningKeyError
    from charter.evidence.signing import load_public_key

    out = []
    for k in keys or []:
        if not k.is_file():
            raise SigningKeyError(f"{k}: no such key file", hint="pass keys/<fingerprint>.pem from the store or package")
        out.append(load_public_key(k.read_bytes(), str(k)))
    return out


@app.command()
def verify(
    store: str = typer.Argument(DEFAULT_STORE, help="Store directory or s3://bucket/prefix."),
    package: Path | None = typer.Option(None, "--package", help="Verify an export package (.zip) instead."),
    public_key: list[Path] | None = typer.Option(None, "--public-key", "-k",
                                                 help="Trusted public key (PEM); repeat for rotated keys."),
    local: bool = LocalOpt,
    profile: str | None = ProfileOpt,
    endpoint: str | None = EndpointOpt,
    region: str = typer.Option("us-east-1", "--region", help="Region of the S3 store's client."),
    output: OutputFormat = OUTPUT,
) -> None:
    """Recompute every hash, walk the manifest chain and check every signature.

    Exit 0 when everything is intact, 1 naming each changed, missing, unlisted or forged item.

    Example: `charter evidence verify .charter/evidence` or `charter evidence verify --package q3.zip`
    """
    from charter.evidence.store import open_backend
    from charter.evidence.verify import verify as run_verify

    trusted = _trusted(public_key)
    if package is not None:
        from charter.evidence.export import verify_package

        report = verify_package(package, trusted_keys=trusted)
        where = str(package)
    elif store.startswith("s3://"):
        with _sessions(local=local, profile=profile, endpoint=endpoint, region=region) as sessions:
            report = run_verify(open_backend(store, sessions=sessions, region=region), trusted_keys=trusted)
        where = store
    else:
        report = run_verify(open_backend(store, must_exist=True), trusted_keys=trusted)
        where = store
    if output == OutputFormat.json:
        emit_json("evidence-verify", {"target": where, "ok": report.ok, "summary": report.summary(),
                                      "problems": [{"kind": p.kind, "item": p.item, "detail": p.detail}
                                                   for p in report.problems],
                                      "warnings": list(report.warnings)})
        if not report.ok:
            raise typer.Exit(1)
        return
    for w in report.warnings:
        warn(w)
    if not report.ok:
        # one line per problem, never wrapped: the item path is what people grep and copy
        for p in report.problems:
            console.print(f"FAIL {p.render()}", soft_wrap=True, markup=False)
        err_console.print(f"[bold red]verification FAILED[/]: {len(report.problems)} problems in {escape(where)}")
        raise typer.Exit(1)
    ok(f"{where}: verified — {report.summary()}")
    if not trusted:
        console.print("  the signing key was taken from the store; pin it with --public-key for an independent check")


@app.command()
def export(
    date_from: str = typer.Option(..., "--from", help="First day (UTC, YYYY-MM-DD) of the period."),
    date_to: str = typer.Option(..., "--to", help="Last day (UTC, YYYY-MM-DD), inclusive."),
    out: Path = typer.Option(..., "-o", "--out", help="The package to write (.zip)."),
    store: str = StoreOpt,
    seed: str | None = typer.Option(None, "--seed", help="Sampling seed (default: from the last manifest's hash)."),
    config: Path | None = typer.Option(None, "-c", "--config", help="org.yaml (for the organization's name)."),
    key: Path | None = KeyOpt,
    kms_key: str | None = typer.Option(None, "--kms-key", help="KMS key that signs the package (default for S3 "
                                                               "stores: alias/<org>-evidence-signing)."),
    local: bool = LocalOpt,
    profile: str | None = ProfileOpt,
    endpoint: str | None = EndpointOpt,
    region: str = typer.Option("us-east-1", "--region", help="Region of the S3 store's client."),
) -> None:
    """Export a period as a zip: index.html, an .xlsx workbook (populations, seeded samples),
    the manifests, artifacts and public keys, and a README on verifying it offline. Every
    file is listed with its SHA-256 in package.json, signed with the store's key.

    Example: `charter evidence export --from 2026-07-01 --to 2026-09-30 -o q3-evidence.zip`
    """
    from charter.evidence.export import export as run_export
    from charter.evidence.signing import signer_for
    from charter.evidence.store import EvidenceStore, open_backend

    org, cfg = "", None
    if config is not None:
        from charter.landing_zone.config import load_config

        cfg = load_config(config)
        org = cfg.organization.name

    def go(backend: Any, sessions: Any = None) -> None:
        if cfg is None and (kms_key is None and store.startswith("s3://")):
            from charter.evidence.errors import SigningKeyError

            raise SigningKeyError("signing the package of an S3 store needs the KMS key",
                                  hint="pass -c org.yaml (uses alias/<org>-evidence-signing) or --kms-key")
        signer = signer_for(store, backend, sessions, kms_key, cfg, key_file=key)
        result = run_export(EvidenceStore(backend), date_from, date_to, out, signer=signer, seed=seed,
                            organization=org)
        ok(f"wrote {out}: {len(result.runs)} runs, {result.artifacts} artifacts, "
           f"{result.criteria_evidenced} criteria with automated evidence, sampling seed {result.seed}")
        console.print(f"  verify it offline: charter evidence verify --package {out}")

    if store.startswith("s3://"):
        with _sessions(local=local, profile=profile, endpoint=endpoint, region=region) as sessions:
            go(open_backend(store, sessions=sessions, region=region), sessions)
    else:
        go(open_backend(store, must_exist=True))


@app.command("collectors")
def list_collectors() -> None:
    """List the evidence collectors and the controls each one evidences.

    Example: `charter evidence collectors`
    """
    from rich.table import Table

    from charter.evidence.collectors import all_collectors

    table = Table("collector", "controls", "scope", "description", title="evidence collectors")
    for c in all_collectors():
        scope = c.scope + (", management account" if getattr(c, "management_only", False) else "")
        table.add_row(c.name, ", ".join(c.controls), scope, c.description)
    console.print(table)

"""`charter console`: the web console on this machine, reading an evidence store; and its build.

`charter console --store DIR|s3://...` serves the app's compliance face from the store (the
optimizations face needs the optimizer API: `charter workload serve --local --store DIR`
serves both). `charter console build` rebuilds the app from `workloads/console/src` with
Node 20 (`npm ci && npm run build`); the build is committed, so running needs no Node.
`charter console publish` writes the compliance data for the console on AWS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from charter.options import ENDPOINT, PROFILE, STORE
from charter.output import console, ok

app = typer.Typer(
    help="The web console: optimizations for portfolio managers, compliance for the security lead and the "
         "auditor.\n\nExample: `charter console --store charter-demo/evidence` (then open http://127.0.0.1:8765/)",
    no_args_is_help=False,
    invoke_without_command=True,
    rich_markup_mode="markdown",
)

DEFAULT_STORE = str(Path(".charter") / "evidence")
DEFAULT_PORT = 8765


class EvidenceCompliance:
    """The console's `ComplianceSource` over an evidence store (`evidence.dashboard`)."""

    def __init__(self, store: Any) -> None:
        from charter.evidence.dashboard import SummaryCache

        self.store = store
        self.cache = SummaryCache(store)

    def summary(self) -> dict[str, Any]:
        return self.cache.get().model_dump(mode="json")

    def artifact(self, path: str) -> dict[str, Any] | None:
        from charter.evidence.dashboard import artifact_detail
        from charter.evidence.store import MissingObject
        from charter.workloads.console_site import ConsoleError

        if path.startswith("/") or ".." in path.split("/") or not path.startswith("runs/"):
            raise ConsoleError(f"{path[:80]!r} is not an artifact path (runs/<run>/artifacts/...)")
        try:
            return artifact_detail(self.store, path).model_dump(mode="json")
        except MissingObject:
            return None


def open_store(store: str, sessions: Any = None, region: str | None = None) -> Any:
    from charter.evidence.store import EvidenceStore, open_backend

    return EvidenceStore(open_backend(store, sessions=sessions, region=region, must_exist=True))


def _serve(store: str, port: int, profile: str | None, endpoint: str | None, region: str) -> None:
    from contextlib import nullcontext

    from charter.workloads.console_site import ConsoleServer, ConsoleSite

    needs_aws = store.startswith("s3://")
    if needs_aws:
        from charter.options import aws_sessions

        ctx: Any = aws_sessions(local=False, profile=profile, region=region, endpoint_url=endpoint)
    else:
        ctx = nullcontext(None)
    with ctx as sessions:
        source = EvidenceCompliance(open_store(store, sessions, region))
        with console.status("verifying the evidence store..."):
            summary = source.cache.get()  # fail now on a bad store, not on the first page load
        site = ConsoleSite(optimizer=False, compliance=source, title=store)
        server = ConsoleServer(site, port=port).start()
        try:
            state = "verified" if summary.verification.ok else "verification FAILED"
            ok(f"Charter console on {server.url}/ — compliance of {store} ({state}; "
               f"{summary.verification.manifests} runs)")
            console.print(f"  open {server.url}/#/compliance; Ctrl-C stops it. The optimizations face needs the "
                          "optimizer API: `charter workload serve --local --store DIR`")
            server.serve_forever()
        finally:
            server.stop()


@app.callback()
def main(
    ctx: typer.Context,
    store: str = STORE,
    port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0 = any free port)."),
    profile: str | None = PROFILE,
    endpoint: str | None = ENDPOINT,
    region: str = typer.Option("us-east-1", "--region", help="Region of the S3 store's client."),
) -> None:
    """Serve the console locally with the compliance face of an evidence store.

    Shows the 61 criteria with each control's status from its latest evidence, coverage per
    criteria group, the trend over the store's runs, the drill-down criterion -> control ->
    account/region -> artifact with its check reasons, the store's verification state and
    the access-review campaigns.

    Example: `charter console --store charter-demo/evidence --port 8765`
    """
    if ctx.invoked_subcommand is None:
        _serve(store, port, profile, endpoint, region)


@app.command()
def build(
    check: bool = typer.Option(False, "--check", help="Only say whether the committed build matches the sources."),
) -> None:
    """Rebuild the web app from `workloads/console/src` (Node 20: `npm ci && npm run build`).

    Prints the built app's size (gzipped, first load). The build lands in
    `workloads/console/dist/`, which is committed and installed with Charter.

    Example: `charter console build` or `charter console build --check`
    """
    from charter.workloads.console.build import BuildError, build_app, source_hash, stale

    if check:
        problem = stale()
        if problem:
            raise BuildError(problem, hint="run `charter console build` and commit workloads/console/dist")
        ok(f"workloads/console/dist matches its sources ({source_hash()[:16]})")
        return
    report = build_app(echo=console.print)
    ok(f"built {report['files']} files; first load {report['first_load_gzip']:,} bytes gzipped "
       f"(budget {report['budget']:,})")


@app.command()
def publish(
    store: str = typer.Option(..., "--store", "-s", help="Evidence store: a directory or s3://bucket/prefix."),
    bucket: str = typer.Option(..., "--bucket", help="The workload's results bucket (the compliance API reads it)."),
    profile: str | None = PROFILE,
    endpoint: str | None = ENDPOINT,
    region: str = typer.Option("us-east-1", "--region", help="Region of the store and the bucket."),
) -> None:
    """Publish the compliance face's data for the console on AWS.

    Writes the summary (verified now) and every artifact of the runs it shows under
    `compliance/` of the workload's results bucket, where the `compliance` API function
    serves it to members of the user pool's compliance group only.

    Example: `charter console publish --store s3://acme-evidence-111111111111-us-east-1 --bucket
    charter-optimizer-prod-results-222222222222-us-east-1 --profile security`
    """
    from charter.options import aws_sessions
    from charter.workloads.compliance_publish import publish as do_publish

    with aws_sessions(local=False, profile=profile, region=region, endpoint_url=endpoint) as sessions:
        source = EvidenceCompliance(open_store(store, sessions if store.startswith("s3://") else None, region))
        with console.status("verifying the evidence store..."):
            summary = source.summary()
        written = do_publish(sessions.client("s3", region=region), bucket, summary, source.artifact)
    ok(f"published {written} objects to s3://{bucket}/compliance/ "
       f"({'verified' if summary['verification']['ok'] else 'verification FAILED'})")

"""`charter workload synth|plan|deploy optimizer --env ENV`: the optimizer's stacks;
`charter workload package optimizer -o dist`: its Lambda artifacts."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from charter.commands.workload_serve import serve
from charter.options import CONFIG, ENDPOINT, ENV, LOCAL, PROFILE, Environment
from charter.output import console, err_console, escape, ok
from charter.workloads.package import DEFAULT_ARCH, PackageError

app = typer.Typer(help="Workload stacks (the optimizer) layered on the landing zone.", no_args_is_help=True)

WorkloadArg = typer.Argument("optimizer", help="Workload name (only `optimizer`).")
EnvOpt = ENV
ConfigOpt = CONFIG
OutOpt = typer.Option(None, "-o", "--out", help="Output directory (default out/workload-<env>).")
LocalOpt = LOCAL
ProfileOpt = PROFILE
EndpointOpt = ENDPOINT
RoleOpt = typer.Option("OrganizationAccountAccessRole", "--role", help="Role to assume in the workload account.")
ImageTagOpt = typer.Option(None, "--image-tag", help="Immutable ECR tag of the optimizer images to deploy.")
CodeKeyOpt = typer.Option(None, "--code-key", help="S3 key of the handlers zip in the model-artifacts bucket.")
LayerKeyOpt = typer.Option(None, "--layer-key", help="S3 key of the shared layer zip in the model-artifacts bucket.")
ArtifactsOpt = typer.Option(None, "--artifacts",
                            help="Directory with optimizer-handlers.zip and optimizer-layer.zip to upload "
                                 "(default: build them, as `charter workload package` does).")
StacksOpt = typer.Option(None, "--stacks", help="Only these stacks, comma-separated (e.g. `registry`).")


def _out(out: Path | None, env: str) -> Path:
    return out or Path("out") / f"workload-{env}"


def _check(workload: str, env: str) -> None:
    from charter.workloads.synth import WorkloadError

    if workload != "optimizer":
        raise WorkloadError(f"unknown workload '{workload}'", hint="the only workload is 'optimizer'")
    if env not in ("dev", "staging", "prod"):
        raise WorkloadError(f"--env {env}: not a workload environment", hint="use --env dev, staging or prod")


def synth(workload: str = WorkloadArg, env: Environment = EnvOpt, config: Path = ConfigOpt, out: Path | None = OutOpt) -> None:
    """Synthesize the workload's stacks for one environment (templates + plan.json).

    Example: `charter workload synth optimizer --env dev -c examples/small/org.yaml -o out/wl-dev`
    """
    from rich.table import Table

    from charter.landing_zone.config import load_config
    from charter.workloads.deploy import synth_to

    env = Environment(env).value
    _check(workload, env)
    start = time.perf_counter()
    cfg = load_config(config)
    target = _out(out, env)
    plan = synth_to(cfg, env, target, config.read_text())
    table = Table("stack", "account", "region", "wave", "resources", "bytes", "controls", title=f"{workload} ({env})")
    table.columns[0].no_wrap = True
    for s in plan.stacks:
        d = s.deployment
        table.add_row(s.name, d.account or "", ",".join(d.regions), str(d.order), str(s.resources), f"{s.bytes:,}",
                      str(len(s.controls)))
    console.print(table)
    ok(f"wrote {len(plan.stacks)} templates and {target / 'plan.json'} in {time.perf_counter() - start:.1f}s; "
       f"lint with `charter lint {target}`")


def _run(workload: str, env: str, config: Path, out: Path | None, local: bool, profile: str | None, role: str,
         image_tag: str | None, code_key: str | None, layer_key: str | None, dry_run: bool,
         endpoint_url: str | None = None, artifacts: Path | None = None, stacks: str | None = None) -> None:
    from charter.landing_zone.config import load_config
    from charter.options import aws_sessions
    from charter.workloads.deploy import deploy_workload

    env = Environment(env).value
    _check(workload, env)
    cfg = load_config(config)
    region = cfg.organization.home_region
    sessions_cm = aws_sessions(local=local, profile=profile, region=region, endpoint_url=endpoint_url)
    overrides = {k: v for k, v in (("ImageTag", image_tag), ("CodeKey", code_key), ("LayerKey", layer_key)) if v}
    with sessions_cm as sessions:
        # an embedded AWS (it says so in its capabilities): its own account ids, no journal
        local = sessions.capabilities.embedded
        if local:  # moto warns on every resource type its CloudFormation skips; the summary says what failed
            import logging
            import warnings

            warnings.filterwarnings("ignore", module=r"moto\..*")
            logging.getLogger("moto").setLevel(logging.ERROR)
        with err_console.status(f"{'planning' if dry_run else 'deploying'} {workload} ({env})..."):
            result = deploy_workload(cfg, env, sessions, _out(out, env), dry_run=dry_run, local=local,
                                     role_name=role, config_text=config.read_text(), overrides=overrides,
                                     artifacts_dir=artifacts,
                                     stacks=[p.strip() for p in stacks.split(",") if p.strip()] if stacks else None)
    for change in result.changes:
        console.print(change.render(), markup=False)
    for line in result.notes:
        console.print(f"note: {line}", markup=False)
    for line in result.failures:
        err_console.print(f"[red]failed[/red] {escape(line)}")
    verb = "would make" if dry_run else "made"
    summary = f"{workload} ({env}): {verb} {len(result.changes)} change(s), {len(result.failures)} failure(s) " \
              f"in {result.elapsed:.1f}s"
    if result.ok:
        ok(summary)
    else:
        err_console.print(summary)
        raise typer.Exit(1)


def plan(workload: str = WorkloadArg, env: Environment = EnvOpt, config: Path = ConfigOpt, out: Path | None = OutOpt,
         local: bool = LocalOpt, profile: str | None = ProfileOpt, endpoint_url: str | None = EndpointOpt,
         role: str = RoleOpt, image_tag: str | None = ImageTagOpt, code_key: str | None = CodeKeyOpt,
         layer_key: str | None = LayerKeyOpt, artifacts: Path | None = ArtifactsOpt,
         stacks: str | None = StacksOpt) -> None:
    """Show what `deploy` would change in the environment's account (read-only); checks the
    account's Lambda concurrency quota.

    Example: `charter workload plan optimizer --env staging -c org.yaml --profile mgmt`
    """
    _run(workload, env, config, out, local, profile, role, image_tag, code_key, layer_key, dry_run=True,
         endpoint_url=endpoint_url, artifacts=artifacts, stacks=stacks)


def deploy(workload: str = WorkloadArg, env: Environment = EnvOpt, config: Path = ConfigOpt, out: Path | None = OutOpt,
           local: bool = LocalOpt, profile: str | None = ProfileOpt, endpoint_url: str | None = EndpointOpt,
           role: str = RoleOpt, image_tag: str | None = ImageTagOpt, code_key: str | None = CodeKeyOpt,
           layer_key: str | None = LayerKeyOpt, artifacts: Path | None = ArtifactsOpt,
           stacks: str | None = StacksOpt) -> None:
    """Create or update the workload's stacks in the environment's account, wave by wave.

    From an empty account in one command: the ECR repositories come first, the handlers and
    layer zips are built (or taken from --artifacts) and uploaded once the code bucket exists,
    and the image-based risk function waits until an image is pushed (--image-tag). With
    --local the embedded AWS starts empty (stand-ins replace the landing zone's exports);
    with --endpoint-url the stacks go on top of the landing zone `charter deploy` put there,
    and a second run updates them in place.

    Example: `charter workload deploy optimizer --env dev -c examples/small/org.yaml --profile mgmt`
    """
    _run(workload, env, config, out, local, profile, role, image_tag, code_key, layer_key, dry_run=False,
         endpoint_url=endpoint_url, artifacts=artifacts, stacks=stacks)


def package(workload: str = WorkloadArg,
            out: Path = typer.Option(Path("dist"), "-o", "--out", help="Directory for the two zips."),
            arch: str = typer.Option(DEFAULT_ARCH, "--arch",
                                     help="Architecture of the functions that use the layer: arm64 or x86_64.")) -> None:
    """Build the optimizer's Lambda artifacts: optimizer-handlers.zip and optimizer-layer.zip.

    The handlers zip holds exactly the modules the handlers import at runtime (workloads.handlers
    and the optimizer engine). The layer is `python/` with workloads/requirements-layer.txt
    installed by pip from wheels for the Lambda runtime's Python and --arch (pip needs PyPI).
    Fails if a module the handlers import is missing from the layer, or if the handlers plus
    the layer exceed Lambda's 250 MB unzipped. The pipeline's build runs this.

    Example: `charter workload package optimizer -o dist --arch arm64`
    """
    from rich.table import Table

    from charter.workloads.package import LAMBDA_UNZIPPED_LIMIT
    from charter.workloads.package import package as build

    if workload != "optimizer":
        raise PackageError(f"unknown workload '{workload}'", hint="the only workload is 'optimizer'")
    start = time.perf_counter()
    with err_console.status("packaging the optimizer...") as status:
        def progress(message: str) -> None:
            err_console.print(f"  {message}", markup=False)
            status.update(message + "...")

        result = build(out, arch=arch, progress=progress)
    table = Table("artifact", "files", "unzipped", "zipped", "sha256", title=f"{workload} Lambda artifacts ({arch})")
    for art in (result.handlers, result.layer):
        table.add_row(art.path.name, f"{art.files:,}", f"{art.unzipped_bytes / 1_048_576:.1f} MB",
                      f"{art.zipped_bytes / 1_048_576:.1f} MB", art.sha256[:16])
    console.print(table)
    ok(f"wrote both to {out} in {time.perf_counter() - start:.1f}s; "
       f"{result.unzipped_bytes / 1_048_576:.1f} MB of Lambda's {LAMBDA_UNZIPPED_LIMIT / 1_048_576:.0f} MB unzipped")


app.command()(synth)
app.command()(plan)
app.command()(deploy)
app.command()(package)
app.command()(serve)

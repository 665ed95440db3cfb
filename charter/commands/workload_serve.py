"""`charter workload serve`: the optimizer's REST API on this machine."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from charter.options import CONFIG, ENDPOINT, ENV, LOCAL, PROFILE, Environment
from charter.output import console, ok


def serve(
    config: Path = CONFIG,
    env: Environment = ENV,
    port: int = typer.Option(8080, "--port", min=0, max=65535, help="Port of the API on 127.0.0.1 (0 = any free port)."),
    local: bool = LOCAL,
    profile: str | None = PROFILE,
    endpoint_url: str | None = ENDPOINT,
    store: str | None = typer.Option(None, "--store", "-s",
                                     help="Evidence store (directory) for the console's compliance face."),
    handler_processes: int | None = typer.Option(
        None, "--handler-processes", min=0,
        help="With --local: processes running the API's handlers beside the embedded AWS, as Lambda's execution "
             "environments (default: one per core plus one; 0 runs them on the server's threads)."),
) -> None:
    """Serve the optimizer API and the web console locally: POST /optimize, GET /jobs, GET /jobs/{id},
    GET /jobs/{id}/results, the WebSocket API at /ws, /health, /openapi.json, and the console at /.

    With --local the handlers run in processes of their own (--handler-processes), and jobs run as
    the embedded AWS's pipeline steps at a lower CPU priority than requests. With --local the
    tables and buckets are created in the embedded AWS; drop market data into `incoming/` of
    the market-data bucket and call the ingest handler, or use `charter demo`.

    Example: `charter workload serve -c examples/small/org.yaml --env dev --local --port 8080 --store charter-demo/evidence`
    """
    from charter.errors import CharterError
    from charter.landing_zone.config import load_config
    from charter.local import LocalAws, advertised
    from charter.naming import resource_name
    from charter.options import aws_target, endpoint_from_env
    from charter.workloads.handlers.settings import Settings
    from charter.workloads.server import LocalApiServer

    env = Environment(env).value
    aws_target(local=local, profile=profile, endpoint_url=endpoint_url)
    endpoint_url = endpoint_from_env(local=local, profile=profile, endpoint_url=endpoint_url)
    if profile:
        os.environ["AWS_PROFILE"] = profile  # the handlers' boto3 clients (in this process and its workers)
    cfg = load_config(config)
    wl = cfg.workloads.optimizer if cfg.workloads else None
    if wl is None or env not in wl.environments:
        raise CharterError(f"{config}: no `workloads: optimizer: environments: {env}:` section",
                           hint="add the environment to org.yaml or pass --env with one that exists")
    region = cfg.organization.home_region
    prefix = resource_name(cfg, env, "optimizer")
    embedded = LocalAws(region=region).start() if local else None
    try:
        if embedded is not None:
            os.environ.update(embedded.env())
        elif endpoint_url:
            os.environ["AWS_ENDPOINT_URL"] = endpoint_url
            os.environ.setdefault("AWS_DEFAULT_REGION", region)
        import boto3

        account = boto3.client("sts", region_name=region).get_caller_identity()["Account"]
        # jobs run in local workers when the AWS behind this is the embedded one (it says so)
        local_jobs = embedded is not None or (endpoint_url is not None and advertised(endpoint_url) is not None)
        settings = Settings.for_names(prefix, account, region, environment=env, local=local_jobs)
        from charter.workloads.console_site import ConsoleSite

        compliance = None
        if store:
            from charter.commands.console import EvidenceCompliance, open_store

            compliance = EvidenceCompliance(open_store(store))
        site = ConsoleSite(optimizer=True, compliance=compliance, title=f"{cfg.organization.name} {env}")
        server = LocalApiServer(settings, port=port, console=site,
                                aws_app=embedded.wsgi_app() if embedded is not None else None,
                                handler_processes=handler_processes).start()
        try:
            ok(f"optimizer API ({env}) on {server.url} — try {server.url}/health and {server.url}/openapi.json")
            ok(f"console on {server.url}/" + (f" (compliance of {store})" if store else ""))
            console.print(f"jobs table {settings.jobs_table}; market data s3://{settings.market_data_bucket}/incoming/")
            server.serve_forever()
        finally:  # Ctrl-C or SIGTERM: the job workers are stopped, not left behind
            server.stop()
    finally:
        if embedded is not None:
            embedded.stop()

"""One optimization job through the local API, as `charter demo` runs it.

The same path a user takes: market data lands in the bucket and the ingest handler
validates it, then POST /optimize, long-poll GET /jobs/{id}, and page GET /jobs/{id}/results
over real HTTP against `workloads.server.LocalApiServer` on the embedded AWS.

With `account_id` (the environment's account, after `workloads.deploy.deploy_workload`
deployed the stacks there) the handlers run as that account, with the credentials of its
`OrganizationAccountAccessRole`, on the tables and buckets the data stack made, as the
deployed functions would. Without it they run in the embedded AWS's default account and
the local server makes the tables and buckets itself.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

from charter.aws import SessionFactory
from charter.config.model import OrgConfig
from charter.errors import CharterError
from charter.naming import MEMBER_ACCESS_ROLE, resource_name

N_ASSETS = 8
N_DAYS = 504


def _prices_csv(seed: int = 7) -> tuple[bytes, list[str]]:
    import numpy as np

    from charter.optimizer import generate_market

    market = generate_market(n_assets=N_ASSETS, n_days=N_DAYS, seed=seed)
    prices = 100 * np.cumprod(1 + market.returns, axis=0)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["date", *market.assets])
    for day, row in zip(market.dates, prices, strict=True):
        writer.writerow([str(day), *(f"{p:.6f}" for p in row)])
    return out.getvalue().encode(), list(market.assets)


def _call(method: str, url: str, body: dict | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", "X-Charter-User": "demo"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def run_demo_job(cfg: OrgConfig, sessions: SessionFactory, out_dir: Path, env: str = "dev",
                 account_id: str | None = None, aws_app: Any = None) -> dict[str, Any]:
    """`aws_app`: the embedded AWS's WSGI app when it runs in this process (see LocalApiServer)."""
    from charter.workloads.handlers import aws

    if not sessions.capabilities.embedded:
        raise CharterError("the demo job runs against the embedded AWS only", hint="run `charter demo`")
    region = cfg.organization.home_region
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    if account_id is not None:
        frozen = sessions.assumed(account_id, MEMBER_ACCESS_ROLE, region).get_credentials().get_frozen_credentials()
        credentials = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
                       "AWS_SESSION_TOKEN": frozen.token}
    # The handlers read their AWS settings from the environment, as in Lambda; restore it after,
    # so nothing later in this process talks to an embedded AWS that has stopped.
    saved = dict(os.environ)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update({"AWS_ENDPOINT_URL": str(sessions.endpoint_url), "AWS_DEFAULT_REGION": region, **credentials})
    try:
        return _run_job(cfg, out_dir, env, region, account_id or sessions.caller_arn().split(":")[4], aws_app)
    finally:
        aws.reset()
        os.environ.clear()
        os.environ.update(saved)


def _run_job(cfg: OrgConfig, out_dir: Path, env: str, region: str, account: str, aws_app: Any) -> dict[str, Any]:
    from charter.workloads.handlers import aws, ingest
    from charter.workloads.handlers.settings import Settings
    from charter.workloads.server import LocalApiServer

    aws.reset()
    settings = Settings.for_names(resource_name(cfg, env, "optimizer"), account, region,
                                  environment=env, local=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    with LocalApiServer(settings, aws_app=aws_app) as server:
        body, assets = _prices_csv()
        key = "incoming/demo-prices.csv"
        aws.client("s3").put_object(Bucket=settings.market_data_bucket, Key=key, Body=body)
        from urllib.parse import quote_plus

        ingested = ingest.handler({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                                                "awsRegion": region, "s3": {
                                                    "bucket": {"name": settings.market_data_bucket},
                                                    "object": {"key": quote_plus(key, safe="/"), "size": len(body)}}}]})
        job = _call("POST", f"{server.url}/optimize", {
            "assets": assets, "objective": "min_variance", "constraints": {"max_weight": 0.3},
            "horizon_days": 252, "backtest": {"lookback": 126, "rebalance_every": 21},
            "search": {"enabled": True, "n_trials": 4, "lookback_min": 63, "lookback_max": 189}})
        job_id = job["job_id"]
        deadline, version, status = time.monotonic() + 120, 0, {}
        while time.monotonic() < deadline:
            status = _call("GET", f"{server.url}/jobs/{job_id}?wait=5&after={version}")
            version = status.get("version", version)
            if status["status"] in ("SUCCEEDED", "FAILED"):
                break
        if status.get("status") != "SUCCEEDED":
            raise CharterError(f"demo job {job_id} ended {status.get('status')}: {status.get('error', '')}",
                               hint="run `charter workload serve --local` and submit the job by hand to see more")
        page, pages, summary = 0, 0, {}
        while page is not None:
            result = _call("GET", f"{server.url}/jobs/{job_id}/results?page={page}")
            summary = summary or result["summary"]
            pages += 1
            page = result["next_page"]
        (out_dir / f"job-{job_id}.json").write_text(json.dumps({"status": status, "summary": summary}, indent=2))
    weights = summary.get("weights", {})
    top = ", ".join(f"{a} {w:.0%}" for a, w in sorted(weights.items(), key=lambda kv: -kv[1])[:3])
    return {"job_id": job_id, "status": "SUCCEEDED", "pages": pages, "ingested": ingested.get("validated"),
            "weights": weights, "account": account, "jobs_table": settings.jobs_table,
            "summary": f"job {job_id[:8]} SUCCEEDED over {len(assets)} assets ({top}; {pages} result pages)"}

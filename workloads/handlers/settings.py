"""Runtime settings of the optimizer handlers, read from the environment on every call.

The names are the contract with `workloads/stacks/compute.py` (which sets them on every
function). Defaults let the same code run on a laptop against the embedded AWS. Read on
each invocation (the variables are looked up each time, a distinct set of values is
parsed once) rather than fixed at import, so tests and the local server can change them
without reloading modules.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, fields

#: Env var -> Settings field; names set by the compute stack come first.
ENV_VARS: dict[str, str] = {
    "CHARTER_ENVIRONMENT": "environment",
    "JOBS_TABLE": "jobs_table",
    "STRATEGIES_TABLE": "strategies_table",
    "CACHE_TABLE": "cache_table",
    "CONNECTIONS_TABLE": "connections_table",
    "MARKET_DATA_BUCKET": "market_data_bucket",
    "RESULTS_BUCKET": "results_bucket",
    "PIPELINE_NAME": "pipeline_name",
    "JOB_PIPELINE_NAME": "job_pipeline_name",
    "PROCESSING_INSTANCE_TYPE": "processing_instance_type",
    "METRICS_NAMESPACE": "metrics_namespace",
    # Not (yet) set by the stacks; defaults are right for AWS unless noted.
    "CHARTER_LOCAL": "local",
    "WEBSOCKET_ENDPOINT": "websocket_endpoint",
    "STATUS_MAX_WAIT_SECONDS": "status_max_wait_seconds",
    "RESULTS_PAGE_ROWS": "results_page_rows",
    "RESULTS_INLINE_MAX_BYTES": "results_inline_max_bytes",
    "PRESIGN_EXPIRY_SECONDS": "presign_expiry_seconds",
    "JOB_RETENTION_DAYS": "job_retention_days",
    "ARCHIVE_AFTER_DAYS": "archive_after_days",
    "STALE_JOB_HOURS": "stale_job_hours",
    "INLINE_SEARCH_MAX_TRIALS": "inline_search_max_trials",
    "LOCAL_WORKERS": "local_workers",
    "LOCAL_WORKER_PROCESSES": "local_worker_processes",
    "LOCAL_WORKER_NICE": "local_worker_nice",
}

TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    environment: str = "local"
    jobs_table: str = "charter-local-optimizer-jobs"
    strategies_table: str = "charter-local-optimizer-strategies"
    cache_table: str = "charter-local-optimizer-cache"
    connections_table: str = "charter-local-optimizer-connections"
    market_data_bucket: str = "charter-local-optimizer-market-data"
    results_bucket: str = "charter-local-optimizer-results"
    pipeline_name: str = "charter-local-optimizer-pipeline"
    #: The API job's pipeline (`workloads.handlers.jobpipeline`); the search pipeline is `pipeline_name`.
    job_pipeline_name: str = "charter-local-optimizer-jobs"
    #: The job step's instance type, whose Service Quotas limit submit checks (`quota`); empty: no check.
    processing_instance_type: str = ""
    metrics_namespace: str = "Charter/Optimizer"
    #: The AWS behind is the embedded one without deployed stacks: the local server makes the
    #: job flow's pipeline, function and rule (`workloads.local_jobflow`). Jobs take the same path.
    local: bool = False
    #: https://{api-id}.execute-api.{region}.amazonaws.com/{stage}; else taken from $connect.
    websocket_endpoint: str = ""
    #: Long polling bound of GET /jobs/{id}?wait=N; stays below the status function's 10 s timeout.
    status_max_wait_seconds: int = 8
    #: Rows per stored results page.
    results_page_rows: int = 200
    #: A page larger than this is returned as a presigned URL (Lambda responses cap at 6 MB).
    results_inline_max_bytes: int = 1_000_000
    presign_expiry_seconds: int = 900
    job_retention_days: int = 90
    archive_after_days: int = 30
    stale_job_hours: int = 24
    #: Agent searches up to this many trials run inside the Lambda; larger ones start the pipeline.
    inline_search_max_trials: int = 16
    local_workers: int = 1
    #: Run local jobs in spawned processes (off the API server's GIL) instead of its threads.
    local_worker_processes: bool = True
    #: Niceness added to the local worker processes: the API answers first, jobs take the CPU left.
    local_worker_nice: int = 10

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        # Every request reads the settings: parse each distinct environment once.
        return cls._parse(tuple(env.get(var) for var in ENV_VARS))

    @classmethod
    @functools.lru_cache(maxsize=32)
    def _parse(cls, raws: tuple[str | None, ...]) -> Settings:
        kinds = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for (var, name), raw in zip(ENV_VARS.items(), raws, strict=True):
            if raw is None or raw == "":
                continue
            kind = kinds[name]
            if kind in ("bool", bool):
                values[name] = raw.strip().lower() in TRUE
            elif kind in ("int", int):
                try:
                    values[name] = int(raw)
                except ValueError:
                    raise ValueError(f"environment variable {var}={raw!r} is not an integer") from None
            else:
                values[name] = raw
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings (for the local server)."""
        out = {}
        for var, name in ENV_VARS.items():
            value = getattr(self, name)
            out[var] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return out

    @classmethod
    def for_names(cls, prefix: str, account: str, region: str, **overrides: object) -> Settings:
        """The physical names the stacks give an environment (`workloads/stacks/_common.Ctx`)."""

        def bucket(kind: str) -> str:
            return f"{prefix}-{kind}-{account}-{region}"

        return cls(
            jobs_table=f"{prefix}-jobs", strategies_table=f"{prefix}-strategies", cache_table=f"{prefix}-cache",
            connections_table=f"{prefix}-connections", market_data_bucket=bucket("market-data"),
            results_bucket=bucket("results"), pipeline_name=f"{prefix}-pipeline",
            job_pipeline_name=f"{prefix}-jobs", **overrides,  # type: ignore[arg-type]
        )


def current() -> Settings:
    return Settings.from_env()

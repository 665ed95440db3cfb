"""Capacity before a job is accepted: the SageMaker quota its step runs under (Service Quotas).

Each job is one Processing job on one `PROCESSING_INSTANCE_TYPE` instance, so the quota
"<instance type> for processing job usage" (applied value, else AWS's default) bounds the
jobs running at once. Submit refuses a job (429, naming the quota, its value and the jobs
running) when the job pipeline already has that many executions running; a refused job
is never stored. The quota's value is read once per function instance and hour (it
changes only by a quota increase); the running executions on every submit.
Without `PROCESSING_INSTANCE_TYPE` (the local server, which runs steps as processes)
nothing is checked.
"""

from __future__ import annotations

import time
from typing import Any

from . import aws
from .http import HttpError
from .settings import Settings

SERVICE = "sagemaker"
QUOTA_TTL_SECONDS = 3600
_cache: dict[str, tuple[float, dict[str, Any]]] = {}


def quota_name(instance_type: str) -> str:
    return f"{instance_type} for processing job usage"


def quota(instance_type: str) -> dict[str, Any]:
    """{"name", "code", "value"} of the instance type's Processing quota in this account and region."""
    hit = _cache.get(instance_type)
    if hit and time.monotonic() - hit[0] < QUOTA_TTL_SECONDS:
        return hit[1]
    sq = aws.client("service-quotas")
    name = quota_name(instance_type)
    found = None
    for lister in (sq.list_service_quotas, sq.list_aws_default_service_quotas):  # applied first, then AWS's default
        token = None
        while found is None:
            page = lister(ServiceCode=SERVICE, **({"NextToken": token} if token else {}))
            found = next((q for q in page.get("Quotas", []) if q.get("QuotaName") == name), None)
            token = page.get("NextToken")
            if not token:
                break
        if found is not None:
            break
    if found is None:
        raise HttpError(503, "quota_unknown", f"Service Quotas lists no quota '{name}' for {SERVICE}; "
                        "the job's instance type cannot run Processing jobs in this region")
    out = {"name": name, "code": found["QuotaCode"], "value": int(found["Value"])}
    _cache[instance_type] = (time.monotonic(), out)
    return out


def running_jobs(settings: Settings) -> int:
    sm = aws.client("sagemaker")
    running, token = 0, None
    while True:
        page = sm.list_pipeline_executions(PipelineName=settings.job_pipeline_name, SortBy="CreationTime",
                                           SortOrder="Descending", MaxResults=100,
                                           **({"NextToken": token} if token else {}))
        running += sum(1 for e in page.get("PipelineExecutionSummaries", [])
                       if e.get("PipelineExecutionStatus") == "Executing")
        token = page.get("NextToken")
        if not token:
            return running


def check(settings: Settings) -> None:
    """Raise a 429 naming the quota that is short for one more job."""
    if not settings.processing_instance_type:
        return
    q = quota(settings.processing_instance_type)
    busy = running_jobs(settings)
    if busy + 1 > q["value"]:
        raise HttpError(429, "quota", f"Service Quotas: '{q['name']}' ({q['code']}) is {q['value']} and {busy} "
                        f"job(s) are running; retry when one ends, or request an increase of {q['code']}",
                        quota_code=q["code"], quota_value=q["value"], running=busy)

"""REST handlers behind API Gateway (Lambda proxy): POST /optimize, GET /jobs/{id}, GET /jobs/{id}/results.

- submit validates the body against `models.OptimizeRequest` and the data set it names
  (400 naming each bad field), writes the job (QUEUED), stores its spec at
  s3://<results>/jobs/<id>/spec.json and starts the job pipeline with JobId, JobSpecUri and
  MarketDataUri (`workloads.handlers.jobpipeline`); `jobstatus` moves the job from the execution's
  events. The same on the embedded AWS, which runs the pipeline's step as a local process.
- status long-polls: `?wait=N` (seconds, at most `STATUS_MAX_WAIT_SECONDS`) returns as
  soon as the job's `version` exceeds `?after=` (or it finishes).
- jobs lists the caller's jobs, newest first, `?limit=` at a time; `?cursor=` (opaque,
  from the previous page's `next_cursor`) continues.
- results serves fixed pages written by the worker (`?page=`), inline when small and as
  a presigned URL when large, plus a presigned URL of the whole document; rendered pages
  are kept in the cache table for a few minutes.
Users see only their own jobs; someone else's job is a 404, like a missing one.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from typing import Any

from pydantic import ValidationError

from . import aws, jobpipeline
from . import results as store
from .http import (
    HttpError,
    endpoint,
    field_errors,
    int_param,
    json_body,
    path_param,
    query,
    response,
    user_id,
    validation_error,
)
from .jobs import Job, JobStore, new_job_key
from .models import JOB_ID_PATTERN, TERMINAL, JobSpec, OptimizeRequest
from .settings import Settings

#: Long-poll re-read interval (a consistent Query costs 0.5 RCU).
POLL_INTERVAL_SECONDS = 0.2
#: Rendered result pages live this long in the cache table.
CACHE_TTL_SECONDS = 300
#: DynamoDB items stop at 400 KB; larger pages are not cached.
CACHE_MAX_BYTES = 300_000
MAX_PAGE = 1_000_000
#: Jobs per page of GET /jobs (default and most).
JOBS_PAGE_DEFAULT = 20
JOBS_PAGE_MAX = 100
#: A job not ended and unchanged this long is checked against its pipeline execution.
RECONCILE_AFTER_SECONDS = 300
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def _base_url(event: dict[str, Any]) -> str:
    """The URL prefix the caller used (stage included), for the links in responses."""
    ctx = event.get("requestContext") or {}
    stage = ctx.get("stage")
    return f"/{stage}" if stage and stage != "$default" and ctx.get("domainName", "").endswith("amazonaws.com") else ""


def _quiet_for(job: Job) -> float:
    import datetime as dt

    try:
        then = dt.datetime.strptime(job.updated_at or job.timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return 0.0
    return time.time() - then.timestamp()


def _job_id(event: dict[str, Any]) -> str:
    job_id = path_param(event, "id")
    if not re.fullmatch(JOB_ID_PATTERN, job_id):
        raise validation_error([{"field": "id", "message": "must be the 32-character job id POST /optimize returned"}])
    return job_id


def _own_job(store_: JobStore, event: dict[str, Any], job_id: str) -> Job:
    job = store_.get(job_id)
    if job is None or job.user_id != user_id(event):
        raise HttpError(404, "not_found", f"job {job_id} not found")
    return job


def _spec(settings: Settings, job: Job, req: OptimizeRequest) -> JobSpec:
    """The job as its pipeline step will compute it: the data set resolved (`latest` is the
    newest now, not when the step runs) and every ticker checked against it (400 naming
    the field, before anything starts)."""
    from .datasets import DatasetError, read_index

    try:
        entry = read_index(settings, req.dataset)
    except DatasetError as exc:
        raise validation_error([{"field": "dataset", "message": str(exc)}]) from None
    have = set(entry.get("assets") or [])
    missing = [a for a in req.assets if a not in have]
    if missing:
        raise validation_error([{"field": "assets", "message": f"not in data set '{entry.get('dataset', req.dataset)}': "
                                                               f"{', '.join(missing)}"}])
    return JobSpec(job_id=job.job_id, user_id=job.user_id, submitted_at=job.timestamp,
                   dataset=str(entry.get("dataset", req.dataset)),
                   market_data_uri=f"s3://{settings.market_data_bucket}/{entry['key']}", request=req)


def _start(settings: Settings, spec: JobSpec) -> str:
    """Store the spec under the job and start its pipeline execution; the execution ARN."""
    key = jobpipeline.spec_key(spec.job_id)
    aws.client("s3").put_object(Bucket=settings.results_bucket, Key=key, Body=spec.model_dump_json().encode(),
                                ContentType="application/json")
    resp = aws.client("sagemaker").start_pipeline_execution(
        PipelineName=settings.job_pipeline_name, ClientRequestToken=spec.job_id,
        PipelineExecutionDisplayName=f"job-{spec.job_id}",
        PipelineExecutionDescription=f"optimization job {spec.job_id} ({spec.request.objective})",
        PipelineParameters=[{"Name": "JobId", "Value": spec.job_id},
                            {"Name": "JobSpecUri", "Value": f"s3://{settings.results_bucket}/{key}"},
                            {"Name": "MarketDataUri", "Value": spec.market_data_uri}])
    return str(resp["PipelineExecutionArn"])


@endpoint
def submit(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """POST /optimize"""
    settings = Settings.from_env()
    user = user_id(event)
    payload = json_body(event)
    if not isinstance(payload, dict):
        raise validation_error([{"field": "body", "message": "must be a JSON object"}])
    try:
        req = OptimizeRequest.model_validate(payload)
    except ValidationError as exc:
        raise validation_error(field_errors(exc)) from None
    problems = req.problems()
    if problems:
        raise validation_error(problems)
    from .quota import check as check_quota

    check_quota(settings)  # 429 naming the quota when no instance is left for the job's step
    jobs = JobStore(settings)
    new_id, stamp = new_job_key()
    spec = _spec(settings, Job(job_id=new_id, timestamp=stamp, user_id=user), req)
    job = jobs.create(user, req.model_dump(mode="json"), objective=req.objective, key=(new_id, stamp))
    try:
        arn = _start(settings, spec)
    except Exception as exc:  # the job exists: record why it never ran, answer 503 (retryable)
        jobs.transition(job, "FAILED", message="failed", error=f"could not start the optimization: "
                        f"{aws.error_code(exc) or type(exc).__name__}")
        raise HttpError(503, "unavailable", "the optimization could not be started; retry later",
                        job_id=job.job_id) from exc
    # The execution's events may already have moved the job on; only fill in the ARN if not.
    started = Job(**{**job.__dict__, "execution_arn": arn, "version": job.version + 1})
    jobs.put(started, expected_version=job.version)
    base = _base_url(event)
    body = {"job_id": job.job_id, "status": "QUEUED", "created_at": job.timestamp,
            "status_url": f"{base}/jobs/{job.job_id}", "results_url": f"{base}/jobs/{job.job_id}/results"}
    return response(202, body, {"Location": body["status_url"]})


@endpoint
def status(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """GET /jobs/{id}?wait=SECONDS&after=VERSION (without `after`: the next change)"""
    settings = Settings.from_env()
    job_id = _job_id(event)
    params = query(event)
    wait = int_param(params, "wait", 0, 0, settings.status_max_wait_seconds)
    after_raw = int_param(params, "after", -1, 0, 2**31)
    jobs = JobStore(settings)
    job = _own_job(jobs, event, job_id)
    if job.status not in TERMINAL and _quiet_for(job) > RECONCILE_AFTER_SECONDS:
        # no event for a while: ask SageMaker (an execution that vanished fails the job, with why)
        from .jobstatus import reconcile

        job = reconcile(job, settings, jobs) or job
    # Without `after`, wait for the next change from what the job is now.
    after = job.version if after_raw < 0 else after_raw
    deadline = time.monotonic() + wait
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        # Never wait past the Lambda timeout (keep 1 s to answer).
        deadline = min(deadline, time.monotonic() + context.get_remaining_time_in_millis() / 1000 - 1)
    while job.status not in TERMINAL and job.version <= after and time.monotonic() < deadline:
        time.sleep(min(POLL_INTERVAL_SECONDS, max(0.0, deadline - time.monotonic())))
        job = jobs.get(job_id) or job
    return response(200, job.public(_base_url(event)))


def _cursor(job: dict[str, Any]) -> str:
    """The opaque cursor of a page end: the job id and timestamp (the user comes from the token)."""
    raw = json.dumps({"j": job["job_id"]["S"], "t": job["timestamp"]["S"]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _start_key(cursor: str, user: str) -> dict[str, Any]:
    bad = validation_error([{"field": "cursor", "message": "not a cursor this API returned; "
                                                           "start again without `cursor`"}])
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not (isinstance(data, dict) and isinstance(data.get("j"), str) and isinstance(data.get("t"), str)
            and re.fullmatch(JOB_ID_PATTERN, data["j"]) and _TIMESTAMP.fullmatch(data["t"])):
        raise bad
    # the caller's own partition of the index: a cursor cannot page through someone else's jobs
    return {"user_id": {"S": user}, "job_id": {"S": data["j"]}, "timestamp": {"S": data["t"]}}


@endpoint
def jobs(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """GET /jobs?limit=N&cursor=C: the caller's jobs, newest first."""
    settings = Settings.from_env()
    user = user_id(event)
    params = query(event)
    limit = int_param(params, "limit", JOBS_PAGE_DEFAULT, 1, JOBS_PAGE_MAX)
    cursor = params.get("cursor") or ""
    if len(cursor) > 512:
        raise validation_error([{"field": "cursor", "message": "too long to be a cursor this API returned"}])
    found, last = JobStore(settings).for_user(user, limit, _start_key(cursor, user) if cursor else None)
    base = _base_url(event)
    return response(200, {"items": [j.public(base) for j in found], "next_cursor": _cursor(last) if last else None})


def _cache_get(settings: Settings, key: str) -> str | None:
    try:
        item = aws.client("dynamodb").get_item(TableName=settings.cache_table,
                                               Key={"cache_key": {"S": key}}).get("Item")
    except Exception:  # noqa: BLE001 - the cache is an optimization; S3 is the truth
        return None
    if not item or int(item.get("expires_at", {}).get("N", "0")) < time.time():
        return None
    return item["body"]["S"]


def _cache_put(settings: Settings, key: str, body: str) -> None:
    if len(body) > CACHE_MAX_BYTES:
        return
    try:
        aws.client("dynamodb").put_item(TableName=settings.cache_table, Item={
            "cache_key": {"S": key}, "body": {"S": body},
            "expires_at": {"N": str(int(time.time()) + CACHE_TTL_SECONDS)}})
    except Exception:  # noqa: BLE001
        pass


def _presign(settings: Settings, key: str) -> str:
    return str(aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": settings.results_bucket, "Key": key},
        ExpiresIn=settings.presign_expiry_seconds))


@endpoint
def results(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """GET /jobs/{id}/results?page=N"""
    settings = Settings.from_env()
    job_id = _job_id(event)
    page = int_param(query(event), "page", 0, 0, MAX_PAGE)
    job = _own_job(JobStore(settings), event, job_id)
    if job.status != "SUCCEEDED":
        raise HttpError(409, "not_ready", f"job {job_id} is {job.status}; results exist once it has SUCCEEDED",
                        job_status=job.status, job_error=job.error)
    where = job.result_prefix or store.prefix(job_id)
    cache_key = f"results#{job_id}#{where}#{page}"
    body = _cache_get(settings, cache_key)
    if body is None:
        meta = store.read_json(settings.results_bucket, f"{where}summary.json")
        manifest = meta["manifest"]
        archived = where.startswith(store.ARCHIVE_PREFIX)
        if page >= (1 if archived else manifest["page_count"]):
            raise HttpError(404, "not_found", f"page {page} does not exist; this result has "
                            f"{manifest['page_count']} page(s) (0-{manifest['page_count'] - 1})")
        key = store.page_key(where, page)
        if where.startswith(store.ARCHIVE_PREFIX):
            # Archived by cleanup: only the complete document is kept.
            return response(200, {
                "job_id": job_id, "page": 0, "page_count": 1, "rows_total": manifest["rows_total"], "items": [],
                "page_url": _presign(settings, f"{where}full.json"), "next_page": None, "summary": meta["summary"],
                "download_url": _presign(settings, f"{where}full.json")})
        head = aws.client("s3").head_object(Bucket=settings.results_bucket, Key=key)
        out: dict[str, Any] = {
            "job_id": job_id, "page": page, "page_count": manifest["page_count"],
            "rows_total": manifest["rows_total"], "items": [], "page_url": None,
            "next_page": page + 1 if page + 1 < manifest["page_count"] else None,
            "summary": meta["summary"] if page == 0 else None,
        }
        if head["ContentLength"] > settings.results_inline_max_bytes:
            out["page_url"] = _presign(settings, key)
        else:
            out["items"] = store.read_json(settings.results_bucket, key)["items"]
        body = json.dumps(out, separators=(",", ":"), default=str)
        if out["page_url"] is None:
            _cache_put(settings, cache_key, body)
    out = json.loads(body)
    out["download_url"] = _presign(settings, f"{where}full.json")  # fresh: presigned URLs expire
    return response(200, out)

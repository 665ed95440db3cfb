"""Daily cleanup (EventBridge schedule): expire old jobs, archive finished results, sweep stale items.

- a job older than `JOB_RETENTION_DAYS` is deleted with all its result objects;
- a SUCCEEDED job older than `ARCHIVE_AFTER_DAYS` has its results archived: the complete
  document moves to `archive/<job_id>/full.json` (pages and summary go; the job keeps a
  pointer), so old results stay retrievable as one object;
- a QUEUED/RUNNING job whose pipeline execution ended or vanished is moved as the execution
  says (`jobstatus.reconcile`: FAILED with the reason); one still untouched after
  `STALE_JOB_HOURS` is FAILED;
- cache and connection items past `expires_at` are deleted (DynamoDB TTL can lag ~48 h).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from . import aws
from .jobs import Job, JobStore
from .results import ARCHIVE_PREFIX, prefix
from .settings import Settings

log = logging.getLogger("charter.workloads.cleanup")


def _age_seconds(stamp: str, now: float) -> float:
    try:
        parsed = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return 0.0
    return now - parsed.timestamp()


def _delete_prefix(s3: Any, bucket: str, where: str) -> int:
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=where):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


def _archive(s3: Any, store: JobStore, settings: Settings, job: Job) -> None:
    source = job.result_prefix or prefix(job.job_id)
    target = f"{ARCHIVE_PREFIX}{job.job_id}/"
    bucket = settings.results_bucket
    for name in ("full.json", "summary.json"):
        s3.copy_object(Bucket=bucket, Key=f"{target}{name}", CopySource={"Bucket": bucket, "Key": f"{source}{name}"})
    _delete_prefix(s3, bucket, source)
    # Pages are gone; point the job at the archive (the API serves its summary + full document).
    store.update(job, result_prefix=target, archived_at=dt.datetime.now(dt.UTC).isoformat())


def _sweep_expired(ddb: Any, table: str, key: str, now: float) -> int:
    removed = 0
    for page in ddb.get_paginator("scan").paginate(
            TableName=table, FilterExpression="expires_at < :now",
            ExpressionAttributeValues={":now": {"N": str(int(now))}}, ProjectionExpression=key):
        for item in page.get("Items", []):
            ddb.delete_item(TableName=table, Key={key: item[key]})
            removed += 1
    return removed


def handler(event: dict[str, Any] | None = None, context: Any = None, now: float | None = None) -> dict[str, Any]:
    settings = Settings.from_env()
    now = time.time() if now is None else now
    store, s3, ddb = JobStore(settings), aws.client("s3"), aws.client("dynamodb")
    counts = {"jobs_expired": 0, "objects_deleted": 0, "results_archived": 0, "jobs_timed_out": 0,
              "cache_expired": 0, "connections_expired": 0}
    for job in list(store.scan()):
        age = _age_seconds(job.timestamp, now)
        if age > settings.job_retention_days * 86400:
            for where in {job.result_prefix or prefix(job.job_id), prefix(job.job_id), f"{ARCHIVE_PREFIX}{job.job_id}/"}:
                counts["objects_deleted"] += _delete_prefix(s3, settings.results_bucket, where)
            store.delete(job)
            counts["jobs_expired"] += 1
        elif (job.status == "SUCCEEDED" and age > settings.archive_after_days * 86400
              and not (job.result_prefix or "").startswith(ARCHIVE_PREFIX)):
            _archive(s3, store, settings, job)
            counts["results_archived"] += 1
        elif job.status in ("QUEUED", "RUNNING"):
            from .jobstatus import reconcile

            try:
                moved = reconcile(job, settings, store)
            except Exception:  # noqa: BLE001 - one unreadable execution must not stop the sweep
                log.warning("cannot reconcile job %s", job.job_id, exc_info=True)
                moved = None
            if moved is not None:
                counts["jobs_reconciled"] = counts.get("jobs_reconciled", 0) + 1
            elif _age_seconds(job.updated_at or job.timestamp, now) > settings.stale_job_hours * 3600:
                store.transition(job, "FAILED", message="failed", error=f"no progress for "
                                 f"{settings.stale_job_hours} hours; its pipeline execution is stuck. Resubmit.")
                counts["jobs_timed_out"] += 1
    counts["cache_expired"] = _sweep_expired(ddb, settings.cache_table, "cache_key", now)
    counts["connections_expired"] = _sweep_expired(ddb, settings.connections_table, "connection_id", now)
    log.info("cleanup: %s", counts)
    return counts

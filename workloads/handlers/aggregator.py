"""The results aggregator: merges what the hosts of a job wrote into one result.

Two callers, two events:

* The job pipeline's ResultsAggregation step (a SageMaker Lambda step, see
  `handlers.jobpipeline`): `{"job_id": "...", "spec": "s3://<results>/jobs/<job_id>/spec.json",
  "parts": "s3://<results>/results/<job_id>/parts", "page_rows": 200}`. `aggregate_job` reads
  the job's spec (the parts must be that job's), then each host's part (`jobstep.part_files`: summary,
  rows, trials), merges the search trials of all hosts (`optimizer.search.aggregate`), and
  writes the result pages and summary the results API serves under `results/<job_id>/`, the
  summary last, plus `search/trials.jsonl` and `search/best.json`. It answers the step's
  OutputParameters (`rows_total`, `summary_key`); a problem raises, so the step, and with it
  the job, fails with the reason (the job record is job-status's to move, not this one's).

* A distributed search's shards (`{"job_id": "...", "shards": ["s3://bucket/key.jsonl", ...]}`,
  or `"keys"` in the results bucket): each shard is the JSONL a host wrote with
  `optimizer.search.run_shard`; later duplicates of a (rung, trial) win, exactly as in
  `aggregate`. The merged table goes to `results/<job_id>/search/trials.jsonl` and the
  winner (best score on the deepest rung, ties by trial id, the library's own rule) to
  `.../search/best.json`; the job item gets the summary.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from charter.optimizer.search import aggregate

from . import aws
from .jobs import JobStore
from .results import documents, finite, prefix
from .settings import Settings


def _location(uri: str, default_bucket: str) -> tuple[str, str]:
    if uri.startswith("s3://"):
        bucket, _, key = uri[5:].partition("/")
        return bucket, key
    return default_bucket, uri


def best_of(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not records:
        return None
    deepest = max(int(r["rung"]) for r in records)
    ok = [r for r in records if int(r["rung"]) == deepest and r.get("score") is not None]
    if not ok:
        return None
    return sorted(ok, key=lambda r: (-r["score"], r["trial"]))[0]


class AggregationError(Exception):
    """The parts cannot make a result; the message is the pipeline step's failure reason."""


def _host_order(host: str) -> tuple[int, str]:
    # SageMaker names hosts algo-1 .. algo-N: algo-10 follows algo-9
    tail = host.rsplit("-", 1)[-1]
    return (int(tail), host) if tail.isdigit() else (1 << 30, host)


def _lines(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def aggregate_job(job_id: str, parts_uri: str, page_rows: int, settings: Settings,
                  spec_uri: str | None = None) -> dict[str, Any]:
    """Merge the hosts' parts under `parts_uri` into the job's result (module docstring)."""
    s3 = aws.client("s3")
    if spec_uri:
        spec_bucket, spec_key = _location(spec_uri, settings.results_bucket)
        try:
            spec = json.loads(s3.get_object(Bucket=spec_bucket, Key=spec_key)["Body"].read())
        except Exception as exc:  # noqa: BLE001 - the reason becomes the step's
            raise AggregationError(f"cannot read the job spec {spec_uri}: {aws.error_code(exc) or exc}") from None
        if not isinstance(spec, dict) or spec.get("job_id") != job_id:
            raise AggregationError(f"the job spec {spec_uri} is not job {job_id}'s")
    bucket, base = _location(parts_uri.rstrip("/") + "/", settings.results_bucket)
    if bucket != settings.results_bucket or not base.startswith(prefix(job_id)):
        raise AggregationError(f"the parts of job {job_id} must be under s3://{settings.results_bucket}/"
                               f"{prefix(job_id)}, not {parts_uri}")
    hosts: dict[str, dict[str, str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        for obj in page.get("Contents", []):
            host, _, name = obj["Key"][len(base):].partition("/")
            if name:
                hosts.setdefault(host, {})[name] = obj["Key"]
    if not hosts:
        raise AggregationError(f"no parts under s3://{bucket}/{base}: the Optimize step wrote nothing")
    order = sorted(hosts, key=_host_order)
    first = hosts[order[0]]
    if "summary.json" not in first:
        raise AggregationError(f"host {order[0]} left no summary.json under s3://{bucket}/{base}{order[0]}/")
    read = lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # noqa: E731
    summary = json.loads(read(first["summary.json"]))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        shards = []
        for n, host in enumerate(order):
            files = hosts[host]
            if "rows.jsonl" in files:
                rows += [r for r in _lines(read(files["rows.jsonl"])) if r.get("kind") != "trial"]
            if "trials.jsonl" in files:
                path = Path(tmp) / f"shard-{n:04d}.jsonl"
                path.write_bytes(read(files["trials.jsonl"]))
                shards.append(str(path))
        merged = aggregate(shards)
    # each trial once, at its furthest rung, in trial order: the search's own table (`table_`)
    furthest: dict[int, dict[str, Any]] = {}
    for rec in merged:  # sorted by (rung, trial): a deeper rung comes later and wins
        furthest[int(rec["trial"])] = rec
    rows += [furthest[t] for t in sorted(furthest)]
    where = prefix(job_id)
    if merged:
        _write_search(s3, settings.results_bucket, where, merged, len(shards))
    for key, body in documents(summary, rows, page_rows):  # the summary last: its presence means done
        s3.put_object(Bucket=settings.results_bucket, Key=f"{where}{key}", Body=body, ContentType="application/json")
    log_line = f"aggregator: job {job_id}: {len(rows)} rows from {len(order)} host(s), {len(furthest)} trial(s)"
    print(log_line, flush=True)
    return {"rows_total": len(rows), "summary_key": f"{where}summary.json", "hosts": len(order),
            "trials": len(furthest)}


def _write_search(s3: Any, bucket: str, where: str, merged: list[dict[str, Any]], shards: int) -> dict[str, Any]:
    best = best_of(merged)
    s3.put_object(Bucket=bucket, Key=f"{where}search/trials.jsonl",
                  Body="".join(json.dumps(finite(r), sort_keys=True) + "\n" for r in merged).encode(),
                  ContentType="application/x-ndjson")
    summary = {"trials": len({r["trial"] for r in merged}), "records": len(merged), "shards": shards,
               "failures": sum(1 for r in merged if r.get("error")),
               "best": finite(best) if best else None}
    s3.put_object(Bucket=bucket, Key=f"{where}search/best.json", Body=json.dumps(summary).encode(),
                  ContentType="application/json")
    return summary


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    settings = Settings.from_env()
    if "parts" in event:  # the job pipeline's ResultsAggregation step: a failure raises (the step fails)
        job_id = str(event.get("job_id") or "")
        if not job_id:
            raise AggregationError("the ResultsAggregation step passed no job_id")
        return aggregate_job(job_id, str(event["parts"]), int(event.get("page_rows") or settings.results_page_rows),
                             settings, spec_uri=str(event["spec"]) if event.get("spec") else None)
    job_id = str(event.get("job_id") or "")
    uris = list(event.get("shards") or event.get("keys") or [])
    if not job_id or not uris:
        return {"ok": False, "error": "validation", "message": "need job_id and shards (S3 URIs of JSONL shard files)"}
    s3 = aws.client("s3")
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for n, uri in enumerate(uris):
            bucket, key = _location(uri, settings.results_bucket)
            path = Path(tmp) / f"shard-{n:04d}.jsonl"
            s3.download_file(bucket, key, str(path))
            paths.append(str(path))
        merged = aggregate(paths)
    best = best_of(merged)
    summary = _write_search(s3, settings.results_bucket, prefix(job_id), merged, len(uris))
    store = JobStore(settings)
    job = store.get(job_id)
    if job is not None:
        score = best.get("score") if best else None
        store.update(job, message=f"search aggregated: {summary['trials']} trials from {len(uris)} shards",
                     search_best_trial=best["trial"] if best else None,
                     search_best_score=score if score is not None and math.isfinite(score) else None)
    return {"ok": True, "job_id": job_id, **summary}

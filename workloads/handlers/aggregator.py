"""Merge the shards of a distributed hyperparameter search (`optimizer.search.aggregate`).

Event: `{"job_id": "...", "shards": ["s3://bucket/key.jsonl", ...]}` (or `"keys"` in the
results bucket). Each shard is the JSONL a host wrote with `optimizer.search.run_shard`;
later duplicates of a (rung, trial) win, exactly as in `aggregate`. The merged table goes
to `results/<job_id>/search/trials.jsonl` and the winner (best score on the deepest rung,
ties by trial id, the library's own rule) to `.../search/best.json`; the job item gets
the summary.
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
from .results import finite, prefix
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


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    settings = Settings.from_env()
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
    where = f"{prefix(job_id)}search/"
    s3.put_object(Bucket=settings.results_bucket, Key=f"{where}trials.jsonl",
                  Body="".join(json.dumps(finite(r), sort_keys=True) + "\n" for r in merged).encode(),
                  ContentType="application/x-ndjson")
    summary = {"trials": len({r["trial"] for r in merged}), "records": len(merged), "shards": len(uris),
               "failures": sum(1 for r in merged if r.get("error")),
               "best": finite(best) if best else None}
    s3.put_object(Bucket=settings.results_bucket, Key=f"{where}best.json", Body=json.dumps(summary).encode(),
                  ContentType="application/json")
    store = JobStore(settings)
    job = store.get(job_id)
    if job is not None:
        score = best.get("score") if best else None
        store.update(job, message=f"search aggregated: {summary['trials']} trials from {len(uris)} shards",
                     search_best_trial=best["trial"] if best else None,
                     search_best_score=score if score is not None and math.isfinite(score) else None)
    return {"ok": True, "job_id": job_id, **summary}

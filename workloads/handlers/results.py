"""Where a job's results live in the results bucket, and how they are written and read.

  results/<job_id>/summary.json        ResultSummary + the page manifest
  results/<job_id>/pages/<00000>.json  {"items": [...]}: fixed-size pages of result rows
  results/<job_id>/full.json           everything in one document (served as a presigned URL)
  archive/<job_id>/...                 the same after cleanup archived it

Pages are fixed when written, so a page number means the same rows on every call and a
client can fetch pages in parallel.
"""

from __future__ import annotations

import json
from typing import Any

from . import aws

RESULTS_PREFIX = "results/"
ARCHIVE_PREFIX = "archive/"


def prefix(job_id: str) -> str:
    return f"{RESULTS_PREFIX}{job_id}/"


def page_key(prefix_: str, page: int) -> str:
    return f"{prefix_}pages/{page:05d}.json"


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str, allow_nan=False).encode()


def documents(summary: dict[str, Any], rows: list[dict[str, Any]], page_rows: int) -> list[tuple[str, bytes]]:
    """(key under the job's prefix, body) of every document of a result, the summary last:
    its presence means the whole result is there. The job pipeline's aggregator step
    (`aggregator.aggregate_job`) writes them under `results/<job_id>/`."""
    pages = [rows[i:i + page_rows] for i in range(0, len(rows), page_rows)] or [[]]
    out = [(page_key("", n), _dump({"items": items})) for n, items in enumerate(pages)]
    out.append(("full.json", _dump({"summary": summary, "rows": rows})))
    manifest = {"page_count": len(pages), "rows_total": len(rows), "page_rows": page_rows}
    out.append(("summary.json", _dump({"summary": summary, "manifest": manifest})))
    return out


def write(bucket: str, job_id: str, summary: dict[str, Any], rows: list[dict[str, Any]], page_rows: int) -> str:
    s3 = aws.client("s3")
    where = prefix(job_id)
    for key, body in documents(summary, rows, page_rows):
        s3.put_object(Bucket=bucket, Key=f"{where}{key}", Body=body, ContentType="application/json")
    return where


def read_json(bucket: str, key: str) -> Any:
    return json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def finite(value: Any) -> Any:
    """JSON has no NaN/inf: map them to None (recursively)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value

"""Write the console's compliance data where the `compliance` API function reads it.

`publish(s3, bucket, summary, artifact)` puts every artifact the summary links to under
`compliance/artifacts/<path>` and then the summary itself at `compliance/summary.json`
(last: once it is there, everything it links to is). `summary` and `artifact(path)` are
the shapes `evidence.dashboard` produces (the CLI computes them from the store; this
module only writes, so the workloads domain needs no evidence code).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PREFIX = "compliance/"


def linked_artifacts(summary: dict[str, Any]) -> list[str]:
    return sorted({e["path"] for c in summary.get("controls", {}).values() for e in c.get("evidence", [])})


def publish(s3: Any, bucket: str, summary: dict[str, Any], artifact: Callable[[str], dict[str, Any] | None]) -> int:
    def put(key: str, body: Any) -> None:
        s3.put_object(Bucket=bucket, Key=PREFIX + key, ContentType="application/json", CacheControl="no-store",
                      Body=json.dumps(body, separators=(",", ":"), default=str).encode())

    def one(path: str) -> int:
        detail = artifact(path)
        if detail is None:
            return 0
        put(f"artifacts/{path}", detail)
        return 1

    with ThreadPoolExecutor(8) as pool:
        written = sum(pool.map(one, linked_artifacts(summary)))
    put("summary.json", summary)
    return written + 1

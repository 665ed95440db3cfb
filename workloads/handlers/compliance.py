"""GET /compliance/summary and GET /compliance/artifact?path=: the console's compliance face on AWS.

The evidence store lives in the security/audit account with Object Lock; the workload
account's functions cannot (and should not) read it. `charter console publish` (run by
someone who may read the store) verifies the store, computes the same summary the local
console serves (`evidence.dashboard`) and writes it, with every artifact it links to,
under `compliance/` of the environment's results bucket:

    compliance/summary.json                   the summary (verification state as published)
    compliance/artifacts/runs/<run>/...json   one artifact's detail, as the drill-down shows it

This function serves those objects to members of the user pool's `compliance` group
only (the Cognito authorizer's `cognito:groups` claim); anyone else gets 403, so a
portfolio manager's token cannot read the compliance data through the same API.
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import aws
from .http import HttpError, endpoint, query, response, validation_error
from .settings import Settings

GROUP = "compliance"
PREFIX = "compliance/"
ARTIFACT_PATH = re.compile(r"^runs/[A-Za-z0-9._-]+/artifacts/[A-Za-z0-9._/-]+\.json$")


def groups(event: dict[str, Any]) -> set[str]:
    """The caller's Cognito groups. Authorizers hand claims over as strings: a list arrives as
    "[a, b]" or "a,b" (or a plain list from other callers)."""
    auth = (event.get("requestContext") or {}).get("authorizer") or {}
    # the REST API's Lambda authorizer passes them as "a,b" (`groups`); a user-pool authorizer as a claim
    raw = (auth.get("claims") or {}).get("cognito:groups") or auth.get("groups")
    if isinstance(raw, list):
        return {str(g) for g in raw}
    if not raw:
        return set()
    return {g.strip() for g in str(raw).strip("[]").replace(",", " ").split() if g.strip()}


def _read(settings: Settings, key: str) -> Any:
    s3 = aws.client("s3")
    try:
        return json.loads(s3.get_object(Bucket=settings.results_bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


@endpoint
def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if GROUP not in groups(event):
        raise HttpError(403, "forbidden", f"the compliance view is for members of the {GROUP} group")
    settings = Settings.from_env()
    resource = event.get("resource") or event.get("path") or ""
    if resource.endswith("/summary"):
        found = _read(settings, f"{PREFIX}summary.json")
        if found is None:
            raise HttpError(404, "not_published", "no compliance data published for this environment yet",
                            fix="run `charter console publish --store ... --bucket ...`")
        return response(200, found)
    if resource.endswith("/artifact"):
        path = query(event).get("path") or ""
        if not ARTIFACT_PATH.fullmatch(path) or ".." in path.split("/"):
            raise validation_error([{"field": "path", "message": "an artifact path: runs/<run>/artifacts/...json"}])
        found = _read(settings, f"{PREFIX}artifacts/{path}")
        if found is None:
            raise HttpError(404, "not_found", f"no published artifact at {path}")
        return response(200, found)
    raise HttpError(404, "not_found", f"no route {resource}")

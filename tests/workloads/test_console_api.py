"""The API routes the console added: GET /jobs (the caller's jobs, paged) and the compliance
routes on AWS (compliance group only, reading what `charter console publish` wrote)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parent))
from handlers_testkit import SETTINGS, proxy_event, settings_env  # noqa: E402

from charter.workloads import compliance_publish  # noqa: E402
from charter.workloads.handlers import api, aws, compliance  # noqa: E402
from charter.workloads.handlers.jobs import JobStore  # noqa: E402
from charter.workloads.server import ensure_resources  # noqa: E402


@pytest.fixture()
def cloud(monkeypatch: pytest.MonkeyPatch):
    for k, v in settings_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws.reset()
    with mock_aws():
        ensure_resources(SETTINGS)
        yield
    aws.reset()


def _list(user: str, **query: str) -> dict:
    out = api.jobs(proxy_event("GET", "/jobs", "/jobs", user=user, query=query))
    return {"status": out["statusCode"], **json.loads(out["body"])}


def test_jobs_lists_only_the_callers_jobs_newest_first_page_by_page(cloud) -> None:
    store = JobStore(SETTINGS)
    mine = [store.create("alice", {"objective": "min_variance"}, objective="min_variance").job_id for _ in range(5)]
    store.create("bob", {"objective": "max_sharpe"}, objective="max_sharpe")
    seen, cursor, pages = [], None, 0
    while True:
        page = _list("alice", limit="2", **({"cursor": cursor} if cursor else {}))
        assert page["status"] == 200 and len(page["items"]) <= 2
        seen += [j["job_id"] for j in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(mine)) and pages >= 3
    assert {j["objective"] for j in _list("bob")["items"]} == {"max_sharpe"}


def test_a_cursor_cannot_read_someone_elses_jobs_or_be_forged(cloud) -> None:
    store = JobStore(SETTINGS)
    for _ in range(3):
        store.create("alice", {}, objective="min_variance")
    cursor = _list("alice", limit="1")["next_cursor"]
    # bob replaying alice's cursor pages through his own (empty) partition, never alice's
    assert _list("bob", cursor=cursor)["items"] == []
    for bad in ("not-a-cursor", "eyJqIjoiLi4vIn0", "x" * 600):
        page = _list("alice", cursor=bad)
        assert page["status"] == 400 and page["fields"][0]["field"] == "cursor"
    assert _list("alice", limit="0")["status"] == 400


def _compliance(path: str, groups: str | None, query: dict | None = None) -> dict:
    event = proxy_event("GET", path, path, query=query)
    if groups is not None:
        event["requestContext"]["authorizer"]["claims"]["cognito:groups"] = groups
    out = compliance.handler(event)
    return {"status": out["statusCode"], **json.loads(out["body"])}


def test_compliance_routes_answer_the_compliance_group_only(cloud) -> None:
    path = "runs/20260101T000000Z/artifacts/iam/111111111111/us-east-1.json"
    summary = {"controls": {"IAM-01": {"evidence": [{"path": path}]}}, "verification": {"ok": True}}
    written = compliance_publish.publish(aws.client("s3"), SETTINGS.results_bucket, summary,
                                         lambda p: {"path": p, "items": [{"result": "fail", "reason": "no MFA"}]})
    assert written == 2
    # API Gateway's user-pool authorizer passes a list claim as a string
    assert _compliance("/compliance/summary", "[portfolio-managers, compliance]")["verification"] == {"ok": True}
    assert _compliance("/compliance/summary", "compliance")["status"] == 200
    got = _compliance("/compliance/artifact", "compliance", {"path": path})
    assert got["status"] == 200 and got["items"][0]["reason"] == "no MFA"
    for groups in (None, "portfolio-managers", "[compliance-readers]"):
        assert _compliance("/compliance/summary", groups)["status"] == 403
    for bad in ("../results/x.json", "runs/x/artifacts/../../y.json", "results/abc/full.json"):
        assert _compliance("/compliance/artifact", "compliance", {"path": bad})["status"] == 400
    assert _compliance("/compliance/artifact", "compliance",
                       {"path": "runs/2/artifacts/iam/1/us-east-1.json"})["status"] == 404

"""The optimizer's job flow end to end on the embedded AWS, through the API only.

POST /optimize stores the spec and starts the job pipeline; the embedded AWS runs its
Processing step (the job step's entrypoint as a local process, writing its part), invokes
the results aggregator function from its artifact as the pipeline's Lambda step (with the
pipeline's role), emits SageMaker's events, and EventBridge invokes the job-status function
from its artifact, which moves the job and pushes to the WebSocket. The test talks HTTP and WebSocket to the local API server and
reads nothing but what the API serves, except to check where the API's answers came from.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workloads"))
from handlers_testkit import SETTINGS, ingest_prices, settings_env  # noqa: E402

from charter.local import LocalAws  # noqa: E402
from charter.workloads import local_jobflow  # noqa: E402
from charter.workloads.handlers import aws  # noqa: E402
from charter.workloads.server import LocalApiServer  # noqa: E402

pytestmark = [pytest.mark.e2e]
ASSETS = ["A000", "A001", "A002", "A003", "A004"]
#: a hang guard, not a timing: the step is a fresh interpreter and the function a zygote
DEADLINE_SECONDS = 600


@pytest.fixture(scope="module")
def api() -> Iterator[LocalApiServer]:
    with pytest.MonkeyPatch.context() as mp, LocalAws() as moto:
        for k, v in {**settings_env(), **moto.env()}.items():
            mp.setenv(k, v)
        aws.reset()
        with LocalApiServer(SETTINGS, aws_app=moto.wsgi_app()) as server:
            assert ingest_prices(n_assets=5, n_days=320)["validated"] == 1
            yield server
        aws.reset()


class Subscriber:
    """A WebSocket client of the local API (a thread with its own loop) subscribed to one job."""

    def __init__(self, api: LocalApiServer, user: str) -> None:
        self.url = api.url.replace("http://", "ws://") + f"/ws?user={user}"
        self.messages: list[dict[str, Any]] = []
        self.outbox: list[dict[str, Any]] = []
        self.done = threading.Event()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self.thread.start()
        assert self.connected.wait(60), "the WebSocket did not connect"

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(self.url) as ws:
            self.connected.set()
            deadline = time.monotonic() + DEADLINE_SECONDS
            while not self.done.is_set() and time.monotonic() < deadline:
                while self.outbox:
                    await ws.send_str(json.dumps(self.outbox.pop(0)))
                try:
                    msg = await ws.receive(timeout=0.2)
                except TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                data = json.loads(msg.data)
                self.messages.append(data)
                if data.get("status") in ("SUCCEEDED", "FAILED"):
                    self.done.set()

    def send(self, message: dict[str, Any]) -> None:
        self.outbox.append(message)

    def close(self) -> None:
        self.done.set()
        self.thread.join(10)


def _submit(api: LocalApiServer, body: dict[str, Any], user: str = "alice") -> str:
    resp = requests.post(f"{api.url}/optimize", json=body, headers={"X-Charter-User": user}, timeout=30)
    assert resp.status_code == 202, resp.text
    return resp.json()["job_id"]


def _wait(api: LocalApiServer, job_id: str, user: str = "alice") -> dict[str, Any]:
    deadline, version, status = time.monotonic() + DEADLINE_SECONDS, 0, {}
    while time.monotonic() < deadline:
        status = requests.get(f"{api.url}/jobs/{job_id}", params={"wait": 5, "after": version},
                              headers={"X-Charter-User": user}, timeout=30).json()
        version = status["version"]
        if status["status"] in ("SUCCEEDED", "FAILED"):
            return status
    raise AssertionError(f"job {job_id} did not end: {status}")


def test_a_job_runs_through_its_pipeline_pushes_progress_and_serves_constrained_results(api):
    ws = Subscriber(api, "alice")
    try:
        body = {"assets": ASSETS, "objective": "mean_cvar", "cvar_alpha": 0.9, "risk_aversion": 3.0,
                "constraints": {"min_weight": 0.05, "max_weight": 0.3}, "horizon_days": 200,
                "backtest": {"lookback": 60, "rebalance_every": 21}}
        job_id = _submit(api, body)
        ws.send({"action": "subscribe", "job_id": job_id})
        status = _wait(api, job_id)
        assert ws.done.wait(DEADLINE_SECONDS), ws.messages
    finally:
        ws.close()
    assert status["status"] == "SUCCEEDED" and status["objective"] == "mean_cvar", status
    pushed = [m for m in ws.messages if m.get("type") == "status" and m.get("job_id") == job_id]
    # the subscription's first answer, then what the pipeline's events did to the job
    assert [m["status"] for m in pushed][-1] == "SUCCEEDED"
    assert any(m["status"] == "RUNNING" and m.get("step") == "Optimize" for m in pushed), pushed
    assert any(m["status"] == "RUNNING" and m.get("step") == "ResultsAggregation" for m in pushed), pushed
    versions = [m["version"] for m in pushed]
    assert versions == sorted(versions)
    progress = [m["progress"] for m in pushed]
    assert progress == sorted(progress) and progress[-1] == 1.0

    rows, page, summary = [], 0, None
    while page is not None:
        got = requests.get(f"{api.url}/jobs/{job_id}/results", params={"page": page},
                           headers={"X-Charter-User": "alice"}, timeout=30).json()
        summary = summary or got["summary"]
        rows += got["items"]
        page = got["next_page"]
    assert summary["objective"] == "mean_cvar"
    weights = summary["weights"]
    assert set(weights) == set(ASSETS) and abs(sum(weights.values()) - 1) < 1e-6
    assert all(0.05 - 1e-6 <= w <= 0.3 + 1e-6 for w in weights.values()), weights
    assert {r["asset"]: r["weight"] for r in rows if r["kind"] == "weight"} == weights
    # where the API's answers came from: the Optimize step's part under results/<job_id>/parts/, the
    # aggregator's pages and summary under results/<job_id>/, the spec under jobs/
    s3 = aws.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=SETTINGS.results_bucket, Prefix=f"results/{job_id}/")
            .get("Contents", [])}
    assert {f"results/{job_id}/parts/algo-1/summary.json", f"results/{job_id}/parts/algo-1/rows.jsonl",
            f"results/{job_id}/summary.json", f"results/{job_id}/full.json",
            f"results/{job_id}/pages/00000.json"} <= keys
    # the aggregator ran as the pipeline's ResultsAggregation step, after Optimize, and said what it wrote
    execution = aws.client("sagemaker").list_pipeline_execution_steps(
        PipelineExecutionArn=_execution_arn(job_id))["PipelineExecutionSteps"]
    steps = {st["StepName"]: st for st in execution}
    assert [st["StepName"] for st in reversed(execution)] == ["Optimize", "ResultsAggregation"]
    assert all(st["StepStatus"] == "Succeeded" for st in execution), execution
    aggregated = steps["ResultsAggregation"]["Metadata"]["Lambda"]
    assert aggregated["Arn"].endswith(":function:" + local_jobflow.names(SETTINGS)["aggregator"])
    outputs = {o["Name"]: o["Value"] for o in aggregated["OutputParameters"]}
    assert outputs == {"rows_total": str(len(rows)), "summary_key": f"results/{job_id}/summary.json"}
    spec = json.loads(s3.get_object(Bucket=SETTINGS.results_bucket, Key=f"jobs/{job_id}/spec.json")["Body"].read())
    assert spec["request"]["constraints"]["max_weight"] == 0.3 and spec["job_id"] == job_id


def _execution_arn(job_id: str) -> str:
    from charter.workloads.handlers.jobs import JobStore

    return JobStore(SETTINGS).get(job_id).execution_arn


def test_a_job_is_failed_when_the_pipeline_may_not_invoke_the_aggregator(api):
    """The aggregator is the job's last step, not a side path: a pipeline role without
    lambda:InvokeFunction on it (AWS refuses SageMaker the call) leaves the result unwritten,
    and the job FAILED with the step's reason, not SUCCEEDED on the Optimize step's part."""
    from charter.local import enforcement

    if not enforcement.enabled():
        pytest.skip("the embedded AWS runs without enforcement (CHARTER_LOCAL_ENFORCE=0): no call is refused")
    iam = aws.client("iam")
    role = local_jobflow.names(SETTINGS)["pipeline_role"]
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    policy = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    kept = {**policy, "Statement": [st for st in policy["Statement"] if "lambda:InvokeFunction" not in st["Action"]]}
    assert len(kept["Statement"]) == len(policy["Statement"]) - 1
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(kept))
    try:
        job_id = _submit(api, {"assets": ASSETS, "objective": "min_variance"})
        status = _wait(api, job_id)
    finally:
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(policy))
    assert status["status"] == "FAILED", status
    assert status["error"].startswith("ResultsAggregation: ClientError: ") and "lambda:InvokeFunction" in status["error"]
    keys = {o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=SETTINGS.results_bucket,
                                                                Prefix=f"results/{job_id}/").get("Contents", [])}
    assert f"results/{job_id}/parts/algo-1/summary.json" in keys and f"results/{job_id}/summary.json" not in keys


def test_a_job_whose_step_fails_is_failed_with_the_steps_error(api):
    # valid for submit (the tickers are in the data set), but no data in those dates: the step fails
    job_id = _submit(api, {"assets": ASSETS, "objective": "min_variance", "start": "2099-01-01",
                           "end": "2099-06-30"})
    status = _wait(api, job_id)
    assert status["status"] == "FAILED", status
    assert status["error"].startswith("Optimize: AlgorithmError: ") and "0 days between 2099-01-01" in status["error"]
    gone = requests.get(f"{api.url}/jobs/{job_id}/results", headers={"X-Charter-User": "alice"}, timeout=30)
    assert gone.status_code == 409 and "Optimize" in gone.json()["job_error"]


def test_submit_refuses_tickers_the_data_set_lacks_before_anything_starts(api):
    resp = requests.post(f"{api.url}/optimize", json={"assets": ["A000", "ZZZZ"], "objective": "min_variance"},
                         headers={"X-Charter-User": "alice"}, timeout=30)
    assert resp.status_code == 400
    [problem] = resp.json()["fields"]
    assert problem["field"] == "assets" and problem["message"].endswith(": ZZZZ") and "A000" not in problem["message"]


def test_an_ended_job_is_not_moved_by_a_late_event_and_a_vanished_execution_fails_its_job(api):
    from charter.workloads.handlers import jobstatus
    from charter.workloads.handlers.jobs import JobStore

    job_id = _submit(api, {"assets": ASSETS, "objective": "risk_parity"})
    done = _wait(api, job_id)
    assert done["status"] == "SUCCEEDED"
    store = JobStore(SETTINGS)
    job = store.get(job_id)
    late = {"detail-type": jobstatus.EXECUTION_EVENT,
            "detail": {"pipelineExecutionArn": job.execution_arn, "currentPipelineExecutionStatus": "Executing"}}
    assert jobstatus.apply(late, SETTINGS) is None
    assert store.get(job_id).status == "SUCCEEDED"
    # as on AWS: a repeated ClientRequestToken is the same execution (submit's retry never runs a job twice),
    # and the execution lists its steps
    sm = aws.client("sagemaker")
    again = sm.start_pipeline_execution(PipelineName=SETTINGS.job_pipeline_name, ClientRequestToken=job_id,
                                        PipelineParameters=[{"Name": "JobId", "Value": job_id}])
    assert again["PipelineExecutionArn"] == job.execution_arn
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=job.execution_arn)["PipelineExecutionSteps"]
    assert {(st["StepName"], st["StepStatus"]) for st in steps} == {("Optimize", "Succeeded"),
                                                                  ("ResultsAggregation", "Succeeded")}
    assert sm.describe_pipeline_execution(PipelineExecutionArn=job.execution_arn)["PipelineExecutionStatus"] == \
        "Succeeded"

    orphan = store.create("alice", {"assets": ASSETS}, objective="min_variance")
    arn = job.execution_arn.rsplit("/", 1)[0] + "/gone0000000"
    store.update(orphan, execution_arn=arn)
    moved = jobstatus.reconcile(store.get(orphan.job_id), SETTINGS, store)
    assert moved is not None and moved.status == "FAILED" and "no longer exists" in moved.error
    never = store.create("alice", {"assets": ASSETS}, objective="min_variance")
    assert "never started" in jobstatus.reconcile(never, SETTINGS, store).error

"""Handlers called directly as Python functions with real event shapes, under moto (`mock_aws`)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parent))
from handlers_testkit import (  # noqa: E402
    SETTINGS,
    eventbridge_event,
    ingest_prices,
    proxy_event,
    s3_event,
    settings_env,
)

from charter.workloads.handlers import (  # noqa: E402
    agents,
    aggregator,
    api,
    aws,
    cleanup,
    ingest,
    websocket,
    worker,
)
from charter.workloads.handlers.jobs import JobStore  # noqa: E402
from charter.workloads.handlers.openapi import (  # noqa: E402
    action_group_document,
    openapi_document,
    optimize_request_schema,
)
from charter.workloads.server import ensure_resources  # noqa: E402

ASSETS = ["A000", "A001", "A002", "A003"]


@pytest.fixture()
def cloud(monkeypatch: pytest.MonkeyPatch):
    for k, v in settings_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("CHARTER_LOCAL", "0")  # submit must start the SageMaker pipeline here
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws.reset()
    with mock_aws():
        ensure_resources(SETTINGS)
        yield
    aws.reset()


def _pipeline() -> None:
    boto3.client("sagemaker", region_name="us-east-1").create_pipeline(
        PipelineName=SETTINGS.job_pipeline_name, RoleArn="arn:aws:iam::123456789012:role/pipeline",
        PipelineDefinition=json.dumps({"Version": "2020-12-01", "Parameters": [
            {"Name": "JobId", "Type": "String"}, {"Name": "MarketDataUri", "Type": "String"}], "Steps": []}))


def _submit(body: dict, user: str = "user-1") -> dict:
    return api.submit(proxy_event("POST", "/optimize", "/optimize", body=body, user=user))


def test_submit_starts_pipeline_and_status_results_follow_the_job(cloud) -> None:
    _pipeline()
    assert ingest_prices(n_assets=4, n_days=260)["validated"] == 1
    resp = _submit({"assets": ASSETS, "objective": "risk_parity", "backtest": {"lookback": 40}})
    assert resp["statusCode"] == 202, resp
    job_id = json.loads(resp["body"])["job_id"]
    executions = boto3.client("sagemaker", region_name="us-east-1").list_pipeline_executions(
        PipelineName=SETTINGS.job_pipeline_name)["PipelineExecutionSummaries"]
    assert len(executions) == 1
    job = JobStore(SETTINGS).get(job_id)
    assert job.status == "QUEUED" and job.execution_arn and job.user_id == "user-1"
    params = {p["Name"]: p["Value"] for p in boto3.client("sagemaker", region_name="us-east-1")
              .list_pipeline_parameters_for_execution(PipelineExecutionArn=job.execution_arn)["PipelineParameters"]}
    assert params["JobId"] == job_id and params["JobSpecUri"].endswith(f"/jobs/{job_id}/spec.json")
    assert params["MarketDataUri"].startswith(f"s3://{SETTINGS.market_data_bucket}/validated/")

    ev = proxy_event("GET", "/jobs/{id}", f"/jobs/{job_id}", path_params={"id": job_id})
    assert json.loads(api.status(ev)["body"])["status"] == "QUEUED"
    assert api.results(proxy_event("GET", "/jobs/{id}/results", f"/jobs/{job_id}/results",
                                   path_params={"id": job_id}))["statusCode"] == 409

    # what the pipeline's aggregator step writes under results/<job_id>/, then the execution's event
    from charter.workloads.handlers import datasets, jobstatus, results
    from charter.workloads.handlers.models import JobSpec

    spec = JobSpec.model_validate_json(boto3.client("s3", region_name="us-east-1").get_object(
        Bucket=SETTINGS.results_bucket, Key=f"jobs/{job_id}/spec.json")["Body"].read())
    summary, rows = worker.optimize(spec.request, datasets.select(datasets.load(SETTINGS, spec.dataset)[0],
                                                                  spec.request.assets))
    results.write(SETTINGS.results_bucket, job_id, summary, rows, SETTINGS.results_page_rows)
    moved = jobstatus.apply({"detail-type": jobstatus.EXECUTION_EVENT, "detail": {
        "pipelineExecutionArn": job.execution_arn, "currentPipelineExecutionStatus": "Succeeded"}}, SETTINGS)
    assert moved.status == "SUCCEEDED" and moved.extra["rows_total"] == len(rows) and moved.error is None
    slept: list[float] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(api, "time", SimpleNamespace(monotonic=time.monotonic, time=time.time, sleep=slept.append))
        body = json.loads(api.status(proxy_event("GET", "/jobs/{id}", f"/jobs/{job_id}",
                                                 path_params={"id": job_id}, query={"wait": "3", "after": "1"}))["body"])
    assert body["status"] == "SUCCEEDED" and slept == []  # terminal: answered without waiting
    page = json.loads(api.results(proxy_event("GET", "/jobs/{id}/results", f"/jobs/{job_id}/results",
                                              path_params={"id": job_id}, query={"page": "0"}))["body"])
    assert page["summary"]["objective"] == "risk_parity" and page["items"][0]["kind"] == "weight"
    assert page["download_url"].startswith("https://")
    other = api.status(proxy_event("GET", "/jobs/{id}", f"/jobs/{job_id}", path_params={"id": job_id}, user="eve"))
    assert other["statusCode"] == 404


def test_a_succeeded_search_job_shows_its_trials_and_best_score(cloud) -> None:
    """The job step runs isolated from the network, so the status reads the search's trial
    counts and best score from the result when the execution succeeds."""
    from charter.workloads.handlers import datasets, jobstatus, results
    from charter.workloads.handlers.models import JobSpec

    _pipeline()
    assert ingest_prices(n_assets=4, n_days=260)["validated"] == 1
    resp = _submit({"assets": ASSETS, "objective": "risk_parity", "backtest": {"lookback": 40},
                    "search": {"enabled": True, "n_trials": 3, "lookback_min": 30, "lookback_max": 60}})
    assert resp["statusCode"] == 202, resp
    job = JobStore(SETTINGS).get(json.loads(resp["body"])["job_id"])
    spec = JobSpec.model_validate_json(boto3.client("s3", region_name="us-east-1").get_object(
        Bucket=SETTINGS.results_bucket, Key=f"jobs/{job.job_id}/spec.json")["Body"].read())
    summary, rows = worker.optimize(spec.request, datasets.select(datasets.load(SETTINGS, spec.dataset)[0],
                                                                  spec.request.assets))
    results.write(SETTINGS.results_bucket, job.job_id, summary, rows, SETTINGS.results_page_rows)
    jobstatus.apply({"detail-type": jobstatus.EXECUTION_EVENT, "detail": {
        "pipelineExecutionArn": job.execution_arn, "currentPipelineExecutionStatus": "Succeeded"}}, SETTINGS)
    body = json.loads(api.status(proxy_event("GET", "/jobs/{id}", f"/jobs/{job.job_id}",
                                             path_params={"id": job.job_id}))["body"])
    trials = {r["trial"] for r in rows if r["kind"] == "trial"}
    assert body["status"] == "SUCCEEDED" and len(trials) == 3
    assert body["trials_total"] >= 3 and body["trials_done"] == body["trials_total"]
    assert body["best_score"] == pytest.approx(max(r["score"] for r in rows if r["kind"] == "trial"
                                                   and r["score"] is not None))


@pytest.mark.parametrize(("body", "field"), [
    ({"assets": ["A000"], "objective": "min_variance"}, "assets"),
    ({"assets": ASSETS, "objective": "max_return"}, "objective"),
    ({"assets": ASSETS, "objective": "min_variance", "constraints": {"max_weight": -1}}, "constraints.max_weight"),
    ({"assets": ASSETS, "objective": "min_variance", "extra": 1}, "extra"),
    ({"assets": ASSETS, "objective": "min_variance", "constraints": {"min_weight": 0.5, "max_weight": 0.4}},
     "constraints.min_weight"),
    ({"assets": ["A000", "A000"], "objective": "min_variance"}, "assets"),
    ("[1, 2]", "body"),
])
def test_bad_submit_is_400_naming_the_field(cloud, body, field) -> None:
    resp = _submit(body)
    assert resp["statusCode"] == 400
    data = json.loads(resp["body"])
    assert data["error"] == "validation" and field in [f["field"] for f in data["fields"]]


def test_bad_path_and_query_parameters_are_400(cloud) -> None:
    assert api.status(proxy_event("GET", "/jobs/{id}", "/jobs/x", path_params={"id": "x"}))["statusCode"] == 400
    job_id = "0" * 32
    resp = api.status(proxy_event("GET", "/jobs/{id}", f"/jobs/{job_id}", path_params={"id": job_id},
                                  query={"wait": "999"}))
    assert resp["statusCode"] == 400 and json.loads(resp["body"])["fields"][0]["field"] == "wait"


def _ws_event(route: str, connection_id: str, body: str | None = None) -> dict:
    return {"requestContext": {"routeKey": route, "eventType": route.strip("$").upper(), "connectionId": connection_id,
                               "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "stage": "test",
                               "apiId": "abc123", "requestId": "r1", "connectedAt": 1, "requestTimeEpoch": 1,
                               "identity": {"sourceIp": "10.0.0.1"}, "authorizer": {"principalId": "user-1"}},
            "body": body, "isBase64Encoded": False}


def test_websocket_connect_subscribe_push_disconnect(cloud) -> None:
    store = JobStore(SETTINGS)
    job = store.create("user-1", {"assets": ASSETS, "objective": "min_variance"})
    assert websocket.connect(_ws_event("$connect", "conn-1"), None)["statusCode"] == 200
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    assert ddb.get_item(TableName=SETTINGS.connections_table, Key={"connection_id": {"S": "conn-1"}})["Item"]
    sub = websocket.default(_ws_event("$default", "conn-1", json.dumps({"action": "subscribe", "job_id": job.job_id})))
    assert sub["statusCode"] == 200
    assert websocket.default(_ws_event("$default", "conn-1", "nope"))["statusCode"] == 400
    assert websocket.default(_ws_event("$default", "conn-1", json.dumps(
        {"action": "subscribe", "job_id": "f" * 32})))["statusCode"] == 404
    assert websocket.notify(store.update(job, status="RUNNING"), SETTINGS) == 1
    assert websocket.disconnect(_ws_event("$disconnect", "conn-1"))["statusCode"] == 200
    assert "Item" not in ddb.get_item(TableName=SETTINGS.connections_table, Key={"connection_id": {"S": "conn-1"}})
    assert websocket.notify(job, SETTINGS) == 0


def test_websocket_pushes_go_to_the_apis_own_url_whatever_the_sdk_endpoint(cloud, monkeypatch) -> None:
    """A runtime that points the SDK elsewhere (the embedded AWS's Lambda runtime sets
    AWS_ENDPOINT_URL; a proxy may set the per-service variable) does not move the management
    API: API Gateway serves it only at the API's own URL, which the $connect event names."""
    monkeypatch.setattr(websocket, "_mgmt", {})
    dead = "http://127.0.0.1:9"  # nothing listens: a push sent there is lost
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", dead)
    store = JobStore(SETTINGS)
    job = store.create("user-1", {"assets": ASSETS, "objective": "min_variance"})
    assert websocket.connect(_ws_event("$connect", "conn-2"), None)["statusCode"] == 200
    assert websocket.default(_ws_event("$default", "conn-2", json.dumps(
        {"action": "subscribe", "job_id": job.job_id})))["statusCode"] == 200
    assert websocket.notify(store.update(job, status="RUNNING"), SETTINGS) == 1
    api_url = "https://abc123.execute-api.us-east-1.amazonaws.com/test"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    assert websocket._management(api_url).meta.endpoint_url == api_url


def test_websocket_endpoint_setting_names_a_gateway_of_its_own(cloud, monkeypatch) -> None:
    """A deployment (or the local server) whose management API is not at the URL the events
    carry says where it is in WEBSOCKET_ENDPOINT; the connection keeps that URL for pushes."""
    monkeypatch.setenv("WEBSOCKET_ENDPOINT", "https://ws.example.com/prod")
    assert websocket.connect(_ws_event("$connect", "conn-3"), None)["statusCode"] == 200
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=SETTINGS.connections_table, Key={"connection_id": {"S": "conn-3"}})["Item"]
    assert item["endpoint"]["S"] == "https://ws.example.com/prod"
    monkeypatch.delenv("WEBSOCKET_ENDPOINT")
    assert websocket.connect(_ws_event("$connect", "conn-4"), None)["statusCode"] == 200
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=SETTINGS.connections_table, Key={"connection_id": {"S": "conn-4"}})["Item"]
    assert item["endpoint"]["S"] == "https://abc123.execute-api.us-east-1.amazonaws.com/test"


def _agent_event(api_path: str, props: list[dict], group: str = "risk") -> dict:
    return {"messageVersion": "1.0", "agent": {"name": "risk-assessment", "id": "AGENT1", "alias": "ALIAS1",
                                               "version": "1"},
            "inputText": "how risky is this?", "sessionId": "s1", "actionGroup": group, "apiPath": api_path,
            "httpMethod": "POST", "parameters": [],
            "requestBody": {"content": {"application/json": {"properties": props}}},
            "sessionAttributes": {"k": "v"}, "promptSessionAttributes": {}}


def test_agent_action_groups_answer_in_bedrock_format(cloud) -> None:
    ingest_prices(n_assets=4, n_days=260)
    ev = _agent_event("/portfolio/risk", [{"name": "weights", "type": "object", "value": "{A000=0.7, A001=0.3}"},
                                          {"name": "confidence", "type": "number", "value": "0.95"}])
    out = agents.handler(ev)
    assert out["messageVersion"] == "1.0" and out["sessionAttributes"] == {"k": "v"}
    r = out["response"]
    assert (r["actionGroup"], r["apiPath"], r["httpMethod"], r["httpStatusCode"]) == ("risk", "/portfolio/risk",
                                                                                      "POST", 200)
    risk = json.loads(r["responseBody"]["application/json"]["body"])
    assert risk["volatility"] > 0 and risk["cvar"] >= risk["var"] and risk["flags"]  # 70 % > 25 % limit
    md = agents.handler(_agent_event("/market-data", [{"name": "tickers", "type": "array", "value": "[A000, A002]"}]))
    assert set(json.loads(md["response"]["responseBody"]["application/json"]["body"])["assets"]) == {"A000", "A002"}
    ev2 = agents.handler(_agent_event("/strategies/evaluate", [
        {"name": "weights", "type": "object", "value": '{"A000": 0.5, "A003": 0.5}'}], "strategy"))
    assert "sharpe" in json.loads(ev2["response"]["responseBody"]["application/json"]["body"])["metrics"]
    boto3.client("dynamodb", region_name="us-east-1").put_item(TableName=SETTINGS.strategies_table, Item={
        "strategy_id": {"S": "s1"}, "version": {"N": "1"},
        "config": {"S": json.dumps({"assets": ASSETS, "lookback_min": 30, "lookback_max": 60})}})
    search = agents.handler(_agent_event("/search", [{"name": "strategy_id", "type": "string", "value": "s1"},
                                                     {"name": "max_jobs", "type": "integer", "value": "3"}], "strategy"))
    assert search["response"]["httpStatusCode"] == 200
    bad = agents.handler(_agent_event("/portfolio/risk", [{"name": "confidence", "type": "number", "value": "2"}]))
    assert bad["response"]["httpStatusCode"] == 400
    assert agents.handler(_agent_event("/nope", []))["response"]["httpStatusCode"] == 404


def test_ingest_good_and_bad_files(cloud) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    bucket = SETTINGS.market_data_bucket
    assert ingest_prices(key="incoming/vendor/eod 2024.csv")["results"][0]["dataset"] == "vendor-eod-2024"
    assert s3.get_object(Bucket=bucket, Key="validated/vendor-eod-2024.csv")
    lines = ["date,AAA,BBB"] + [f"2024-01-{d:02d},{0.001 * d},{-0.002}" for d in range(1, 31)]
    lines[10] = "2024-01-10,3.5,0.01"  # +350 % in a day, and a 4-day-old gap is fine; too many outliers is not
    lines[11] = "2024-01-11,-2.0,0.01"  # a -200 % return is impossible
    s3.put_object(Bucket=bucket, Key="incoming/bad.csv", Body="\n".join(lines).encode(), Metadata={"kind": "returns"})
    out = ingest.handler(eventbridge_event(bucket, "incoming/bad.csv"))
    assert out["quarantined"] == 1
    reason = json.loads(s3.get_object(Bucket=bucket, Key="quarantine/bad.csv.reason.json")["Body"].read())
    assert reason["check"] == "outliers" and "BBB" not in reason["reason"]
    gap = ["date,AAA,BBB"] + [f"2024-0{m}-{d:02d},{100 + d},{50 + d}" for m in (1, 4) for d in range(2, 28)]
    s3.put_object(Bucket=bucket, Key="incoming/gap.csv", Body="\n".join(gap).encode())
    ingest.handler(s3_event(bucket, "incoming/gap.csv"))
    assert json.loads(s3.get_object(Bucket=bucket, Key="quarantine/gap.csv.reason.json")["Body"].read())["check"] \
        == "gaps"
    assert ingest.handler(s3_event(bucket, "validated/x.csv"))["results"][0]["status"] == "skipped"


def test_cleanup_archives_expires_and_times_out(cloud) -> None:
    ingest_prices(n_assets=4, n_days=260)
    store = JobStore(SETTINGS)
    done = store.create("u", {"assets": ASSETS, "objective": "min_variance", "backtest": {"enabled": False}})
    assert worker.run_job(done.job_id, SETTINGS).status == "SUCCEEDED"
    stuck = store.create("u", {"assets": ASSETS, "objective": "min_variance"})
    now = time.time()
    counts = cleanup.handler({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}},
                             now=now + 31 * 86400)
    assert counts["results_archived"] == 1 and counts["jobs_reconciled"] == 1
    assert store.get(stuck.job_id).status == "FAILED"
    assert "never started" in store.get(stuck.job_id).error  # no execution: reconciled, with why
    page = json.loads(api.results(proxy_event("GET", "/jobs/{id}/results", f"/jobs/{done.job_id}/results",
                                              user="u", path_params={"id": done.job_id}))["body"])
    assert page["page_url"] and page["summary"]["objective"] == "min_variance"  # served from the archive
    counts = cleanup.handler({}, now=now + 91 * 86400)
    assert counts["jobs_expired"] == 2 and store.get(done.job_id) is None
    assert boto3.client("s3", region_name="us-east-1").list_objects_v2(
        Bucket=SETTINGS.results_bucket).get("KeyCount", 0) == 0


def test_aggregator_merges_search_shards(cloud) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    store = JobStore(SETTINGS)
    job = store.create("u", {"assets": ASSETS, "objective": "min_variance"})

    def rec(rung: int, trial: int, score: float | None) -> str:
        return json.dumps({"rung": rung, "trial": trial, "score": score, "error": None, "config": {"trial": trial}})

    s3.put_object(Bucket=SETTINGS.results_bucket, Key="shards/0.jsonl",
                  Body=("\n".join([rec(0, 0, 0.1), rec(0, 2, 0.5), rec(1, 2, 0.4)]) + "\n").encode())
    s3.put_object(Bucket=SETTINGS.results_bucket, Key="shards/1.jsonl",
                  Body=("\n".join([rec(0, 1, 0.9), rec(1, 1, 0.3)]) + "\n").encode())
    out = aggregator.handler({"job_id": job.job_id, "shards": [
        f"s3://{SETTINGS.results_bucket}/shards/0.jsonl", "shards/1.jsonl"]})
    assert out["ok"] and out["trials"] == 3 and out["best"]["trial"] == 2  # best on the deepest rung
    assert store.get(job.job_id).extra["search_best_trial"] == 2
    assert not aggregator.handler({"job_id": job.job_id})["ok"]


def test_aggregator_step_merges_the_hosts_parts_into_the_pages_the_results_api_serves(cloud) -> None:
    """The job pipeline's ResultsAggregation step: every host's part (algo-10 after algo-2), the
    search trials merged (a later host's record of a (rung, trial) wins), the summary from the
    first host, the pages in the results API's layout, the summary last."""
    s3 = boto3.client("s3", region_name="us-east-1")
    job_id = "job-agg"
    base = f"results/{job_id}/parts"

    def put(host: str, name: str, body: object) -> None:
        data = json.dumps(body) if name.endswith(".json") else "".join(json.dumps(r) + "\n" for r in body)
        s3.put_object(Bucket=SETTINGS.results_bucket, Key=f"{base}/{host}/{name}", Body=data.encode())

    trial = lambda t, rung, score: {"kind": "trial", "trial": t, "rung": rung, "score": score, "error": None}  # noqa: E731
    put("algo-1", "summary.json", {"objective": "max_sharpe", "weights": {"A000": 1.0}})
    put("algo-1", "rows.jsonl", [{"kind": "weight", "asset": "A000", "weight": 1.0}, trial(0, 0, 0.1)])
    put("algo-1", "trials.jsonl", [trial(0, 0, 0.1), trial(1, 0, 0.2)])
    put("algo-2", "rows.jsonl", [{"kind": "backtest", "date": "2024-01-02", "return": 0.01, "wealth": 1.01}])
    put("algo-2", "trials.jsonl", [trial(2, 0, 0.6), trial(2, 1, 0.7)])  # a trial promoted: its furthest rung shows
    put("algo-10", "trials.jsonl", [trial(1, 0, 0.25)])  # the same (rung, trial) as algo-1's: the later host wins
    s3.put_object(Bucket=SETTINGS.results_bucket, Key=f"jobs/{job_id}/spec.json", Body=json.dumps({"job_id": job_id}))
    out = aggregator.handler({"job_id": job_id, "spec": f"s3://{SETTINGS.results_bucket}/jobs/{job_id}/spec.json",
                              "parts": f"s3://{SETTINGS.results_bucket}/{base}", "page_rows": 2})
    assert out["hosts"] == 3 and out["trials"] == 3 and out["summary_key"] == f"results/{job_id}/summary.json"
    read = lambda key: json.loads(s3.get_object(Bucket=SETTINGS.results_bucket, Key=key)["Body"].read())  # noqa: E731
    summary = read(f"results/{job_id}/summary.json")
    assert summary["summary"]["objective"] == "max_sharpe"
    assert summary["manifest"] == {"page_count": 3, "rows_total": 5, "page_rows": 2} and out["rows_total"] == 5
    rows = [r for n in range(3) for r in read(f"results/{job_id}/pages/{n:05d}.json")["items"]]
    assert [r["kind"] for r in rows] == ["weight", "backtest", "trial", "trial", "trial"]
    assert [(r["trial"], r["score"]) for r in rows if r["kind"] == "trial"] == [(0, 0.1), (1, 0.25), (2, 0.7)]
    assert read(f"results/{job_id}/search/best.json")["best"]["trial"] == 2  # the deepest rung's best


def test_aggregator_step_fails_without_parts_or_outside_the_jobs_results(cloud) -> None:
    with pytest.raises(aggregator.AggregationError, match="the Optimize step wrote nothing"):
        aggregator.handler({"job_id": "none", "parts": f"s3://{SETTINGS.results_bucket}/results/none/parts"})
    with pytest.raises(aggregator.AggregationError, match="must be under"):
        aggregator.handler({"job_id": "a", "parts": f"s3://{SETTINGS.results_bucket}/results/b/parts"})
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=SETTINGS.results_bucket, Key="results/c/parts/algo-1/rows.jsonl", Body=b"")
    with pytest.raises(aggregator.AggregationError, match="left no summary.json"):
        aggregator.handler({"job_id": "c", "parts": f"s3://{SETTINGS.results_bucket}/results/c/parts"})
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=SETTINGS.results_bucket, Key="jobs/d/spec.json", Body=json.dumps({"job_id": "d"}).encode())
    with pytest.raises(aggregator.AggregationError, match="is not job c's"):
        aggregator.handler({"job_id": "c", "spec": f"s3://{SETTINGS.results_bucket}/jobs/d/spec.json",
                            "parts": f"s3://{SETTINGS.results_bucket}/results/c/parts"})


def test_openapi_documents_are_valid() -> None:
    from jsonschema import Draft4Validator
    from openapi_spec_validator import validate

    validate(openapi_document())
    validate(action_group_document())
    schema = optimize_request_schema()
    Draft4Validator.check_schema(schema)
    Draft4Validator(schema).validate({"assets": ASSETS, "objective": "min_variance", "scenarios": None})
    assert list(Draft4Validator(schema).iter_errors({"assets": ASSETS, "objective": "x"}))


def test_a_handler_client_sends_the_user_agent_botocore_builds(cloud, monkeypatch) -> None:
    """handlers.aws remembers botocore's sanitizing of User-Agent components (rebuilt on
    every call, a per-call cost): the header a handler's client sends is the one botocore
    builds without that, characters outside the allowed set replaced as botocore does."""
    from botocore import useragent

    sent: list[str] = []
    sts = aws.client("sts")
    sts.meta.events.register("before-send", lambda request, **_: sent.append(request.headers["User-Agent"]))
    sts.get_caller_identity()
    sts.get_caller_identity()  # the second time from what the first remembered
    remembered = useragent.sanitize_user_agent_string_component
    monkeypatch.setattr(useragent, "sanitize_user_agent_string_component", remembered.__wrapped__)
    sts.get_caller_identity()
    sent = [s.decode() if isinstance(s, bytes) else s for s in sent]
    assert sent[0] == sent[1] == sent[2] and "Botocore/" in sent[0]
    for raw, allow_hash in (("linux 6.1 (x86)", True), ("a#b/c", False), ("a#b", True)):
        assert remembered(raw, allow_hash) == remembered.__wrapped__(raw, allow_hash)
    assert remembered("linux 6.1 (x86)", True) == "linux-6.1--x86-"

"""The optimizer's Lambda functions, deployed by `charter workload deploy` on the embedded
AWS, run from the handlers zip and layer the deploy uploads: invoked as their event sources
invoke them (API Gateway, S3 through EventBridge, the schedule, the pipeline's Lambda step),
as their own role, with the environment their stack gives them, against the tables and
buckets the data stack made. The risk manager is a container image: the embedded AWS does
not run images, so it is not invoked here."""

from __future__ import annotations

import json
import random
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from charter.landing_zone.config import load_config
from charter.local import LocalAws
from charter.naming import MEMBER_ACCESS_ROLE
from charter.workloads.deploy import deploy_workload

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
NO_JOB = "0" * 32


@dataclass
class Deployed:
    lam: Any
    s3: Any
    ddb: Any
    names: dict[str, str]  # logical id -> function name
    env: dict[str, str]  # the environment the compute stack gives every function


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    cfg = load_config(REPO / "examples" / "small" / "org.yaml")
    with LocalAws() as server:
        urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")).read()
        sessions = server.sessions()
        result = deploy_workload(cfg, "dev", sessions, tmp_path_factory.mktemp("wl"), local=True)
        assert result.failures == []
        dev = next(a["Id"] for a in sessions.client("organizations").list_accounts()["Accounts"] if a["Name"] == "dev")

        def client(service: str) -> Any:
            return sessions.client(service, account_id=dev, role_name=MEMBER_ACCESS_ROLE)

        cfn = client("cloudformation")
        compute = next(s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackName"].endswith("-compute"))
        names = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in cfn.describe_stack_resources(
            StackName=compute)["StackResources"] if r["ResourceType"] == "AWS::Lambda::Function"}
        lam = client("lambda")
        env = lam.get_function_configuration(FunctionName=names["StatusFunction"])["Environment"]["Variables"]
        yield Deployed(lam, client("s3"), client("dynamodb"), names, env)


def _invoke(d: Deployed, logical: str, event: dict) -> tuple[Any, str | None]:
    answer = d.lam.invoke(FunctionName=d.names[logical], Payload=json.dumps(event), LogType="Tail")
    return json.loads(answer["Payload"].read()), answer.get("FunctionError")


def _proxy(method: str, resource: str, path: str, body: Any = None, **path_params: str) -> dict:
    return {"httpMethod": method, "resource": resource, "path": path, "pathParameters": path_params or None,
            "queryStringParameters": None, "headers": {"content-type": "application/json"},
            "body": None if body is None else json.dumps(body), "isBase64Encoded": False,
            "requestContext": {"authorizer": {"claims": {"sub": "alice"}}, "requestId": "r1", "stage": "v1"}}


def _prices_csv(assets: int = 4, days: int = 260) -> bytes:
    rng = random.Random(7)
    prices = [100.0] * assets
    lines = ["date," + ",".join(f"A{n:03d}" for n in range(assets))]
    for day in range(days):
        prices = [p * (1 + rng.gauss(0.0003, 0.01)) for p in prices]
        lines.append(f"2025-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}," + ",".join(f"{p:.4f}" for p in prices))
    return ("\n".join(lines) + "\n").encode()


def test_the_status_handler_answers_from_the_deployed_jobs_table(deployed: Deployed) -> None:
    payload, error = _invoke(deployed, "StatusFunction", _proxy("GET", "/jobs/{id}", f"/jobs/{NO_JOB}", id=NO_JOB))
    assert error is None, payload
    assert payload["statusCode"] == 404  # looked up in the table, as the handler's own role
    assert json.loads(payload["body"])["error"] == "not_found"


def test_the_results_handler_answers_from_the_deployed_jobs_table(deployed: Deployed) -> None:
    payload, error = _invoke(deployed, "ResultsFunction", _proxy(
        "GET", "/jobs/{id}/results", f"/jobs/{NO_JOB}/results", id=NO_JOB))
    assert error is None, payload
    assert payload["statusCode"] == 404 and json.loads(payload["body"])["error"] == "not_found"


def test_the_submit_handler_validates_with_pydantic_from_the_layer(deployed: Deployed) -> None:
    payload, error = _invoke(deployed, "SubmitFunction", _proxy("POST", "/optimize", "/optimize", {"assets": "A000"}))
    assert error is None, payload
    assert payload["statusCode"] == 400, payload
    assert "assets" in payload["body"]  # the field named, as OptimizeRequest words it


def test_the_websocket_authorizer_refuses_a_request_without_a_token(deployed: Deployed) -> None:
    payload, error = _invoke(deployed, "WsAuthorizerFunction", {
        "type": "REQUEST", "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/prod/$connect",
        "headers": {}, "queryStringParameters": {}, "requestContext": {"connectionId": "c1"},
        "stageVariables": {"cognitoUserPoolId": "us-east-1_Charter01", "cognitoClientId": "charterclient"}})
    # API Gateway's contract: raising "Unauthorized" is the 401
    assert error == "Unhandled" and payload["errorMessage"] == "Unauthorized", payload


def test_websocket_connect_and_disconnect_keep_the_connections_table(deployed: Deployed) -> None:
    table = deployed.env["CONNECTIONS_TABLE"]
    ctx = {"connectionId": "conn-1", "domainName": "ws.example.com", "stage": "prod",
           "authorizer": {"principalId": "alice", "sub": "alice"}}
    payload, error = _invoke(deployed, "WsConnectFunction", {"requestContext": {**ctx, "eventType": "CONNECT"}})
    assert error is None and payload["statusCode"] == 200, payload
    key = {"connection_id": {"S": "conn-1"}}
    assert deployed.ddb.get_item(TableName=table, Key=key).get("Item"), "the connection was not recorded"
    payload, error = _invoke(deployed, "WsDisconnectFunction", {"requestContext": {**ctx, "eventType": "DISCONNECT"}})
    assert error is None and payload["statusCode"] == 200, payload
    assert "Item" not in deployed.ddb.get_item(TableName=table, Key=key)


def test_the_ingest_handler_validates_an_upload_with_numpy_from_the_layer(deployed: Deployed) -> None:
    bucket = deployed.env["MARKET_DATA_BUCKET"]
    deployed.s3.put_object(Bucket=bucket, Key="incoming/prices.csv", Body=_prices_csv())
    payload, error = _invoke(deployed, "IngestFunction", {
        "version": "0", "id": "e1", "detail-type": "Object Created", "source": "aws.s3", "region": "us-east-1",
        "detail": {"bucket": {"name": bucket}, "object": {"key": "incoming/prices.csv"}}})
    assert error is None, payload
    assert payload["validated"] == 1, payload
    index = json.loads(deployed.s3.get_object(Bucket=bucket, Key="index/prices.json")["Body"].read())
    assert index["source"] == "incoming/prices.csv" and index["rows"] > 100 and len(index["assets"]) == 4


def test_the_aggregator_merges_shards_into_the_results_bucket(deployed: Deployed) -> None:
    bucket = deployed.env["RESULTS_BUCKET"]
    shard = "".join(json.dumps({"trial": t, "rung": 1, "score": s}) + "\n" for t, s in ((1, 0.2), (2, 0.9), (3, 0.5)))
    deployed.s3.put_object(Bucket=bucket, Key="shards/a.jsonl", Body=shard.encode())
    payload, error = _invoke(deployed, "AggregatorFunction", {"job_id": NO_JOB, "shards": [f"s3://{bucket}/shards/a.jsonl"]})
    assert error is None, payload
    objects = [o["Key"] for o in deployed.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    best = next(k for k in objects if k.endswith("search/best.json"))
    assert json.loads(deployed.s3.get_object(Bucket=bucket, Key=best)["Body"].read())["best"]["trial"] == 2


def test_the_agents_pipeline_step_reads_the_jobs_table(deployed: Deployed) -> None:
    payload, error = _invoke(deployed, "AgentsFunction", {"job_id": NO_JOB, "results_uri": "s3://b/k"})
    assert error is None and payload == {"status": "missing"}, payload


def test_the_daily_cleanup_scans_the_deployed_tables(deployed: Deployed) -> None:
    payload, error = _invoke(deployed, "CleanupFunction", {"source": "aws.events", "detail-type": "Scheduled Event"})
    assert error is None, payload
    assert payload["jobs_expired"] == 0 and "connections_expired" in payload, payload

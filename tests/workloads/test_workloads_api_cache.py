"""What the synthesized stacks do to the API's answers on the way to a client: the stage
cache, CloudFront's error responses, the job flow's wiring and where alarms go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.landing_zone.config import load_config
from charter.workloads.synth import synthesize_workloads

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


@pytest.fixture(scope="module")
def stacks() -> dict[str, dict]:
    return {s.name.removeprefix("optimizer-prod-"): s.data for s in synthesize_workloads(load_config(EXAMPLE), "prod")}


def _resources(data: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in data["Resources"].items() if r["Type"] == kind}


def _stage_caching(api: dict) -> dict[str, bool]:
    """HTTP GET resource path -> whether the stage caches it (the `/*` default included)."""
    [stage] = _resources(api, "AWS::ApiGateway::Stage").values()
    settings = stage["Properties"]["MethodSettings"]
    return {s["ResourcePath"]: s.get("CachingEnabled", False) for s in settings if s["HttpMethod"] in ("GET", "*")}


def _method(api: dict, logical: str) -> dict:
    return api["Resources"][logical]["Properties"]


def test_long_polled_job_status_is_never_cached(stacks):
    caching = _stage_caching(stacks["api"])
    assert caching["/*"] is False  # the default for every method
    assert caching.get("/~1jobs~1{id}", False) is False
    status = _method(stacks["api"], "GetJob")
    assert not status["Integration"].get("CacheKeyParameters")
    assert {"method.request.querystring.wait", "method.request.querystring.after"} <= set(status["RequestParameters"])


def test_cached_results_are_keyed_by_job_page_and_caller(stacks):
    caching = _stage_caching(stacks["api"])
    assert caching["/~1jobs~1{id}~1results"] is True
    results = _method(stacks["api"], "GetJobResults")
    key = set(results["Integration"]["CacheKeyParameters"])
    # ?page=N answers page N, and one user's cached page never answers another
    assert key == {"method.request.path.id", "method.request.querystring.page", "method.request.header.Authorization"}
    assert key <= set(results["RequestParameters"])  # API Gateway keys only on declared parameters
    # nothing else is cached
    assert [p for p, on in caching.items() if on] == ["/~1jobs~1{id}~1results"]


def test_api_errors_stay_json_behind_cloudfront(stacks):
    [dist] = _resources(stacks["edge"], "AWS::CloudFront::Distribution").values()
    config = dist["Properties"]["DistributionConfig"]
    # CloudFront's custom error responses apply to every behaviour, the API's included
    assert "CustomErrorResponses" not in config
    api_paths = {b["PathPattern"] for b in config["CacheBehaviors"] if b["TargetOriginId"] == "api"}
    assert {"/optimize", "/jobs", "/jobs/*"} <= api_paths


def test_alarms_notify_the_workloads_own_encrypted_alerts_topic(stacks):
    monitoring = stacks["monitoring"]
    [(logical, topic)] = _resources(monitoring, "AWS::SNS::Topic").items()
    from charter.naming import resource_name

    assert topic["Properties"]["TopicName"] == resource_name(load_config(EXAMPLE), "prod", "optimizer") + "-alerts"
    assert topic["Properties"]["KmsMasterKeyId"]
    subscriptions = _resources(monitoring, "AWS::SNS::Subscription")
    assert subscriptions and all(s["Properties"]["TopicArn"] == {"Ref": logical} for s in subscriptions.values())
    name = topic["Properties"]["TopicName"]
    alarms = _resources(monitoring, "AWS::CloudWatch::Alarm")
    assert alarms
    for alarm in alarms.values():
        [action] = alarm["Properties"]["AlarmActions"]
        assert json.dumps(action).endswith(f":{name}\"}}"), action


def test_the_job_pipeline_and_its_status_rule(stacks):
    [job_pipeline] = [r for r in _resources(stacks["sagemaker"], "AWS::SageMaker::Pipeline").values()
                      if r["Properties"]["PipelineName"].endswith("-jobs")]
    body = json.loads(job_pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Sub"][0])
    assert {p["Name"] for p in body["Parameters"]} == {"JobId", "JobSpecUri", "MarketDataUri", "ProcessingInstanceType"}
    step, aggregation = body["Steps"]
    assert step["Arguments"]["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "charter.workloads.jobstep"]
    [out] = step["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    parts = out["S3Output"]["S3Uri"]["Std:Join"]["Values"]
    assert parts[0].endswith("/results") and parts[1] == {"Get": "Parameters.JobId"} and parts[2] == "parts"
    # the results aggregator runs as the pipeline's ResultsAggregation stage: compute's function, by its alias
    assert aggregation["Type"] == "Lambda" and aggregation["DependsOn"] == [step["Name"]]
    compute = stacks["compute"]["Resources"]
    function = compute["AggregatorFunction"]["Properties"]
    assert function["MemorySize"] == 4096 and function["ReservedConcurrentExecutions"] == 10
    assert aggregation["FunctionArn"].endswith(f":function:{function['FunctionName']}:prod")
    assert aggregation["Arguments"]["parts"] == out["S3Output"]["S3Uri"]
    assert aggregation["Arguments"]["job_id"] == {"Get": "Parameters.JobId"}
    assert aggregation["Arguments"]["spec"] == {"Get": "Parameters.JobSpecUri"}  # every step reads the spec
    # SageMaker invokes it as the pipeline's role: that role, and no other action, may
    [role] = [r for r in _resources(stacks["sagemaker"], "AWS::IAM::Role").values()
              if "sagemaker.amazonaws.com" in json.dumps(r["Properties"]["AssumeRolePolicyDocument"])]
    invokes = [st for pol in role["Properties"]["Policies"] for st in pol["PolicyDocument"]["Statement"]
               if "lambda:InvokeFunction" in st["Action"]]
    assert [st["Action"] for st in invokes] == [["lambda:InvokeFunction"]]
    arns = [json.dumps(r) for r in invokes[0]["Resource"]]
    assert any(f":function:{function['FunctionName']}:prod" in a for a in arns) and not any("*" in a for a in arns)
    # the aggregator lists the hosts' parts, and only under results/
    agg_policy = compute["AggregatorRole"]["Properties"]["Policies"]
    [listing] = [st for pol in agg_policy for st in pol["PolicyDocument"]["Statement"]
                 if st["Action"] == ["s3:ListBucket"]]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "results/*"}}
    rule = stacks["compute"]["Resources"]["JobPipelineStatus"]["Properties"]
    assert rule["EventPattern"]["source"] == ["aws.sagemaker"]
    assert "SageMaker Model Building Pipeline Execution Step Status Change" in rule["EventPattern"]["detail-type"]
    env = stacks["compute"]["Resources"]["SubmitFunction"]["Properties"]["Environment"]["Variables"]
    assert env["JOB_PIPELINE_NAME"] == job_pipeline["Properties"]["PipelineName"]

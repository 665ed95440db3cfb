"""One optimization: the pipeline definition's jobs (instances, counts, spot, duration from the job's
size) and the agents' Bedrock calls, priced by hand from the shipped snapshot."""

from __future__ import annotations

import json

import pytest
from costkit import res, small_with, stack

from charter.cost.estimate import estimate
from charter.optimizer.sagemaker.pipeline import pipeline_definition

C5 = 0.816  # ml.c5.4xlarge, training and processing, per instance-hour
VOLUME = 0.14  # ML storage, per GB-month
MONTH_S = 730 * 3600


def _pipeline(**kwargs) -> dict:
    body = pipeline_definition(image_uri="img", role_arn="arn:aws:iam::111111111111:role/r", bucket="b", **kwargs)
    return res("AWS::SageMaker::Pipeline", ("WKL-12",), PipelineDefinition={"PipelineDefinitionBody": {
        "Fn::Sub": [json.dumps(body), {}]}})


def _agents() -> dict:
    return {
        "Strategy": res("AWS::Bedrock::Agent", ("WKL-12",), FoundationModel="anthropic.claude-3-5-sonnet-20240620-v1:0",
                        Tags={"charter:agent": "portfolio-strategy"}, GuardrailConfiguration={"GuardrailIdentifier": "g"}),
        "Risk": res("AWS::Bedrock::Agent", ("WKL-12",), FoundationModel={"Ref": "RealtimeModelId"},
                    Tags={"charter:agent": "risk-assessment"}),
        "Guardrail": res("AWS::Bedrock::Guardrail", ("WKL-12",), ContentPolicyConfig={}, TopicPolicyConfig={}),
    }


def _one(cfg, resources: dict, parameters: dict | None = None):
    est = estimate(cfg, [stack("optimizer-dev-x", resources, parameters=parameters)])
    return est, {x.dimension: x.monthly_usd for x in est.per_optimization["dev"]}


def test_the_pipeline_jobs_of_one_optimization():
    cfg = small_with()
    est, lines = _one(cfg, {"Pipeline": _pipeline(instance_count=20, spot=True)})
    approx = pytest.approx
    # single-instance steps: 120 s start-up + 60 s of work on one ml.c5.4xlarge
    for step in ("DataValidation", "ScenarioGeneration", "AgentSynthesis"):
        assert lines[f"{step}: processing on 1 x ml.c5.4xlarge"] == approx(180 / 3600 * C5)
        assert lines[f"{step}: ML storage"] == approx(50 * 180 / MONTH_S * VOLUME)
    # 100 trials over 20 hosts x 16 workers: one 1-second round after 120 s start-up, on 20 hosts
    train = 20 * 121 / 3600 * C5
    assert lines["DistributedOptimization: training on 20 x ml.c5.4xlarge"] == approx(train)
    assert lines["DistributedOptimization: managed spot saving"] == approx(-0.7 * train)
    assert lines["DistributedOptimization: ML storage"] == approx(20 * 50 * 121 / MONTH_S * VOLUME)
    # later rungs: ceil(100/3) + ceil(100/9) = 46 trials on 16 workers: 3 rounds of 1 s
    assert lines["ResultsAggregation: processing on 1 x ml.c5.4xlarge"] == approx(123 / 3600 * C5)
    total = 3 * 180 / 3600 * C5 + 0.3 * train + 123 / 3600 * C5 \
        + (3 * 50 * 180 + 20 * 50 * 121 + 50 * 123) / MONTH_S * VOLUME
    assert est.optimization_total("dev") == approx(total)
    # the month holds cost.usage.optimizations_per_month (60 by default) of them
    assert sum(x.monthly_usd for x in est.lines) == approx(60 * total)


def test_the_jobs_size_and_capacity_change_the_cost():
    cfg = small_with()
    spot = _one(cfg, {"P": _pipeline(instance_count=20, spot=True)})[0].optimization_total("dev")
    on_demand = _one(cfg, {"P": _pipeline(instance_count=20, spot=False, max_wait_seconds=3600)})[0]
    assert on_demand.optimization_total("dev") > spot
    assert not any("spot" in x.dimension for x in on_demand.per_optimization["dev"])
    bigger = small_with("  optimization: {trials: 3200, trial_seconds: 2}\n")
    # 3,200 trials on 320 workers: 10 rounds of 2 s instead of one of 1 s
    lines = _one(bigger, {"P": _pipeline(instance_count=20, spot=True)})[1]
    assert lines["DistributedOptimization: training on 20 x ml.c5.4xlarge"] == pytest.approx(20 * 140 / 3600 * C5)


def test_bedrock_calls_of_one_optimization():
    cfg = small_with()
    params = {"RealtimeModelId": {"Type": "String", "Default": "anthropic.claude-3-haiku-20240307-v1:0"}}
    _, lines = _one(cfg, _agents(), params)
    approx = pytest.approx
    # portfolio-strategy: 4 calls x 4,000 input tokens x $3 per million, x 800 output x $15 per million
    assert lines["portfolio-strategy: input tokens (anthropic.claude-3-5-sonnet-20240620-v1:0)"] == approx(0.048)
    assert lines["portfolio-strategy: output tokens (anthropic.claude-3-5-sonnet-20240620-v1:0)"] == approx(0.048)
    # risk-assessment (model from the stack parameter's default): 2 calls, Haiku $0.25 / $1.25 per million
    assert lines["risk-assessment: input tokens (anthropic.claude-3-haiku-20240307-v1:0)"] == approx(0.002)
    assert lines["risk-assessment: output tokens (anthropic.claude-3-haiku-20240307-v1:0)"] == approx(0.002)
    # the guardrail sees the 4 guarded calls: ceil(4,800 tokens x 4 chars / 1,000) = 20 text units
    # each, 80 x $0.15 per 1,000 for content filters and again for denied topics
    assert lines["guardrail content filters"] == approx(0.012)
    assert lines["guardrail denied topics"] == approx(0.012)
    assert "guardrail sensitive information filter" not in lines  # not configured, not billed


def test_the_small_examples_optimizations_hold_the_ten_dollar_target(small_config):
    from charter.landing_zone.synth import synthesize
    from charter.workloads.synth import synthesize_all_workloads

    est = estimate(small_config, [*synthesize(small_config), *synthesize_all_workloads(small_config)])
    assert set(est.per_optimization) == {"dev", "staging", "prod"}
    for env in est.per_optimization:
        assert 0 < est.optimization_total(env) < 10 and est.optimization_unknown(env) == 0
    # prod runs the distributed step on 20 hosts, dev on 4 (processing_max_instances)
    assert est.optimization_total("prod") > est.optimization_total("dev")

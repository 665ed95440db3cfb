"""The optimization pipeline definition: five steps in order, image and instances from the
workload config, spot + checkpoints on the search, and agreement with the SageMaker SDK v3."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from charter.optimizer.errors import OptimizerError
from charter.optimizer.sagemaker.pipeline import STEP_NAMES, pipeline_definition, step_order

REPO = Path(__file__).resolve().parents[2]
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/charter-prod-processing:latest-approved"
ROLE = "arn:aws:iam::123456789012:role/charter-prod-pipeline"
KW = dict(image_uri=IMAGE, role_arn=ROLE, bucket="charter-prod-results")


@pytest.fixture(scope="module")
def definition():
    return pipeline_definition(**KW)


def steps_by_name(d):
    return {s["Name"]: s for s in d["Steps"]}


def test_five_steps_wired_in_order(definition):
    assert [s["Name"] for s in definition["Steps"]] == list(STEP_NAMES)
    assert step_order(definition) == list(STEP_NAMES)
    deps = {s["Name"]: s.get("DependsOn", []) for s in definition["Steps"]}
    assert deps == {"DataValidation": [], "ScenarioGeneration": ["DataValidation"],
                    "DistributedOptimization": ["ScenarioGeneration"],
                    "ResultsAggregation": ["DistributedOptimization"], "AgentSynthesis": ["ResultsAggregation"]}
    # data flows along the same edges: each step reads its predecessor's outputs
    s = steps_by_name(definition)
    agg_in = {i["InputName"]: i["S3Input"]["S3Uri"] for i in s["AgentSynthesis"]["Arguments"]["ProcessingInputs"]}
    assert agg_in["results"] == {"Get": "Steps.ResultsAggregation.ProcessingOutputConfig.Outputs['results'].S3Output.S3Uri"}


def test_image_instances_and_spot_from_the_workload_config(definition):
    params = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    assert params["ProcessingInstanceType"] == "ml.c5.4xlarge"
    assert params["OptimizationInstanceCount"] == 20
    s = steps_by_name(definition)
    for name in ("DataValidation", "ScenarioGeneration", "ResultsAggregation", "AgentSynthesis"):
        args = s[name]["Arguments"]
        assert s[name]["Type"] == "Processing"
        assert args["AppSpecification"]["ImageUri"] == IMAGE
        assert args["AppSpecification"]["ContainerEntrypoint"] == ["python3", "-m", "charter.optimizer.container"]
        assert args["ProcessingResources"]["ClusterConfig"]["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
        assert args["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
        assert "EnableManagedSpotTraining" not in args  # Processing has no spot
    opt = s["DistributedOptimization"]
    a = opt["Arguments"]
    assert opt["Type"] == "Training"
    assert a["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert a["ResourceConfig"]["InstanceCount"] == {"Get": "Parameters.OptimizationInstanceCount"}
    assert a["ResourceConfig"]["InstanceType"] == {"Get": "Parameters.ProcessingInstanceType"}
    assert a["EnableManagedSpotTraining"] is True
    assert a["StoppingCondition"]["MaxWaitTimeInSeconds"] > a["StoppingCondition"]["MaxRuntimeInSeconds"]
    assert a["CheckpointConfig"]["LocalPath"] == "/opt/ml/checkpoints"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3DataDistributionType"] for c in a["InputDataConfig"]}
    assert channels == {"validated": "FullyReplicated", "plan": "FullyReplicated", "trials": "ShardedByS3Key"}
    # the aggregator reads what every host checkpointed
    shards = [i for i in s["ResultsAggregation"]["Arguments"]["ProcessingInputs"] if i["InputName"] == "shards"]
    assert shards[0]["S3Input"]["S3Uri"] == a["CheckpointConfig"]["S3Uri"]
    # the scenario step writes one trial file per optimization host
    assert s["ScenarioGeneration"]["Arguments"]["AppSpecification"]["ContainerArguments"][-1] == {
        "Std:Join": {"On": "", "Values": [{"Get": "Parameters.OptimizationInstanceCount"}]}}


def test_without_spot_and_with_distributed_rungs():
    d = pipeline_definition(**KW, spot=False, distributed_rungs=2, instance_count=8)
    assert step_order(d) == ["DataValidation", "ScenarioGeneration", "DistributedOptimization",
                             "ResultsAggregation", "DistributedOptimizationRung1", "ResultsAggregationRung1",
                             "AgentSynthesis"]
    s = steps_by_name(d)
    assert "EnableManagedSpotTraining" not in s["DistributedOptimization"]["Arguments"]
    assert s["ResultsAggregation"]["Arguments"]["AppSpecification"]["ContainerArguments"][:4] == [
        "aggregate", "--rung", "0", "--no-final"]
    assert s["DistributedOptimizationRung1"]["Arguments"]["HyperParameters"]["rung"] == "1"


@pytest.mark.parametrize("kw, match", [
    (dict(instance_count=0), "instance_count"), (dict(instance_count=101), "instance_count"),
    (dict(max_wait_seconds=100, max_runtime_seconds=100), "max_wait_seconds"),
    (dict(distributed_rungs=0), "distributed_rungs"), (dict(bucket=""), "bucket"),
])
def test_bad_settings_are_refused(kw, match):
    with pytest.raises(OptimizerError, match=match):
        pipeline_definition(**{**KW, **kw})


def test_definition_embeds_in_the_cloudformation_pipeline():
    """The stack passes the body through Fn::Sub: only ${...} substitutions it defines may appear."""
    from troposphere import Sub, Template
    from troposphere.sagemaker import Pipeline, PipelineDefinition

    d = pipeline_definition(image_uri="${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/opt:1",
                            role_arn="${PipelineRoleArn}", bucket="charter-results-${AWS::AccountId}",
                            kms_key_id="${EnvironmentKeyArn}")
    body = json.dumps(d, separators=(",", ":"))
    t = Template()
    t.add_resource(Pipeline("P", PipelineName="p", RoleArn="arn:aws:iam::123456789012:role/r",
                            PipelineDefinition=PipelineDefinition(PipelineDefinitionBody=Sub(
                                body, PipelineRoleArn="arn:aws:iam::123456789012:role/r",
                                EnvironmentKeyArn="arn:aws:kms:us-east-1:123456789012:key/k"))))
    out = json.loads(t.to_json())
    assert json.loads(out["Resources"]["P"]["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
                      ["Fn::Sub"][0]) == d
    assert len(body) < 51_200


SDK_CHECK = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from charter.optimizer.sagemaker.pipeline import pipeline_definition, sdk_pipeline
kw = json.loads(sys.argv[2])
for extra in ({}, {"distributed_rungs": 2, "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/k", "spot": False}):
    p = sdk_pipeline(**kw, **extra)
    sdk = json.loads(p.definition())
    assert sdk == pipeline_definition(**kw, **extra), extra
print("SDK-EQUAL")
"""


def _sdk_python():
    try:
        import sagemaker.mlops  # noqa: F401
        return sys.executable
    except Exception:
        return os.environ.get("CHARTER_SM_SDK_PYTHON")


def test_sdk_v3_builds_the_same_definition():
    """SageMaker SDK v3 (sagemaker-mlops/-core/-train) serializes the same pipeline.

    The SDK needs boto3 >= 1.35.75 while checkov pins 1.35.49, so it usually lives in a
    separate environment: point CHARTER_SM_SDK_PYTHON at its python.
    """
    py = _sdk_python()
    if not py:
        pytest.skip("SageMaker SDK v3 not importable; set CHARTER_SM_SDK_PYTHON to a python that has it")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # offline: a region, no credentials, no role validation against IAM
    env.update(AWS_DEFAULT_REGION="us-east-1", SAGEMAKER_VALIDATE_ROLE="false", AWS_EC2_METADATA_DISABLED="true")
    r = subprocess.run([py, "-c", SDK_CHECK, str(REPO), json.dumps(KW)], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "SDK-EQUAL" in r.stdout, r.stderr[-3000:]


@pytest.mark.slow
def test_workload_stack_with_this_definition_lints_clean(tmp_path):
    """The prod optimizer's SageMaker stack built with this definition: 0 cfn-lint, 0 checkov."""
    from charter.landing_zone.config import load_config
    from charter.landing_zone.lint import Linter
    from charter.workloads.stacks import sagemaker as sm_stack
    from charter.workloads.stacks._common import Ctx

    cfg = load_config(REPO / "examples" / "small" / "org.yaml")
    ctx = Ctx(cfg, "prod")
    s = ctx.settings
    d = pipeline_definition(
        image_uri="${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/" + ctx.name("processing") + ":${ImageTag}",
        role_arn="${PipelineRoleArn}", bucket=ctx.bucket("results"), instance_type=s.processing_instance_type,
        instance_count=s.processing_max_instances, spot=True, kms_key_id="${EnvironmentKeyArn}")
    assert (d["Parameters"][3]["DefaultValue"], d["Parameters"][4]["DefaultValue"]) == ("ml.c5.4xlarge", 20)
    t = sm_stack.build(ctx, definition=d)
    data = json.loads(t.to_json())
    linter = Linter([*cfg.organization.governed_regions])
    assert [f.render() for f in linter.cfn_lint("optimizer-prod-sagemaker", data)] == []
    path = tmp_path / "sagemaker.yaml"
    path.write_text(t.to_yaml())
    findings, passed = linter.checkov([path])
    assert [f.render() for f in findings] == [] and passed > 0
    body = data["Resources"]["OptimizationPipeline"]["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]
    assert json.loads(body["Fn::Sub"][0]) == d

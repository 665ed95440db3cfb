"""SageMaker stack: ECR repositories, the optimization pipeline, its trigger and the model registry.

The pipeline definition is an input (`build(ctx, definition=...)`): a later issue
generates it with the SageMaker SDK. `default_definition(ctx)` is a faithful hand-built
equivalent (the JSON shape `Pipeline.definition()` emits, version 2020-12-01):

    DataValidation -> ScenarioGeneration -> HyperparameterSearch -> DistributedOptimization
                   -> ResultsAggregation -> AgentSynthesis

Processing runs on ml.c5.4xlarge, up to 20 instances (config: `processing_instance_type`,
`processing_max_instances`); the hyperparameter search trains on managed spot capacity
with checkpoints in S3, so an interrupted job resumes instead of restarting.

A definition may use `${AWS::AccountId}`, `${AWS::Region}`, `${AWS::Partition}`,
`${PipelineRoleArn}` and `${EnvironmentKeyArn}`: the body is passed through `Fn::Sub`.
"""

from __future__ import annotations

import json
from typing import Any

from awacs import ecr as ecr_actions
from awacs import iam as iam_actions
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs import sagemaker as sm
from awacs.aws import Condition, StringEquals
from awacs.awslambda import InvokeFunction
from awacs.cloudwatch import PutMetricData
from awacs.ec2 import (
    CreateNetworkInterface,
    CreateNetworkInterfacePermission,
    DeleteNetworkInterface,
    DeleteNetworkInterfacePermission,
    DescribeDhcpOptions,
    DescribeNetworkInterfaces,
    DescribeSecurityGroups,
    DescribeSubnets,
    DescribeVpcs,
)
from troposphere import GetAtt, Output, Sub, Template
from troposphere.ecr import (
    EncryptionConfiguration,
    ImageScanningConfiguration,
    LifecyclePolicy,
    Repository,
)
from troposphere.events import Rule, SageMakerPipelineParameter, SageMakerPipelineParameters, Target
from troposphere.sagemaker import (
    ModelPackageGroup,
    ParallelismConfiguration,
    Pipeline,
    PipelineDefinition,
)

from landing_zone.metadata import controls

from ._common import Ctx, allow, key_parameter, key_use, new_template, service_role
from .compute import VALIDATED_PREFIX

#: Container images the optimizer ships (the risk manager image is also used by Lambda).
REPOSITORIES = ("risk", "processing", "search")
SPOT_MAX_RUNTIME_SECONDS = 3600
SPOT_MAX_WAIT_SECONDS = 7200  # must exceed the runtime: time spent waiting for spot capacity
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
OBJECTIVE_METRIC = "validation:sharpe_ratio"

_LIFECYCLE = json.dumps({"rules": [{
    "rulePriority": 1, "description": "Keep the 50 most recent images",
    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50},
    "action": {"type": "expire"}}]}, separators=(",", ":"))


def _image(ctx: Ctx, repo: str) -> str:
    return "${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/" + ctx.name(repo) + ":latest-approved"


def _s3(ctx: Ctx, kind: str, prefix: str) -> str:
    return f"s3://{ctx.bucket(kind)}/{prefix}"


def _processing(ctx: Ctx, name: str, command: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]],
                count: Any = 1, depends: list[str] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {
        "Name": name, "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {
                "InstanceType": {"Get": "Parameters.ProcessingInstanceType"}, "InstanceCount": count,
                "VolumeSizeInGB": 50, "VolumeKmsKeyId": "${EnvironmentKeyArn}"}},
            "AppSpecification": {"ImageUri": _image(ctx, "processing"),
                                 "ContainerEntrypoint": ["python3", "-m", "optimizer.container", command]},
            "RoleArn": "${PipelineRoleArn}",
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": {"Outputs": outputs, "KmsKeyId": "${EnvironmentKeyArn}"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 14400},
            "NetworkConfig": {"EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": False},
            "Environment": {"JOB_ID": {"Get": "Parameters.JobId"}},
        },
    }
    if depends:
        step["DependsOn"] = depends
    return step


def _input(name: str, uri: Any, distribution: str = "FullyReplicated") -> dict[str, Any]:
    return {"InputName": name, "AppManaged": False, "S3Input": {
        "S3Uri": uri, "LocalPath": f"/opt/ml/processing/input/{name}", "S3DataType": "S3Prefix",
        "S3InputMode": "File", "S3DataDistributionType": distribution}}


def _output(ctx: Ctx, name: str) -> dict[str, Any]:
    return {"OutputName": name, "AppManaged": False, "S3Output": {
        "S3Uri": {"Std:Join": {"On": "/", "Values": [_s3(ctx, "results", "pipeline"),
                                                     {"Get": "Execution.PipelineExecutionId"}, name]}},
        "LocalPath": f"/opt/ml/processing/output/{name}", "S3UploadMode": "EndOfJob"}}


def _step_output(step: str, name: str) -> dict[str, Any]:
    return {"Get": f"Steps.{step}.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri"}


def default_definition(ctx: Ctx) -> dict[str, Any]:
    """The optimization pipeline as the SageMaker SDK would serialize it."""
    s = ctx.settings
    search = {
        "Name": "HyperparameterSearch", "Type": "Tuning", "DependsOn": ["ScenarioGeneration"],
        "Arguments": {
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": OBJECTIVE_METRIC},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": s.search_max_jobs,
                                   "MaxParallelTrainingJobs": s.search_parallel_jobs},
                "ParameterRanges": {
                    "ContinuousParameterRanges": [
                        {"Name": "risk_aversion", "MinValue": "0.5", "MaxValue": "20", "ScalingType": "Logarithmic"},
                        {"Name": "turnover_penalty", "MinValue": "0", "MaxValue": "0.05", "ScalingType": "Linear"},
                        {"Name": "cvar_alpha", "MinValue": "0.9", "MaxValue": "0.99", "ScalingType": "Linear"}],
                    "IntegerParameterRanges": [
                        {"Name": "lookback_days", "MinValue": "60", "MaxValue": "756", "ScalingType": "Linear"}],
                    "CategoricalParameterRanges": [
                        {"Name": "objective", "Values": ["mean_variance", "cvar", "risk_parity"]}]},
                "TrainingJobEarlyStoppingType": "Auto",
            },
            "TrainingJobDefinition": {
                "AlgorithmSpecification": {
                    "TrainingImage": _image(ctx, "search"), "TrainingInputMode": "File",
                    "MetricDefinitions": [{"Name": OBJECTIVE_METRIC, "Regex": "sharpe_ratio=([-0-9.eE]+)"}]},
                "RoleArn": "${PipelineRoleArn}",
                "InputDataConfig": [{"ChannelName": "scenarios", "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": _step_output("ScenarioGeneration", "scenarios"),
                    "S3DataDistributionType": "FullyReplicated"}}}],
                "OutputDataConfig": {"S3OutputPath": _s3(ctx, "models", "search"), "KmsKeyId": "${EnvironmentKeyArn}"},
                "ResourceConfig": {"InstanceType": s.training_instance_type, "InstanceCount": 1,
                                   "VolumeSizeInGB": 30, "VolumeKmsKeyId": "${EnvironmentKeyArn}"},
                # Managed spot: up to ~90 % cheaper; MaxWait > MaxRuntime leaves time to wait
                # for capacity, and checkpoints let an interrupted job resume.
                "EnableManagedSpotTraining": True,
                "StoppingCondition": {"MaxRuntimeInSeconds": SPOT_MAX_RUNTIME_SECONDS,
                                      "MaxWaitTimeInSeconds": SPOT_MAX_WAIT_SECONDS},
                "CheckpointConfig": {"S3Uri": _s3(ctx, "models", "checkpoints"), "LocalPath": CHECKPOINT_LOCAL_PATH},
                "EnableInterContainerTrafficEncryption": True,
                "StaticHyperParameters": {"environment": ctx.env},
            },
        },
    }
    agent = {
        "Name": "AgentSynthesis", "Type": "Lambda", "DependsOn": ["ResultsAggregation"],
        "FunctionArn": "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
                       + ctx.function_name("agents") + ":" + ctx.alias,
        "Arguments": {"job_id": {"Get": "Parameters.JobId"},
                      "results_uri": _step_output("ResultsAggregation", "summary")},
        "OutputParameters": [{"OutputName": "status", "OutputType": "String"}],
    }
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [
            {"Name": "JobId", "Type": "String", "DefaultValue": "scheduled"},
            {"Name": "MarketDataUri", "Type": "String", "DefaultValue": _s3(ctx, "market-data", VALIDATED_PREFIX)},
            {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": s.processing_instance_type},
            {"Name": "ProcessingInstanceCount", "Type": "Integer", "DefaultValue": s.processing_max_instances},
        ],
        "PipelineExperimentConfig": {"ExperimentName": {"Get": "Execution.PipelineName"},
                                     "TrialName": {"Get": "Execution.PipelineExecutionId"}},
        "Steps": [
            _processing(ctx, "DataValidation", "validate", [_input("market", {"Get": "Parameters.MarketDataUri"})],
                        [_output(ctx, "validated")]),
            _processing(ctx, "ScenarioGeneration", "scenarios",
                        [_input("validated", _step_output("DataValidation", "validated"))],
                        [_output(ctx, "scenarios")], depends=["DataValidation"]),
            search,
            _processing(ctx, "DistributedOptimization", "optimize",
                        [_input("scenarios", _step_output("ScenarioGeneration", "scenarios"), "ShardedByS3Key"),
                         _input("params", {"Std:Join": {"On": "", "Values": [
                             _s3(ctx, "models", "search/"),
                             {"Get": "Steps.HyperparameterSearch.TrainingJobSummaries[0].TrainingJobName"},
                             "/output"]}})],
                        [_output(ctx, "allocations")], count={"Get": "Parameters.ProcessingInstanceCount"},
                        depends=["HyperparameterSearch"]),
            _processing(ctx, "ResultsAggregation", "aggregate",
                        [_input("allocations", _step_output("DistributedOptimization", "allocations"))],
                        [_output(ctx, "summary")], depends=["DistributedOptimization"]),
            agent,
        ],
    }


def build(ctx: Ctx, definition: dict[str, Any] | None = None) -> Template:
    t = new_template(ctx, "ML (ECR, SageMaker pipeline, model registry)")
    key = key_parameter(t, ctx)
    for repo in REPOSITORIES:
        res = controls(Repository(
            "Repository" + repo.capitalize(), RepositoryName=ctx.name(repo), ImageTagMutability="IMMUTABLE",
            ImageScanningConfiguration=ImageScanningConfiguration(ScanOnPush=True),
            EncryptionConfiguration=EncryptionConfiguration(EncryptionType="KMS", KmsKey=key),
            LifecyclePolicy=LifecyclePolicy(LifecyclePolicyText=_LIFECYCLE)), "WKL-14", "WKL-03")
        res.DeletionPolicy = "Retain"
        res.UpdateReplacePolicy = "Retain"
        t.add_resource(res)

    prefix = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}"
    jobs = [Sub(f"{prefix}:{kind}/*") for kind in ("processing-job", "training-job", "hyper-parameter-tuning-job")]
    role_name = ctx.name("pipeline")
    role = service_role(t, "PipelineRole", "sagemaker.amazonaws.com", [
        allow([sm.CreateProcessingJob, sm.DescribeProcessingJob, sm.StopProcessingJob, sm.CreateTrainingJob,
               sm.DescribeTrainingJob, sm.StopTrainingJob, sm.CreateHyperParameterTuningJob,
               sm.DescribeHyperParameterTuningJob, sm.StopHyperParameterTuningJob,
               sm.ListTrainingJobsForHyperParameterTuningJob, sm.AddTags], jobs),
        allow([sm.Action("CreateExperiment"), sm.Action("CreateTrial"), sm.Action("CreateTrialComponent"),
               sm.Action("AssociateTrialComponent"), sm.Action("DescribeExperiment")],
              [Sub(f"{prefix}:experiment/*"), Sub(f"{prefix}:experiment-trial/*"),
               Sub(f"{prefix}:experiment-trial-component/*")]),
        allow([iam_actions.PassRole], [Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/" + role_name)],
              condition=Condition(StringEquals("iam:PassedToService", "sagemaker.amazonaws.com"))),
        allow([s3_actions.GetObject, s3_actions.PutObject, s3_actions.ListBucket],
              [x for k in ("market-data", "results", "models") for x in
               (ctx.bucket_arn(k), Sub("arn:${AWS::Partition}:s3:::" + ctx.bucket(k) + "/*"))]),
        allow([ecr_actions.BatchGetImage, ecr_actions.GetDownloadUrlForLayer, ecr_actions.BatchCheckLayerAvailability],
              [Sub("arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/" + ctx.name(r))
               for r in REPOSITORIES]),
        allow([ecr_actions.GetAuthorizationToken], ["*"], sid="EcrLoginIsAccountWide"),
        allow([logs_actions.CreateLogGroup, logs_actions.CreateLogStream, logs_actions.PutLogEvents,
               logs_actions.DescribeLogStreams],
              [Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/sagemaker/*")]),
        allow([PutMetricData], ["*"], condition=Condition(StringEquals("cloudwatch:namespace", "/aws/sagemaker/TrainingJobs"))),
        allow([CreateNetworkInterface, CreateNetworkInterfacePermission, DeleteNetworkInterface,
               DeleteNetworkInterfacePermission, DescribeNetworkInterfaces, DescribeVpcs, DescribeDhcpOptions,
               DescribeSubnets, DescribeSecurityGroups],
              [Sub("arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:*")]),
        allow([InvokeFunction],
              [ctx.function_arn("agents", ctx.alias)]),
        key_use(key),
    ], "WKL-11", name=role_name)

    body = json.dumps(definition if definition is not None else default_definition(ctx), separators=(",", ":"))
    pipeline = t.add_resource(controls(Pipeline(
        "OptimizationPipeline", PipelineName=ctx.name("pipeline"), PipelineDisplayName=ctx.name("pipeline"),
        PipelineDescription="Validation, scenarios, hyperparameter search, distributed optimization, aggregation, agents",
        RoleArn=GetAtt(role, "Arn"),
        PipelineDefinition=PipelineDefinition(PipelineDefinitionBody=Sub(
            body, PipelineRoleArn=GetAtt(role, "Arn"), EnvironmentKeyArn=key)),
        ParallelismConfiguration=ParallelismConfiguration(MaxParallelExecutionSteps=5),
    ), "WKL-12", "WKL-10"))

    events_role = service_role(t, "PipelineTriggerRole", "events.amazonaws.com", [
        allow([sm.StartPipelineExecution], [Sub(f"{prefix}:pipeline/" + ctx.name("pipeline"))])], "WKL-11")
    t.add_resource(controls(Rule(
        "RunPipelineOnNewMarketData", Name=ctx.name("pipeline-on-new-data"), State="ENABLED",
        Description="Start the optimization pipeline when validated market data lands",
        EventPattern={"source": ["aws.s3"], "detail-type": ["Object Created"],
                      "detail": {"bucket": {"name": [Sub(ctx.bucket("market-data"))]},
                                 "object": {"key": [{"prefix": VALIDATED_PREFIX}]}}},
        Targets=[Target(Id="pipeline", Arn=Sub(f"{prefix}:pipeline/" + ctx.name("pipeline")),
                        RoleArn=GetAtt(events_role, "Arn"),
                        SageMakerPipelineParameters=SageMakerPipelineParameters(PipelineParameterList=[
                            SageMakerPipelineParameter(Name="JobId", Value="market-data-event")]))],
        DependsOn=[pipeline.title]), "WKL-10"))

    t.add_resource(controls(ModelPackageGroup(
        "ModelRegistry", ModelPackageGroupName=ctx.name("models"),
        ModelPackageGroupDescription="Approved optimizer models and search results"), "WKL-12"))
    t.add_output(Output("PipelineName", Value=ctx.name("pipeline")))
    return t

"""SageMaker stack: the optimization pipeline, its trigger and the model registry (images: the registry stack).

The pipeline definition is an input (`build(ctx, definition=...)`); by default it is
`optimizer.sagemaker.pipeline.pipeline_definition` (the JSON `Pipeline.definition()` emits,
checked equal to the SDK's own in `tests/optimizer/test_sm_pipeline.py`):

    DataValidation -> ScenarioGeneration -> DistributedOptimization -> ResultsAggregation
                   -> AgentSynthesis

Processing runs on ml.c5.4xlarge, up to 20 instances (config: `processing_instance_type`,
`processing_max_instances`); the distributed optimization trains on managed spot capacity
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
from troposphere import GetAtt, Output, Parameter, Sub, Template
from troposphere.events import Rule, SageMakerPipelineParameter, SageMakerPipelineParameters, Target
from troposphere.sagemaker import (
    ModelPackageGroup,
    ParallelismConfiguration,
    Pipeline,
    PipelineDefinition,
)

from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder

from ._common import Ctx, allow, key_parameter, key_use, new_template, service_role
from .compute import VALIDATED_PREFIX
from .registry import DEFERRED_TAG, REPOSITORIES


def _image(ctx: Ctx, repo: str) -> str:
    # The tag the pipeline built and pushed (`charter workload deploy --image-tag`): the
    # repositories are IMMUTABLE, so a moving tag such as "latest" could never be re-pushed.
    return "${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/" + ctx.name(repo) + ":${ImageTag}"


@builder("workload_sagemaker", controls=["WKL-10", "WKL-11", "WKL-12"],
         description="ECR repositories, the SageMaker optimization pipeline, its trigger and the model registry.")
def build(ctx: Ctx, definition: dict[str, Any] | None = None) -> Template:
    t = new_template(ctx, "ML (SageMaker pipeline, model registry)")
    key = key_parameter(t, ctx)
    t.add_parameter(Parameter("ImageTag", Type="String", Default=DEFERRED_TAG, AllowedPattern=r"^[A-Za-z0-9_.-]{1,128}$",
                              Description="Immutable tag of the processing image in ECR (set by the pipeline); "
                                          f"{DEFERRED_TAG} until one is pushed (executions fail until then)."))
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
        # the job pipeline's ResultsAggregation is a Lambda step: SageMaker invokes the aggregator as this role
        allow([InvokeFunction],
              [ctx.function_arn("agents", ctx.alias), ctx.function_arn("aggregator", ctx.alias)]),
        key_use(key),
    ], "WKL-11", name=role_name)

    if definition is None:
        from charter.optimizer.sagemaker.pipeline import pipeline_definition

        s = ctx.settings
        definition = pipeline_definition(
            image_uri=_image(ctx, "processing"), role_arn="${PipelineRoleArn}", bucket=ctx.bucket("results"),
            instance_type=s.processing_instance_type, instance_count=s.processing_max_instances, spot=True,
            kms_key_id="${EnvironmentKeyArn}", market_data_uri=f"s3://{ctx.bucket('market-data')}/{VALIDATED_PREFIX}")
    body = json.dumps(definition, separators=(",", ":"))
    pipeline = t.add_resource(controls(Pipeline(
        "OptimizationPipeline", PipelineName=ctx.name("pipeline"), PipelineDisplayName=ctx.name("pipeline"),
        PipelineDescription="Validation, scenarios, hyperparameter search, distributed optimization, aggregation, agents",
        RoleArn=GetAtt(role, "Arn"),
        PipelineDefinition=PipelineDefinition(PipelineDefinitionBody=Sub(
            body, PipelineRoleArn=GetAtt(role, "Arn"), EnvironmentKeyArn=key)),
        ParallelismConfiguration=ParallelismConfiguration(MaxParallelExecutionSteps=5),
    ), "WKL-12", "WKL-10"))

    # The API's jobs (`workloads.handlers.jobpipeline`): one Processing step, then compute's results
    # aggregator as a Lambda step; started by submit with JobId, JobSpecUri and MarketDataUri;
    # compute's job-status function follows its events.
    from charter.workloads.handlers import jobpipeline

    job_body = json.dumps(jobpipeline.definition(
        image_uri=_image(ctx, "processing"), role_arn="${PipelineRoleArn}", results_bucket=ctx.bucket("results"),
        aggregator_arn="arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:"
                       + ctx.function_name("aggregator") + ":" + ctx.alias,
        instance_type=ctx.settings.processing_instance_type, kms_key_id="${EnvironmentKeyArn}"),
        separators=(",", ":"))
    t.add_resource(controls(Pipeline(
        "JobPipeline", PipelineName=ctx.name("jobs"), PipelineDisplayName=ctx.name("jobs"),
        PipelineDescription="One optimization job of the API: its spec in, the aggregator's result pages out",
        RoleArn=GetAtt(role, "Arn"),
        PipelineDefinition=PipelineDefinition(PipelineDefinitionBody=Sub(
            job_body, PipelineRoleArn=GetAtt(role, "Arn"), EnvironmentKeyArn=key)),
        ParallelismConfiguration=ParallelismConfiguration(MaxParallelExecutionSteps=1),
    ), "WKL-12", "WKL-10"))
    t.add_output(Output("JobPipelineName", Value=ctx.name("jobs")))

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

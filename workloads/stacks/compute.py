"""Compute stack: the optimizer's Lambda functions, their aliases and CodeDeploy canaries.

Each function gets its own least-privilege role, a KMS-encrypted log group, X-Ray
tracing, the shared dead-letter queue, the private subnets of the landing-zone VPC and
an alias named after the environment. Publishing new code (a new `CodeKey`/`ImageTag`)
replaces the `AWS::Lambda::Version`, which moves the alias through CodeDeploy: 10 % of
traffic for 5 minutes, rolled back on failure or on the function's error-rate alarm.
API functions keep provisioned concurrency on the alias in prod (cold starts matter
there, not in dev).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from awacs import apigateway as apigw
from awacs import cloudwatch as cw
from awacs import dynamodb as ddb
from awacs import execute_api
from awacs import s3 as s3_actions
from awacs import sagemaker as sm
from awacs import servicequotas as quotas
from awacs import sqs as sqs_actions
from awacs.aws import Condition, StringEquals, StringLike
from troposphere import Equals, GetAtt, Not, Output, Parameter, Ref, Sub, Template
from troposphere.awslambda import (
    Alias,
    Code,
    DeadLetterConfig,
    DestinationConfig,
    EphemeralStorage,
    EventInvokeConfig,
    Function,
    ImageConfig,
    LayerVersion,
    LoggingConfig,
    OnFailure,
    ProvisionedConcurrencyConfiguration,
    TracingConfig,
    Version,
    VPCConfig,
)
from troposphere.awslambda import Content as LayerContent
from troposphere.awslambda import Environment as LambdaEnvironment
from troposphere.awslambda import Permission as LambdaPermission
from troposphere.codedeploy import (
    Alarm,
    AlarmConfiguration,
    Application,
    AutoRollbackConfiguration,
    DeploymentGroup,
    DeploymentStyle,
)
from troposphere.ec2 import SecurityGroup, SecurityGroupRule
from troposphere.events import Rule, Target
from troposphere.policies import CodeDeployLambdaAliasUpdate, UpdatePolicy
from troposphere.sqs import Queue

from charter.landing_zone.metadata import controls, suppress
from charter.landing_zone.registry import builder

from ._common import (
    HANDLERS,
    LAMBDA_RUNTIME,
    Ctx,
    allow,
    key_parameter,
    key_use,
    log_group,
    network_parameters,
    new_template,
    service_role,
)
from .registry import DEFERRED_TAG

#: CodeDeploy's predefined canary: 10 % for 5 minutes, then 100 %.
CANARY_CONFIG = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
#: Vendors drop raw files here; ingestion validates them into `validated/`, which starts the pipeline.
INCOMING_PREFIX = "incoming/"
VALIDATED_PREFIX = "validated/"
CLEANUP_SCHEDULE = "cron(0 3 * * ? *)"  # daily, 03:00 UTC
#: Condition: the risk manager's image is in ECR (`ImageTag` is not registry.DEFERRED_TAG).
HAS_IMAGE = "HasRiskImage"


@dataclass(frozen=True)
class Fn:
    """One function of the optimizer (the figures are the spec's)."""

    short: str
    handler: str
    memory: int
    timeout: int
    description: str
    api: bool = False  # invoked by API Gateway: provisioned concurrency in prod
    image: bool = False  # container image (the risk manager needs numpy/scipy beyond a zip)
    ephemeral_mb: int = 512
    reserved: int | None = None
    asynchronous: bool = False
    #: arm64 unless the code ships native wheels built for x86 only.
    architecture: str = "arm64"
    env: dict[str, str] = field(default_factory=dict)


FUNCTIONS: tuple[Fn, ...] = (
    Fn("submit", f"{HANDLERS}.api.submit", 512, 30, "POST /optimize: validate and queue a strategy job", api=True),
    Fn("jobs", f"{HANDLERS}.api.jobs", 256, 10, "GET /jobs: the caller's jobs, paged", api=True),
    Fn("status", f"{HANDLERS}.api.status", 256, 10, "GET /jobs/{id}: job status", api=True),
    Fn("results", f"{HANDLERS}.api.results", 1024, 30, "GET /jobs/{id}/results: signed results", api=True),
    # The image is built by the pipeline's x86 CodeBuild fleet (SciPy/BLAS wheels), hence x86_64.
    Fn("risk", f"{HANDLERS}.risk.handler", 3008, 900, "Portfolio risk manager (container image)", image=True,
       ephemeral_mb=10240, architecture="x86_64"),
    Fn("agents", f"{HANDLERS}.agents.handler", 2048, 900, "Hyperparameter optimizer agent (async)",
       asynchronous=True),
    Fn("aggregator", f"{HANDLERS}.aggregator.handler", 4096, 900, "Results aggregator", reserved=10),
    Fn("ingest", f"{HANDLERS}.ingest.handler", 1024, 300, "Market data ingestion (new S3 objects)"),
    Fn("cleanup", f"{HANDLERS}.cleanup.handler", 512, 300, "Daily cleanup of expired jobs and results"),
    Fn("job-status", f"{HANDLERS}.jobstatus.handler", 256, 60,
       "Job record and WebSocket pushes from the job pipeline's events"),
    Fn("compliance", f"{HANDLERS}.compliance.handler", 512, 10,
       "GET /compliance/*: the console's compliance data (compliance group only)", api=True),
    Fn("ws-authorizer", f"{HANDLERS}.ws_authorizer.handler", 256, 10, "WebSocket $connect authorizer (Cognito JWT)",
       api=True),
    Fn("api-authorizer", f"{HANDLERS}.api_authorizer.handler", 256, 10,
       "REST authorizer: Cognito JWT, and the caller's own API key for the per-user usage plan", api=True),
    Fn("ws-connect", f"{HANDLERS}.websocket.connect", 256, 10, "WebSocket $connect", api=True),
    Fn("ws-disconnect", f"{HANDLERS}.websocket.disconnect", 256, 10, "WebSocket $disconnect", api=True),
    Fn("ws-default", f"{HANDLERS}.websocket.default", 256, 30, "WebSocket $default", api=True),
)
FUNCTION_BY_NAME = {f.short: f for f in FUNCTIONS}


def usage_plan_name(ctx: Ctx) -> str:
    """The api stack's per-user usage plan (the authorizer finds it by this name)."""
    return ctx.name("per-user")


def logical(short: str, suffix: str = "") -> str:
    return "".join(p.capitalize() for p in short.split("-")) + suffix


def error_alarm_name(ctx: Ctx, short: str) -> str:
    """The monitoring stack's error-rate alarm of a function (CodeDeploy rolls back on it)."""
    return ctx.name(short, "error-rate")


def _permissions(ctx: Ctx, fn: Fn) -> list:
    jobs, cache, conns, strategies = (ctx.table_arn(t) for t in ("jobs", "cache", "connections", "strategies"))
    jobs_index = Sub("arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/"
                     + ctx.name("jobs") + "/index/*")
    objects = {k: Sub("arn:${AWS::Partition}:s3:::" + ctx.bucket(k) + "/*") for k in ("market-data", "results", "models")}
    pipeline = Sub("arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:pipeline/" + ctx.name("pipeline"))
    job_pipeline = Sub("arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:pipeline/" + ctx.name("jobs"))
    job_executions = Sub("arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:pipeline/"
                         + ctx.name("jobs") + "/execution/*")
    results_objects = lambda *prefixes: [Sub("arn:${AWS::Partition}:s3:::" + ctx.bucket("results")  # noqa: E731
                                             + f"/{p}*") for p in prefixes]
    # reading an execution as the job record follows it (jobstatus.reconcile, the event handler)
    follow = [allow([sm.DescribePipelineExecution, sm.ListPipelineExecutionSteps,
                     sm.ListPipelineParametersForExecution], [job_executions]),
              allow([ddb.GetItem, ddb.Query, ddb.UpdateItem], [jobs]),
              allow([s3_actions.GetObject], results_objects("results/"))]
    ws_api = Sub("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*/" + ctx.env + "/POST/@connections/*")
    metrics = allow([cw.PutMetricData], ["*"], condition=Condition(StringEquals("cloudwatch:namespace", "Charter/Optimizer")))
    by_fn = {
        "submit": [allow([ddb.PutItem, ddb.UpdateItem], [jobs]),
                   allow([sm.StartPipelineExecution, sm.ListPipelineExecutions], [job_pipeline]),
                   # the job step's Processing quota (quota.check); Service Quotas has no resource-level ARNs here
                   allow([quotas.ListServiceQuotas, quotas.ListAWSDefaultServiceQuotas], ["*"]),
                   allow([s3_actions.GetObject], [Sub("arn:${AWS::Partition}:s3:::" + ctx.bucket("market-data")
                                                      + "/index/*")]),
                   allow([s3_actions.PutObject], results_objects("jobs/"))],
        "jobs": [allow([ddb.Query], [jobs_index])],
        "status": [allow([ddb.GetItem, ddb.Query], [jobs, jobs_index]), *follow],
        "compliance": [allow([s3_actions.GetObject], [Sub("arn:${AWS::Partition}:s3:::" + ctx.bucket("results")
                                                           + "/compliance/*")])],
        "results": [allow([ddb.GetItem, ddb.Query], [jobs, jobs_index]), allow([ddb.GetItem, ddb.PutItem], [cache]),
                    allow([s3_actions.GetObject], [objects["results"]])],
        "risk": [allow([ddb.GetItem, ddb.UpdateItem], [jobs]), allow([s3_actions.GetObject], [objects["market-data"]]),
                 allow([s3_actions.PutObject], [objects["results"]])],
        "agents": [allow([ddb.GetItem, ddb.Query], [strategies]), allow([ddb.GetItem, ddb.Query, ddb.UpdateItem], [jobs]),
                   allow([sm.StartPipelineExecution, sm.DescribePipelineExecution], [pipeline, Sub(
                       "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:pipeline/"
                       + ctx.name("pipeline") + "/execution/*")])],
        # JobStore.get reads by key, or queries by job id when the id carries no timestamp
        "aggregator": [allow([ddb.UpdateItem, ddb.GetItem, ddb.Query], [jobs]), allow([s3_actions.GetObject, s3_actions.PutObject],
                       [objects["results"]]),
                       # the job pipeline's ResultsAggregation step lists the hosts' parts under results/<job_id>/parts/
                       allow([s3_actions.ListBucket], [ctx.bucket_arn("results")],
                             condition=Condition(StringLike("s3:prefix", "results/*"))), metrics],
        "ingest": [allow([s3_actions.GetObject, s3_actions.PutObject], [objects["market-data"]]), metrics],
        "cleanup": [allow([ddb.Scan, ddb.DeleteItem], [jobs, cache, conns]),
                    allow([s3_actions.DeleteObject], [objects["results"]]), *follow],
        "job-status": [*follow, allow([ddb.GetItem, ddb.Query, ddb.DeleteItem], [conns, Sub(
            "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/" + ctx.name("connections")
            + "/index/*")]), allow([execute_api.ManageConnections], [ws_api])],
        "ws-authorizer": [],  # verifies tokens against the user pool's public keys (HTTPS); no AWS API
        # the caller's API key: read from its table, made once per user in the per-user usage plan
        "api-authorizer": [
            allow([ddb.GetItem, ddb.PutItem], [ctx.table_arn("api-keys")]),
            allow([apigw.GET], [Sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans")]),
            allow([apigw.POST], [Sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/apikeys"),
                                 Sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*/keys")]),
            allow([apigw.DELETE], [Sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/apikeys/*"),
                                   Sub("arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*/keys/*")])],
        "ws-connect": [allow([ddb.PutItem], [conns])],
        "ws-disconnect": [allow([ddb.DeleteItem], [conns])],
        "ws-default": [allow([ddb.GetItem, ddb.Query], [conns, jobs]), allow([execute_api.ManageConnections], [ws_api])],
    }
    return by_fn[fn.short]


@builder("workload_compute", controls=["LOG-04", "WKL-03", "WKL-05", "WKL-06", "WKL-07", "WKL-10", "WKL-11", "WKL-13"],
         description="The optimizer's Lambda functions, their aliases and CodeDeploy canaries.")
def build(ctx: Ctx) -> Template:
    t = new_template(ctx, "compute (Lambda)")
    key = key_parameter(t, ctx)
    vpc, subnets = network_parameters(t)
    code_bucket = t.add_parameter(Parameter(
        "CodeBucket", Type="String", AllowedPattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        Description="Bucket of the function and layer zips (the model-artifacts bucket; filled by deploy)."))
    code_key = t.add_parameter(Parameter("CodeKey", Type="String", Default="code/optimizer-handlers.zip",
                                         Description="S3 key of the handlers zip; a new key publishes a new version."))
    layer_key = t.add_parameter(Parameter("LayerKey", Type="String", Default="code/optimizer-layer.zip",
                                          Description="S3 key of the shared dependencies layer zip."))
    image_tag = t.add_parameter(Parameter(
        "ImageTag", Type="String", Default=DEFERRED_TAG, AllowedPattern=r"^[A-Za-z0-9_.-]{1,128}$",
        Description=f"Immutable tag of the risk-manager image in ECR; {DEFERRED_TAG} (no image pushed yet) leaves "
                    "the image-based function out (deploy checks the image exists)."))
    t.add_condition(HAS_IMAGE, Not(Equals(Ref(image_tag), DEFERRED_TAG)))

    dlq = t.add_resource(controls(Queue(
        "DeadLetterQueue", QueueName=ctx.name("dlq"), KmsMasterKeyId=key,
        MessageRetentionPeriod=DLQ_RETENTION_SECONDS), "WKL-03", "WKL-06"))
    sg = t.add_resource(controls(SecurityGroup(
        "FunctionSecurityGroup", GroupDescription=f"{ctx.prefix} Lambda functions: HTTPS egress only",
        VpcId=vpc, SecurityGroupEgress=[SecurityGroupRule(
            IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="0.0.0.0/0",
            Description="HTTPS to AWS endpoints and market data vendors")]), "WKL-13"))
    layer = t.add_resource(controls(LayerVersion(
        "SharedLayer", LayerName=ctx.name("shared"), Description="Shared dependencies of the optimizer handlers",
        Content=LayerContent(S3Bucket=Ref(code_bucket), S3Key=Ref(layer_key)),
        CompatibleRuntimes=[LAMBDA_RUNTIME], CompatibleArchitectures=["arm64"]), "WKL-07"))  # native wheels built for arm64 only
    app = t.add_resource(controls(Application(
        "CodeDeployApplication", ApplicationName=ctx.name("lambda"), ComputePlatform="Lambda"), "WKL-07"))
    deploy_role = service_role(t, "CodeDeployRole", "codedeploy.amazonaws.com", [], "WKL-07",
                               managed=["service-role/AWSCodeDeployRoleForLambdaLimited"])

    env_vars = {
        "CHARTER_ENVIRONMENT": ctx.env,
        "JOBS_TABLE": ctx.name("jobs"), "STRATEGIES_TABLE": ctx.name("strategies"),
        "CACHE_TABLE": ctx.name("cache"), "CONNECTIONS_TABLE": ctx.name("connections"),
        "MARKET_DATA_BUCKET": Sub(ctx.bucket("market-data")), "RESULTS_BUCKET": Sub(ctx.bucket("results")),
        "PIPELINE_NAME": ctx.name("pipeline"), "JOB_PIPELINE_NAME": ctx.name("jobs"),
        "PROCESSING_INSTANCE_TYPE": ctx.settings.processing_instance_type,
        "METRICS_NAMESPACE": "Charter/Optimizer",
        "POWERTOOLS_SERVICE_NAME": ctx.prefix,
        "API_KEYS_TABLE": ctx.name("api-keys"), "USAGE_PLAN_NAME": usage_plan_name(ctx),
    }
    for fn in FUNCTIONS:
        name = ctx.function_name(fn.short)
        group = log_group(t, ctx, logical(fn.short, "Logs"), f"/aws/lambda/{name}", key)
        statements = [*_permissions(ctx, fn), key_use(key),
                      allow([sqs_actions.SendMessage], [GetAtt(dlq, "Arn")], sid="DeadLetters")]
        role = service_role(t, logical(fn.short, "Role"), "lambda.amazonaws.com", statements, "WKL-11",
                            managed=["service-role/AWSLambdaVPCAccessExecutionRole", "AWSXRayDaemonWriteAccess"])
        props: dict[str, object] = dict(
            FunctionName=name, Description=fn.description, Role=GetAtt(role, "Arn"),
            MemorySize=fn.memory, Timeout=fn.timeout, Architectures=[fn.architecture],
            TracingConfig=TracingConfig(Mode="Active"), KmsKeyArn=key,
            DeadLetterConfig=DeadLetterConfig(TargetArn=GetAtt(dlq, "Arn")),
            VpcConfig=VPCConfig(SecurityGroupIds=[Ref(sg)], SubnetIds=subnets),
            EphemeralStorage=EphemeralStorage(Size=fn.ephemeral_mb),
            Environment=LambdaEnvironment(Variables=env_vars),
            LoggingConfig=LoggingConfig(LogGroup=Ref(group)),
        )
        if fn.image:
            props.update(PackageType="Image", ImageConfig=ImageConfig(Command=[fn.handler]),
                         Code=Code(ImageUri=Sub("${AWS::AccountId}.dkr.ecr.${AWS::Region}.amazonaws.com/"
                                                + ctx.name("risk") + ":${ImageTag}")))
            version_note = Sub("image ${ImageTag}")
        else:
            props.update(Runtime=LAMBDA_RUNTIME, Handler=fn.handler, Layers=[Ref(layer)],
                         Code=Code(S3Bucket=Ref(code_bucket), S3Key=Ref(code_key)))
            version_note = Sub("code ${CodeKey}")
        if fn.reserved is not None:
            props["ReservedConcurrentExecutions"] = fn.reserved
        func = controls(Function(logical(fn.short, "Function"), **props), "WKL-05", "WKL-03", "WKL-13")
        if fn.reserved is None:
            suppress(func, "CKV_AWS_115", "Concurrency is bounded upstream (API Gateway usage plan, WAF rate limit, "
                     "EventBridge and pipeline fan-out); reserving concurrency per function would carve up the "
                     "account pool. Only the aggregator, which fans in from the pipeline, has a reserved limit (10).")
        t.add_resource(func)
        deferred = [func]
        version = t.add_resource(controls(Version(
            logical(fn.short, "Version"), FunctionName=Ref(func), Description=version_note), "WKL-07"))
        version.DeletionPolicy = "Retain"  # CodeDeploy shifts traffic off the old version before it goes
        group_res = t.add_resource(controls(DeploymentGroup(
            logical(fn.short, "DeploymentGroup"), ApplicationName=Ref(app), ServiceRoleArn=GetAtt(deploy_role, "Arn"),
            DeploymentGroupName=ctx.name(fn.short), DeploymentConfigName=CANARY_CONFIG,
            DeploymentStyle=DeploymentStyle(DeploymentType="BLUE_GREEN", DeploymentOption="WITH_TRAFFIC_CONTROL"),
            AutoRollbackConfiguration=AutoRollbackConfiguration(
                Enabled=True, Events=["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]),
            AlarmConfiguration=AlarmConfiguration(Enabled=True, Alarms=[Alarm(Name=error_alarm_name(ctx, fn.short))]),
        ), "WKL-07"))
        alias_props: dict[str, object] = dict(FunctionName=Ref(func), FunctionVersion=GetAtt(version, "Version"),
                                              Name=ctx.alias)
        if fn.api and ctx.settings.concurrency(ctx.env) > 0:
            alias_props["ProvisionedConcurrencyConfig"] = ProvisionedConcurrencyConfiguration(
                ProvisionedConcurrentExecutions=ctx.settings.concurrency(ctx.env))
        alias = controls(Alias(logical(fn.short, "Alias"), **alias_props), "WKL-07")
        alias.UpdatePolicy = UpdatePolicy(CodeDeployLambdaAliasUpdate=CodeDeployLambdaAliasUpdate(
            ApplicationName=Ref(app), DeploymentGroupName=Ref(group_res)))
        t.add_resource(alias)
        deferred += [version, group_res, alias]
        if fn.image:  # no image in ECR yet: the function waits for the first push (DEFERRED_TAG)
            for res in deferred:
                res.Condition = HAS_IMAGE
        if fn.asynchronous:
            t.add_resource(controls(EventInvokeConfig(
                logical(fn.short, "AsyncConfig"), FunctionName=Ref(func), Qualifier=ctx.alias,
                MaximumRetryAttempts=2, MaximumEventAgeInSeconds=3600,
                DestinationConfig=DestinationConfig(OnFailure=OnFailure(Destination=GetAtt(dlq, "Arn"))),
                DependsOn=[alias.title]), "WKL-06"))
        t.add_output(Output(logical(fn.short, "AliasArn"), Value=Ref(alias),
                            **({"Condition": HAS_IMAGE} if fn.image else {})))

    # New market data -> ingestion (S3 "Object Created" through EventBridge).
    ingest_rule = t.add_resource(controls(Rule(
        "IngestOnNewMarketData", Name=ctx.name("ingest-new-data"), State="ENABLED",
        Description="Run ingestion for each new market data object",
        EventPattern={"source": ["aws.s3"], "detail-type": ["Object Created"],
                      "detail": {"bucket": {"name": [Sub(ctx.bucket("market-data"))]},
                                 "object": {"key": [{"prefix": INCOMING_PREFIX}]}}},
        Targets=[Target(Id="ingest", Arn=ctx.function_arn("ingest", ctx.alias))], DependsOn=["IngestAlias"]), "WKL-10"))
    cleanup_rule = t.add_resource(controls(Rule(
        "DailyCleanup", Name=ctx.name("daily-cleanup"), State="ENABLED", ScheduleExpression=CLEANUP_SCHEDULE,
        Description="Daily cleanup of expired jobs, cache entries and results",
        Targets=[Target(Id="cleanup", Arn=ctx.function_arn("cleanup", ctx.alias))], DependsOn=["CleanupAlias"]),
        "WKL-06"))
    # The job record follows its pipeline execution: every status change of the job pipeline's
    # executions and steps (SageMaker's events on the default bus) reaches job-status.
    job_rule = t.add_resource(controls(Rule(
        "JobPipelineStatus", Name=ctx.name("job-status"), State="ENABLED",
        Description="Job status and WebSocket pushes from the job pipeline's execution and step events",
        EventPattern={"source": ["aws.sagemaker"],
                      "detail-type": ["SageMaker Model Building Pipeline Execution Status Change",
                                      "SageMaker Model Building Pipeline Execution Step Status Change"],
                      "detail": {"pipelineArn": [Sub("arn:${AWS::Partition}:sagemaker:${AWS::Region}:"
                                                     "${AWS::AccountId}:pipeline/" + ctx.name("jobs"))]}},
        Targets=[Target(Id="job-status", Arn=ctx.function_arn("job-status", ctx.alias))],
        DependsOn=["JobStatusAlias"]), "WKL-10"))
    for rule, short in ((ingest_rule, "ingest"), (cleanup_rule, "cleanup"), (job_rule, "job-status")):
        t.add_resource(controls(LambdaPermission(
            logical(short, "EventsPermission"), Action="lambda:InvokeFunction", Principal="events.amazonaws.com",
            FunctionName=ctx.function_arn(short, ctx.alias), SourceArn=GetAtt(rule, "Arn"),
            DependsOn=[logical(short, "Alias")]), "WKL-11"))
    t.add_output(Output("DeadLetterQueueUrl", Value=Ref(dlq)))
    return t

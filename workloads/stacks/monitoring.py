"""Monitoring stack: dashboard, alarms to the security/ops topic, X-Ray sampling, canaries.

Alarms (all notify the environment's alerts topic, made here in the workload's account and
region, KMS-encrypted with the environment key, with an email subscription per
`alert_emails` of the workload's config; only this account's alarms and rules may publish):
- each function's error rate above 1 % (metric math `100 * errors / invocations`); the
  compute stack's CodeDeploy groups roll a canary release back on these;
- any failed SageMaker pipeline execution;
- API 5xx rate above 1 %;
- any DynamoDB read or write throttle event on a table;
- canary success below 90 %.
"""

from __future__ import annotations

import json
from typing import Any

from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs.aws import (
    Action,
    Allow,
    ArnLike,
    Bool,
    Condition,
    Deny,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from awacs.cloudwatch import PutMetricData
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Template
from troposphere.cloudwatch import Alarm, Dashboard, MetricDataQuery, MetricDimension, MetricStat
from troposphere.cloudwatch import Metric as CwMetric
from troposphere.s3 import LifecycleRule
from troposphere.sns import SubscriptionResource, Topic, TopicPolicy
from troposphere.synthetics import ArtifactConfig, Canary, RunConfig, S3Encryption, Schedule
from troposphere.synthetics import Code as CanaryCode
from troposphere.xray import SamplingRule, SamplingRuleProperty

from charter.landing_zone.components.s3 import secure_bucket
from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder
from charter.naming import access_log_bucket_name

from ._common import Ctx, allow, key_parameter, key_use, new_template, service_role
from .compute import FUNCTIONS, error_alarm_name, logical
from .data import TABLES

#: Alarm thresholds (the spec's figures).
LAMBDA_ERROR_RATE_PERCENT = 1.0
API_5XX_RATE = 0.01  # API Gateway's 5XXError average is the fraction of requests
CANARY_SUCCESS_PERCENT = 90.0
CUSTOM_NAMESPACE = "Charter/Optimizer"
PIPELINE_NAMESPACE = "AWS/Sagemaker/ModelBuildingPipeline"
CANARY_RUNTIME = "syn-nodejs-puppeteer-9.1"
CANARY_SCHEDULE = "rate(5 minutes)"

CANARY_SCRIPT = """const synthetics = require('Synthetics');
const log = require('SyntheticsLogger');
exports.handler = async function () {
  const url = new URL(process.env.HEALTH_URL);
  const request = {hostname: url.hostname, method: 'GET', path: url.pathname, port: 443, protocol: 'https:'};
  await synthetics.executeHttpStep('health', request, async function (res) {
    if (res.statusCode !== 200) { throw new Error('health returned ' + res.statusCode); }
    log.info('health ok');
  });
};
"""


def _alarm(t: Template, ctx: Ctx, logical: str, name: str, description: str, *ids: str, **props: Any) -> Alarm:
    alarm = Alarm(logical, AlarmName=name, AlarmDescription=description, AlarmActions=[ctx.topic_arn],
                  OKActions=[ctx.topic_arn], TreatMissingData="notBreaching", **props)
    return t.add_resource(controls(alarm, "WKL-06", *ids))


def _stat(qid: str, namespace: str, metric: str, dims: dict[str, Any], stat: str = "Sum") -> MetricDataQuery:
    return MetricDataQuery(Id=qid, ReturnData=False, MetricStat=MetricStat(
        Metric=CwMetric(Namespace=namespace, MetricName=metric,
                        Dimensions=[MetricDimension(Name=k, Value=v) for k, v in dims.items()]),
        Period=300, Stat=stat))


def dashboard_body(ctx: Ctx) -> dict[str, Any]:
    region = ctx.region
    fns = [ctx.function_name(f.short) for f in FUNCTIONS]

    def widget(title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
        return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
            "title": title, "region": region, "stat": stat, "period": 300, "view": "timeSeries", "metrics": metrics}}

    return {"widgets": [
        widget("Lambda invocations", [["AWS/Lambda", "Invocations", "FunctionName", f] for f in fns], 0, 0),
        widget("Lambda errors", [["AWS/Lambda", "Errors", "FunctionName", f] for f in fns], 12, 0),
        widget("SageMaker pipeline duration (ms)", [[PIPELINE_NAMESPACE, "ExecutionDuration", "PipelineName",
                                                      ctx.name("pipeline")]], 0, 6, "Average"),
        widget("API latency (ms)", [["AWS/ApiGateway", "Latency", "ApiName", ctx.name("api"), "Stage", ctx.env],
                                    ["...", {"stat": "p99"}]], 12, 6, "Average"),
        widget("Bedrock tokens", [["AWS/Bedrock", m, "ModelId", model] for m in ("InputTokenCount", "OutputTokenCount")
                                  for model in (ctx.workload.models.analysis, ctx.workload.models.realtime)], 0, 12),
        widget("Strategies tested", [[CUSTOM_NAMESPACE, "StrategiesTested", "Environment", ctx.env]], 12, 12),
        widget("Sharpe ratio", [[CUSTOM_NAMESPACE, "SharpeRatio", "Environment", ctx.env, {"stat": "Maximum"}],
                                [CUSTOM_NAMESPACE, "SharpeRatio", "Environment", ctx.env, {"stat": "Average"}]],
               0, 18, "Average"),
    ]}


def _alerts_topic(t: Template, ctx: Ctx, key: Any) -> Topic:
    topic = t.add_resource(controls(Topic(
        "AlertsTopic", TopicName=ctx.name("alerts"), KmsMasterKeyId=key,
        DisplayName=f"{ctx.prefix} alerts"), "WKL-06", "WKL-03"))
    for i, email in enumerate(ctx.settings.alert_emails):
        t.add_resource(controls(SubscriptionResource(
            f"AlertsSubscription{i}", TopicArn=Ref(topic), Protocol="email", Endpoint=str(email)), "WKL-06"))
    publish = [Action("sns", "Publish")]
    account = Ref("AWS::AccountId")

    def publisher(sid: str, service: str, source: str) -> Statement:
        return Statement(Sid=sid, Effect=Allow, Principal=Principal("Service", service), Action=publish,
                         Resource=[Ref(topic)], Condition=Condition([StringEquals("aws:SourceAccount", account),
                                                                      ArnLike("aws:SourceArn", Sub(source))]))

    t.add_resource(controls(TopicPolicy("AlertsTopicPolicy", Topics=[Ref(topic)], PolicyDocument=PolicyDocument(
        Version="2012-10-17", Statement=[
            publisher("CloudWatchAlarmsOfThisAccount", "cloudwatch.amazonaws.com",
                      "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"),
            publisher("EventBridgeRulesOfThisAccount", "events.amazonaws.com",
                      "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*"),
            Statement(Sid="DenyInsecureTransport", Effect=Deny, Principal=Principal("AWS", "*"), Action=publish,
                      Resource=[Ref(topic)], Condition=Condition(Bool("aws:SecureTransport", False)))])),
        "WKL-06"))
    t.add_output(Output("AlertsTopicArn", Value=Ref(topic)))
    return topic


@builder("workload_monitoring", controls=["DAT-01", "ENC-02", "ENC-04", "LOG-05", "WKL-03", "WKL-05", "WKL-06", "WKL-11"],
         description="Dashboard, alarms to the security/ops topic, X-Ray sampling, canaries.")
def build(ctx: Ctx) -> Template:
    t = new_template(ctx, "monitoring (dashboard, alarms, X-Ray, canaries)")
    key = key_parameter(t, ctx)
    api_domain = t.add_parameter(Parameter(
        "RestApiDomain", Type="String", AllowedPattern=r"^[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com$",
        Description="Domain of the regional REST API (api stack output RestApiDomain; filled by deploy)."))

    _alerts_topic(t, ctx, key)
    t.add_resource(controls(Dashboard(
        "Dashboard", DashboardName=ctx.name("overview"), DashboardBody=json.dumps(dashboard_body(ctx))), "WKL-06"))

    for fn in FUNCTIONS:
        name = ctx.function_name(fn.short)
        lid = "".join(w.capitalize() for w in fn.short.split("-"))
        _alarm(t, ctx, f"{lid}ErrorRate", error_alarm_name(ctx, fn.short),
               f"{name}: more than {LAMBDA_ERROR_RATE_PERCENT}% of invocations failed over 5 minutes",
               ComparisonOperator="GreaterThanThreshold", Threshold=LAMBDA_ERROR_RATE_PERCENT, EvaluationPeriods=1,
               Metrics=[_stat("errors", "AWS/Lambda", "Errors", {"FunctionName": name}),
                        _stat("invocations", "AWS/Lambda", "Invocations", {"FunctionName": name}),
                        MetricDataQuery(Id="rate", Label="error rate %", ReturnData=True,
                                        Expression="IF(invocations > 0, 100 * errors / invocations, 0)")])
    _alarm(t, ctx, "PipelineFailures", ctx.name("pipeline-failed"), "A SageMaker pipeline execution failed",
           Namespace=PIPELINE_NAMESPACE, MetricName="ExecutionFailed",
           Dimensions=[MetricDimension(Name="PipelineName", Value=ctx.name("pipeline"))],
           Statistic="Sum", Period=300, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold")
    _alarm(t, ctx, "Api5xx", ctx.name("api-5xx"), "More than 1% of API requests returned 5xx over 5 minutes",
           Namespace="AWS/ApiGateway", MetricName="5XXError",
           Dimensions=[MetricDimension(Name="ApiName", Value=ctx.name("api")), MetricDimension(Name="Stage", Value=ctx.env)],
           Statistic="Average", Period=300, EvaluationPeriods=1, Threshold=API_5XX_RATE,
           ComparisonOperator="GreaterThanThreshold")
    for table in TABLES:
        tname = ctx.name(table)
        _alarm(t, ctx, logical(table, "Throttles"), ctx.name(table, "throttled"),
               f"DynamoDB table {tname} throttled reads or writes",
               ComparisonOperator="GreaterThanThreshold", Threshold=0, EvaluationPeriods=1,
               Metrics=[_stat("reads", "AWS/DynamoDB", "ReadThrottleEvents", {"TableName": tname}),
                        _stat("writes", "AWS/DynamoDB", "WriteThrottleEvents", {"TableName": tname}),
                        MetricDataQuery(Id="throttles", Label="throttle events", ReturnData=True,
                                        Expression="FILL(reads, 0) + FILL(writes, 0)")])

    # -- X-Ray: sample the API's writes more than its polls ------------------------------------
    rate = 1.0 if ctx.env == "dev" else 0.05
    for lid, name, priority, path, fixed in (("SampleOptimize", "optimize", 100, "/optimize", min(1.0, rate * 4)),
                                             ("SampleDefault", "default", 1000, "*", rate)):
        t.add_resource(controls(SamplingRule("XRay" + lid, SamplingRule=SamplingRuleProperty(
            RuleName=f"{ctx.cfg.organization.name}-{ctx.env}-{name}"[:32], Priority=priority, FixedRate=fixed,
            ReservoirSize=1, ServiceName="*", ServiceType="*", Host="*", HTTPMethod="*", URLPath=path,
            ResourceARN="*", Version=1)), "WKL-05"))

    # -- Synthetics canaries on /health, through CloudFront and direct to the regional API --------
    artifacts, _ = secure_bucket(
        t, "CanaryArtifacts", controls=["WKL-06"], bucket_name=ctx.bucket("canary"), kms_key_arn=key,
        access_log_bucket=access_log_bucket_name(ctx.cfg),
        lifecycle_rules=[LifecycleRule(Id="ExpireCanaryArtifacts", Status="Enabled", ExpirationInDays=90)])
    role = service_role(t, "CanaryRole", "lambda.amazonaws.com", [
        allow([s3_actions.PutObject, s3_actions.GetObject], [Sub("arn:${AWS::Partition}:s3:::" + ctx.bucket("canary") + "/*")]),
        allow([s3_actions.GetBucketLocation], [ctx.bucket_arn("canary")]),
        allow([s3_actions.ListAllMyBuckets], ["*"], sid="SyntheticsListsBuckets"),
        allow([logs_actions.CreateLogGroup, logs_actions.CreateLogStream, logs_actions.PutLogEvents],
              [Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/cwsyn-*")]),
        allow([PutMetricData], ["*"], condition=Condition(StringEquals("cloudwatch:namespace", "CloudWatchSynthetics"))),
        key_use(key),
    ], "WKL-11", managed=["AWSXRayDaemonWriteAccess"])
    for lid, name, url in (("Edge", "edge-health", f"https://{ctx.settings.domain}/health"),
                           ("Regional", "api-health", Sub("https://${Domain}/" + ctx.env + "/health",
                                                          Domain=Ref(api_domain)))):
        canary_name = f"{ctx.env[:4]}-{name}"[:21]
        canary = t.add_resource(controls(Canary(
            f"{lid}HealthCanary", Name=canary_name, RuntimeVersion=CANARY_RUNTIME,
            ExecutionRoleArn=GetAtt(role, "Arn"), StartCanaryAfterCreation=True,
            Code=CanaryCode(Handler="index.handler", Script=CANARY_SCRIPT),
            ArtifactS3Location=Sub("s3://" + ctx.bucket("canary") + "/" + name),
            ArtifactConfig=ArtifactConfig(S3Encryption=S3Encryption(EncryptionMode="SSE_KMS", KmsKeyArn=key)),
            Schedule=Schedule(Expression=CANARY_SCHEDULE),
            RunConfig=RunConfig(TimeoutInSeconds=60, ActiveTracing=True, EnvironmentVariables={"HEALTH_URL": url}),
            SuccessRetentionPeriod=30, FailureRetentionPeriod=90, DependsOn=[artifacts.title]), "WKL-06"))
        _alarm(t, ctx, f"{lid}CanaryAlarm", ctx.name(name, "canary"), f"{url if isinstance(url, str) else 'API'} "
               f"health canary success below {CANARY_SUCCESS_PERCENT}%",
               Namespace="CloudWatchSynthetics", MetricName="SuccessPercent",
               Dimensions=[MetricDimension(Name="CanaryName", Value=Ref(canary))], Statistic="Average",
               Period=300, EvaluationPeriods=2, Threshold=CANARY_SUCCESS_PERCENT, ComparisonOperator="LessThanThreshold")
    return t

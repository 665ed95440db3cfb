"""The job flow's AWS resources on the embedded AWS, made as the stacks make them on AWS.

`charter workload serve --local` and `charter demo` have no deployed sagemaker and compute
stacks in the default account; this makes what those stacks contribute to a job's path,
with the same definitions and names the handlers read from their settings:

- the job pipeline (`workloads.handlers.jobpipeline.definition`, the stack's own) and its role,
  trusted by SageMaker, reading the spec and data, writing the hosts' parts and invoking the
  results aggregator;
- the results aggregator function from the handlers zip, the pipeline's ResultsAggregation
  step, and its role (reading the parts, writing the result pages);
- the job-status function from the handlers zip (`workloads.package`, the deploy's
  artifact), its role, and its environment (the settings, and the local server's
  WebSocket management endpoint where it pushes);
- the EventBridge rule on the job pipeline's execution and step events, targeting it.

The embedded AWS then runs an execution's Processing step as a local process, invokes the
aggregator for its Lambda step, and invokes job-status with SageMaker's events (`charter.local.pipelines`): the path is AWS's, and the
local server is only the HTTP front of the handlers. Every call is idempotent.
"""

from __future__ import annotations

import json
from typing import Any

from awacs import awslambda, execute_api
from awacs import dynamodb as ddb
from awacs import s3 as s3_actions
from awacs import sagemaker as sm
from awacs.aws import Allow, Condition, PolicyDocument, Principal, Statement, StringLike
from awacs.sts import AssumeRole

from charter.workloads.handlers import aws, jobpipeline
from charter.workloads.handlers.settings import Settings

STATUS_HANDLER = "charter.workloads.handlers.jobstatus.handler"
AGGREGATOR_HANDLER = "charter.workloads.handlers.aggregator.handler"
EVENT_TYPES = ["SageMaker Model Building Pipeline Execution Status Change",
               "SageMaker Model Building Pipeline Execution Step Status Change"]


def _trust(service: str) -> str:
    return PolicyDocument(Version="2012-10-17", Statement=[Statement(
        Effect=Allow, Action=[AssumeRole], Principal=Principal("Service", [service]))]).to_json()


def _role(name: str, service: str, statements: list[Statement]) -> str:
    iam = aws.client("iam")
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(service))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="job-flow",
                        PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=statements).to_json())
    return str(arn)


def names(settings: Settings) -> dict[str, str]:
    """The stacks' names (`Ctx.name`): the job pipeline is `<prefix>-jobs`, the function and
    its rule `<prefix>-job-status`, the aggregator `<prefix>-aggregator`, so where the stacks
    are deployed these are theirs."""
    prefix = settings.job_pipeline_name.removesuffix("-jobs")
    return {"pipeline_role": f"{prefix}-jobs-local", "function": f"{prefix}-job-status",
            "function_role": f"{prefix}-job-status-local", "rule": f"{prefix}-job-status",
            "aggregator": f"{prefix}-aggregator", "aggregator_role": f"{prefix}-aggregator-local"}


def _function(name: str, handler: str, role: str, memory: int, timeout: int, description: str,
              env: dict[str, str]) -> str:
    """The function's ARN, made from the handlers zip if it is not there; an existing one (the
    stack's, or ours from an earlier start) keeps its role and gains the environment."""
    lam = aws.client("lambda")
    try:
        config = lam.get_function(FunctionName=name)["Configuration"]
        merged = {**(config.get("Environment") or {}).get("Variables", {}), **env}
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": merged})
        return str(config["FunctionArn"])
    except lam.exceptions.ResourceNotFoundException:
        from charter.workloads.package import handlers_zip_bytes

        return str(lam.create_function(
            FunctionName=name, Runtime="python3.12", Handler=handler, Role=role, Code={"ZipFile": handlers_zip_bytes()},
            Timeout=timeout, MemorySize=memory, Environment={"Variables": env}, Description=description)["FunctionArn"])


def ensure(settings: Settings, environment: dict[str, str]) -> dict[str, Any]:
    """Make (or bring up to date) the job pipeline, the aggregator, the job-status function and its rule.
    `environment`: what the function gets besides the settings (the management endpoint)."""
    n = names(settings)
    region = aws.client("s3").meta.region_name
    account = aws.client("sts").get_caller_identity()["Account"]
    bucket = lambda b: [f"arn:aws:s3:::{b}", f"arn:aws:s3:::{b}/*"]  # noqa: E731
    results_parts = f"arn:aws:s3:::{settings.results_bucket}/results/*"
    table = f"arn:aws:dynamodb:{region}:{account}:table/"
    aggregator_role = _role(n["aggregator_role"], "lambda.amazonaws.com", [
        Statement(Effect=Allow, Action=[s3_actions.GetObject, s3_actions.PutObject], Resource=[results_parts]),
        Statement(Effect=Allow, Action=[s3_actions.GetObject],
                  Resource=[f"arn:aws:s3:::{settings.results_bucket}/{jobpipeline.SPEC_PREFIX}*"]),
        Statement(Effect=Allow, Action=[s3_actions.ListBucket], Resource=[f"arn:aws:s3:::{settings.results_bucket}"],
                  Condition=Condition(StringLike("s3:prefix", "results/*"))),
        Statement(Effect=Allow, Action=[ddb.GetItem, ddb.Query, ddb.UpdateItem],
                  Resource=[f"{table}{settings.jobs_table}"]),
    ])
    aggregator_arn = _function(n["aggregator"], AGGREGATOR_HANDLER, aggregator_role, 4096, 900, "Results aggregator",
                               settings.to_env())
    pipeline_role = _role(n["pipeline_role"], "sagemaker.amazonaws.com", [
        Statement(Effect=Allow, Action=[s3_actions.GetObject, s3_actions.ListBucket],
                  Resource=[*bucket(settings.market_data_bucket), *bucket(settings.results_bucket)]),
        Statement(Effect=Allow, Action=[s3_actions.PutObject], Resource=[results_parts]),
        Statement(Effect=Allow, Action=[awslambda.InvokeFunction], Resource=[aggregator_arn]),
    ])
    sage = aws.client("sagemaker")
    definition = jobpipeline.definition_json(image_uri="charter-optimizer:local", role_arn=pipeline_role,
                                             results_bucket=settings.results_bucket, aggregator_arn=aggregator_arn,
                                             instance_type="ml.c5.4xlarge", page_rows=settings.results_page_rows)
    try:
        pipeline_arn = sage.describe_pipeline(PipelineName=settings.job_pipeline_name)["PipelineArn"]
        sage.update_pipeline(PipelineName=settings.job_pipeline_name, PipelineDefinition=definition,
                             RoleArn=pipeline_role)
    except Exception as exc:  # noqa: BLE001 - not there yet
        if aws.error_code(exc) not in ("ResourceNotFound", "ValidationException"):
            raise
        pipeline_arn = sage.create_pipeline(PipelineName=settings.job_pipeline_name, PipelineDefinition=definition,
                                            RoleArn=pipeline_role,
                                            ClientRequestToken=f"{settings.job_pipeline_name:-<32}"[:64])["PipelineArn"]
    executions = f"arn:aws:sagemaker:{region}:{account}:pipeline/{settings.job_pipeline_name}/execution/*"
    function_role = _role(n["function_role"], "lambda.amazonaws.com", [
        Statement(Effect=Allow, Action=[sm.DescribePipelineExecution, sm.ListPipelineExecutionSteps,
                                        sm.ListPipelineParametersForExecution], Resource=[executions]),
        Statement(Effect=Allow, Action=[ddb.GetItem, ddb.Query, ddb.UpdateItem, ddb.DeleteItem],
                  Resource=[f"{table}{t}" for t in (settings.jobs_table, settings.connections_table)]
                  + [f"{table}{t}/index/*" for t in (settings.jobs_table, settings.connections_table)]),
        Statement(Effect=Allow, Action=[s3_actions.GetObject], Resource=[f"arn:aws:s3:::{settings.results_bucket}/*"]),
        Statement(Effect=Allow, Action=[execute_api.ManageConnections], Resource=["*"]),
    ])
    function_arn = _function(n["function"], STATUS_HANDLER, function_role, 256, 60,
                             "Job record and WebSocket pushes from the job pipeline's events",
                             {**settings.to_env(), **environment})
    lam = aws.client("lambda")
    events = aws.client("events")
    rule_arn = events.put_rule(Name=n["rule"], State="ENABLED", EventPattern=json.dumps({
        "source": ["aws.sagemaker"], "detail-type": EVENT_TYPES, "detail": {"pipelineArn": [pipeline_arn]}}))["RuleArn"]
    events.put_targets(Rule=n["rule"], Targets=[{"Id": "job-status", "Arn": function_arn}])
    try:
        lam.add_permission(FunctionName=n["function"], StatementId="events", Action="lambda:InvokeFunction",
                           Principal="events.amazonaws.com", SourceArn=rule_arn)
    except lam.exceptions.ResourceConflictException:
        pass
    return {"pipeline_arn": pipeline_arn, "function_arn": function_arn, "rule_arn": rule_arn,
            "aggregator_arn": aggregator_arn}

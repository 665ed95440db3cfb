"""The evidence stack's scheduled run as a Step Functions state machine (EVD-01).

    Plan ──► Collect (Distributed Map over account batches: CollectBatch per item) ──► Seal

The tasks are `charter.evidence.orgscale` (see its docstring for what each one does). Part
of the `evidence_store` stack: the functions run as the collector role (the evidence reader
in every account trusts it by name, and the keys' policies name it) from the collector's
code asset.

Failure handling, and why it is shaped so:
- Lambda's throttling and transient service errors are retried on every task (backoff
  with full jitter).
- An item that still fails (a Lambda timeout, an error of Charter) fails its child
  execution and counts against the Map's `ToleratedFailurePercentage`. Within it the Map
  succeeds and `Seal` asks Step Functions for each failed child's error and cause
  (ListMapRuns, ListExecutions, DescribeExecution) and turns the batch's unread units into
  gaps naming them, then seals what succeeded. Beyond it the Map fails and so does the
  execution, unsealed: Step Functions' redrive (`RedriveExecution`) re-runs only the failed
  and unfinished items, then `Seal` seals the run once.
- Failures flow to the seal as Step Functions' record of the Map Run, not through a Catch:
  redrive continues a failed execution from its unsuccessful step, so a Catch chain inside
  the item (ending in a Fail state) would be redriven at that Fail state and fail again, and
  a Catch on the Map would make an execution that lost items "succeed", which cannot be
  redriven at all.

The EventBridge schedule (`baseline.evidence_schedule`) starts this state machine; it
replaces the schedule of the single collector Lambda rather than running beside it: two
schedules would collect the organization twice a day, and the single Lambda cannot finish
past about a hundred accounts, while the state machine runs a six-account organization as
one item. The collector Lambda stays deployed, unscheduled, for on-demand narrowed runs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from awacs import awslambda as lambda_actions
from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs import sts as sts_actions
from awacs.aws import Action, Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import GetAtt, Join, Ref, Sub, Tags, Template
from troposphere.awslambda import Code as LambdaCode
from troposphere.awslambda import DeadLetterConfig, Environment, Function, TracingConfig
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup
from troposphere.stepfunctions import (
    CloudWatchLogsLogGroup,
    LogDestination,
    LoggingConfiguration,
    StateMachine,
)
from troposphere.stepfunctions import TracingConfiguration as SfnTracing

from charter.config.model import OrgConfig
from charter.landing_zone.metadata import controls, suppress

CONTROL = "EVD-01"
STEP_HANDLER = "charter.evidence.orgscale.step"
BATCH_HANDLER = "charter.evidence.orgscale.batch_handler"
#: Errors of the Lambda service itself (not of the function) that Step Functions should retry.
LAMBDA_TRANSIENT = ["Lambda.TooManyRequestsException", "Lambda.ServiceException", "Lambda.AWSLambdaException",
                    "Lambda.SdkClientException"]


#: Placeholders in the definition text for the functions' ARNs (joined in by the template).
_STEP, _BATCH = "@@StepFunctionArn@@", "@@BatchFunctionArn@@"


def state_machine_name(cfg: OrgConfig) -> str:
    return f"{cfg.organization.name}-evidence-run"


def step_function_name(cfg: OrgConfig) -> str:
    return f"{cfg.organization.name}-evidence-run-step"


def batch_function_name(cfg: OrgConfig) -> str:
    return f"{cfg.organization.name}-evidence-run-batch"


def _retry() -> list[dict[str, Any]]:
    return [{"ErrorEquals": LAMBDA_TRANSIENT, "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2.0,
             "JitterStrategy": "FULL"}]


def definition(cfg: OrgConfig, *, step_arn: str = _STEP, batch_arn: str = _BATCH) -> dict[str, Any]:
    """The Amazon States Language document, with the functions' ARNs given (or placeholders)."""
    run = cfg.baseline.evidence_run

    def invoke(function: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function, "Payload": payload}, "Retry": _retry()}

    item = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "CollectBatch",
        "States": {
            "CollectBatch": {**invoke(batch_arn, {"run_id.$": "$.run_id", "batch.$": "$.batch",
                                                  "accounts.$": "$.accounts", "regions.$": "$.regions",
                                                  "collectors.$": "$.collectors",
                                                  "management_account_id.$": "$.management_account_id"}),
                             "ResultSelector": {"batch.$": "$.Payload.batch", "stored.$": "$.Payload.stored",
                                                "gaps.$": "$.Payload.gaps"},
                             "End": True},
        },
    }
    return {
        "Comment": f"Charter: continuous evidence for {cfg.organization.name} (EVD-01)",
        "StartAt": "Plan",
        "States": {
            "Plan": {**invoke(step_arn, {"step": "plan", "execution.$": "$$.Execution.Name", "input.$": "$"}),
                     "ResultSelector": {"run_id.$": "$.Payload.run_id", "items.$": "$.Payload.items",
                                        "batches.$": "$.Payload.batches"},
                     "ResultPath": "$.plan", "Next": "Collect"},
            "Collect": {"Type": "Map", "Label": "CollectBatches",
                        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                                       "ReaderConfig": {"InputType": "JSON"},
                                       "Parameters": {"Bucket.$": "$.plan.items.Bucket",
                                                      "Key.$": "$.plan.items.Key"}},
                        "ItemProcessor": item,
                        "MaxConcurrency": run.max_concurrency,
                        "ToleratedFailurePercentage": run.tolerated_failure_percent,
                        "ResultPath": None, "Next": "Seal"},
            "Seal": {**invoke(step_arn, {"step": "seal", "run_id.$": "$.plan.run_id",
                                         "execution_arn.$": "$$.Execution.Id"}),
                     "ResultSelector": {"run_id.$": "$.Payload.run_id", "sequence.$": "$.Payload.sequence",
                                        "manifest_sha256.$": "$.Payload.manifest_sha256"},
                     "ResultPath": "$.sealed", "End": True},
        },
    }


def collector_statements(cfg: OrgConfig) -> list[Statement]:
    """What the Seal task (running as the collector role) reads of the run's own executions."""
    name = state_machine_name(cfg)
    base = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}"
    return [Statement(Sid="ReadEvidenceRunFailures", Effect=Allow,
                      Action=[Action("states", a) for a in ("ListMapRuns", "ListExecutions", "DescribeExecution",
                                                            "DescribeMapRun")],
                      Resource=[Sub(f"{base}:execution:{name}:*"), Sub(f"{base}:execution:{name}/*"),
                                Sub(f"{base}:mapRun:{name}/*")])]


def log_groups(t: Template, cfg: OrgConfig, data_key: Any) -> list[LogGroup]:
    """The two functions' log groups (made first: the collector role's policy names them)."""
    out = []
    for logical, name in (("RunStepLogGroup", step_function_name(cfg)), ("RunBatchLogGroup", batch_function_name(cfg))):
        group = LogGroup(logical, LogGroupName=f"/aws/lambda/{name}", RetentionInDays=cfg.baseline.log_retention_days,
                         KmsKeyId=GetAtt(data_key, "Arn"))
        group.DeletionPolicy = "Retain"
        group.UpdateReplacePolicy = "Retain"
        out.append(t.add_resource(controls(group, CONTROL, "LOG-04")))
    return out


def add_state_machine(t: Template, cfg: OrgConfig, *, role: Role, data_key: Any, signing_key: Any, dlq: Any,
                      bucket_name: str, code_bucket: Sub, code_key: Any, groups: list[LogGroup]) -> StateMachine:
    """The two functions, the state machine with its role and log group; returns the state machine."""
    run = cfg.baseline.evidence_run
    env = {"EVIDENCE_BUCKET": Sub(bucket_name), "EVIDENCE_PREFIX": "", "SIGNING_KEY_ID": GetAtt(signing_key, "Arn"),
           "CHARTER_CONFIG": "org.json", "BATCH_ACCOUNTS": str(run.batch_accounts),
           "TOLERATED_FAILURE_PERCENT": f"{run.tolerated_failure_percent:g}"}
    functions = {}
    for logical, name, handler, concurrency, group in (
            ("RunStepFunction", step_function_name(cfg), STEP_HANDLER, 10, groups[0]),
            ("RunBatchFunction", batch_function_name(cfg), BATCH_HANDLER, run.max_concurrency, groups[1])):
        fn = Function(
            logical, FunctionName=name, Description=f"Charter evidence run: {handler.rsplit('.', 1)[-1]} (EVD-01)",
            Runtime="python3.12", Handler=handler, Role=GetAtt(role, "Arn"), MemorySize=1024, Timeout=900,
            Code=LambdaCode(S3Bucket=code_bucket, S3Key=Ref(code_key)),
            # bounds what one run asks of the organization's APIs (items in flight) and leaves
            # the rest of the account's Lambda concurrency to its other functions
            ReservedConcurrentExecutions=concurrency,
            DeadLetterConfig=DeadLetterConfig(TargetArn=GetAtt(dlq, "Arn")),
            TracingConfig=TracingConfig(Mode="Active"), KmsKeyArn=GetAtt(data_key, "Arn"),
            Environment=Environment(Variables=env), Tags=Tags(ManagedBy="charter"))
        fn.DependsOn = [group.title]
        suppress(fn, "CKV_AWS_117", "The evidence run calls only AWS APIs (STS, S3, KMS and the read APIs of every "
                                    "service); the audit account has no VPC, and all traffic is TLS to AWS endpoints.")
        suppress(fn, "CKV_AWS_272", "Code is an S3 asset uploaded by charter deploy to a bucket in the audit account "
                                    "only its deploy role writes; AWS Signer is not used by Charter.")
        functions[logical] = t.add_resource(controls(fn, CONTROL))

    name = state_machine_name(cfg)
    sm_log = LogGroup("RunStateMachineLogGroup", LogGroupName=f"/aws/vendedlogs/states/{name}",
                      RetentionInDays=cfg.baseline.log_retention_days, KmsKeyId=GetAtt(data_key, "Arn"))
    sm_log.DeletionPolicy = "Retain"
    sm_log.UpdateReplacePolicy = "Retain"
    t.add_resource(controls(sm_log, CONTROL, "LOG-04"))

    sm_arn = Sub(f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:{name}")
    executions = Sub(f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:{name}/*")
    fn_arns = [GetAtt(f, "Arn") for f in functions.values()]
    policy = PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="InvokeRunFunctions", Effect=Allow, Action=[lambda_actions.InvokeFunction],
                  Resource=[*fn_arns, *[Sub("${Arn}:*", Arn=a) for a in fn_arns]]),
        # a Distributed Map runs each item as a child execution of this state machine
        Statement(Sid="DistributedMapChildren", Effect=Allow, Action=[Action("states", "StartExecution")],
                  Resource=[sm_arn]),
        Statement(Sid="DistributedMapChildExecutions", Effect=Allow,
                  Action=[Action("states", "DescribeExecution"), Action("states", "StopExecution"),
                          Action("states", "RedriveExecution")],
                  Resource=[executions]),
        Statement(Sid="ReadItems", Effect=Allow, Action=[s3_actions.GetObject],
                  Resource=[Sub("arn:${AWS::Partition}:s3:::" + bucket_name + "/orchestration/*")]),
        Statement(Sid="DecryptItems", Effect=Allow, Action=[kms_actions.Decrypt],
                  Resource=[GetAtt(data_key, "Arn")]),
        # CloudWatch Logs delivery for Step Functions: AWS documents these on "*" (the
        # delivery APIs take no resource)
        Statement(Sid="DeliverLogs", Effect=Allow,
                  Action=[logs_actions.CreateLogDelivery, logs_actions.GetLogDelivery, logs_actions.UpdateLogDelivery,
                          logs_actions.DeleteLogDelivery, logs_actions.ListLogDeliveries,
                          logs_actions.PutResourcePolicy, logs_actions.DescribeResourcePolicies,
                          logs_actions.DescribeLogGroups],
                  Resource=["*"]),
        Statement(Sid="Tracing", Effect=Allow,
                  Action=[Action("xray", a) for a in ("PutTraceSegments", "PutTelemetryRecords", "GetSamplingRules",
                                                      "GetSamplingTargets")],
                  Resource=["*"]),
    ])
    sm_role = t.add_resource(controls(Role(
        "RunStateMachineRole", MaxSessionDuration=3600,
        Description="Charter evidence run: invokes its functions, runs its Distributed Map (EVD-01)",
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "states.amazonaws.com"), Action=[sts_actions.AssumeRole],
            Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))))]),
        Policies=[Policy(PolicyName="evidence-run", PolicyDocument=policy)],
        Tags=Tags(ManagedBy="charter")), CONTROL, "IAM-08"))

    # Fn::Join rather than Fn::Sub: the definition's `$$.Execution...` paths are literal text
    # to CloudFormation, but moto's Fn::Sub (string.Template) turns `$$` into `$`
    text = json.dumps(definition(cfg, step_arn=_STEP, batch_arn=_BATCH), indent=1, sort_keys=False)
    arns = {_STEP: GetAtt(functions["RunStepFunction"], "Arn"), _BATCH: GetAtt(functions["RunBatchFunction"], "Arn")}
    parts: list[Any] = []
    for piece in re.split(f"({_STEP}|{_BATCH})", text):
        parts.append(arns.get(piece, piece))
    machine = StateMachine(
        "RunStateMachine", StateMachineName=name, StateMachineType="STANDARD", RoleArn=GetAtt(sm_role, "Arn"),
        DefinitionString=Join("", parts),
        LoggingConfiguration=LoggingConfiguration(
            Level="ALL", IncludeExecutionData=False,
            Destinations=[LogDestination(CloudWatchLogsLogGroup=CloudWatchLogsLogGroup(
                LogGroupArn=GetAtt(sm_log, "Arn")))]),
        TracingConfiguration=SfnTracing(Enabled=True), Tags=Tags(ManagedBy="charter"))
    return t.add_resource(controls(machine, CONTROL))


def schedule_role(t: Template, machine: StateMachine) -> Role:
    """What EventBridge assumes to start the state machine (nothing else)."""
    return t.add_resource(controls(Role(
        "RunScheduleRole", MaxSessionDuration=3600,
        Description="Charter: lets the evidence schedule start the evidence run (EVD-01)",
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "events.amazonaws.com"), Action=[sts_actions.AssumeRole],
            Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))))]),
        Policies=[Policy(PolicyName="start-evidence-run", PolicyDocument=PolicyDocument(
            Version="2012-10-17", Statement=[Statement(
                Sid="StartEvidenceRun", Effect=Allow, Action=[Action("states", "StartExecution")],
                Resource=[Ref(machine)])]))],
        Tags=Tags(ManagedBy="charter")), CONTROL))

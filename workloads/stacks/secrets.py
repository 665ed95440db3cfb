"""Secrets stack: the pricing library licence and API keys, rotated by our own Lambda.

Both secrets are KMS-encrypted with the environment key. `workloads.handlers.rotation`
implements Secrets Manager's four rotation steps; the schedule is per secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from awacs import secretsmanager as sm
from awacs import sqs as sqs_actions
from troposphere import GetAtt, Output, Parameter, Ref, Template
from troposphere.awslambda import (
    Code,
    DeadLetterConfig,
    Function,
    LoggingConfig,
    TracingConfig,
    VPCConfig,
)
from troposphere.awslambda import Environment as LambdaEnvironment
from troposphere.awslambda import Permission as LambdaPermission
from troposphere.ec2 import SecurityGroup, SecurityGroupRule
from troposphere.secretsmanager import GenerateSecretString, RotationRules, RotationSchedule, Secret
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


@dataclass(frozen=True)
class SecretSpec:
    short: str
    description: str
    template: str  # fixed fields of the JSON secret
    generated: str  # field Secrets Manager generates at creation
    schedule: str


SECRETS: tuple[SecretSpec, ...] = (
    SecretSpec("pricing-licence", "Licence key of the pricing library", '{"vendor": "pricing-library"}',
               "licence_key", "rate(90 days)"),
    SecretSpec("api-keys", "API keys of the market data vendors and internal clients", '{"client": "optimizer"}',
               "api_key", "rate(30 days)"),
)
ROTATION_HANDLER = f"{HANDLERS}.rotation.handler"


def secret_name(ctx: Ctx, short: str) -> str:
    return f"{ctx.prefix}/{short}"


@builder("workload_secrets", controls=["LOG-04", "WKL-03", "WKL-05", "WKL-06", "WKL-08", "WKL-11", "WKL-13"],
         description="The pricing licence and API key secrets, KMS-encrypted with the environment key.")
def build(ctx: Ctx) -> Template:
    t = new_template(ctx, "secrets (Secrets Manager, rotation)")
    key = key_parameter(t, ctx)
    vpc, subnets = network_parameters(t)
    code_bucket = t.add_parameter(Parameter(
        "CodeBucket", Type="String", AllowedPattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        Description="Bucket of the handlers zip (the model-artifacts bucket; filled by deploy)."))
    code_key = t.add_parameter(Parameter("CodeKey", Type="String", Default="code/optimizer-handlers.zip",
                                         Description="S3 key of the handlers zip."))

    secrets = []
    for spec in SECRETS:
        secret = controls(Secret(
            "".join(w.capitalize() for w in spec.short.split("-")) + "Secret", Name=secret_name(ctx, spec.short),
            Description=spec.description, KmsKeyId=key,
            GenerateSecretString=GenerateSecretString(
                SecretStringTemplate=spec.template, GenerateStringKey=spec.generated, PasswordLength=40,
                ExcludePunctuation=True)), "WKL-08", "WKL-03")
        secret.DeletionPolicy = "Retain"
        secret.UpdateReplacePolicy = "Retain"
        secrets.append((spec, t.add_resource(secret)))

    name = ctx.function_name("rotation")
    group = log_group(t, ctx, "RotationLogs", f"/aws/lambda/{name}", key, "WKL-08")
    dlq = t.add_resource(controls(Queue("RotationDeadLetterQueue", QueueName=ctx.name("rotation-dlq"),
                                        KmsMasterKeyId=key, MessageRetentionPeriod=14 * 24 * 3600),
                                  "WKL-08", "WKL-06"))
    role = service_role(t, "RotationRole", "lambda.amazonaws.com", [
        allow([sm.DescribeSecret, sm.GetSecretValue, sm.PutSecretValue, sm.UpdateSecretVersionStage],
              [Ref(s) for _, s in secrets]),
        allow([sm.GetRandomPassword], ["*"], sid="RandomPasswordHasNoResource"),
        allow([sqs_actions.SendMessage], [GetAtt(dlq, "Arn")]),
        key_use(key),
    ], "WKL-08", "WKL-11", managed=["service-role/AWSLambdaVPCAccessExecutionRole", "AWSXRayDaemonWriteAccess"])
    sg = t.add_resource(controls(SecurityGroup(
        "RotationSecurityGroup", GroupDescription=f"{ctx.prefix} secret rotation: HTTPS egress only",
        VpcId=vpc, SecurityGroupEgress=[SecurityGroupRule(
            IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="0.0.0.0/0",
            Description="HTTPS to Secrets Manager and the vendors' key endpoints")]), "WKL-13"))
    fn = controls(Function(
        "RotationFunction", FunctionName=name, Description="Rotates the optimizer's secrets",
        Runtime=LAMBDA_RUNTIME, Handler=ROTATION_HANDLER, Architectures=["arm64"], MemorySize=256, Timeout=60,
        Role=GetAtt(role, "Arn"), Code=Code(S3Bucket=Ref(code_bucket), S3Key=Ref(code_key)),
        TracingConfig=TracingConfig(Mode="Active"), KmsKeyArn=key,
        DeadLetterConfig=DeadLetterConfig(TargetArn=GetAtt(dlq, "Arn")),
        VpcConfig=VPCConfig(SecurityGroupIds=[Ref(sg)], SubnetIds=subnets),
        LoggingConfig=LoggingConfig(LogGroup=Ref(group)),
        Environment=LambdaEnvironment(Variables={"CHARTER_ENVIRONMENT": ctx.env}),
    ), "WKL-08", "WKL-05", "WKL-13")
    suppress(fn, "CKV_AWS_115", "Secrets Manager invokes rotation a handful of times per month, one secret at a "
             "time; a reserved limit would only take capacity from the account pool.")
    t.add_resource(fn)
    permission = t.add_resource(controls(LambdaPermission(
        "RotationPermission", Action="lambda:InvokeFunction", Principal="secretsmanager.amazonaws.com",
        FunctionName=GetAtt(fn, "Arn"), SourceAccount=Ref("AWS::AccountId")), "WKL-08", "WKL-11"))
    for spec, secret in secrets:
        t.add_resource(controls(RotationSchedule(
            secret.title + "Rotation", SecretId=Ref(secret), RotationLambdaARN=GetAtt(fn, "Arn"),
            RotateImmediatelyOnUpdate=False, RotationRules=RotationRules(ScheduleExpression=spec.schedule),
            DependsOn=[permission.title]), "WKL-08"))
        t.add_output(Output(secret.title + "Arn", Value=Ref(secret)))
    return t

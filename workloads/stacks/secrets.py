"""Secrets stack: the vendor-issued pricing licence and market data API keys, with expiry reminders.

Both secrets are issued by vendors: a new value has to come from the vendor, so Secrets
Manager rotation (which would store a random string the vendor rejects) is not used.
Instead each secret carries its issuer, owner and expiry as tags (`charter:issuer =
vendor`, `charter:owner`, `charter:expires`), and a daily EventBridge schedule runs
`workloads.handlers.secret_reminders`, which reminds the owner through this stack's
reminder topic (KMS-encrypted, the environment's `alert_emails` subscribed) 30, 14 and 7
days before expiry, daily in the last three days and after it, and whenever a secret has
no expiry or still holds the placeholder this stack creates it with. Both secrets are
encrypted with the environment key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from awacs import secretsmanager as sm
from awacs import sns as sns_actions
from awacs import sqs as sqs_actions
from troposphere import GetAtt, Output, Parameter, Ref, Tags, Template
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
from troposphere.events import Rule, Target
from troposphere.secretsmanager import Secret
from troposphere.sns import SubscriptionResource, Topic
from troposphere.sqs import Queue

from charter.landing_zone.metadata import controls, suppress
from charter.landing_zone.registry import builder
from charter.workloads.handlers.secret_reminders import (
    ISSUER_TAG,
    OWNER_TAG,
    PLACEHOLDER,
    TOPIC_ENV,
    VENDOR,
)

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
    vendor: str
    fields: tuple[str, ...]  # the fields the owner fills with the vendor's values


SECRETS: tuple[SecretSpec, ...] = (
    SecretSpec("pricing-licence", "Licence key of the pricing library (issued by its vendor)", "pricing-library",
               ("licence_key",)),
    SecretSpec("market-data-keys", "API keys of the market data vendors (issued by each vendor)", "market-data",
               ("api_key",)),
)
REMINDER_HANDLER = f"{HANDLERS}.secret_reminders.handler"
REMINDER_SCHEDULE = "cron(0 8 * * ? *)"  # daily, 08:00 UTC


def secret_name(ctx: Ctx, short: str) -> str:
    return f"{ctx.prefix}/{short}"


def secret_owner(ctx: Ctx) -> str:
    """Who renews the vendor secrets: the environment's first alert address."""
    return str(ctx.settings.alert_emails[0])


@builder("workload_secrets", controls=["LOG-04", "WKL-03", "WKL-05", "WKL-06", "WKL-08", "WKL-11", "WKL-13"],
         description="The pricing licence and API key secrets, KMS-encrypted with the environment key.")
def build(ctx: Ctx) -> Template:
    t = new_template(ctx, "secrets (Secrets Manager, expiry reminders)")
    key = key_parameter(t, ctx)
    vpc, subnets = network_parameters(t)
    code_bucket = t.add_parameter(Parameter(
        "CodeBucket", Type="String", AllowedPattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        Description="Bucket of the handlers zip (the model-artifacts bucket; filled by deploy)."))
    code_key = t.add_parameter(Parameter("CodeKey", Type="String", Default="code/optimizer-handlers.zip",
                                         Description="S3 key of the handlers zip."))

    secrets = []
    for spec in SECRETS:
        # A placeholder, not a generated value: a random string would look like a working
        # key; the reminder names this secret every day until the owner stores the vendor's.
        value = {"vendor": spec.vendor, **{f: PLACEHOLDER for f in spec.fields}}
        secret = controls(Secret(
            "".join(w.capitalize() for w in spec.short.split("-")) + "Secret", Name=secret_name(ctx, spec.short),
            Description=spec.description, KmsKeyId=key, SecretString=json.dumps(value, separators=(",", ":")),
            Tags=Tags(**{ISSUER_TAG: VENDOR, OWNER_TAG: secret_owner(ctx)})), "WKL-08", "WKL-03")
        secret.DeletionPolicy = "Retain"
        secret.UpdateReplacePolicy = "Retain"
        secrets.append((spec, t.add_resource(secret)))

    topic = t.add_resource(controls(Topic(
        "ReminderTopic", TopicName=ctx.name("reminders"), KmsMasterKeyId=key,
        DisplayName=f"{ctx.prefix} vendor secret reminders"), "WKL-08"))
    for i, email in enumerate(ctx.settings.alert_emails):
        t.add_resource(controls(SubscriptionResource(f"ReminderSubscription{i}", TopicArn=Ref(topic), Protocol="email",
                                             Endpoint=str(email)), "WKL-08"))

    name = ctx.function_name("secret-reminders")
    group = log_group(t, ctx, "ReminderLogs", f"/aws/lambda/{name}", key, "WKL-08")
    dlq = t.add_resource(controls(Queue("ReminderDeadLetterQueue", QueueName=ctx.name("reminders-dlq"),
                                        KmsMasterKeyId=key, MessageRetentionPeriod=14 * 24 * 3600),
                                  "WKL-08", "WKL-06"))
    role = service_role(t, "ReminderRole", "lambda.amazonaws.com", [
        allow([sm.ListSecrets], ["*"], sid="ListSecretsHasNoResource"),
        allow([sm.DescribeSecret, sm.GetSecretValue], [Ref(s) for _, s in secrets]),
        allow([sns_actions.Publish], [Ref(topic)]),
        allow([sqs_actions.SendMessage], [GetAtt(dlq, "Arn")]),
        key_use(key),
    ], "WKL-08", "WKL-11", managed=["service-role/AWSLambdaVPCAccessExecutionRole", "AWSXRayDaemonWriteAccess"])
    sg = t.add_resource(controls(SecurityGroup(
        "ReminderSecurityGroup", GroupDescription=f"{ctx.prefix} secret reminders: HTTPS egress only",
        VpcId=vpc, SecurityGroupEgress=[SecurityGroupRule(
            IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="0.0.0.0/0",
            Description="HTTPS to Secrets Manager and SNS")]), "WKL-13"))
    fn = controls(Function(
        "ReminderFunction", FunctionName=name, Description="Reminds owners of vendor secrets before they expire",
        Runtime=LAMBDA_RUNTIME, Handler=REMINDER_HANDLER, Architectures=["arm64"], MemorySize=256, Timeout=60,
        Role=GetAtt(role, "Arn"), Code=Code(S3Bucket=Ref(code_bucket), S3Key=Ref(code_key)),
        TracingConfig=TracingConfig(Mode="Active"), KmsKeyArn=key,
        DeadLetterConfig=DeadLetterConfig(TargetArn=GetAtt(dlq, "Arn")),
        VpcConfig=VPCConfig(SecurityGroupIds=[Ref(sg)], SubnetIds=subnets),
        LoggingConfig=LoggingConfig(LogGroup=Ref(group)),
        Environment=LambdaEnvironment(Variables={"CHARTER_ENVIRONMENT": ctx.env, TOPIC_ENV: Ref(topic)}),
    ), "WKL-08", "WKL-05", "WKL-13")
    suppress(fn, "CKV_AWS_115", "Runs once a day from an EventBridge schedule; a reserved limit would only take "
             "capacity from the account pool.")
    t.add_resource(fn)
    rule = t.add_resource(controls(Rule(
        "DailySecretReminders", Name=ctx.name("secret-reminders"), State="ENABLED",
        ScheduleExpression=REMINDER_SCHEDULE, Description="Remind owners of vendor secrets before they expire",
        Targets=[Target(Id="reminders", Arn=GetAtt(fn, "Arn"))]), "WKL-08"))
    t.add_resource(controls(LambdaPermission(
        "ReminderPermission", Action="lambda:InvokeFunction", Principal="events.amazonaws.com",
        FunctionName=GetAtt(fn, "Arn"), SourceArn=GetAtt(rule, "Arn")), "WKL-08", "WKL-11"))
    for _spec, secret in secrets:
        t.add_output(Output(secret.title + "Arn", Value=Ref(secret)))
    t.add_output(Output("ReminderTopicArn", Value=Ref(topic)))
    return t

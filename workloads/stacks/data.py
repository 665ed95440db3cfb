"""Data stack: the optimizer's buckets and tables, all encrypted with the environment key.

- market data: versioned, to Glacier after 90 days, EventBridge notifications for new
  objects (the ingestion function and the SageMaker pipeline subscribe to them);
- results: CORS for the frontend domain, Intelligent-Tiering. Jobs' results are read
  through the API only (it checks the job's owner, then answers with the page or a
  presigned URL of a few minutes); CloudFront reads `console/` only, and only this
  environment's distribution (`AWS:SourceArn` equal to its ARN, which deploy fills in once
  the edge stack exists and then updates this stack);
- model artifacts: versioned and replicated to the DR region (the `data-dr` stack holds
  the replica and deploys first);
- DynamoDB: optimization jobs (provisioned, auto-scaled 1-100), strategy configurations
  (Streams piped to an audit log), results cache (TTL, on-demand), WebSocket connections,
  each user's API key (the REST authorizer's).
  Every table: KMS with the environment key and point-in-time recovery (BCK-03).
"""

from __future__ import annotations

from awacs import dynamodb as ddb
from awacs import kms
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs.aws import Condition, ForAnyValueStringEquals, Principal, Statement, StringEquals
from troposphere import GetAtt, ImportValue, Output, Parameter, Ref, Sub, Template
from troposphere.applicationautoscaling import (
    PredefinedMetricSpecification,
    ScalableTarget,
    ScalingPolicy,
    TargetTrackingScalingPolicyConfiguration,
)
from troposphere.dynamodb import AttributeDefinition as Attr
from troposphere.dynamodb import (
    GlobalSecondaryIndex,
    KeySchema,
    PointInTimeRecoverySpecification,
    Projection,
    ProvisionedThroughput,
    SSESpecification,
    StreamSpecification,
    Table,
    TimeToLiveSpecification,
)
from troposphere.pipes import (
    Pipe,
    PipeSourceDynamoDBStreamParameters,
    PipeSourceParameters,
)
from troposphere.s3 import (
    CorsConfiguration,
    CorsRules,
    DeleteMarkerReplication,
    EncryptionConfiguration,
    EventBridgeConfiguration,
    LifecycleRule,
    LifecycleRuleTransition,
    Metrics,
    NoncurrentVersionTransition,
    NotificationConfiguration,
    ReplicationConfiguration,
    ReplicationConfigurationRules,
    ReplicationConfigurationRulesDestination,
    ReplicationRuleFilter,
    ReplicationTime,
    ReplicationTimeValue,
    SourceSelectionCriteria,
    SseKmsEncryptedObjects,
)

from charter.config.model import RTC_AT_OR_BELOW_MINUTES
from charter.landing_zone.components.s3 import secure_bucket
from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder
from charter.naming import BACKUP_TAG, access_log_bucket_name

from ._common import Ctx, allow, key_parameter, key_use, log_group, new_template, service_role

#: Where the console lives in the results bucket (the edge stack's bucket origin path).
CONSOLE_PREFIX = "console"
#: `ResultsDistributionId` before the edge stack exists: no distribution has this id.
NO_DISTRIBUTION = "NONE"
#: Table short names -> physical name suffix (other stacks build ARNs from these).
TABLES = ("jobs", "strategies", "cache", "connections", "api-keys")
#: Provisioned capacity range of the jobs table and its GSI (spec: 1-100 RCU/WCU).
JOBS_MIN_CAPACITY, JOBS_MAX_CAPACITY = 1, 100
GLACIER_AFTER_DAYS = 90
#: The tag the environment's backup plan selects (`backup-<env>` StackSet): the buckets that
#: hold the workload's data (tables are selected as every table of the account).
BACKED_UP = dict([BACKUP_TAG])


def _table(ctx: Ctx, logical: str, short: str, key: ImportValue, **props: object) -> Table:
    table = Table(
        logical, TableName=ctx.name(short),
        SSESpecification=SSESpecification(SSEEnabled=True, SSEType="KMS", KMSMasterKeyId=key),
        PointInTimeRecoverySpecification=PointInTimeRecoverySpecification(PointInTimeRecoveryEnabled=True),
        DeletionProtectionEnabled=ctx.env == "prod",
        **props,
    )
    table.DeletionPolicy = "Retain"
    table.UpdateReplacePolicy = "Retain"
    return controls(table, "WKL-03", "WKL-04", "BCK-03")


def _autoscale(t: Template, ctx: Ctx, table: Table, resource_id: str, dimension_prefix: str, logical: str) -> None:
    for kind, metric in (("Read", "DynamoDBReadCapacityUtilization"), ("Write", "DynamoDBWriteCapacityUtilization")):
        target = t.add_resource(controls(ScalableTarget(
            f"{logical}{kind}Target", MinCapacity=JOBS_MIN_CAPACITY, MaxCapacity=JOBS_MAX_CAPACITY,
            ResourceId=resource_id, ScalableDimension=f"dynamodb:{dimension_prefix}:{kind}CapacityUnits",
            ServiceNamespace="dynamodb", DependsOn=[table.title]), "WKL-06"))
        t.add_resource(controls(ScalingPolicy(
            f"{logical}{kind}Scaling", PolicyName=ctx.name(logical.lower(), kind.lower()),
            PolicyType="TargetTrackingScaling", ScalingTargetId=Ref(target),
            TargetTrackingScalingPolicyConfiguration=TargetTrackingScalingPolicyConfiguration(
                TargetValue=70.0, PredefinedMetricSpecification=PredefinedMetricSpecification(
                    PredefinedMetricType=metric)),
        ), "WKL-06"))


@builder("workload_data_dr", controls=["BCK-02", "DAT-01", "ENC-02", "ENC-04", "LOG-05", "WKL-03", "WKL-04"],
         description="The DR region's replica of the model artifacts bucket.")
def build_dr(ctx: Ctx) -> Template:
    """The replica bucket of the model artifacts, in the DR region."""
    t = new_template(ctx, f"model artifact replica in {ctx.dr_region}")
    key = key_parameter(t, ctx)
    bucket, _ = secure_bucket(
        t, "ModelArtifactsReplica", controls=["WKL-03", "WKL-04", "BCK-02"],
        bucket_name=ctx.bucket("models-replica"), kms_key_arn=key,
        access_log_bucket=access_log_bucket_name(ctx.cfg),
    )
    t.add_output(Output("ReplicaBucket", Value=Ref(bucket)))
    return t


@builder("workload_data", controls=["BCK-01", "BCK-02", "BCK-03", "DAT-01", "ENC-02", "ENC-04", "LOG-04", "LOG-05", "WKL-03", "WKL-04", "WKL-05", "WKL-06", "WKL-10"],
         description="Optimizer buckets and DynamoDB tables (encrypted, versioned, replicated, PITR).")
def build(ctx: Ctx) -> Template:
    t = new_template(ctx, "data (S3, DynamoDB)")
    key = key_parameter(t, ctx)
    # The DR key lives in another region (no import there); S3 replication takes its alias ARN,
    # and the replication role may use whichever key carries that alias.
    dr_key = Sub(f"arn:${{AWS::Partition}}:kms:{ctx.dr_region}:${{AWS::AccountId}}:{ctx.kms_alias}")
    dr_keys = Sub(f"arn:${{AWS::Partition}}:kms:{ctx.dr_region}:${{AWS::AccountId}}:key/*")
    logs = access_log_bucket_name(ctx.cfg)

    # -- market data -------------------------------------------------------------------
    market, _ = secure_bucket(
        t, "MarketDataBucket", controls=["WKL-03", "WKL-10", "BCK-01"], bucket_name=ctx.bucket("market-data"),
        kms_key_arn=key, access_log_bucket=logs, tags=BACKED_UP,
        lifecycle_rules=[LifecycleRule(
            Id="MarketDataToGlacier", Status="Enabled",
            Transitions=[LifecycleRuleTransition(StorageClass="GLACIER", TransitionInDays=GLACIER_AFTER_DAYS)],
            NoncurrentVersionTransitions=[NoncurrentVersionTransition(StorageClass="GLACIER", TransitionInDays=30)],
        )],
    )
    # EventBridge (not direct S3->Lambda) so the compute and ML stacks subscribe without a
    # cross-stack dependency cycle; both the ingestion function and the pipeline listen.
    market.NotificationConfiguration = NotificationConfiguration(
        EventBridgeConfiguration=EventBridgeConfiguration(EventBridgeEnabled=True))

    # -- results: jobs' results (read only through the API, which checks the owner) and the
    # console (read by this environment's distribution only, through origin access control) --
    distribution = t.add_parameter(Parameter(
        "ResultsDistributionId", Type="String", Default=NO_DISTRIBUTION, AllowedPattern=r"^[A-Z0-9]{1,32}$",
        Description="The edge stack's CloudFront distribution, the only reader of console/ (filled by deploy "
                    f"once the edge stack exists; {NO_DISTRIBUTION} names no distribution)."))
    cloudfront_read = Statement(
        Sid="ThisDistributionReadsTheConsole", Effect="Allow",
        Principal=Principal("Service", "cloudfront.amazonaws.com"),
        Action=[s3_actions.GetObject],
        Resource=[Sub("arn:${AWS::Partition}:s3:::" + ctx.bucket("results") + f"/{CONSOLE_PREFIX}/*")],
        Condition=Condition(StringEquals("AWS:SourceArn", Sub(
            "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Id}", Id=Ref(distribution)))),
    )
    results, _ = secure_bucket(
        t, "ResultsBucket", controls=["WKL-03", "BCK-01"], bucket_name=ctx.bucket("results"), kms_key_arn=key,
        access_log_bucket=logs, extra_policy_statements=[cloudfront_read], tags=BACKED_UP,
        lifecycle_rules=[LifecycleRule(
            Id="ResultsIntelligentTiering", Status="Enabled",
            Transitions=[LifecycleRuleTransition(StorageClass="INTELLIGENT_TIERING", TransitionInDays=0)],
        )],
    )
    results.CorsConfiguration = CorsConfiguration(CorsRules=[CorsRules(
        AllowedOrigins=[f"https://{ctx.settings.domain}"], AllowedMethods=["GET", "HEAD"],
        AllowedHeaders=["Authorization", "Content-Type"], MaxAge=3600)])

    # -- model artifacts, replicated to the DR region ------------------------------------------
    replica = ctx.bucket("models-replica", ctx.dr_region)
    source_arn = ctx.bucket_arn("models")
    replication_role = service_role(t, "ModelReplicationRole", "s3.amazonaws.com", [
        allow([s3_actions.GetReplicationConfiguration, s3_actions.ListBucket], [source_arn]),
        allow([s3_actions.GetObjectVersionForReplication, s3_actions.GetObjectVersionAcl,
               s3_actions.GetObjectVersionTagging], [Sub("arn:${AWS::Partition}:s3:::" + ctx.bucket("models") + "/*")]),
        allow([s3_actions.ReplicateObject, s3_actions.ReplicateDelete, s3_actions.ReplicateTags],
              [Sub("arn:${AWS::Partition}:s3:::" + replica + "/*")]),
        allow([kms.Decrypt], [key]),
        allow([kms.Encrypt, kms.GenerateDataKey], [dr_keys],
              condition=Condition(ForAnyValueStringEquals("kms:ResourceAliases", ctx.kms_alias))),
    ], "WKL-04", "BCK-02")
    models, _ = secure_bucket(
        t, "ModelArtifactsBucket", controls=["WKL-03", "WKL-04", "BCK-01", "BCK-02"], bucket_name=ctx.bucket("models"),
        kms_key_arn=key, access_log_bucket=logs, tags=BACKED_UP,
    )
    destination = ReplicationConfigurationRulesDestination(
        Bucket=Sub("arn:${AWS::Partition}:s3:::" + replica),
        EncryptionConfiguration=EncryptionConfiguration(ReplicaKmsKeyID=dr_key))
    if ctx.cfg.baseline.backup.rpo_minutes(ctx.env) <= RTC_AT_OR_BELOW_MINUTES:
        # S3 Replication Time Control: 99.99% of objects within 15 minutes (the only value S3 takes)
        fifteen = ReplicationTimeValue(Minutes=15)
        destination.ReplicationTime = ReplicationTime(Status="Enabled", Time=fifteen)
        destination.Metrics = Metrics(Status="Enabled", EventThreshold=fifteen)
    models.ReplicationConfiguration = ReplicationConfiguration(
        Role=GetAtt(replication_role, "Arn"),
        # a filter rule (the schema Replication Time Control needs) that, like the prefix rule
        # it replaced, also replicates delete markers
        Rules=[ReplicationConfigurationRules(
            Id="ReplicateToDr", Status="Enabled", Priority=1, Filter=ReplicationRuleFilter(Prefix=""),
            DeleteMarkerReplication=DeleteMarkerReplication(Status="Enabled"),
            SourceSelectionCriteria=SourceSelectionCriteria(SseKmsEncryptedObjects=SseKmsEncryptedObjects(Status="Enabled")),
            Destination=destination,
        )],
    )

    # -- DynamoDB --------------------------------------------------------------------------
    jobs = t.add_resource(_table(
        ctx, "JobsTable", "jobs", key, BillingMode="PROVISIONED",
        AttributeDefinitions=[Attr(AttributeName="job_id", AttributeType="S"),
                              Attr(AttributeName="timestamp", AttributeType="S"),
                              Attr(AttributeName="user_id", AttributeType="S")],
        KeySchema=[KeySchema(AttributeName="job_id", KeyType="HASH"),
                   KeySchema(AttributeName="timestamp", KeyType="RANGE")],
        ProvisionedThroughput=ProvisionedThroughput(ReadCapacityUnits=JOBS_MIN_CAPACITY,
                                                    WriteCapacityUnits=JOBS_MIN_CAPACITY),
        GlobalSecondaryIndexes=[GlobalSecondaryIndex(
            IndexName="user_id-index",
            KeySchema=[KeySchema(AttributeName="user_id", KeyType="HASH"),
                       KeySchema(AttributeName="timestamp", KeyType="RANGE")],
            Projection=Projection(ProjectionType="ALL"),
            ProvisionedThroughput=ProvisionedThroughput(ReadCapacityUnits=JOBS_MIN_CAPACITY,
                                                        WriteCapacityUnits=JOBS_MIN_CAPACITY))],
    ))
    _autoscale(t, ctx, jobs, f"table/{ctx.name('jobs')}", "table", "JobsTable")
    _autoscale(t, ctx, jobs, f"table/{ctx.name('jobs')}/index/user_id-index", "index", "JobsUserIndex")

    strategies = t.add_resource(_table(
        ctx, "StrategiesTable", "strategies", key, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[Attr(AttributeName="strategy_id", AttributeType="S"),
                              Attr(AttributeName="version", AttributeType="N")],
        KeySchema=[KeySchema(AttributeName="strategy_id", KeyType="HASH"),
                   KeySchema(AttributeName="version", KeyType="RANGE")],
        StreamSpecification=StreamSpecification(StreamViewType="NEW_AND_OLD_IMAGES"),
    ))
    t.add_resource(_table(
        ctx, "CacheTable", "cache", key, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[Attr(AttributeName="cache_key", AttributeType="S")],
        KeySchema=[KeySchema(AttributeName="cache_key", KeyType="HASH")],
        TimeToLiveSpecification=TimeToLiveSpecification(AttributeName="expires_at", Enabled=True),
    ))
    t.add_resource(_table(
        ctx, "ConnectionsTable", "connections", key, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[Attr(AttributeName="connection_id", AttributeType="S"),
                              Attr(AttributeName="user_id", AttributeType="S")],
        KeySchema=[KeySchema(AttributeName="connection_id", KeyType="HASH")],
        GlobalSecondaryIndexes=[GlobalSecondaryIndex(
            IndexName="user_id-index", KeySchema=[KeySchema(AttributeName="user_id", KeyType="HASH")],
            Projection=Projection(ProjectionType="KEYS_ONLY"))],
        TimeToLiveSpecification=TimeToLiveSpecification(AttributeName="expires_at", Enabled=True),
    ))

    # Each user's API key (made by the REST authorizer on first sign-in; usage plans meter per key).
    t.add_resource(_table(
        ctx, "ApiKeysTable", "api-keys", key, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[Attr(AttributeName="user_id", AttributeType="S")],
        KeySchema=[KeySchema(AttributeName="user_id", KeyType="HASH")],
    ))

    # -- strategy changes -> audit log (EventBridge Pipes: no code to own) ---------------------
    audit_name = f"/charter/{ctx.prefix}/strategy-audit"
    audit = log_group(t, ctx, "StrategyAuditLog", audit_name, key, "WKL-04")
    pipe_role = service_role(t, "StrategyAuditPipeRole", "pipes.amazonaws.com", [
        allow([ddb.DescribeStream, ddb.GetRecords, ddb.GetShardIterator, ddb.ListStreams],
              [GetAtt(strategies, "StreamArn")]),
        allow([logs_actions.CreateLogStream, logs_actions.PutLogEvents], [GetAtt(audit, "Arn")]),
        key_use(key),
    ], "WKL-05")
    t.add_resource(controls(Pipe(
        "StrategyAuditPipe", Name=ctx.name("strategy-audit"), RoleArn=GetAtt(pipe_role, "Arn"),
        Source=GetAtt(strategies, "StreamArn"),
        SourceParameters=PipeSourceParameters(DynamoDBStreamParameters=PipeSourceDynamoDBStreamParameters(
            StartingPosition="TRIM_HORIZON", BatchSize=10)),
        Target=GetAtt(audit, "Arn"), Description="Every strategy configuration change, old and new image.",
    ), "WKL-05", "WKL-04"))

    for name, value in (("MarketDataBucket", Ref(market)), ("ResultsBucket", Ref(results)),
                        ("ModelArtifactsBucket", Ref(models)), ("JobsTable", Ref(jobs))):
        t.add_output(Output(name, Value=value))
    return t

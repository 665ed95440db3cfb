"""The evidence store: continuous collection into an Object Lock bucket, signed with KMS (EVD-01).

One stack in the audit account's home region holds:

- the evidence bucket (`naming.evidence_bucket_name`): Object Lock in COMPLIANCE mode for
  `baseline.object_lock_days` (nobody, root included, can delete or shorten a locked
  version), versioned, SSE-KMS, TLS-only, public access blocked, access-logged;
- a symmetric key for the bucket, the DLQ, the log group and the Lambda environment;
- the asymmetric signing key (ECC_NIST_P256, SIGN_VERIFY; alias `alias/<org>-evidence-signing`)
  that signs each run's manifest; its public key is exported into the store, so verifying
  needs no AWS access;
- the collector role (`naming.EVIDENCE_COLLECTOR_ROLE`): may assume `CharterEvidenceReader`
  in the organization's accounts, write (never delete) in the bucket, sign with the key;
- the collector Lambda (`evidence.continuous.handler`) on the EventBridge schedule
  `baseline.evidence_schedule`, with a DLQ for failed invocations and a log group with the
  configured retention;
- S3 replication of the bucket into its replica in the DR region (`components.replication`),
  which a second stack, `evidence-replica` (audit account, DR region, wave 35: after the
  account baseline gives the account its access-log bucket there, before this stack), holds
  under Object Lock with the same retention and a key of its own.

The Lambda code is an S3 asset that `charter deploy` must upload before this stack:
`s3://<org>-charter-assets-<audit account id>-<home region>/<CodeKey>` (parameter `CodeKey`,
default `charter/evidence-collector.zip`): the import closure of the handler and of every
collector (the evidence package, the config model, the naming contract: no builders, no
awacs), their dependencies missing from the Lambda runtime (`REQUIREMENTS`), the validated
config as `org.json` and the SCP statements it expects as `evidence-sources.json` at its
root. See `StackSpec.facts["assets"]` and landing_zone/deploy/assets.py.
"""

from __future__ import annotations

from awacs import kms as kms_actions
from awacs import logs as logs_actions
from awacs import s3 as s3_actions
from awacs import sqs as sqs_actions
from awacs import sts as sts_actions
from awacs.aws import (
    Action,
    Allow,
    ArnLike,
    Condition,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
)
from troposphere import GetAtt, Output, Parameter, Ref, Sub, Tags, Template
from troposphere.awslambda import Code as LambdaCode
from troposphere.awslambda import DeadLetterConfig, Environment, Function, TracingConfig
from troposphere.events import DeadLetterConfig as EventsDeadLetterConfig
from troposphere.events import RetryPolicy, Rule, Target
from troposphere.iam import Policy, Role
from troposphere.kms import Alias, Key
from troposphere.logs import LogGroup
from troposphere.sqs import Queue, QueuePolicy

from charter.config.model import OrgConfig
from charter.landing_zone.builders import evidence_statemachine as run_machine
from charter.landing_zone.components.replication import (
    Source,
    replica_key,
    replica_name,
    replicate,
    replicates,
)
from charter.landing_zone.components.s3 import secure_bucket
from charter.landing_zone.context import context_parameter
from charter.landing_zone.metadata import controls, suppress
from charter.landing_zone.registry import builder
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.naming import (
    EVIDENCE_COLLECTOR_ROLE,
    EVIDENCE_READER_ROLE,
    access_log_bucket_name,
    evidence_bucket_name,
    signing_key_alias,
)

CONTROL = "EVD-01"
HANDLER = "charter.evidence.continuous.handler"
RUNTIME = "python3.12"
DEFAULT_CODE_KEY = "charter/evidence-collector.zip"
#: What the collector's code may import from Charter: the evidence package and the ground
#: floor it stands on (the config model, names, the session factory, errors).
SHIPPED = ("charter.aws", "charter.retries", "charter.errors", "charter.evidence", "charter.config.model",
           "charter.config.types", "charter.config.workloads", "charter.config.cost", "charter.naming",
           # the managed-rule table (which controls a Config rule evidences) and the control
           # catalog (criteria per control): data modules without a template library
           "charter.managed_rules", "charter.controls")
#: Third-party distributions the collector needs beyond the Lambda runtime's boto3.
REQUIREMENTS = ("pydantic>=2,<3", "email-validator>=2.1", "cryptography>=42", "PyYAML>=6")


def data_key_alias(cfg: OrgConfig) -> str:
    return f"alias/{cfg.organization.name}-evidence"


def function_name(cfg: OrgConfig) -> str:
    return f"{cfg.organization.name}-evidence-collector"


def assets_bucket_name(cfg: OrgConfig) -> str:
    """Where `charter deploy` uploads Lambda code in the audit account (for `Fn::Sub`)."""
    return f"{cfg.organization.name}-charter-assets-${{AWS::AccountId}}-${{AWS::Region}}"


def _root() -> Principal:
    return Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"))


def _collector_arn() -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{EVIDENCE_COLLECTOR_ROLE}")


def _data_key(t: Template, cfg: OrgConfig) -> Key:
    """Symmetric key for the bucket, the DLQ, the log group and the Lambda environment."""
    this_account = StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))
    policy = PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="EnableIamPolicies", Effect=Allow, Principal=_root(), Action=[Action("kms", "*")],
                  Resource=["*"]),
        Statement(Sid="CollectorUse", Effect=Allow, Principal=Principal("AWS", _collector_arn()),
                  Action=[kms_actions.Decrypt, kms_actions.Encrypt, kms_actions.GenerateDataKey,
                          kms_actions.DescribeKey],
                  Resource=["*"]),
        Statement(Sid="CloudWatchLogsUse", Effect=Allow,
                  Principal=Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
                  Action=[kms_actions.Encrypt, kms_actions.Decrypt, kms_actions.ReEncryptFrom, kms_actions.ReEncryptTo,
                          kms_actions.GenerateDataKey, kms_actions.DescribeKey],
                  Resource=["*"],
                  Condition=Condition(ArnLike("kms:EncryptionContext:aws:logs:arn",
                                              Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:*")))),
        Statement(Sid="EventBridgeToDeadLetterQueue", Effect=Allow,
                  Principal=Principal("Service", "events.amazonaws.com"),
                  Action=[kms_actions.Decrypt, kms_actions.GenerateDataKey], Resource=["*"],
                  Condition=Condition(this_account)),
    ])
    key = Key("EvidenceDataKey", Description=f"Charter {cfg.organization.name}: evidence bucket, DLQ and logs (EVD-01)",
              EnableKeyRotation=True, RotationPeriodInDays=cfg.baseline.kms_rotation_days,
              KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT", PendingWindowInDays=30, KeyPolicy=policy,
              Tags=Tags(ManagedBy="charter"))
    key.DeletionPolicy = "Retain"  # the key decrypts seven years of evidence
    key.UpdateReplacePolicy = "Retain"
    t.add_resource(controls(key, CONTROL, "ENC-01", "ENC-02"))
    t.add_resource(controls(Alias("EvidenceDataKeyAlias", AliasName=data_key_alias(cfg), TargetKeyId=Ref(key)),
                            CONTROL))
    return key


def _signing_key(t: Template, cfg: OrgConfig) -> Key:
    """Asymmetric ECC P-256 key that signs manifests. Verifying needs no KMS access: the public
    key is exported into the store (keys/<fingerprint>.pem), so the key is shared with no one."""
    policy = PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="EnableIamPolicies", Effect=Allow, Principal=_root(), Action=[Action("kms", "*")],
                  Resource=["*"]),
        Statement(Sid="CollectorSigns", Effect=Allow, Principal=Principal("AWS", _collector_arn()),
                  Action=[kms_actions.Sign, kms_actions.GetPublicKey, kms_actions.DescribeKey], Resource=["*"]),
    ])
    key = Key("EvidenceSigningKey", Description=f"Charter {cfg.organization.name}: signs evidence manifests (EVD-01)",
              KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", PendingWindowInDays=30, KeyPolicy=policy,
              Tags=Tags(ManagedBy="charter"))
    key.DeletionPolicy = "Retain"  # old manifests stay verifiable with the exported public key anyway
    key.UpdateReplacePolicy = "Retain"
    t.add_resource(controls(key, CONTROL))
    t.add_resource(controls(Alias("EvidenceSigningKeyAlias", AliasName=signing_key_alias(cfg), TargetKeyId=Ref(key)),
                            CONTROL))
    return key


EVIDENCE_REPLICA_CONTROLS = (CONTROL, "ENC-02")


def evidence_replica(cfg: OrgConfig) -> Template:
    t = Template(Description=f"Charter: DR-region replica of the {cfg.organization.name} evidence store "
                             f"({cfg.dr_region}, EVD-01)")
    context_parameter(t, "AuditAccountId")
    key = replica_key(t, cfg, "evidence", [], *EVIDENCE_REPLICA_CONTROLS)
    bucket, _ = secure_bucket(
        t, "EvidenceReplica", controls=EVIDENCE_REPLICA_CONTROLS, bucket_name=replica_name(cfg, evidence_bucket_name(cfg)),
        kms_key_arn=GetAtt(key, "Arn"), access_log_bucket=access_log_bucket_name(cfg),
        object_lock_days=cfg.baseline.object_lock_days)
    t.add_output(Output("EvidenceReplicaName", Value=Ref(bucket)))
    return t


@builder("evidence_store", controls=[CONTROL, "DAT-01", "ENC-01", "ENC-02", "ENC-04", "IAM-08", "LOG-04", "LOG-05"],
         description="Object Lock evidence bucket, KMS signing key and the scheduled collector Lambda.")
def build(cfg: OrgConfig) -> list[StackSpec]:
    home = cfg.organization.home_region
    t = Template(Description=f"Charter: evidence store and continuous collection for {cfg.organization.name} (EVD-01)")
    context_parameter(t, "AuditAccountId")
    org_id = context_parameter(t, "OrganizationId")
    code_key = t.add_parameter(Parameter(
        "CodeKey", Type="String", Default=DEFAULT_CODE_KEY, AllowedPattern=r"^[\w./-]+\.zip$",
        Description="Key of the collector's code zip in the assets bucket (uploaded by charter deploy)."))

    data_key = _data_key(t, cfg)
    signing_key = _signing_key(t, cfg)
    bucket_name = evidence_bucket_name(cfg)
    bucket, _policy = secure_bucket(
        t, "EvidenceBucket", controls=[CONTROL], bucket_name=bucket_name, kms_key_arn=GetAtt(data_key, "Arn"),
        access_log_bucket=access_log_bucket_name(cfg), object_lock_days=cfg.baseline.object_lock_days)
    if replicates(cfg):
        # into the replica the evidence-replica stack made in the DR region (wave 35)
        replicate(t, cfg, "EvidenceReplicationRole", [Source(bucket, bucket_name, locked=True)],
                  GetAtt(data_key, "Arn"), "evidence", cfg.baseline.backup.rpo_minutes("audit"), CONTROL)
    bucket_arn = Sub("arn:${AWS::Partition}:s3:::" + bucket_name)
    objects_arn = Sub("arn:${AWS::Partition}:s3:::" + bucket_name + "/*")

    dlq = t.add_resource(controls(Queue(
        "CollectorDeadLetterQueue", QueueName=f"{cfg.organization.name}-evidence-collector-dlq",
        KmsMasterKeyId=GetAtt(data_key, "Arn"), MessageRetentionPeriod=1_209_600,  # 14 days, the maximum
        Tags=Tags(ManagedBy="charter")), CONTROL))

    fn_name = function_name(cfg)
    log_group = LogGroup("CollectorLogGroup", LogGroupName=f"/aws/lambda/{fn_name}",
                         RetentionInDays=cfg.baseline.log_retention_days, KmsKeyId=GetAtt(data_key, "Arn"))
    log_group.DeletionPolicy = "Retain"
    log_group.UpdateReplacePolicy = "Retain"
    t.add_resource(controls(log_group, CONTROL, "LOG-04"))
    run_groups = run_machine.log_groups(t, cfg, data_key)

    policy = PolicyDocument(Version="2012-10-17", Statement=[
        Statement(Sid="AssumeEvidenceReaderInOrganization", Effect=Allow, Action=[sts_actions.AssumeRole],
                  Resource=[Sub(f"arn:${{AWS::Partition}}:iam::*:role/{EVIDENCE_READER_ROLE}")],
                  Condition=Condition(StringEquals("aws:ResourceOrgID", Ref(org_id)))),
        Statement(Sid="ListOrganizationAccounts", Effect=Allow,
                  Action=[Action("organizations", a) for a in ("ListAccounts", "DescribeOrganization",
                                                                 "DescribeAccount")],
                  Resource=["*"]),
        Statement(Sid="WriteEvidenceWriteOnce", Effect=Allow,
                  Action=[s3_actions.PutObject, s3_actions.GetObject, s3_actions.GetObjectVersion],
                  Resource=[objects_arn]),
        Statement(Sid="ListEvidence", Effect=Allow,
                  Action=[s3_actions.ListBucket, s3_actions.ListBucketVersions], Resource=[bucket_arn]),
        Statement(Sid="EncryptEvidence", Effect=Allow,
                  Action=[kms_actions.GenerateDataKey, kms_actions.Decrypt, kms_actions.Encrypt],
                  Resource=[GetAtt(data_key, "Arn")]),
        Statement(Sid="SignManifests", Effect=Allow, Action=[kms_actions.Sign, kms_actions.GetPublicKey],
                  Resource=[GetAtt(signing_key, "Arn")]),
        Statement(Sid="WriteOwnLogs", Effect=Allow,
                  Action=[logs_actions.CreateLogStream, logs_actions.PutLogEvents],
                  Resource=[Sub("${Arn}:*", Arn=GetAtt(g, "Arn")) for g in (log_group, *run_groups)]),
        *run_machine.collector_statements(cfg),
        Statement(Sid="DeadLetters", Effect=Allow, Action=[sqs_actions.SendMessage], Resource=[GetAtt(dlq, "Arn")]),
        Statement(Sid="Tracing", Effect=Allow,
                  Action=[Action("xray", "PutTraceSegments"), Action("xray", "PutTelemetryRecords")],
                  Resource=["*"]),
    ])
    role = t.add_resource(controls(Role(
        "CollectorRole", RoleName=EVIDENCE_COLLECTOR_ROLE, MaxSessionDuration=3600,
        Description="Charter evidence collector: reads every account through CharterEvidenceReader (EVD-01, IAM-08)",
        AssumeRolePolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Effect=Allow, Principal=Principal("Service", "lambda.amazonaws.com"), Action=[sts_actions.AssumeRole],
            Condition=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))))]),
        Policies=[Policy(PolicyName="evidence-collector", PolicyDocument=policy)],
        Tags=Tags(ManagedBy="charter")), CONTROL, "IAM-08"))

    fn = Function(
        "CollectorFunction", FunctionName=fn_name, Description="Charter continuous evidence collection (EVD-01)",
        Runtime=RUNTIME, Handler=HANDLER, Role=GetAtt(role, "Arn"), MemorySize=1024, Timeout=900,
        Code=LambdaCode(S3Bucket=Sub(assets_bucket_name(cfg)), S3Key=Ref(code_key)),
        # One collector at a time: a run is sealed into a single chain, and resumption
        # assumes nobody else is writing the same run.
        ReservedConcurrentExecutions=1,
        DeadLetterConfig=DeadLetterConfig(TargetArn=GetAtt(dlq, "Arn")),
        TracingConfig=TracingConfig(Mode="Active"),
        KmsKeyArn=GetAtt(data_key, "Arn"),
        Environment=Environment(Variables={
            "EVIDENCE_BUCKET": Sub(bucket_name), "EVIDENCE_PREFIX": "", "SIGNING_KEY_ID": GetAtt(signing_key, "Arn"),
            "CHARTER_CONFIG": "org.json"}),
        Tags=Tags(ManagedBy="charter"))
    fn.DependsOn = [log_group.title]
    suppress(fn, "CKV_AWS_117", "The collector calls only AWS APIs (STS, S3, KMS and the read APIs of every "
                                "service); the audit account has no VPC, and all traffic is TLS to AWS endpoints.")
    suppress(fn, "CKV_AWS_272", "Code is an S3 asset uploaded by charter deploy to a bucket in the audit account "
                                "only its deploy role writes; AWS Signer is not used by Charter.")
    t.add_resource(controls(fn, CONTROL))

    # The schedule starts the state machine (evidence_statemachine.py says why it replaces
    # the collector's own schedule); the collector stays for on-demand runs.
    machine = run_machine.add_state_machine(t, cfg, role=role, data_key=data_key, signing_key=signing_key, dlq=dlq,
                                            bucket_name=bucket_name, code_bucket=Sub(assets_bucket_name(cfg)),
                                            code_key=code_key, groups=run_groups)
    rule = t.add_resource(controls(Rule(
        "CollectorSchedule", Description="Charter: scheduled evidence run (EVD-01)",
        ScheduleExpression=cfg.baseline.evidence_schedule, State="ENABLED",
        Targets=[Target(Id="evidence-run", Arn=Ref(machine), RoleArn=GetAtt(run_machine.schedule_role(t, machine), "Arn"),
                        DeadLetterConfig=EventsDeadLetterConfig(Arn=GetAtt(dlq, "Arn")),
                        RetryPolicy=RetryPolicy(MaximumRetryAttempts=2, MaximumEventAgeInSeconds=3600))]),
        CONTROL))
    t.add_resource(controls(QueuePolicy(
        "CollectorDeadLetterQueuePolicy", Queues=[Ref(dlq)],
        PolicyDocument=PolicyDocument(Version="2012-10-17", Statement=[Statement(
            Sid="EventBridgeDeadLetters", Effect=Allow, Principal=Principal("Service", "events.amazonaws.com"),
            Action=[sqs_actions.SendMessage], Resource=[GetAtt(dlq, "Arn")],
            Condition=Condition(ArnLike("aws:SourceArn", GetAtt(rule, "Arn"))))])), CONTROL))

    t.add_output(Output("EvidenceBucketName", Value=Ref(bucket), Description="The Object Lock evidence bucket"))
    t.add_output(Output("SigningKeyArn", Value=GetAtt(signing_key, "Arn"), Description="Manifest signing key"))
    t.add_output(Output("CollectorFunctionArn", Value=GetAtt(fn, "Arn")))
    t.add_output(Output("EvidenceRunStateMachineArn", Value=Ref(machine), Description="The scheduled evidence run"))

    audit = cfg.account("audit")
    # the DR replica after the account baseline (its access-log bucket there) and before the store
    replicas = [StackSpec("evidence-replica", evidence_replica(cfg), Deployment(
        kind="stack", account=audit.name, regions=[cfg.dr_region], order=35, depends_on=["account-baseline"]),
        facts={"dr_region": cfg.dr_region, "replicates": ["evidence"],
               "rpo_minutes": cfg.baseline.backup.rpo_minutes("audit")})] if replicates(cfg) else []
    return [StackSpec("evidence-store", t, Deployment(kind="stack", account=audit.name, regions=[home], order=40),
                      facts={"assets": [{
                          "parameter": "CodeKey", "default_key": DEFAULT_CODE_KEY,
                          "bucket": assets_bucket_name(cfg),
                          "contents": "import closure of the collector (evidence, config model, naming), "
                                      f"{', '.join(REQUIREMENTS)} (Linux x86_64 wheels), org.json and "
                                      "evidence-sources.json at the root",
                          "handler": HANDLER, "runtime": RUNTIME, "entry": ["charter.evidence.fanout", "charter.evidence.orgscale"],
                          "entry_packages": ["charter.evidence.collectors"], "shipped": list(SHIPPED),
                          "requirements": list(REQUIREMENTS),
                          "package_data": {"charter.controls": ["criteria.yaml", "catalog/*.yaml"]},
                          "data": {"org.json": "config", "evidence-sources.json": "evidence-sources"}}],
                          "signing_key_alias": signing_key_alias(cfg), "bucket": bucket_name}), *replicas]

"""Storage and keys: S3 buckets (by what they hold), DynamoDB, KMS, Secrets Manager, Backup, ECR."""

from __future__ import annotations

from collections.abc import Iterator

from ..assumptions import number
from ..engine import HOURS_PER_MONTH, Res, rule
from ..lines import Line

DAYS_PER_MONTH = 365 / 12
#: S3 storage class -> price key.
STORAGE_CLASS = {"STANDARD": "s3.standard.gb", "STANDARD_IA": "s3.standard_ia.gb", "GLACIER_IR": "s3.glacier_ir.gb",
                 "GLACIER": "s3.glacier.gb", "DEEP_ARCHIVE": "s3.deep_archive.gb"}
WORKLOAD_DATA = ("data", "data-dr")
LOG_ARCHIVE_STACK = "log-archive"
EVIDENCE_STACK = "evidence-store"
#: The log archive's replicas in the DR region hold what the archive holds.
LOG_REPLICA_STACK = "log-archive-replica"


def _lifecycle(props: dict) -> tuple[list[tuple[float, str]], float | None]:
    """(days, storage class) transitions in order, and the expiry in days (None = never)."""
    transitions: list[tuple[float, str]] = []
    expiry = None
    for rule_ in (props.get("LifecycleConfiguration") or {}).get("Rules") or []:
        if rule_.get("Status") != "Enabled":
            continue
        for t in rule_.get("Transitions") or []:
            if isinstance(t.get("TransitionInDays"), (int, float)):
                transitions.append((float(t["TransitionInDays"]), str(t.get("StorageClass"))))
        if isinstance(rule_.get("ExpirationInDays"), (int, float)):
            expiry = float(rule_["ExpirationInDays"]) if expiry is None else min(expiry, float(rule_["ExpirationInDays"]))
    return sorted(transitions), expiry


def _accumulated(r: Res, monthly_gb: float, why: str, setting: str) -> Iterator[Line]:
    """Storage lines for data arriving at `monthly_gb` a month for the horizon, through the lifecycle."""
    transitions, expiry = _lifecycle(r.props)
    horizon = r.est.assume.horizon
    age_days = horizon.value * DAYS_PER_MONTH if expiry is None else min(horizon.value * DAYS_PER_MONTH, expiry)
    bounds = [(0.0, "STANDARD"), *transitions]
    for i, (start, klass) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else age_days
        days = max(0.0, min(end, age_days) - start)
        if days <= 0:
            continue
        gb = monthly_gb * days / DAYS_PER_MONTH
        yield r.line("S3", f"storage, {klass.lower().replace('_', ' ')}", STORAGE_CLASS.get(klass, f"s3.{klass.lower()}.gb"),
                     gb, f"{why}, {number(round(days))} days of it in {klass} ({horizon.text} months after deploy)",
                     setting)


@rule("AWS::S3::Bucket")
def bucket(r: Res) -> Iterator[Line]:
    component = r.tag("charter:component")
    stack = r.p.instance.stack
    if component in WORKLOAD_DATA:
        data = r.usage("data_gb")
        buckets = sum(r.facts.count(r.account, "s3:" + c) for c in WORKLOAD_DATA) or 1
        yield r.line("S3", "storage, standard", "s3.standard.gb", data.value / buckets,
                     f"{data.text} GB over {buckets} workload bucket(s)", data.setting)
    elif stack in (LOG_ARCHIVE_STACK, LOG_REPLICA_STACK) and r.p.logical != "AccessLogBucket":
        per = r.usage("log_archive_gb_per_account")
        accounts = len(r.cfg.accounts) + 1
        archives = r.facts.count(r.account, "s3:log-archive") or 1
        monthly = per.value * accounts / archives
        yield from _accumulated(r, monthly, f"{per.text} GB x {accounts} accounts over {archives} archive bucket(s)"
                                + (" (DR replica)" if stack == LOG_REPLICA_STACK else ""), per.setting)
        if r.props.get("ReplicationConfiguration"):
            yield r.line("S3", "replication to the DR region (inter-region transfer)", "s3.replication_transfer.gb",
                         monthly, f"{per.text} GB x {accounts} accounts over {archives} archive bucket(s), "
                         "each GB replicated once", per.setting)
    elif stack == EVIDENCE_STACK:
        runs = _evidence_runs(r)
        per = r.usage("evidence_artifacts_per_account_region")
        places = (len(r.cfg.accounts) + 1) * len(r.cfg.organization.governed_regions)  # what a run collects
        puts = runs[0] * per.value * places
        yield r.line("S3", "PUT requests (evidence artifacts)", "s3.put_requests", puts,
                     f"{runs[1]} x {per.text} x {places} account-regions", runs[2])
        gb = r.usage("s3_gb_per_bucket")
        yield r.line("S3", "storage, standard", "s3.standard.gb", gb.value, gb.text, gb.setting)
    else:
        gb = r.usage("s3_gb_per_bucket")
        yield r.line("S3", "storage, standard", "s3.standard.gb", gb.value, gb.text, gb.setting)


def _evidence_runs(r: Res) -> tuple[float, str, str]:
    override = r.est.assume.explicit(r.environment, "evidence_runs_per_day")
    if override is not None:
        return override.value * DAYS_PER_MONTH, override.text + " per day", override.setting
    from ..schedule import runs_per_month

    runs = runs_per_month(r.cfg.baseline.evidence_schedule) or DAYS_PER_MONTH
    return runs, f"{number(round(runs, 1))} runs ({r.cfg.baseline.evidence_schedule})", "baseline.evidence_schedule"


@rule("AWS::DynamoDB::Table")
def table(r: Res) -> Iterator[Line]:
    if r.props.get("BillingMode") == "PAY_PER_REQUEST":
        req = r.usage("api_requests_per_month")
        reads, writes = r.usage("table_reads_per_request"), r.usage("table_writes_per_request")
        yield r.line("DynamoDB", "on-demand reads", "dynamodb.ondemand.read", req.value * reads.value,
                     f"{req.text} x {reads.text}", reads.setting)
        yield r.line("DynamoDB", "on-demand writes", "dynamodb.ondemand.write", req.value * writes.value,
                     f"{req.text} x {writes.text}", writes.setting)
    else:
        tables = [r.props.get("ProvisionedThroughput") or {}] + [
            g.get("ProvisionedThroughput") or {} for g in r.props.get("GlobalSecondaryIndexes") or []]
        rcu = sum(float(t.get("ReadCapacityUnits", 0)) for t in tables)
        wcu = sum(float(t.get("WriteCapacityUnits", 0)) for t in tables)
        yield r.line("DynamoDB", "provisioned read capacity", "dynamodb.provisioned.rcu", rcu * HOURS_PER_MONTH,
                     f"{rcu:g} RCU (table and indexes) x 730 h", "the table's ProvisionedThroughput")
        yield r.line("DynamoDB", "provisioned write capacity", "dynamodb.provisioned.wcu", wcu * HOURS_PER_MONTH,
                     f"{wcu:g} WCU (table and indexes) x 730 h", "the table's ProvisionedThroughput")
    gb = r.usage("table_gb")
    tables_n = r.facts.count(r.account, "AWS::DynamoDB::Table", r.region) or 1
    yield r.line("DynamoDB", "storage", "dynamodb.storage.gb", gb.value / tables_n,
                 f"{gb.text} GB over {tables_n} table(s)", gb.setting)
    if (r.props.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled"):
        yield r.line("DynamoDB", "point-in-time recovery", "dynamodb.pitr.gb", gb.value / tables_n,
                     f"{gb.text} GB over {tables_n} table(s)", gb.setting)


@rule("AWS::KMS::Key")
def key(r: Res) -> Iterator[Line]:
    yield r.line("KMS", "customer managed key", "kms.key.month", 1, "1 key-month", "")
    req = r.usage("kms_requests_per_key")
    yield r.line("KMS", "requests", "kms.requests", req.value, req.text, req.setting)


@rule("AWS::SecretsManager::Secret")
def secret(r: Res) -> Iterator[Line]:
    yield r.line("Secrets Manager", "secret", "secretsmanager.secret.month", 1, "1 secret-month", "")


@rule("AWS::Backup::BackupVault")
def vault(r: Res) -> Iterator[Line]:
    gb = r.usage("backup_gb_per_account")
    yield r.line("Backup", "warm storage (recovery points and DR copies)", "backup.warm.gb", gb.value, gb.text,
                 gb.setting)


@rule("AWS::ECR::Repository")
def repository(r: Res) -> Iterator[Line]:
    gb = r.usage("image_gb_per_repository")
    yield r.line("ECR", "image storage", "ecr.storage.gb", gb.value, gb.text, gb.setting)

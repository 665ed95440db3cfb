"""The `cost:` section of `org.yaml`: the usage `charter cost` prices and the targets it checks.

The estimate multiplies list prices by quantities. Quantities that the templates fix
(NAT gateways, endpoints, keys, alarms, provisioned concurrency) come from the templates;
quantities that depend on how the platform is used (requests, optimizations, log and
data volume, events) are the assumptions below, each with a stated default. Every line
of the estimate names the assumption it rests on (`cost.usage.nat_gb_per_vpc = 20`), so
a reviewer can challenge a figure by changing one setting.

`usage` holds the defaults for every account and environment; `environments.<env>`
overrides any of them for the accounts of one environment, field by field. Prod starts
from `DEFAULT_ENVIRONMENTS` (more traffic, data and logs than dev) for the fields `usage`
does not set. The estimate describes one month in steady state, `horizon_months`
after the first deploy: logs, archives and backups have accumulated that many months,
capped by their retention.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, create_model

from .types import Environment, StrictModel

Count = Annotated[float, Field(ge=0)]


class Usage(StrictModel):
    """Monthly usage of one account (landing zone) or one optimizer environment (workload)."""

    # -- the optimizer workload (per workload environment) ------------------------------
    api_requests_per_month: Count = Field(default=100_000, description="REST API requests (API Gateway, WAF, Lambda).")
    websocket_messages_per_month: Count = Field(default=50_000, description="WebSocket messages (job progress).")
    websocket_connection_minutes_per_month: Count = Field(default=100_000, description="WebSocket connection minutes.")
    monthly_active_users: Count = Field(default=50, description="Cognito monthly active users.")
    optimizations_per_month: Count = Field(default=60, description="Pipeline executions (optimization jobs).")
    market_data_files_per_month: Count = Field(default=1_000, description="Market data objects ingested.")
    data_gb: Count = Field(default=20, description="GB held in the workload's S3 buckets (market data, results, models).")
    table_gb: Count = Field(default=1, description="GB held in the workload's DynamoDB tables.")
    table_reads_per_request: Count = Field(default=1, description="DynamoDB reads per API request, per on-demand table.")
    table_writes_per_request: Count = Field(default=0.25, description="DynamoDB writes per API request, per on-demand table.")
    cdn_gb_per_month: Count = Field(default=10, description="GB served by CloudFront.")
    console_page_views_per_month: Count = Field(
        default=20_000, description="Console page views (each sampled one sends CloudWatch RUM events).")
    rum_events_per_page_view: Count = Field(
        default=10, description="CloudWatch RUM events per sampled page view (load, navigation, errors, HTTP).")
    lambda_ms_per_invocation: Count = Field(default=300, description="Average billed duration of a Lambda invocation.")
    builds_per_month: Count = Field(default=60, description="CI/CD pipeline runs (each runs every CodeBuild project once).")
    build_minutes: Count = Field(default=8, description="Minutes per CodeBuild project run.")
    image_gb_per_repository: Count = Field(default=2, description="GB stored per ECR repository (retained images).")
    # -- every account (landing zone) -------------------------------------------------
    log_gb_per_account: Count = Field(default=2, description="GB ingested into CloudWatch Logs per account (split over its log groups).")
    log_archive_gb_per_account: Count = Field(
        default=1, description="GB of CloudTrail, Config and flow-log objects each account adds to the log archive.")
    management_events_millions: Count = Field(
        default=0.5, description="Millions of CloudTrail management events per account and region (GuardDuty, Insights).")
    s3_data_events_millions: Count = Field(default=0.5, description="Millions of S3 data events per account and region (GuardDuty S3 protection).")
    config_items_per_region: Count = Field(default=500, description="Configuration items AWS Config records per account and region.")
    config_evaluations_per_rule: Count = Field(
        default=60, description="Evaluations per change-triggered Config rule per account and region (periodic rules: from their frequency).")
    security_hub_checks_per_region: Count = Field(
        default=2_000, description="Security Hub control checks per account and region (grows with resources and enabled standards).")
    security_hub_findings_per_region: Count = Field(default=5_000, description="Findings ingested per account and region.")
    flow_log_gb_per_vpc: Count = Field(default=5, description="GB of VPC flow logs per VPC (S3 delivery, GuardDuty analysis).")
    dns_log_gb_per_account: Count = Field(default=0.5, description="GB of DNS query logs GuardDuty analyses per account and region.")
    nat_gb_per_vpc: Count = Field(default=20, description="GB through each VPC's NAT gateways.")
    endpoint_gb_per_vpc: Count = Field(default=10, description="GB through each VPC's interface endpoints.")
    cloudtrail_event_kb: Count = Field(default=1.5, description="KB per CloudTrail event delivered to the trail's log group.")
    write_events_share: Count = Field(default=0.25, le=1, description="Share of management events that are writes (CloudTrail Insights).")
    log_compression_ratio: Count = Field(default=0.15, le=1, description="Stored size of CloudWatch Logs relative to ingested.")
    kms_requests_per_key: Count = Field(default=10_000, description="KMS API requests per key (bucket keys keep this low).")
    s3_gb_per_bucket: Count = Field(default=1, description="GB in a bucket without a more specific assumption.")
    backup_gb_per_account: Count = Field(default=10, description="GB of recovery points kept per workload account.")
    macie_inspected_gb_per_account: Count = Field(
        default=1, description="GB Macie's automated sensitive data discovery samples per account.")
    other_roles_per_account: Count = Field(
        default=10, description="IAM roles per account not created by Charter's templates (unused-access analyzer).")
    evidence_runs_per_day: Count | None = Field(
        default=None, description="Evidence collection runs per day; defaults to the collector's schedule (baseline.evidence_schedule).")
    evidence_artifacts_per_account_region: Count = Field(default=20, description="Evidence artifacts one run writes per account and region.")
    synthetics_ms_per_run: Count = Field(default=5_000, description="Billed duration of one Synthetics canary run.")


#: The same fields, every one optional: what one environment overrides.
UsageOverride = create_model(
    "UsageOverride", __base__=StrictModel, __doc__="Overrides of `cost.usage` for the accounts of one environment.",
    **{name: (info.annotation | None, Field(default=None, description=info.description))  # type: ignore[call-overload]
       for name, info in Usage.model_fields.items()},
)


#: What prod does differently by default (more traffic, data and logs than dev and staging);
#: `cost.environments.prod` overrides these field by field.
DEFAULT_ENVIRONMENTS: dict[str, dict[str, float]] = {
    "prod": {"api_requests_per_month": 1_000_000, "websocket_messages_per_month": 500_000,
             "websocket_connection_minutes_per_month": 1_000_000, "monthly_active_users": 500,
             "optimizations_per_month": 300, "data_gb": 200, "table_gb": 5, "cdn_gb_per_month": 100,
             "log_gb_per_account": 10, "nat_gb_per_vpc": 100, "endpoint_gb_per_vpc": 50,
             "flow_log_gb_per_vpc": 20, "backup_gb_per_account": 100},
}


class OptimizationAssumptions(StrictModel):
    """One optimization job: the pipeline's durations from the job's size, and its Bedrock calls."""

    trials: int = Field(default=100, ge=1, description="Trials of the hyperparameter search (job.search.n_trials).")
    trial_seconds: float = Field(
        default=1.0, gt=0,
        description="CPU seconds per trial (measured 0.1-0.2 s for the default 50-asset, 1,260-day job).")
    halving_eta: int = Field(default=3, ge=2, description="Successive-halving factor: later rungs keep 1/eta of the trials.")
    rungs: int = Field(default=3, ge=1, description="Successive-halving rungs of the search.")
    step_seconds: float = Field(default=60, ge=0, description="Work of each single-instance step (validation, scenarios, synthesis).")
    startup_seconds: float = Field(
        default=120, ge=0, description="Billed seconds per job before work starts (image pull, input download).")
    spot_savings: float = Field(
        default=0.7, ge=0, lt=1, description="Managed spot's saving on the on-demand price (AWS quotes up to 90%).")
    agent_calls: dict[str, int] = Field(
        default_factory=lambda: {"portfolio-strategy": 4, "market-analysis": 2, "risk-assessment": 2},
        description="Model calls per optimization, by agent (`charter:agent` tag).")
    input_tokens_per_call: int = Field(default=4_000, ge=0)
    output_tokens_per_call: int = Field(default=800, ge=0)
    retrieval_tokens_per_call: int = Field(default=200, ge=0, description="Embedding tokens of knowledge-base queries per call.")
    characters_per_token: float = Field(default=4.0, gt=0, description="For guardrail text units (1,000 characters each).")


class CostTargets(StrictModel):
    monthly_usd: float = Field(default=5_000, gt=0, description="The specification's monthly target for the platform.")
    per_optimization_usd: float = Field(default=10, gt=0, description="The specification's target per optimization.")


class CostSettings(StrictModel):
    targets: CostTargets = Field(default_factory=CostTargets)
    budget_headroom: float = Field(
        default=1.25, ge=1, le=10,
        description="Workload budgets are the account's estimate times this (unless monthly_budget_usd is set).")
    horizon_months: int = Field(
        default=12, ge=1, le=120, description="Month after the first deploy the estimate describes (logs and archives accumulate).")
    usage: Usage = Field(default_factory=Usage)
    environments: dict[Environment, UsageOverride] = Field(  # type: ignore[valid-type]
        default_factory=dict,
        description="Per-environment overrides of `usage`, field by field. Prod has larger defaults: "
                    + ", ".join(f"{k} {v:,g}" for k, v in DEFAULT_ENVIRONMENTS["prod"].items()) + ".")
    optimization: OptimizationAssumptions = Field(default_factory=OptimizationAssumptions)

"""The `workloads:` section of `org.yaml`: where and how the optimizer workload runs.

One `EnvironmentWorkload` per workload environment (dev, staging, prod) holds what differs
between them (account, domain, certificate, sizes, budget, alert emails); what is shared
(model ids, CI/CD source) sits once on `OptimizerWorkload`. Cross-field rules (the account
exists and belongs to that environment, ...) are in `workload_checks`, run by the loader
with every other check so each problem points at its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from difflib import get_close_matches
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import EmailStr, Field

from .types import Name, RetentionDays, StrictModel

if TYPE_CHECKING:
    from .model import OrgConfig

WorkloadEnvironment = Literal["dev", "staging", "prod"]
#: Deployment order of the environments (the pipeline promotes in this order).
ENVIRONMENT_ORDER: tuple[str, ...] = ("dev", "staging", "prod")
#: CloudFront reads viewer certificates from ACM in this region only.
CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"

CertificateArn = Annotated[str, Field(
    pattern=r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$",
    description="ACM certificate for the custom domain; CloudFront requires it in us-east-1, in the "
                "distribution's own account (the environment's workload account).",
)]
HostedZoneId = Annotated[str, Field(pattern=r"^Z[A-Z0-9]{1,32}$")]
Domain = Annotated[str, Field(max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")]
ModelId = Annotated[str, Field(pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)+[a-z0-9.:-]*$")]


class ModelIds(StrictModel):
    """Bedrock foundation models (or inference profile ids) the agents use."""

    analysis: ModelId = Field(
        default="anthropic.claude-3-5-sonnet-20240620-v1:0",
        description="Claude Sonnet: portfolio strategy and market analysis (deep reasoning).",
    )
    realtime: ModelId = Field(
        default="anthropic.claude-3-haiku-20240307-v1:0",
        description="Claude Haiku: real-time risk assessment (low latency, low cost).",
    )
    embedding: ModelId = Field(
        default="amazon.titan-embed-text-v2:0", description="Embeddings for the knowledge base."
    )


class EnvironmentWorkload(StrictModel):
    """Settings of the optimizer in one environment."""

    account: Name | None = Field(
        default=None, description="Account name; defaults to the one account with this environment."
    )
    domain: Domain = Field(description="Custom domain of the frontend, e.g. optimizer.acme.example.")
    certificate_arn: CertificateArn | None = Field(
        default=None,
        description="An existing certificate (us-east-1, the workload account: set that account's `account_id`). "
                    "Unset: the edge stack requests a DNS-validated certificate for `domain` in the right place.")
    hosted_zone_id: HostedZoneId | None = Field(
        default=None,
        description="Route 53 public zone of `domain` in the workload account: ACM then validates the requested "
                    "certificate by itself; without it, add the CNAME the edge stack's events show.")
    alert_emails: list[EmailStr] = Field(min_length=1, description="Receive budget and anomaly alerts.")
    monthly_budget_usd: int | None = Field(
        default=None, ge=1, le=10_000_000,
        description="The account's AWS Budget; defaults to `charter cost`'s estimate of the account times "
                    "cost.budget_headroom, rounded up to $10.")
    anomaly_threshold_usd: int = Field(default=100, ge=1, description="Alert on anomalies above this impact.")
    provisioned_concurrency: int | None = Field(
        default=None, ge=0, le=1000,
        description="Provisioned concurrency of each API function alias; defaults to 5 in prod, 0 elsewhere.",
    )
    processing_instance_type: str = Field(default="ml.c5.4xlarge", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    processing_max_instances: int = Field(default=20, ge=1, le=100)
    training_instance_type: str = Field(default="ml.c5.2xlarge", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    search_max_jobs: int = Field(default=50, ge=1, le=750, description="Hyperparameter search budget.")
    search_parallel_jobs: int = Field(default=10, ge=1, le=100)
    log_retention_days: RetentionDays | None = Field(
        default=None, description="Defaults to baseline.log_retention_days."
    )
    api_rate_per_second: int = Field(
        default=10, ge=1, le=2000,
        description="Requests per second per user: the per-user usage plan's rate (burst twice it) and the WAF limit.")
    api_requests_per_user_per_day: int = Field(
        default=10_000, ge=1, le=10_000_000, description="Daily quota of each user's API key (usage plan).")
    rum_sample_rate: float = Field(
        default=0.1, ge=0, le=1,
        description="Share of console sessions CloudWatch RUM records (the app monitor's SessionSampleRate).")
    approval_required: bool = Field(
        default=True, description="The pipeline waits for a manual approval before deploying here (not dev)."
    )

    def concurrency(self, env: str) -> int:
        if self.provisioned_concurrency is not None:
            return self.provisioned_concurrency
        return 5 if env == "prod" else 0


class CicdSettings(StrictModel):
    account: Name = Field(description="Account that hosts the pipeline (a shared/tooling account).")
    connection_arn: str = Field(
        pattern=r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]+$",
        description="CodeConnections connection to the source repository.",
    )
    repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="owner/name")
    branch: str = Field(default="main", pattern=r"^[A-Za-z0-9._/-]{1,100}$")


class OptimizerWorkload(StrictModel):
    models: ModelIds = Field(default_factory=ModelIds)
    environments: dict[WorkloadEnvironment, EnvironmentWorkload] = Field(min_length=1)
    cicd: CicdSettings | None = None


class WorkloadsConfig(StrictModel):
    optimizer: OptimizerWorkload | None = None


Problem = tuple[tuple[str | int, ...], str, str]


def _hint(value: str, choices: list[str]) -> str:
    close = get_close_matches(value, choices, n=1)
    return f"did you mean '{close[0]}'?" if close else "use one of: " + ", ".join(choices)


def workload_checks(cfg: OrgConfig) -> Iterator[Problem]:
    """Each environment's account exists and is of that environment; domains are unique."""
    wl = cfg.workloads.optimizer if cfg.workloads else None
    if wl is None:
        return
    names = [a.name for a in cfg.accounts]
    domains: dict[str, str] = {}
    base = ("workloads", "optimizer", "environments")
    for env, settings in wl.environments.items():
        if settings.account is None:
            matches = cfg.accounts_in(env)
            if len(matches) != 1:
                yield ((*base, env), f"{len(matches)} accounts have environment '{env}'; cannot pick one",
                       f"set `account:` to the account that runs the {env} optimizer")
        else:
            if settings.account not in names:
                yield ((*base, env, "account"), f"account '{settings.account}' does not exist",
                       _hint(settings.account, names))
            else:
                acct = next(a for a in cfg.accounts if a.name == settings.account)
                if acct.environment != env:
                    yield ((*base, env, "account"),
                           f"account '{acct.name}' has environment '{acct.environment}', not '{env}'",
                           f"point {env} at an account with `environment: {env}` so it gets the {env} key and network")
        yield from _certificate_checks(cfg, env, settings, (*base, env, "certificate_arn"))
        if settings.domain in domains:
            yield ((*base, env, "domain"), f"domain {settings.domain} is also used by {domains[settings.domain]}",
                   "give each environment its own domain")
        domains.setdefault(settings.domain, env)
    if wl.cicd and wl.cicd.account not in names:
        yield (("workloads", "optimizer", "cicd", "account"), f"account '{wl.cicd.account}' does not exist",
               _hint(wl.cicd.account, names))


def _certificate_checks(cfg: OrgConfig, env: str, settings: EnvironmentWorkload,
                        loc: tuple[str | int, ...]) -> Iterator[Problem]:
    """CloudFront uses an ACM certificate only from its own account and only in us-east-1: a
    certificate elsewhere fails the distribution on AWS, after every stack before it."""
    arn = settings.certificate_arn
    if arn is None:
        return
    owner = arn.split(":")[4]  # the region is us-east-1 by CertificateArn's pattern
    name = settings.account
    matches = [a for a in cfg.accounts if a.name == name] if name else cfg.accounts_in(env)
    if len(matches) != 1:
        return  # reported by the account checks
    acct = matches[0]
    where = ("the management account" if owner == cfg.organization.management_account_id else f"account {owner}")
    if acct.account_id is None:
        yield (loc, f"certificate {arn} is in {where}, and account '{acct.name}' (which runs the {env} "
                    f"distribution) has no `account_id`, so it cannot be checked to be the same account",
               f"set accounts[{cfg.accounts.index(acct)}].account_id to '{acct.name}''s id if the certificate is "
               "there, or remove certificate_arn: the edge stack then requests one in that account")
    elif acct.account_id != owner:
        yield (loc, f"certificate {arn} is in {where}, but the {env} distribution runs in account "
                    f"'{acct.name}' ({acct.account_id}); CloudFront uses certificates of its own account only",
               f"request or import the certificate for {settings.domain} in {acct.account_id} "
               f"({CLOUDFRONT_CERTIFICATE_REGION}), or remove certificate_arn to let the edge stack request it")


def workload_account(cfg: OrgConfig, env: str) -> str:
    """The account name that runs the optimizer in `env` (config already checked)."""
    wl = cfg.workloads.optimizer if cfg.workloads else None
    settings = wl.environments.get(env) if wl else None  # type: ignore[call-overload]
    if settings is not None and settings.account:
        return settings.account
    return cfg.accounts_in(env)[0].name

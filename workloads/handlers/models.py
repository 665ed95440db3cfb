"""The optimization job at the API boundary: request, status and results (pydantic v2).

One set of models serves validation in the submit handler, the OpenAPI document
(`openapi.py`: API Gateway request validation and the Bedrock action groups) and the
worker, so what the API accepts is exactly what the optimizer is asked to do. Only
`ge`/`le` bounds are used: they mean the same in JSON Schema draft-04 (API Gateway),
OpenAPI 3.0 and pydantic. Cross-field rules that JSON Schema cannot express are in
`OptimizeRequest.problems()`, reported with the same `{"field", "message"}` shape.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Ticker = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9.\-]{0,11}$", description="Asset identifier (ticker).")]
Objective = Literal["min_variance", "mean_variance", "max_sharpe", "max_diversification", "risk_parity",
                    "min_cvar", "mean_cvar"]
RiskModelName = Literal["ledoit_wolf", "oas", "sample", "ewma", "factor", "shrunk"]
ScenarioKind = Literal["historical", "bootstrap", "student_t", "factor_mc"]
DatasetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
                                   description="Ingested market data set (`latest` = the newest).")]
JobState = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED"]
TERMINAL: frozenset[str] = frozenset({"SUCCEEDED", "FAILED"})
#: A job's states and the moves between them (`JobStore.transition` refuses any other):
#:
#:   QUEUED     submit stored the spec and started the pipeline execution
#:   RUNNING    the execution or one of its steps is executing
#:   SUCCEEDED  the execution succeeded: the result pages are under results/<job_id>/
#:   FAILED     a step failed (error: "<step>: <its FailureReason>"), the execution was
#:              stopped, could not start, or vanished (cleanup's reconciliation)
#:
#: QUEUED may go straight to an end: EventBridge does not promise order, so the execution's
#: end can arrive before the event that it started. An end state is final: a late
#: "Executing" never brings a job back.
TRANSITIONS: dict[str, frozenset[str]] = {
    "QUEUED": frozenset({"RUNNING", "SUCCEEDED", "FAILED"}),
    "RUNNING": frozenset({"RUNNING", "SUCCEEDED", "FAILED"}),
    "SUCCEEDED": frozenset(),
    "FAILED": frozenset(),
}


def states_before(state: str) -> list[str]:
    """The states a job may be in to move to `state`."""
    return sorted(s for s, nxt in TRANSITIONS.items() if state in nxt)
JOB_ID_PATTERN = r"^[0-9a-f]{32}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Constraints(Strict):
    """Portfolio constraints (budget is always 1: fully invested)."""

    long_only: bool = True
    min_weight: float = Field(default=0.0, ge=-1, le=1, description="Lower bound of every weight.")
    max_weight: float = Field(default=1.0, ge=0, le=1, description="Upper bound of every weight.")
    max_turnover: float | None = Field(default=None, ge=0, le=2,
                                       description="Limit on sum |w - w_prev| at each backtest rebalance.")
    leverage: float = Field(default=1.0, ge=1, le=10, description="Gross exposure limit when long_only is false.")


class BacktestSettings(Strict):
    """Walk-forward backtest of the strategy (`optimizer.backtest.WalkForward`)."""

    enabled: bool = True
    lookback: int = Field(default=126, ge=20, le=2520, description="Trailing days the optimizer sees.")
    rebalance_every: int = Field(default=21, ge=1, le=252, description="Days between rebalances.")
    cost_bps: float = Field(default=5.0, ge=0, le=500, description="Transaction cost per unit traded, in bp.")
    vol_target: float | None = Field(default=None, ge=0.01, le=2, description="Annualised volatility target.")


class SearchSettings(Strict):
    """Hyperparameter search over walk-forward strategies (`optimizer.search.HyperparameterSearch`)."""

    enabled: bool = False
    n_trials: int = Field(default=8, ge=1, le=200)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    sampler: Literal["sobol", "random"] = "sobol"
    halving: bool = True
    lookback_min: int = Field(default=40, ge=20, le=2520)
    lookback_max: int = Field(default=252, ge=20, le=2520)
    objectives: list[Objective] = Field(
        default_factory=lambda: ["min_variance", "mean_variance", "risk_parity"], min_length=1, max_length=7)


class OptimizeRequest(Strict):
    """Body of POST /optimize."""

    assets: list[Ticker] = Field(min_length=2, max_length=500, description="The universe (unique tickers).")
    objective: Objective
    constraints: Constraints = Field(default_factory=Constraints)
    risk_model: RiskModelName = "ledoit_wolf"
    risk_aversion: float = Field(default=1.0, ge=0.001, le=100, description="mean_variance / mean_cvar.")
    cvar_alpha: float = Field(default=0.95, ge=0.5, le=0.999, description="Confidence level of CVaR.")
    horizon_days: int = Field(default=252, ge=20, le=3650, description="Trailing days used for the final weights.")
    scenarios: int | None = Field(default=None, ge=100, le=100_000,
                                  description="Bootstrap scenarios for CVaR objectives (default: historical).")
    strategy_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    dataset: DatasetName = "latest"
    start: dt.date | None = Field(default=None, description="First date of data to use (YYYY-MM-DD).")
    end: dt.date | None = Field(default=None, description="Last date of data to use (YYYY-MM-DD).")
    backtest: BacktestSettings = Field(default_factory=BacktestSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)

    def problems(self) -> list[dict[str, str]]:
        """Cross-field rules, each naming the field to change."""
        out: list[dict[str, str]] = []
        n = len(self.assets)
        c = self.constraints
        dupes = sorted({a for a in self.assets if self.assets.count(a) > 1})
        if dupes:
            out.append({"field": "assets", "message": f"duplicate tickers: {', '.join(dupes)}"})
        if c.min_weight > c.max_weight:
            out.append({"field": "constraints.min_weight",
                        "message": f"min_weight {c.min_weight:g} exceeds max_weight {c.max_weight:g}"})
        if c.long_only and c.min_weight < 0:
            out.append({"field": "constraints.min_weight",
                        "message": "a negative min_weight needs long_only: false"})
        if c.long_only and c.max_weight * n < 1 - 1e-9:
            out.append({"field": "constraints.max_weight",
                        "message": f"max_weight {c.max_weight:g} x {n} assets < 1: the portfolio cannot be fully "
                                   f"invested; raise max_weight to at least {1 / n:.4g} or add assets"})
        if c.min_weight * n > 1 + 1e-9:
            out.append({"field": "constraints.min_weight",
                        "message": f"min_weight {c.min_weight:g} x {n} assets > 1; lower min_weight"})
        if self.start and self.end and self.start >= self.end:
            out.append({"field": "end", "message": f"end {self.end} is not after start {self.start}"})
        s = self.search
        if s.lookback_min > s.lookback_max:
            out.append({"field": "search.lookback_min", "message": "lookback_min exceeds lookback_max"})
        return out


class JobSpec(Strict):
    """The job as submit validated it, stored at s3://<results>/jobs/<job_id>/spec.json: the
    pipeline execution gets its location (`JobSpecUri`) and its step computes from it."""

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    user_id: str
    submitted_at: str
    dataset: str = Field(description="The data set the job reads (`latest` resolved when it was submitted).")
    market_data_uri: str = Field(pattern=r"^s3://")
    request: OptimizeRequest


class SubmitResponse(Strict):
    job_id: str
    status: JobState
    created_at: str
    status_url: str
    results_url: str


class JobStatus(Strict):
    job_id: str
    status: JobState
    created_at: str
    updated_at: str
    version: int = Field(description="Increases on every change; pass it as `after` to long-poll for the next.")
    progress: float = Field(ge=0, le=1)
    message: str = ""
    error: str | None = None
    objective: str | None = None
    step: str | None = Field(default=None, description="Current step: data, optimize, backtest, search, done.")
    trials_done: int | None = Field(default=None, ge=0, description="Search trials evaluated so far.")
    trials_total: int | None = Field(default=None, ge=0, description="Search trials planned (all rungs).")
    best_score: float | None = Field(default=None, description="Best search trial score so far.")
    results_url: str | None = None


class JobList(Strict):
    """GET /jobs: the caller's jobs, newest first, one page at a time."""

    items: list[JobStatus]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; null on the last.")


class ResultSummary(Strict):
    objective: str
    dataset: str
    assets: list[str]
    weights: dict[str, float]
    risk: dict[str, Any]
    backtest: dict[str, Any] | None = None
    search: dict[str, Any] | None = None
    data_report: dict[str, Any] = Field(default_factory=dict)
    frontier: dict[str, Any] | None = Field(
        default=None, description="Efficient frontier (annualised volatility and return) of the final window; "
                                  "null when it is degenerate (a single point).")


class ResultsPage(Strict):
    job_id: str
    page: int = Field(ge=0)
    page_count: int = Field(ge=0)
    rows_total: int = Field(ge=0)
    items: list[dict[str, Any]] = Field(description="Rows of this page (empty when `page_url` is given).")
    page_url: str | None = Field(default=None, description="Presigned URL of this page when it is too large to inline.")
    next_page: int | None = None
    summary: ResultSummary | None = None
    download_url: str = Field(description="Presigned URL of the complete results document.")


class FieldError(Strict):
    field: str
    message: str


class ErrorBody(BaseModel):
    error: str
    message: str
    fields: list[FieldError] | None = None


# -- agent action groups (Bedrock) and the risk manager --------------------------------------

class MarketDataQuery(Strict):
    tickers: list[Ticker] = Field(min_length=1, max_length=100)
    start: dt.date | None = None
    end: dt.date | None = None
    dataset: DatasetName = "latest"


class EvaluateStrategy(Strict):
    strategy_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    weights: dict[Ticker, float] | None = Field(default=None, description="Fixed weights to evaluate.")
    objective: Objective | None = Field(default=None, description="Or: backtest this objective on the tickers.")
    dataset: DatasetName = "latest"


class PortfolioRiskRequest(Strict):
    weights: dict[Ticker, float] = Field(min_length=1, max_length=500)
    confidence: float = Field(default=0.95, ge=0.5, le=0.999)
    lookback_days: int = Field(default=252, ge=20, le=3650)
    dataset: DatasetName = "latest"
    job_id: str | None = Field(default=None, pattern=JOB_ID_PATTERN)


class SearchRequest(Strict):
    strategy_id: str = Field(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    max_jobs: int = Field(default=8, ge=1, le=750)
    dataset: DatasetName = "latest"

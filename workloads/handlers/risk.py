"""Portfolio risk manager: volatility, VaR, CVaR, drawdown and concentration of given weights.

Invoked directly (`{"weights": {...}, "confidence": 0.95, ...}`, optionally with a
`job_id` whose results get a `risk.json`), through an API Gateway proxy event, and
in-process by the worker and the agents. The covariance is `optimizer.risk.ledoit_wolf`
and the return statistics `optimizer.metrics.performance`, so the numbers match the
optimizer's own reports.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from pydantic import ValidationError

from charter.optimizer.errors import OptimizerError
from charter.optimizer.metrics import performance
from charter.optimizer.risk import ledoit_wolf

from . import aws, datasets
from .http import HttpError, endpoint, field_errors, json_body, response, validation_error
from .jobs import JobStore
from .models import PortfolioRiskRequest
from .results import finite, prefix
from .settings import Settings

#: Any single asset above this weight is flagged (the risk agent's instruction uses 25 %).
CONCENTRATION_LIMIT = 0.25
PERIODS_PER_YEAR = 252


def portfolio_risk(returns: np.ndarray, weights: np.ndarray, assets: list[str], confidence: float = 0.95,
                   periods: int = PERIODS_PER_YEAR) -> dict[str, Any]:
    """Risk of fixed `weights` over the rows of `returns` (T x n, finite)."""
    X = np.asarray(returns, float)
    w = np.asarray(weights, float)
    if X.ndim != 2 or X.shape[1] != w.size:
        raise OptimizerError(f"risk: {w.size} weights for {X.shape[1] if X.ndim == 2 else 0} return columns")
    if X.shape[0] < 20:
        raise OptimizerError(f"risk: only {X.shape[0]} complete days of returns; need at least 20")
    cov, shrinkage = ledoit_wolf(X)
    variance = float(w @ cov @ w)
    port = X @ w
    q = float(np.quantile(port, 1 - confidence))
    tail = port[port <= q]
    perf = performance(port, periods=periods, beta=confidence)
    contrib = (w * (cov @ w) / variance) if variance > 0 else np.zeros_like(w)
    top = int(np.argmax(np.abs(w)))
    hhi = float(np.sum(w * w))
    flags = [f"concentration: {assets[i]} is {w[i]:.1%} of the portfolio (limit {CONCENTRATION_LIMIT:.0%})"
             for i in np.flatnonzero(np.abs(w) > CONCENTRATION_LIMIT)]
    return finite({
        "confidence": confidence,
        "observations": int(X.shape[0]),
        "volatility": math.sqrt(max(variance, 0.0) * periods),
        "var": -q,
        "cvar": float(-tail.mean()) if tail.size else -q,
        "max_drawdown": perf["max_drawdown"],
        "sharpe": perf["sharpe"],
        "cagr": perf["cagr"],
        "gross_exposure": float(np.abs(w).sum()),
        "net_exposure": float(w.sum()),
        "largest_position": {"asset": assets[top], "weight": float(w[top])},
        "effective_assets": 1.0 / hhi if hhi > 0 else 0.0,
        "covariance_shrinkage": float(shrinkage),
        "risk_contributions": {a: float(c) for a, c in zip(assets, contrib, strict=True)},
        "flags": flags,
    })


def assess(settings: Settings, req: PortfolioRiskRequest) -> dict[str, Any]:
    """Load the data set, align the weights with it and measure the risk."""
    md, entry = datasets.load(settings, req.dataset)
    assets = list(req.weights)
    md = datasets.select(md, assets, dataset=entry.get("dataset", req.dataset))
    X = md.returns[np.isfinite(md.returns).all(axis=1)][-req.lookback_days:]
    weights = np.array([req.weights[a] for a in assets])
    out = portfolio_risk(X, weights, assets, req.confidence)
    out["dataset"] = entry.get("dataset", req.dataset)
    return out


def _run(event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    req = PortfolioRiskRequest.model_validate(event)
    result = assess(settings, req)
    if req.job_id:
        store = JobStore(settings)
        job = store.get(req.job_id)
        if job is None:
            raise HttpError(404, "not_found", f"job {req.job_id} not found")
        aws.client("s3").put_object(Bucket=settings.results_bucket, Key=f"{prefix(job.job_id)}risk.json",
                                    Body=json.dumps(result).encode(), ContentType="application/json")
        store.update(job, risk_summary={k: result[k] for k in ("volatility", "var", "cvar", "max_drawdown")})
    return result


@endpoint
def _proxy(event: dict[str, Any], context: Any) -> dict[str, Any]:
    payload = json_body(event)
    if not isinstance(payload, dict):
        raise validation_error([{"field": "body", "message": "must be a JSON object"}])
    try:
        return response(200, _run(payload, Settings.from_env()))
    except ValidationError as exc:
        raise validation_error(field_errors(exc)) from None
    except OptimizerError as exc:
        raise HttpError(422, "unprocessable", str(exc)) from None


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point: a proxy event gets an HTTP response, a direct invocation a plain result."""
    if isinstance(event, dict) and "httpMethod" in event:
        return _proxy(event, context)
    try:
        return {"ok": True, "risk": _run(event or {}, Settings.from_env())}
    except ValidationError as exc:
        return {"ok": False, "error": "validation", "fields": field_errors(exc)}
    except (OptimizerError, HttpError) as exc:
        return {"ok": False, "error": "unprocessable", "message": str(exc)}

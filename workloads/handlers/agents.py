"""Bedrock agent action groups (and the pipeline's AgentSynthesis step) -> the optimizer library.

Bedrock invokes this function with the action-group event of an OpenAPI-schema action
group (`messageVersion`, `actionGroup`, `apiPath`, `httpMethod`, `parameters`,
`requestBody.content["application/json"].properties`, each value a string) and expects
`{"messageVersion": "1.0", "response": {actionGroup, apiPath, httpMethod,
httpStatusCode, responseBody: {"application/json": {"body": "<JSON string>"}}}}`.
Errors are answered in that same shape (400/404/422) so the agent can explain them;
nothing is raised to Bedrock. Paths are the ones in `openapi.ACTIONS`.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from charter.optimizer import HyperparameterSearch, PortfolioOptimizer, SearchSpace, WalkForward
from charter.optimizer import Settings as SearchConfig
from charter.optimizer.errors import OptimizerError
from charter.optimizer.metrics import performance

from . import aws, datasets
from .http import field_errors
from .jobs import JobStore
from .models import EvaluateStrategy, MarketDataQuery, PortfolioRiskRequest, SearchRequest
from .results import finite
from .risk import assess
from .settings import Settings

log = logging.getLogger("charter.workloads.agents")
#: Bedrock caps a Lambda response body at 25 KB; stay well under it.
MAX_BODY_BYTES = 20_000
PERIODS = 252


def _coerce(value: Any, kind: str) -> Any:
    """Bedrock passes every value as a string; arrays look like `[A, B]`, objects like `{A=0.5, B=0.5}`."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if kind in ("integer", "number", "boolean", "array", "object"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    if kind == "array" and text.startswith("[") and text.endswith("]"):
        return [p.strip().strip("'\"") for p in text[1:-1].split(",") if p.strip()]
    if kind == "object" and text.startswith("{") and text.endswith("}"):
        out: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text[1:-1].split(","))):
            k, _, v = part.partition("=") if "=" in part else part.partition(":")
            v = v.strip().strip("'\"")
            try:
                out[k.strip().strip("'\"")] = float(v)
            except ValueError:
                out[k.strip().strip("'\"")] = v
        return out
    return text


def _arguments(event: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for p in event.get("parameters") or []:
        args[p["name"]] = _coerce(p.get("value"), p.get("type", "string"))
    content = ((event.get("requestBody") or {}).get("content") or {}).get("application/json") or {}
    for p in content.get("properties") or []:
        args[p["name"]] = _coerce(p.get("value"), p.get("type", "string"))
    return args


def _respond(event: dict[str, Any], status: int, body: Any) -> dict[str, Any]:
    text = json.dumps(finite(body), default=str)
    if len(text) > MAX_BODY_BYTES:
        text = json.dumps({"error": "too_large", "message": "result too large for the agent; ask for fewer assets"})
        status = 413
    return {
        "messageVersion": "1.0",
        "response": {"actionGroup": event.get("actionGroup", ""), "apiPath": event.get("apiPath", ""),
                     "httpMethod": event.get("httpMethod", "POST"), "httpStatusCode": status,
                     "responseBody": {"application/json": {"body": text}}},
        "sessionAttributes": event.get("sessionAttributes") or {},
        "promptSessionAttributes": event.get("promptSessionAttributes") or {},
    }


def market_data(settings: Settings, q: MarketDataQuery) -> dict[str, Any]:
    md, entry = datasets.load(settings, q.dataset)
    md = datasets.select(md, q.tickers, q.start, q.end, dataset=entry.get("dataset", q.dataset))
    stats = {}
    for j, asset in enumerate(md.assets):
        r = md.returns[:, j]
        r = r[np.isfinite(r)]
        perf = performance(r, periods=PERIODS) if r.size > 1 else {}
        stats[asset] = {"days": int(r.size), "annual_return": perf.get("cagr"), "volatility": perf.get("volatility"),
                        "sharpe": perf.get("sharpe"), "max_drawdown": perf.get("max_drawdown"),
                        "last_20d_return": float(np.prod(1 + r[-20:]) - 1) if r.size else None}
    X = md.returns[np.isfinite(md.returns).all(axis=1)]
    corr = np.corrcoef(X.T) if X.shape[0] > 2 else np.eye(len(md.assets))
    return {"dataset": entry.get("dataset"), "start": str(md.dates[0]), "end": str(md.dates[-1]), "assets": stats,
            "average_correlation": float((corr.sum() - len(md.assets)) / max(len(md.assets) ** 2 - len(md.assets), 1))}


def _strategy(settings: Settings, strategy_id: str) -> dict[str, Any]:
    resp = aws.client("dynamodb").query(
        TableName=settings.strategies_table, KeyConditionExpression="strategy_id = :s",
        ExpressionAttributeValues={":s": {"S": strategy_id}}, ScanIndexForward=False, Limit=1)
    items = resp.get("Items") or []
    if not items:
        raise LookupError(f"strategy '{strategy_id}' not found")
    item = items[0]
    config = json.loads(item["config"]["S"]) if "config" in item else {}
    return {"strategy_id": strategy_id, "version": int(item["version"]["N"]), **config}


def evaluate(settings: Settings, q: EvaluateStrategy) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if q.strategy_id:
        spec = _strategy(settings, q.strategy_id)
    weights = q.weights or spec.get("weights")
    objective = q.objective or spec.get("objective")
    if not weights and not (objective and spec.get("assets")):
        raise OptimizerError("give weights (asset -> weight), or a strategy_id whose strategy has assets")
    assets = list(weights) if weights else list(spec["assets"])
    md, entry = datasets.load(settings, q.dataset)
    md = datasets.select(md, assets, dataset=entry.get("dataset", q.dataset))
    if objective:
        wf = WalkForward(PortfolioOptimizer(objective), lookback=int(spec.get("lookback", 126)),
                         rebalance_every=int(spec.get("rebalance_every", 21))).fit(md)
        metrics = dict(wf.metrics_)
        last = {a: float(w) for a, w in zip(md.assets, wf.weights_[-1], strict=True)}
        return {"mode": "walk_forward", "objective": objective, "metrics": metrics, "latest_weights": last,
                "strategy": spec or None}
    w = np.array([float(weights[a]) for a in assets])
    X = np.nan_to_num(md.returns, nan=0.0)
    metrics = performance(X @ w, periods=PERIODS)
    return {"mode": "fixed_weights", "weights": weights, "metrics": metrics,
            "days": int(X.shape[0]), "strategy": spec or None}


def search(settings: Settings, q: SearchRequest) -> tuple[int, dict[str, Any]]:
    spec = _strategy(settings, q.strategy_id)
    if q.max_jobs > settings.inline_search_max_trials:
        resp = aws.client("sagemaker").start_pipeline_execution(
            PipelineName=settings.pipeline_name, PipelineExecutionDisplayName=f"search-{q.strategy_id}"[:82],
            PipelineParameters=[{"Name": "JobId", "Value": f"search-{q.strategy_id}"}])
        return 202, {"mode": "pipeline", "execution_arn": resp["PipelineExecutionArn"], "trials": q.max_jobs}
    md, entry = datasets.load(settings, q.dataset)
    md = datasets.select(md, list(spec["assets"]), dataset=entry.get("dataset", q.dataset))
    lookback = (int(spec.get("lookback_min", 40)), int(spec.get("lookback_max", 126)))
    s = HyperparameterSearch(space=SearchSpace(lookback=lookback), n_trials=q.max_jobs, workers=1,
                             settings=SearchConfig(max_weight=float(spec.get("max_weight", 1.0))),
                             seed=int(spec.get("seed", 0))).fit(md)
    return 200, {"mode": "inline", "trials": q.max_jobs, "best_config": s.best_config_,
                 "holdout_sharpe": s.holdout_sharpe_, "deflated_sharpe": s.deflated_sharpe_.get("dsr"),
                 "best_metrics": s.best_backtest_.metrics_, "failures": s.n_failures_}


def _action(event: dict[str, Any], settings: Settings) -> tuple[int, Any]:
    path = event.get("apiPath", "")
    args = _arguments(event)
    model: type[BaseModel]
    routes = {"/market-data": MarketDataQuery, "/strategies/evaluate": EvaluateStrategy,
              "/portfolio/risk": PortfolioRiskRequest, "/search": SearchRequest}
    if path not in routes:
        return 404, {"error": "not_found", "message": f"unknown action {path}; known: {', '.join(routes)}"}
    model = routes[path]
    try:
        req = model.model_validate(args)
    except ValidationError as exc:
        return 400, {"error": "validation", "fields": field_errors(exc)}
    try:
        if path == "/market-data":
            return 200, market_data(settings, req)  # type: ignore[arg-type]
        if path == "/strategies/evaluate":
            return 200, evaluate(settings, req)  # type: ignore[arg-type]
        if path == "/portfolio/risk":
            return 200, assess(settings, req)  # type: ignore[arg-type]
        return search(settings, req)  # type: ignore[arg-type]
    except LookupError as exc:
        return 404, {"error": "not_found", "message": str(exc)}
    except OptimizerError as exc:
        return 422, {"error": "unprocessable", "message": str(exc)}


def _synthesis(event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The pipeline's Lambda step: `{"job_id", "results_uri"}` -> output parameter `status`."""
    job_id = str(event["job_id"])
    if not re.fullmatch(r"[0-9a-f]{32}", job_id):
        return {"status": "skipped"}  # scheduled or data-triggered runs have no API job
    store = JobStore(settings)
    job = store.get(job_id)
    if job is None:
        return {"status": "missing"}
    store.update(job, message="results aggregated", results_uri=str(event.get("results_uri", "")))
    return {"status": "ok"}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    settings = Settings.from_env()
    if "messageVersion" not in event and "job_id" in event:
        return _synthesis(event, settings)
    try:
        status, body = _action(event, settings)
    except Exception:  # noqa: BLE001 - the agent gets a 500 it can report, not a Lambda error
        log.exception("action %s failed", event.get("apiPath"))
        status, body = 500, {"error": "internal", "message": "the action failed; try again later"}
    if isinstance(body, dict):
        body = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in body.items()}
    return _respond(event, status, body)

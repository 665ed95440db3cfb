"""Parse and validate a job description (the dict loaded from job.yaml).

Kept in the engine (not the CLI) so every field error names its path, e.g.
``job.backtest.lookback: must be an integer >= 2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .constraints import Constraints
from .data import MarketData, load_market
from .errors import OptimizerError
from .search import HyperparameterSearch, SearchSpace, Settings
from .synthetic import generate_market

_TOP = {"data", "portfolio", "backtest", "search", "seed"}


def _get(d: dict, key: str, where: str, typ, default: Any = None, check=None, hint: str = ""):
    if not isinstance(d, dict):
        raise OptimizerError(f"{where}: must be a mapping")
    v = d.get(key, default)
    if v is None:
        return v
    if typ is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if not isinstance(v, typ) or isinstance(v, bool) and typ is not bool:
        raise OptimizerError(f"{where}.{key}: expected {getattr(typ, '__name__', typ)}, got {v!r}{hint}")
    if typ is float and not math.isfinite(v):  # YAML's .inf and .nan are floats, and no setting means them
        raise OptimizerError(f"{where}.{key}: {v!r} is not a finite number{hint}")
    if check and not check(v):
        raise OptimizerError(f"{where}.{key}: invalid value {v!r}{hint}")
    return v


@dataclass
class Job:
    market: MarketData
    optimizer_kwargs: dict
    backtest_kwargs: dict
    search: HyperparameterSearch | None
    raw: dict


def _params(section: dict, key: str, where: str) -> dict:
    """Keyword parameters of a model (`objective_params`, ...): a mapping of names to finite
    numbers, text or booleans (a list or a nested mapping would reach the model as garbage)."""
    value = section.get(key) if isinstance(section, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise OptimizerError(f"{where}.{key}: expected a mapping of parameter names to values, got {value!r}")
    for name, v in value.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise OptimizerError(f"{where}.{key}: {name!r} is not a parameter name")
        if isinstance(v, float) and not math.isfinite(v):
            raise OptimizerError(f"{where}.{key}.{name}: {v!r} is not a finite number")
        if not isinstance(v, (int, float, str, bool)):
            raise OptimizerError(f"{where}.{key}.{name}: expected a number, text or true/false, got {v!r}")
    return dict(value)


def parse_job(cfg: dict, base_dir: str = ".") -> Job:
    if not isinstance(cfg, dict):
        raise OptimizerError("job: top level must be a mapping with data/portfolio/backtest/search sections")
    unknown = set(cfg) - _TOP
    if unknown:
        raise OptimizerError(f"job: unknown section(s) {sorted(unknown)}; allowed: {sorted(_TOP)}")
    seed = _get(cfg, "seed", "job", int, 0)
    data = cfg.get("data") or {"synthetic": {}}
    if not isinstance(data, dict):
        raise OptimizerError(f"job.data: must be a mapping ('synthetic: {{...}}' or 'path: file.csv'), got {data!r}")
    if "synthetic" in data:
        syn = data["synthetic"] or {}
        allowed = {"n_assets", "n_days", "n_factors", "seed"}
        bad = set(syn) - allowed
        if bad:
            raise OptimizerError(f"job.data.synthetic: unknown key(s) {sorted(bad)}; allowed: {sorted(allowed)}")
        market = generate_market(
            n_assets=_get(syn, "n_assets", "job.data.synthetic", int, 50, lambda v: v >= 2, " (need >= 2)"),
            n_days=_get(syn, "n_days", "job.data.synthetic", int, 1260, lambda v: v >= 50, " (need >= 50)"),
            n_factors=_get(syn, "n_factors", "job.data.synthetic", int, 3, lambda v: v >= 1),
            seed=_get(syn, "seed", "job.data.synthetic", int, seed),
        )
    elif "path" in data:
        import os

        p = _get(data, "path", "job.data", str)
        kind = _get(data, "kind", "job.data", str, "prices", lambda v: v in ("prices", "returns"),
                    " (use 'prices' or 'returns')")
        market = load_market(p if os.path.isabs(p) else os.path.join(base_dir, p), kind=kind)
    else:
        raise OptimizerError("job.data: give either 'synthetic: {...}' or 'path: file.csv'")

    pf = cfg.get("portfolio") or {}
    if not isinstance(pf, dict):
        raise OptimizerError(f"job.portfolio: must be a mapping, got {pf!r}")
    cons = pf.get("constraints") or {}
    constraints = Constraints(
        max_weight=_get(cons, "max_weight", "job.portfolio.constraints", float, 1.0, lambda v: v > 0),
        min_weight=_get(cons, "min_weight", "job.portfolio.constraints", float, 0.0),
        long_only=_get(cons, "long_only", "job.portfolio.constraints", bool, True),
        leverage=_get(cons, "leverage", "job.portfolio.constraints", float, 1.0, lambda v: v > 0),
        max_turnover=_get(cons, "max_turnover", "job.portfolio.constraints", float, None),
    )
    n = market.n_assets
    constraints.check_feasible(n)
    from .objectives import OBJECTIVES

    objective = _get(pf, "objective", "job.portfolio", str, "min_variance", lambda v: v in OBJECTIVES,
                     f" (choose from {', '.join(OBJECTIVES)})")
    opt_kwargs = dict(
        objective=objective,
        objective_params=_params(pf, "objective_params", "job.portfolio"),
        risk_model=_get(pf, "risk_model", "job.portfolio", str, "ledoit_wolf"),
        risk_params=_params(pf, "risk_params", "job.portfolio"),
        returns_model=_get(pf, "returns_model", "job.portfolio", str, "shrunk"),
        scenarios=_get(pf, "scenarios", "job.portfolio", str, "historical"),
        scenario_params=_params(pf, "scenario_params", "job.portfolio"),
        constraints=constraints,
        seed=seed,
    )
    bt = cfg.get("backtest") or {}
    if not isinstance(bt, dict):
        raise OptimizerError(f"job.backtest: must be a mapping, got {bt!r}")
    bt_kwargs = dict(
        lookback=_get(bt, "lookback", "job.backtest", int, 252, lambda v: v >= 2, " (need >= 2 days)"),
        rebalance_every=_get(bt, "rebalance_every", "job.backtest", int, 21, lambda v: v >= 1),
        cost_bps=_get(bt, "cost_bps", "job.backtest", float, 5.0, lambda v: v >= 0),
        vol_target=_get(bt, "vol_target", "job.backtest", float, None),
    )
    if bt_kwargs["lookback"] + 2 >= market.returns.shape[0]:
        raise OptimizerError(
            f"job.backtest.lookback: {bt_kwargs['lookback']} days leaves no out-of-sample period in "
            f"{market.returns.shape[0]} days of data; shorten it"
        )
    search = None
    if cfg.get("search") is not None:
        s = cfg["search"] or {}
        sp = s.get("space") or {}

        def rng(key, default, typ):
            v = sp.get(key, default)
            if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)):
                raise OptimizerError(f"job.search.space.{key}: expected [low, high], got {v!r}")
            return (typ(v[0]), typ(v[1]))

        space = SearchSpace(
            lookback=rng("lookback", [63, 504], int),
            rebalance_every=rng("rebalance_every", [5, 63], int),
            risk_aversion=rng("risk_aversion", [0.5, 50.0], float),
            shrinkage=rng("shrinkage", [0.0, 1.0], float),
            objectives=tuple(sp.get("objectives", SearchSpace.objectives)),
            risk_models=tuple(sp.get("risk_models", SearchSpace.risk_models)),
        )
        space.validate()
        settings = Settings(
            max_weight=constraints.max_weight if isinstance(constraints.max_weight, float) else 1.0,
            min_weight=constraints.min_weight if isinstance(constraints.min_weight, float) else 0.0,
            cost_bps=bt_kwargs["cost_bps"],
            vol_target=bt_kwargs["vol_target"],
            n_folds=_get(s, "n_folds", "job.search", int, 5, lambda v: v >= 2),
        )
        search = HyperparameterSearch(
            space=space,
            settings=settings,
            n_trials=_get(s, "n_trials", "job.search", int, 100, lambda v: v >= 1),
            sampler=_get(s, "sampler", "job.search", str, "sobol", lambda v: v in ("sobol", "random"),
                         " (use sobol or random)"),
            seed=seed,
            halving=_get(s, "halving", "job.search", bool, True),
            n_rungs=_get(s, "n_rungs", "job.search", int, 3, lambda v: v >= 1),
            eta=_get(s, "eta", "job.search", int, 3, lambda v: v >= 2),
            workers=_get(s, "workers", "job.search", int, 2, lambda v: v >= 1),
        )
    return Job(market=market, optimizer_kwargs=opt_kwargs, backtest_kwargs=bt_kwargs, search=search, raw=cfg)

"""Hyperparameter search over walk-forward strategies.

* Configurations come from a seeded random or scrambled-Sobol sample of the
  space, so trial ``i`` is the same on every machine.
* Successive halving: rung ``r`` backtests on the first ``budgets[r]`` fraction
  of history; the best ``1/eta`` (ties broken by trial id) are promoted.
* Selection is out-of-sample: each backtest's returns are cut into
  ``n_folds`` walk-forward folds; the score is the mean Sharpe of all folds but
  the last, which is kept as a holdout and reported together with the
  deflated Sharpe ratio of the chosen strategy.
* Trials are independent pure functions of (config, data, settings), so the
  result is identical for any worker count, for resumed runs, and for
  ``shard(...)``-split runs merged with :func:`aggregate`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field

import numpy as np

from .checkpoint import Checkpoint, read_records
from .constraints import Constraints
from .data import MarketData
from .errors import OptimizerError


@dataclass
class SearchSpace:
    lookback: tuple[int, int] = (63, 504)
    rebalance_every: tuple[int, int] = (5, 63)
    risk_aversion: tuple[float, float] = (0.5, 50.0)  # sampled log-uniformly
    shrinkage: tuple[float, float] = (0.0, 1.0)
    objectives: tuple[str, ...] = ("min_variance", "mean_variance", "max_sharpe", "max_diversification", "risk_parity")
    risk_models: tuple[str, ...] = ("ledoit_wolf", "shrunk")

    def validate(self) -> None:
        from .objectives import OBJECTIVES
        from .risk import RISK_MODELS

        for name, (lo, hi) in (("lookback", self.lookback), ("rebalance_every", self.rebalance_every),
                               ("risk_aversion", self.risk_aversion), ("shrinkage", self.shrinkage)):
            if not lo <= hi:
                raise OptimizerError(f"search.space.{name}: lower bound {lo} exceeds upper bound {hi}")
        if self.lookback[0] < 2 or self.rebalance_every[0] < 1 or self.risk_aversion[0] <= 0:
            raise OptimizerError("search.space: lookback >= 2, rebalance_every >= 1 and risk_aversion > 0 required")
        for o in self.objectives:
            if o not in OBJECTIVES:
                raise OptimizerError(f"search.space.objectives: unknown '{o}'; choose from {', '.join(OBJECTIVES)}")
        for r in self.risk_models:
            if r not in RISK_MODELS:
                raise OptimizerError(f"search.space.risk_models: unknown '{r}'; choose from {', '.join(RISK_MODELS)}")
        if not self.objectives or not self.risk_models:
            raise OptimizerError("search.space: objectives and risk_models must not be empty")


@dataclass
class Settings:
    """Everything a trial needs besides its hyperparameters."""

    max_weight: float = 0.1
    min_weight: float = 0.0
    cost_bps: float = 5.0
    vol_target: float | None = None
    n_folds: int = 5
    returns_model: str = "shrunk"
    cvar_beta: float = 0.95


def sample_configs(space: SearchSpace, n: int, seed: int, sampler: str = "sobol") -> list[dict]:
    """Deterministic list of ``n`` configurations (trial ids 0..n-1)."""
    space.validate()
    if n < 1:
        raise OptimizerError("search.n_trials must be >= 1")
    if sampler == "sobol":
        import warnings

        from scipy.stats import qmc

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # n need not be a power of two
            U = qmc.Sobol(d=6, scramble=True, seed=seed).random(n)
    elif sampler == "random":
        U = np.random.default_rng(seed).random((n, 6))
    else:
        raise OptimizerError(f"search.sampler: unknown '{sampler}'; use 'sobol' or 'random'")
    out = []
    for i, u in enumerate(U):
        lb, la = space.lookback, space.risk_aversion
        cfg = {
            "trial": i,
            "lookback": int(lb[0] + math.floor(u[0] * (lb[1] - lb[0] + 1 - 1e-12))),
            "rebalance_every": int(space.rebalance_every[0]
                                   + math.floor(u[1] * (space.rebalance_every[1] - space.rebalance_every[0] + 1 - 1e-12))),
            "risk_aversion": float(math.exp(math.log(la[0]) + u[2] * (math.log(la[1]) - math.log(la[0])))),
            "shrinkage": float(space.shrinkage[0] + u[3] * (space.shrinkage[1] - space.shrinkage[0])),
            "objective": space.objectives[min(int(u[4] * len(space.objectives)), len(space.objectives) - 1)],
            "risk_model": space.risk_models[min(int(u[5] * len(space.risk_models)), len(space.risk_models) - 1)],
        }
        out.append(cfg)
    return out


def build_backtest(cfg: dict, settings: Settings):
    """The WalkForward a configuration describes (also used to re-run the winner)."""
    from .backtest import WalkForward
    from .portfolio import PortfolioOptimizer

    obj = cfg["objective"]
    oparams = {}
    if obj in ("mean_variance", "mean_cvar"):
        oparams["risk_aversion"] = cfg["risk_aversion"]
    if obj in ("min_cvar", "mean_cvar"):
        oparams["beta"] = settings.cvar_beta
    rparams = {"shrinkage": cfg["shrinkage"]} if cfg["risk_model"] == "shrunk" else {}
    opt = PortfolioOptimizer(
        objective=obj, objective_params=oparams, risk_model=cfg["risk_model"], risk_params=rparams,
        returns_model=settings.returns_model,
        constraints=Constraints(max_weight=settings.max_weight, min_weight=settings.min_weight),
        seed=int(cfg["trial"]),
    )
    return WalkForward(opt, lookback=cfg["lookback"], rebalance_every=cfg["rebalance_every"],
                       cost_bps=settings.cost_bps, vol_target=settings.vol_target)


def evaluate_trial(cfg: dict, market: MarketData, settings: Settings, budget: float, rung: int) -> dict:
    """Backtest one configuration on the first ``budget`` fraction of history."""
    T = market.returns.shape[0]
    # at least 5 folds' worth of out-of-sample days after the lookback
    stop = min(T, max(int(round(budget * T)), cfg["lookback"] + 20 * settings.n_folds))
    rec = {"rung": rung, "trial": cfg["trial"], "budget": budget, "config": cfg, "error": None}
    try:
        wf = build_backtest(cfg, settings).fit(market.slice(0, stop))
        folds = np.nan_to_num(wf.fold_sharpes(settings.n_folds), nan=0.0)
        val = folds[:-1] if folds.size > 1 else folds
        r = wf.returns_
        cut = np.array_split(r, settings.n_folds)
        val_ret = np.concatenate(cut[:-1]) if len(cut) > 1 else r
        sd = val_ret.std(ddof=1)
        rec.update({
            "score": float(np.mean(val)),
            "fold_sharpes": [float(x) for x in folds],
            "holdout_sharpe": float(folds[-1]),
            "sharpe_per_period": float(val_ret.mean() / sd) if sd > 0 else 0.0,
            "metrics": {k: float(v) for k, v in wf.metrics_.items()},
        })
    except OptimizerError as exc:
        rec.update({"score": None, "error": str(exc)})
    return rec


# ------------------------------------------------------------------ sharding
def shard(trials: list, host_index: int, n_hosts: int) -> list:
    """Deterministic round-robin split of trials (by trial id) for ``n_hosts`` hosts."""
    if n_hosts < 1 or not 0 <= host_index < n_hosts:
        raise OptimizerError(f"shard: need 0 <= host_index < n_hosts, got {host_index}/{n_hosts}")
    key = (lambda t: t["trial"]) if trials and isinstance(trials[0], dict) else (lambda t: int(t))
    return [t for t in sorted(trials, key=key) if key(t) % n_hosts == host_index]


def aggregate(paths: Iterable[str]) -> list[dict]:
    """Merge shard result files (JSONL) into one trial table sorted by (rung, trial)."""
    merged: dict[tuple[int, int], dict] = {}
    for p in paths:
        for rec in read_records(p):
            merged[(int(rec["rung"]), int(rec["trial"]))] = rec
    return [merged[k] for k in sorted(merged)]


def promote(records: list[dict], eta: int) -> list[int]:
    """Trial ids surviving a rung: top ceil(n/eta) by score, ties by trial id."""
    keep = max(1, math.ceil(len(records) / eta))
    ranked = sorted(records, key=lambda r: (-(r["score"] if r["score"] is not None else -math.inf), r["trial"]))
    return sorted(r["trial"] for r in ranked[:keep])


def budgets_for(halving: bool, n_rungs: int, eta: int) -> list[float]:
    if not halving or n_rungs <= 1:
        return [1.0]
    # Linear history budgets (1/3, 2/3, 1 for three rungs): geometric ones would
    # leave the first rung shorter than the longest lookback.
    return [(r + 1) / n_rungs for r in range(n_rungs)]


# ------------------------------------------------------------------ workers
_W: dict = {}


def _init_worker(market: MarketData, settings: Settings) -> None:
    _W["market"], _W["settings"] = market, settings


def _run_in_worker(cfg: dict, budget: float, rung: int) -> dict:
    return evaluate_trial(cfg, _W["market"], _W["settings"], budget, rung)


# Relative cost of one rebalance by objective (max-ratio objectives solve a few QPs
# along the frontier, risk parity a few Newton steps); only used to order work.
_OBJECTIVE_COST = {"max_sharpe": 2.0, "max_diversification": 2.0, "risk_parity": 1.5,
                   "min_cvar": 4.0, "mean_cvar": 4.0}


def _trial_cost(cfg: dict, n_days: int, budget: float) -> float:
    """Rough cost of a trial: rebalances times the objective's cost per rebalance."""
    days = max(int(round(budget * n_days)) - cfg["lookback"], 1)
    return days / cfg["rebalance_every"] * _OBJECTIVE_COST.get(cfg["objective"], 1.0)


_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _fingerprint(market: MarketData, space: SearchSpace, settings: Settings, extra: dict) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(market.returns).tobytes())
    h.update(json.dumps({"space": asdict(space), "settings": asdict(settings), **extra}, sort_keys=True).encode())
    return h.hexdigest()[:16]


@dataclass
class HyperparameterSearch:
    """Configure, ``fit(market)``, then read ``best_config_``, ``table_``, ``deflated_sharpe_``."""

    space: SearchSpace = field(default_factory=SearchSpace)
    settings: Settings = field(default_factory=Settings)
    n_trials: int = 100
    sampler: str = "sobol"
    seed: int = 0
    halving: bool = True
    n_rungs: int = 3
    eta: int = 3
    workers: int = 1
    checkpoint: str | None = None

    #: The best trial score seen so far during `fit` (any rung), for progress callbacks to report.
    best_score_so_far_: float | None = None

    def fit(self, market: MarketData, progress: Callable[[int, int, int], None] | None = None) -> HyperparameterSearch:
        configs = sample_configs(self.space, self.n_trials, self.seed, self.sampler)
        budgets = budgets_for(self.halving, self.n_rungs, self.eta)
        fp = _fingerprint(market, self.space, self.settings, {
            "n": self.n_trials, "sampler": self.sampler, "seed": self.seed, "budgets": budgets, "eta": self.eta})
        ckpt = Checkpoint(self.checkpoint, fp)
        total = sum(max(1, math.ceil(self.n_trials / self.eta ** r)) for r in range(len(budgets)))
        done_count = len(ckpt.records)
        new_count = 0
        ids = list(range(self.n_trials))
        pool = None
        saved_env = {}
        try:
            for rung, budget in enumerate(budgets):
                todo = [configs[i] for i in ids if not ckpt.done(rung, i)]
                if progress:
                    progress(done_count, total, rung)
                if todo:
                    if self.workers > 1 and pool is None:
                        import multiprocessing as mp

                        saved_env = {k: os.environ.get(k) for k in _BLAS_VARS}
                        for k in _BLAS_VARS:
                            os.environ[k] = "1"  # one BLAS thread per process: no oversubscription
                        pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"),
                                                   initializer=_init_worker, initargs=(market, self.settings))
                    if pool is not None:
                        # Longest first: the two processes then finish together instead of one
                        # idling while the other runs a long trial submitted last.
                        T = market.returns.shape[0]
                        order = sorted(todo, key=lambda c: (-_trial_cost(c, T, budget), c["trial"]))
                        futs = [pool.submit(_run_in_worker, c, budget, rung) for c in order]
                        it = (f.result() for f in as_completed(futs))
                    else:
                        it = (evaluate_trial(c, market, self.settings, budget, rung) for c in todo)
                    for rec in it:
                        ckpt.add(rec)
                        if rec.get("score") is not None and (self.best_score_so_far_ is None
                                                             or rec["score"] > self.best_score_so_far_):
                            self.best_score_so_far_ = float(rec["score"])  # what a progress reader shows
                        new_count += 1
                        done_count += 1
                        if progress:
                            progress(done_count, total, rung)
                recs = [ckpt.records[(rung, i)] for i in ids]
                if rung < len(budgets) - 1:
                    ids = promote(recs, self.eta)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                for k, v in saved_env.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        self._finish(ckpt, market, len(budgets) - 1, ids)
        return self

    def _finish(self, ckpt: Checkpoint, market: MarketData, last_rung: int, ids: list[int]) -> None:
        from .metrics import deflated_sharpe_ratio

        records = [ckpt.records[k] for k in sorted(ckpt.records)]
        final = [ckpt.records[(last_rung, i)] for i in ids]
        ok = [r for r in final if r["score"] is not None]
        self.results_ = records
        self.n_failures_ = sum(1 for r in records if r["error"])
        if not ok:
            errs = sorted({r["error"] for r in final if r["error"]})
            raise OptimizerError("search: every trial failed; first error: " + (errs[0] if errs else "unknown"))
        best = sorted(ok, key=lambda r: (-r["score"], r["trial"]))[0]
        self.best_record_ = best
        self.best_config_ = {k: v for k, v in best["config"].items()}
        # trial table: each trial's furthest rung
        table: dict[int, dict] = {}
        for r in records:
            table[r["trial"]] = r
        self.table_ = [table[i] for i in sorted(table)]
        # re-run the winner on full data (deterministic) for the report and the DSR
        self.best_backtest_ = build_backtest(self.best_config_, self.settings).fit(market)
        all_sr = [r["sharpe_per_period"] for r in records if r.get("sharpe_per_period") is not None
                  and r["rung"] == 0]
        cut = np.array_split(self.best_backtest_.returns_, self.settings.n_folds)
        val_ret = np.concatenate(cut[:-1]) if len(cut) > 1 else self.best_backtest_.returns_
        self.deflated_sharpe_ = deflated_sharpe_ratio(val_ret, np.array(all_sr), n_trials=self.n_trials)
        self.holdout_sharpe_ = float(best["holdout_sharpe"])


def run_shard(search: HyperparameterSearch, market: MarketData, rung: int, trial_ids: list[int],
              host_index: int, n_hosts: int, out_path: str) -> list[dict]:
    """Evaluate this host's share of a rung and write a JSONL shard file (for multi-host runs)."""
    configs = sample_configs(search.space, search.n_trials, search.seed, search.sampler)
    budget = budgets_for(search.halving, search.n_rungs, search.eta)[rung]
    mine = shard(trial_ids, host_index, n_hosts)
    recs = []
    with open(out_path, "w") as fh:
        for i in mine:
            rec = evaluate_trial(configs[i], market, search.settings, budget, rung)
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
            recs.append(rec)
    return recs

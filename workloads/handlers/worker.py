"""One optimization job's computation (`optimize`: the request and its data in, the summary
and result rows out), which the job pipeline's step runs (`charter.workloads.jobstep`).
Everything numeric is the optimizer library's; this module only wires it to the request.

`run_job` and the local worker pool below are the earlier in-process path (a job computed
beside the API, its record written directly); the API no longer starts jobs that way (see
`handlers.jobstatus`), and they remain only for the tests and benchmarks that use them.

A user-caused problem (unknown dataset or ticker, infeasible constraints, too little
history) fails the job with the optimizer's message; nothing is retried, because the
same input would fail the same way.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from charter.optimizer import (
    Constraints,
    HyperparameterSearch,
    PortfolioOptimizer,
    SearchSpace,
    WalkForward,
)
from charter.optimizer import Settings as SearchConfig
from charter.optimizer.data import MarketData
from charter.optimizer.errors import OptimizerError

from . import datasets, results
from .jobs import Job, JobStore
from .models import TERMINAL, OptimizeRequest
from .risk import portfolio_risk
from .settings import Settings

log = logging.getLogger("charter.workloads.worker")
#: At most one progress write per this many seconds (each is a DynamoDB write and a push).
PROGRESS_EVERY_SECONDS = 1.0
#: The longest a local worker holds one AWS call for the API server's requests (`_yield_to_api`).
YIELD_MAX_SECONDS = 1.0
YIELD_POLL_SECONDS = 0.002


def _constraints(req: OptimizeRequest, with_turnover: bool) -> Constraints:
    c = req.constraints
    return Constraints(long_only=c.long_only, leverage=c.leverage, min_weight=c.min_weight, max_weight=c.max_weight,
                       max_turnover=c.max_turnover if with_turnover else None)


def build_optimizer(req: OptimizeRequest, with_turnover: bool = False) -> PortfolioOptimizer:
    params: dict[str, Any] = {}
    if req.objective in ("mean_variance", "mean_cvar"):
        params["risk_aversion"] = req.risk_aversion
    if req.objective in ("min_cvar", "mean_cvar"):
        params["beta"] = req.cvar_alpha
    scenarios, scenario_params = "historical", {}
    if req.scenarios and req.objective in ("min_cvar", "mean_cvar"):
        scenarios, scenario_params = "bootstrap", {"n_scenarios": req.scenarios}
    return PortfolioOptimizer(objective=req.objective, objective_params=params, risk_model=req.risk_model,
                              scenarios=scenarios, scenario_params=scenario_params,
                              constraints=_constraints(req, with_turnover), seed=req.seed)


def optimize(req: OptimizeRequest, md: MarketData, progress: Any = None,
             workers: int = 1) -> tuple[dict[str, Any], list[dict]]:
    """The whole computation of a job: (summary, result rows). Pure: no AWS. `workers`:
    processes for the search's trials (the job step gives it the instance's vCPUs)."""
    report = progress or (lambda fraction, message, **fields: None)
    R = md.returns[-req.horizon_days:]
    alive = np.isfinite(R).all(axis=0)
    if alive.sum() < 2:
        raise OptimizerError(f"fewer than 2 assets have complete data in the last {req.horizon_days} days")
    window = R[:, alive]
    window = window[np.isfinite(window).all(axis=1)]
    names = [a for a, ok in zip(md.assets, alive, strict=True) if ok]
    report(0.2, f"optimizing {len(names)} assets ({req.objective})", step="optimize")
    opt = build_optimizer(req).fit(window)
    weights = np.zeros(len(md.assets))
    weights[alive] = opt.weights_
    risk = portfolio_risk(window, opt.weights_, names, req.cvar_alpha)
    rows: list[dict[str, Any]] = [
        {"kind": "weight", "asset": a, "weight": float(w), "risk_contribution": risk["risk_contributions"].get(a, 0.0)}
        for a, w in zip(md.assets, weights, strict=True)]
    summary: dict[str, Any] = {
        "objective": req.objective, "dataset": md.report.get("dataset", req.dataset), "assets": list(md.assets),
        "weights": {a: float(w) for a, w in zip(md.assets, weights, strict=True)}, "risk": risk,
        "data_report": {k: v for k, v in md.report.items() if k != "source"} | {
            "first_date": str(md.dates[0]), "last_date": str(md.dates[-1]), "days": int(len(md.dates)),
            "excluded_assets": [a for a, ok in zip(md.assets, alive, strict=True) if not ok]},
    }
    summary["frontier"] = frontier(window, req, opt.weights_)
    if req.backtest.enabled:
        report(0.4, "walk-forward backtest", step="backtest")
        bt = req.backtest
        wf = WalkForward(build_optimizer(req, with_turnover=True), lookback=bt.lookback,
                         rebalance_every=bt.rebalance_every, cost_bps=bt.cost_bps, vol_target=bt.vol_target).fit(md)
        wealth = np.cumprod(1.0 + wf.returns_)
        summary["backtest"] = {**wf.metrics_, "lookback": bt.lookback, "rebalance_every": bt.rebalance_every,
                               "first_date": str(wf.dates_[0]), "last_date": str(wf.dates_[-1])}
        rows += [{"kind": "backtest", "date": str(d), "return": float(r), "wealth": float(v)}
                 for d, r, v in zip(wf.dates_, wf.returns_, wealth, strict=True)]
    if req.search.enabled:
        s = req.search
        report(0.6, f"hyperparameter search ({s.n_trials} trials)", step="search")
        search = HyperparameterSearch(
            space=SearchSpace(lookback=(s.lookback_min, s.lookback_max), objectives=tuple(s.objectives)),
            settings=SearchConfig(max_weight=req.constraints.max_weight, min_weight=max(req.constraints.min_weight, 0.0),
                                  cost_bps=req.backtest.cost_bps),
            n_trials=s.n_trials, sampler=s.sampler, seed=s.seed, halving=s.halving, workers=max(1, workers),
        )
        counted = {"trials_done": 0, "trials_total": 0}

        def trial_done(done: int, total: int, rung: int) -> None:
            counted.update(trials_done=done, trials_total=total)
            report(0.6 + 0.35 * done / max(total, 1), f"search: {done}/{total} trials", step="search",
                   trials_done=done, trials_total=total, best_score=search.best_score_so_far_)

        search.fit(md, progress=trial_done)
        # the counts travel with the result: a pipeline step cannot report progress while it runs
        # (network isolated), so the job record takes them from the summary when the job succeeds
        summary["search"] = {"best_config": search.best_config_, "holdout_sharpe": search.holdout_sharpe_,
                             "deflated_sharpe": search.deflated_sharpe_, "failures": search.n_failures_,
                             "best_metrics": search.best_backtest_.metrics_, **counted,
                             "best_score": search.best_score_so_far_}
        rows += [{"kind": "trial", "trial": r["trial"], "rung": r["rung"], "score": r["score"], "error": r["error"],
                  **{k: r["config"][k] for k in ("objective", "risk_model", "lookback", "rebalance_every")}}
                 for r in search.table_]
    return results.finite(summary), results.finite(rows)


#: Points along the efficient frontier in a result (the console draws them).
FRONTIER_POINTS = 25
TRADING_DAYS = 252


def frontier(window: np.ndarray, req: OptimizeRequest, weights: np.ndarray) -> dict[str, Any] | None:
    """The mean-variance frontier under the job's weight bounds (annualised), with the chosen
    portfolio on the same axes; None when it is a single point (e.g. bounds that force equal
    weights), which the console shows as no frontier rather than a dot."""
    # optimizer.report has the same loop but draws with matplotlib, which the handlers zip leaves out
    from charter.optimizer.risk import ledoit_wolf
    from charter.optimizer.solvers.qp import solve_box_budget_qp

    def efficient_frontier(cov: np.ndarray, mu: np.ndarray, lb: np.ndarray, ub: np.ndarray,
                           points: int) -> tuple[list[float], list[float]]:
        scale = float(np.trace(cov)) / mu.size / max(float(np.abs(mu).max()), 1e-300)
        vols, rets, active = [], [], None
        for g in np.concatenate([[0.0], np.geomspace(scale * 1e-3, scale * 1e2, points - 1)]):
            r = solve_box_budget_qp(cov, -g * mu, lb, ub, 1.0, warm_active=active)
            active = r.active
            vols.append(float(np.sqrt(max(r.w @ cov @ r.w, 0.0))))
            rets.append(float(mu @ r.w))
        return vols, rets

    n = window.shape[1]
    c = req.constraints
    lb = np.full(n, c.min_weight if not c.long_only else max(c.min_weight, 0.0))
    ub = np.full(n, c.max_weight)
    if lb.sum() > 1 or ub.sum() < 1:
        return None
    cov, _ = ledoit_wolf(window)
    mu = window.mean(axis=0)
    try:
        vols, rets = efficient_frontier(cov, mu, lb, ub, points=FRONTIER_POINTS)
    except Exception:  # noqa: BLE001 - the frontier is an illustration; the job's answer stands without it
        log.warning("efficient frontier failed", exc_info=True)
        return None
    points = sorted({(round(float(v) * TRADING_DAYS ** 0.5, 6), round(float(r) * TRADING_DAYS, 6))
                     for v, r in zip(vols, rets, strict=True) if np.isfinite(v) and np.isfinite(r)})
    if len(points) < 2 or points[-1][0] - points[0][0] < 1e-6:
        return None
    w = np.asarray(weights, float)
    return {"points": [{"volatility": v, "return": r} for v, r in points],
            "portfolio": {"volatility": float(np.sqrt(max(w @ cov @ w, 0.0)) * TRADING_DAYS ** 0.5),
                          "return": float(mu @ w * TRADING_DAYS)}}


class _Progress:
    def __init__(self, store: JobStore, job: Job, notify: Any) -> None:
        self.store, self.job, self.notify, self.last = store, job, notify, 0.0

    def __call__(self, fraction: float, message: str, **fields: Any) -> None:
        """`fields`: step, trials_done, trials_total, best_score (JobStatus's progress details)."""
        now = time.monotonic()
        # a new step and the last trial are always written; else at most one write per PROGRESS_EVERY_SECONDS
        last_trial = fields.get("trials_done") is not None and fields.get("trials_done") == fields.get("trials_total")
        if now - self.last < PROGRESS_EVERY_SECONDS and fields.get("step") == self.job.extra.get("step") \
                and not last_trial:
            return
        self.last = now
        details = {k: v for k, v in fields.items() if v is not None}
        self.job = self.store.update(self.job, progress=round(fraction, 4), message=message, **details)
        self.notify(self.job)


def run_job(job_id: str, settings: Settings | None = None) -> Job:
    """Run a queued job to SUCCEEDED or FAILED and return its final state."""
    from .websocket import notify  # the push is best effort and needs the connections table only

    settings = settings or Settings.from_env()
    store = JobStore(settings)
    job = store.get(job_id)
    if job is None:
        raise LookupError(f"job {job_id} not found in {settings.jobs_table}")
    if job.status in TERMINAL:
        return job
    job = store.update(job, status="RUNNING", progress=0.05, message="loading market data", step="data")
    notify(job, settings)
    progress = _Progress(store, job, lambda j: notify(j, settings))
    try:
        req = OptimizeRequest.model_validate(job.request_data)
        md, entry = datasets.load(settings, req.dataset)
        md = datasets.select(md, req.assets, req.start, req.end, dataset=entry.get("dataset", req.dataset))
        summary, rows = optimize(req, md, progress)
        where = results.write(settings.results_bucket, job.job_id, summary, rows, settings.results_page_rows)
        job = store.update(progress.job, status="SUCCEEDED", progress=1.0, message="done", result_prefix=where,
                           rows_total=len(rows), step="done")
    except (OptimizerError, ValidationError) as exc:
        job = store.update(progress.job, status="FAILED", message="failed", error=str(exc)[:2000])
    except Exception as exc:  # noqa: BLE001 - a bug must still end the job, not leave it RUNNING
        log.exception("job %s crashed", job_id)
        job = store.update(progress.job, status="FAILED", message="failed",
                           error=f"internal error ({type(exc).__name__}); see the worker log")
    notify(job, settings)
    return job


# -- the local worker pool (CHARTER_LOCAL=1) -------------------------------------------------

class _ProcessWorkers:
    """Worker processes fed job ids through a queue (the local stand-in for SageMaker).

    Processes, not threads: a job is CPU-bound Python and numpy, and in a thread of the
    API server it would hold the GIL the requests need. The processes run at a lower
    priority (`Settings.local_worker_nice`), as processing jobs run on their own
    machines on AWS: the API keeps answering while a job computes, and the job takes the
    CPU the API leaves. Spawned children inherit the environment (endpoint,
    credentials), so they reach the same embedded AWS, over its HTTP endpoint.
    Our own small pool rather than ProcessPoolExecutor: stopping must end a running job
    (the embedded AWS stops with the server), which the executor cannot do."""

    def __init__(self, settings: Settings, busy: Any = None) -> None:
        import multiprocessing as mp

        self.ctx = mp.get_context("spawn")
        # An unbounded queue (a feeder thread drains it into the pipe): submit never blocks on a backlog.
        self.queue = self.ctx.Queue()
        self.settings, self.busy = settings, busy
        self.procs: list[Any] = []
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        for _ in range(max(1, settings.local_workers)):
            self._spawn()

    def _spawn(self) -> None:
        proc = self.ctx.Process(target=_serve_queue, args=(self.queue, self.settings.local_worker_nice, self.busy),
                                name="charter-worker", daemon=True)
        proc.start()
        self.procs.append(proc)

    def submit(self, job_id: str, settings: Settings) -> None:
        now = time.monotonic()
        # At most once a second: is_alive() is a waitpid() call, and submits come by the hundred.
        if now - self._checked > 1.0:
            with self._lock:
                self._checked = now
                for proc in [p for p in self.procs if not p.is_alive()]:
                    # a crashed worker (killed, out of memory) is replaced; the queue is kept
                    log.warning("local worker process %s exited with %s; starting another", proc.pid, proc.exitcode)
                    self.procs.remove(proc)
                    self._spawn()
        self.queue.put((job_id, settings))

    def shutdown(self, wait: bool) -> None:
        if wait:
            for _ in self.procs:
                self.queue.put(None)
            for proc in self.procs:
                proc.join()
        else:
            for proc in self.procs:
                proc.terminate()
            for proc in self.procs:
                proc.join(5)
            self.queue.cancel_join_thread()  # queued jobs are dropped, not flushed into a dead pipe
        self.queue.close()


def _serve_queue(queue: Any, nice: int, busy: Any = None) -> None:
    """A worker process: run the jobs of `queue` until None (or until the server is gone)."""
    import multiprocessing
    import queue as queues
    import signal

    from . import aws

    # Ctrl-C is the server's to handle: it stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if nice > 0 and hasattr(os, "nice"):  # POSIX only
        try:
            os.nice(nice)
        except OSError:  # not permitted here: run at normal priority
            pass
    if busy is not None:
        aws.before_each_call(lambda: _yield_to_api(busy))
    logging.basicConfig(level=logging.WARNING)
    parent = multiprocessing.parent_process()
    while True:
        try:
            item = queue.get(timeout=1.0)
        except queues.Empty:
            # The server killed without its cleanup (SIGKILL, SIGTERM): do not outlive it.
            if parent is not None and not parent.is_alive():
                return
            continue
        if item is None:
            return
        _run_logged(*item)


def _yield_to_api(busy: Any) -> None:
    """Hold this worker's next AWS call while the API server has requests in flight.

    The embedded AWS lives in the API server's process: a worker's calls are answered
    there, under the same GIL as the requests, at full priority whatever this process's
    nice value. So the worker also waits its turn for them (at most
    `YIELD_MAX_SECONDS` per call, so a job still moves under a constant load)."""
    deadline = time.monotonic() + YIELD_MAX_SECONDS
    while busy.value > 0 and time.monotonic() < deadline:
        time.sleep(YIELD_POLL_SECONDS)


_pool: _ProcessWorkers | ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def start_local(settings: Settings, busy: Any = None) -> None:
    """Start the local workers now (the server does, so no request waits for a worker to spawn).

    `busy`: a shared `multiprocessing` int, the API server's requests in flight; worker
    processes hold their AWS calls while it is not 0 (`_yield_to_api`)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            if settings.local_worker_processes:
                _pool = _ProcessWorkers(settings, busy)
            else:
                _pool = ThreadPoolExecutor(max_workers=max(1, settings.local_workers),
                                           thread_name_prefix="charter-worker")


def submit_local(job_id: str, settings: Settings) -> None:
    """Queue a job on the local workers (stand-in for the processing job)."""
    start_local(settings)
    pool = _pool
    if isinstance(pool, ThreadPoolExecutor):
        pool.submit(_run_logged, job_id, settings)
    elif pool is not None:
        pool.submit(job_id, settings)
    else:  # shut down between the two lines above: the server is stopping
        raise RuntimeError("the local workers are shut down")


def _run_logged(job_id: str, settings: Settings) -> str:
    try:
        return run_job(job_id, settings).status
    except Exception:  # noqa: BLE001 - a worker has nobody to raise to
        log.exception("local worker failed on job %s", job_id)
        return "FAILED"


def shutdown_local(wait: bool = True) -> None:
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if isinstance(pool, ThreadPoolExecutor):
        pool.shutdown(wait=wait, cancel_futures=not wait)
    elif pool is not None:
        pool.shutdown(wait=wait)


# -- the processing container -----------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one Charter optimization job.")
    parser.add_argument("--job-id", default=os.environ.get("JOB_ID"), help="default: $JOB_ID")
    args = parser.parse_args(argv)
    if not args.job_id:
        parser.error("--job-id or JOB_ID is required")
    logging.basicConfig(level=logging.INFO)
    job = run_job(args.job_id)
    if job.status != "SUCCEEDED":
        message = Path("/opt/ml/output/message")
        if message.parent.is_dir():  # SageMaker shows its first 1 KB as the failure reason
            message.write_text((job.error or "failed")[:1024])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

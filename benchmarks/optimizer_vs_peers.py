"""Charter optimizer vs PyPortfolioOpt, skfolio, Riskfolio-Lib and HiGHS, on equal terms.

    python benchmarks/optimizer_vs_peers.py [--quick] [--repeat 3] [--warmup 1] [--threads N] [--sections abcd]

Every case runs on the same seeded synthetic market and every side, Charter included, is
measured by the same harness:

- each measurement is a fresh subprocess that imports its library and builds its inputs
  before the clock starts (interpreter start and imports outside the timer for every side),
  runs the solve `--warmup` times untimed, then once timed;
- `--repeat` measurements per side, the order of the sides rotated each repetition (Charter
  first, then last, ...), the median compared;
- the same CPUs and BLAS threads for every side: subprocesses inherit this process's CPU
  affinity and `--threads` (default 1, set before numpy is imported);
- agreement is asserted before a ratio is printed: (a) each peer's weights and objective
  against Charter's, (b) every rebalance's weights and objective of the walk-forward, (c) the
  CVaR objective, each within the tolerance printed beside it; a disagreement stops the
  benchmark (exit 1). A peer that hits the time limit has no result to compare: its row says
  so and prints no ratio. Peers that are not installed are skipped.

The search (d) has no peer; it runs 2 worker processes, one BLAS thread each. The load
average is printed with the results because the figures are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

# BLAS threads for charter *and* the peer subprocesses (which inherit the
# environment): 1 by default, because on a 2-core box multi-threaded BLAS on
# 100x100 matrices mostly spins; set before numpy is imported.
_THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = _THREADS

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from charter.optimizer import (  # noqa: E402
    Constraints,
    HyperparameterSearch,
    PortfolioOptimizer,
    SearchSpace,
    Settings,
    WalkForward,
)
from charter.optimizer.objectives import Inputs, MinVariance  # noqa: E402
from charter.optimizer.risk import ledoit_wolf  # noqa: E402
from charter.optimizer.solvers.cvar import cvar_value, solve_cvar  # noqa: E402
from charter.optimizer.synthetic import generate_market  # noqa: E402

SEED = 42
ROWS: list[tuple] = []


def market(n, days):
    return generate_market(n, days, seed=SEED)


def cvar_scenarios(n, S):
    rng = np.random.default_rng(SEED + n + S)
    B = rng.normal(size=(n, 3))
    return rng.standard_t(4, size=(S, 3)) @ B.T * 0.01 + rng.standard_t(4, size=(S, n)) * 0.01 + 0.0005


def numpy_ledoit_wolf(X):
    """Ledoit-Wolf as a numpy user writes it (scikit-learn's formula): the reference of (b)."""
    T, n = X.shape
    Xc = X - X.mean(axis=0)
    S = Xc.T @ Xc / T
    mu = np.trace(S) / n
    X2 = Xc**2
    beta = (X2.T @ X2).sum() / T - (S**2).sum()
    delta = (S**2).sum() - 2 * mu * np.trace(S) + n * mu**2
    shrink = min(max(beta / T, 0.0), delta) / delta
    C = (1 - shrink) * S
    C[np.diag_indices(n)] += shrink * mu
    return C


def next_rebalance(R, n):
    """The scenario set one rebalance later: 21 new days replace the 21 oldest."""
    return np.vstack([R[21:], cvar_scenarios(n + 1, 21)[:, :n]])


def best_of(fn, repeat):
    """In-process timing for Charter-only reference rows (both sides of such a row use it)."""
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def timed(fn, warmup):
    """The worker's clock: `warmup` untimed runs, then one timed run."""
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


# ----------------------------------------------------------------- workers (one subprocess per measurement)
def work_minvar(side, n, warmup):
    import warnings

    warnings.filterwarnings("ignore")
    md = market(n, 1000)
    cov, _ = ledoit_wolf(md.returns)
    if side == "charter":
        def run():
            return MinVariance().solve(Inputs(cov=cov), Constraints(max_weight=0.1))
    elif side == "pypfopt":
        from pypfopt import EfficientFrontier

        def run():
            ef = EfficientFrontier(None, cov, weight_bounds=(0, 0.1))
            ef.min_volatility()
            return np.array(list(ef.clean_weights(cutoff=0, rounding=None).values()))
    else:
        from skfolio.moments import LedoitWolf as SkLW
        from skfolio.optimization import MeanRisk
        from skfolio.prior import EmpiricalPrior

        def run():
            m = MeanRisk(max_weights=0.1, prior_estimator=EmpiricalPrior(covariance_estimator=SkLW()))
            m.fit(md.returns)
            return m.weights_
    t, w = timed(run, warmup)
    w = np.asarray(w, float)
    return {"time": t, "obj": float(w @ cov @ w), "w": w.tolist()}


def work_walkforward(side, days, n, warmup):
    import warnings

    warnings.filterwarnings("ignore")
    md = market(n, days)
    R = md.returns
    starts = range(252, R.shape[0], 21)
    if side == "charter":
        def run():
            return WalkForward(PortfolioOptimizer("min_variance", risk_model="ledoit_wolf",
                                                  constraints=Constraints(max_weight=0.1)),
                               lookback=252, rebalance_every=21, cost_bps=5).fit(md).weights_
    elif side == "pypfopt":
        import pandas as pd
        from pypfopt import EfficientFrontier, risk_models

        def run():
            out = []
            for t in starts:
                cov = risk_models.CovarianceShrinkage(pd.DataFrame(R[t - 252:t]), returns_data=True,
                                                      frequency=1).ledoit_wolf()
                ef = EfficientFrontier(None, cov, weight_bounds=(0, 0.1))
                ef.min_volatility()
                out.append(list(ef.clean_weights(cutoff=0, rounding=None).values()))
            return np.array(out)
    else:
        from skfolio.moments import LedoitWolf as SkLW
        from skfolio.optimization import MeanRisk
        from skfolio.prior import EmpiricalPrior

        def run():
            return np.array([MeanRisk(max_weights=0.1, prior_estimator=EmpiricalPrior(covariance_estimator=SkLW()))
                             .fit(R[t - 252:t]).weights_ for t in starts])
    t, ws = timed(run, warmup)
    ws = np.asarray(ws, float)
    # each rebalance's objective under the same covariance (Charter's Ledoit-Wolf of the window)
    objs = [float(w @ ledoit_wolf(R[s - 252:s])[0] @ w) for w, s in zip(ws, starts, strict=True)]
    return {"time": t, "objs": objs, "ws": ws.tolist()}


def work_cvar(side, n, S, roll, warmup):
    import warnings

    warnings.filterwarnings("ignore")
    R = cvar_scenarios(n, S)
    if roll:
        R = next_rebalance(R, n)
    cap = np.full(n, 0.1)
    if side == "charter":
        def run():
            return solve_cvar(R, 0.95, ub=cap).w
    elif side == "highs_full_lp":
        import scipy.optimize  # noqa: F401

        from charter.optimizer.solvers.cvar import cvar_full_lp

        def run():
            return cvar_full_lp(R, 0.95, ub=cap).w
    elif side == "skfolio":
        from skfolio import RiskMeasure
        from skfolio.optimization import MeanRisk, ObjectiveFunction

        def run():
            m = MeanRisk(objective_function=ObjectiveFunction.MINIMIZE_RISK, risk_measure=RiskMeasure.CVAR,
                         cvar_beta=0.95, max_weights=0.1)
            m.fit(R)
            return m.weights_
    else:
        import pandas as pd
        import riskfolio as rp

        def run():
            port = rp.Portfolio(returns=pd.DataFrame(R, columns=[f"A{i}" for i in range(n)]), upperlng=0.1)
            port.assets_stats(method_mu="hist", method_cov="hist")
            port.alpha = 0.05
            return port.optimization(model="Classic", rm="CVaR", obj="MinRisk", rf=0, l=0, hist=True).to_numpy().ravel()
    t, w = timed(run, warmup)
    return {"time": t, "obj": cvar_value(R, np.asarray(w, float), 0.95)}


WORKERS = {"minvar": work_minvar, "walkforward": work_walkforward, "cvar": work_cvar}


def run_worker(kind, side, args, warmup, limit):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, side, *[str(a) for a in args], str(warmup)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"time": None, "limit": limit}
    if p.returncode != 0:
        err = (p.stderr.strip().splitlines() or ["failed"])[-1]
        return {"time": None, "error": err}
    return json.loads(p.stdout.strip().splitlines()[-1])


def available(mod):
    import importlib.util

    return importlib.util.find_spec(mod) is not None


class Disagreement(SystemExit):
    pass


def measure(kind, sides, args, opts, limit):
    """Every side `opts.repeat` times, the order rotated each repetition; per side the median
    time and the last result (None if it hit the limit or failed)."""
    times = {s: [] for s in sides}
    last = {}
    for r in range(opts.repeat):
        order = sides[r % len(sides):] + sides[:r % len(sides)]
        for side in order:
            if side in last and last[side].get("time") is None:
                continue  # timed out or failed once: not again
            res = run_worker(kind, side, args, opts.warmup, limit)
            last[side] = res
            if res.get("time") is not None:
                times[side].append(res["time"])
    return {s: (float(np.median(times[s])) if times[s] else None, last[s]) for s in sides}


def report(section, case, charter, peer, peer_res, agreement):
    """One row; `agreement` was asserted before this is called."""
    t_ch, _ = charter
    t_peer, res = peer_res
    if t_peer is None:
        why = f"hit the {res['limit']}s limit" if "limit" in res else f"failed: {res.get('error', '')[:60]}"
        ROWS.append((section, case, f"{t_ch:.4f}s", peer, why, "no ratio (no result to compare)", ""))
        print(f"  {section:3} {case:26} charter {t_ch:9.4f}s  {peer:14} {why}; no ratio", flush=True)
        return
    ratio = f"{t_peer / t_ch:.1f}x"
    ROWS.append((section, case, f"{t_ch:.4f}s", peer, f"{t_peer:.4f}s", ratio, agreement))
    print(f"  {section:3} {case:26} charter {t_ch:9.4f}s  {peer:14} {t_peer:9.4f}s  ratio {ratio:>7}  "
          f"{agreement}", flush=True)


def agree(section, case, peer, checks):
    """Assert every (name, value, tolerance); return the line printed beside the ratio."""
    bad = [f"{name} {value:.1e} > {tol:.0e}" for name, value, tol in checks if not value <= tol]
    if bad:
        print(f"  {section:3} {case:26} DISAGREEMENT with {peer}: {'; '.join(bad)} (no ratio printed)", flush=True)
        raise Disagreement(1)
    return "agree: " + ", ".join(f"{name} {value:.0e} <= {tol:.0e}" for name, value, tol in checks)


# ----------------------------------------------------------------- sections
#: Tolerances of the agreement checks: the peers solve the same problem with other solvers
#: (interior point, ADMM, simplex), so the optimum agrees to solver precision.
TOL_OBJ = 1e-4  # relative objective difference
#: The walk-forward's 120 solves include windows where PyPortfolioOpt's default solver (OSQP)
#: stops at ~1e-4 (slightly negative weights, objective 1.4e-4 above Charter's): the
#: tolerance there is the peers' solver precision, not Charter's.
TOL_OBJ_WALK = 1e-3
TOL_W = 1e-2  # largest absolute weight difference (the cap is 0.1)


def _rel(a, b):
    return abs(a - b) / abs(b) if b else abs(a - b)


def section_a(sizes, opts, limit):
    print("(a) single minimum-variance solve, 10% cap, Ledoit-Wolf covariance")
    for n in sizes:
        sides = ["charter"] + [lib for lib, mod in (("pypfopt", "pypfopt"), ("skfolio", "skfolio")) if available(mod)]
        got = measure("minvar", sides, [n], opts, limit)
        ch = got["charter"][1]
        for lib in sides[1:]:
            res = got[lib][1]
            note = ""
            if res.get("time") is not None:
                note = agree("a", f"N={n}", lib, [
                    ("rel.obj.diff", _rel(ch["obj"], res["obj"]), TOL_OBJ),
                    ("max|dw|", float(np.abs(np.array(ch["w"]) - np.array(res["w"])).max()), TOL_W)])
            report("a", f"N={n}", got["charter"], lib, got[lib], note)


def section_b(days, opts, limit):
    print("(b) min-variance walk-forward, 100 assets, monthly rebalance, 252d Ledoit-Wolf")
    md = market(100, days)
    R = md.returns
    k = len(range(252, R.shape[0], 21))
    # the reference rows are both in this process, timed alike
    t_np, covs = best_of(lambda: [numpy_ledoit_wolf(R[t - 252:t]) for t in range(252, R.shape[0], 21)], opts.repeat)
    assert max(np.abs(c - ledoit_wolf(R[t - 252:t])[0]).max()
               for c, t in zip(covs, range(252, R.shape[0], 21), strict=True)) < 1e-15  # same estimator

    def charter_wf():
        return WalkForward(PortfolioOptimizer("min_variance", risk_model="ledoit_wolf",
                                              constraints=Constraints(max_weight=0.1)),
                           lookback=252, rebalance_every=21, cost_bps=5).fit(md)

    t_ch_in, _ = best_of(charter_wf, opts.repeat)
    ROWS.append(("b", f"{k} LW covariances (numpy)", f"{t_ch_in:.4f}s", "numpy LW only", f"{t_np:.4f}s",
                 f"{t_ch_in / t_np:.2f}x of numpy", "target <= 3x; both best of --repeat in this process"))
    print(f"  b   charter walk-forward {t_ch_in:.4f}s, numpy LW alone {t_np:.4f}s -> {t_ch_in / t_np:.2f}x "
          "(target <= 3x)")
    sides = ["charter"] + [lib for lib, mod in (("pypfopt", "pypfopt"), ("skfolio", "skfolio")) if available(mod)]
    got = measure("walkforward", sides, [days, 100], opts, limit)
    ch = got["charter"][1]
    for lib in sides[1:]:
        res = got[lib][1]
        note = ""
        if res.get("time") is not None:
            rel = max(_rel(a, b) for a, b in zip(ch["objs"], res["objs"], strict=True))
            dw = float(np.abs(np.array(ch["ws"]) - np.array(res["ws"])).max())
            note = agree("b", f"{k} rebalances", lib, [("max rel.obj.diff", rel, TOL_OBJ_WALK),
                                                         ("max|dw|", dw, TOL_W)])
        report("b", f"{k} rebalances", got["charter"], lib, got[lib], note)


def section_c(cases, opts, limit):
    print("(c) minimum CVaR 95%, 10% cap")
    for n, S in cases:
        sides = ["charter"] + [lib for lib, mod in (("highs_full_lp", "scipy"), ("skfolio", "skfolio"),
                                                    ("riskfolio", "riskfolio")) if available(mod)]
        got = measure("cvar", sides, [n, S, 0], opts, limit)
        ch = got["charter"][1]
        for lib in sides[1:]:
            res = got[lib][1]
            note = ""
            if res.get("time") is not None:
                note = agree("c", f"{n}x{S}", lib, [("rel.obj.diff", _rel(ch["obj"], res["obj"]), TOL_OBJ)])
            report("c", f"{n}x{S}", got["charter"], lib, got[lib], note)
        if (n, S) == (100, 10000):
            # next rebalance: the window rolls forward by a month of scenarios and the previous
            # optimum is the warm start (Charter alone: a target, not a peer comparison)
            R = cvar_scenarios(n, S)
            cap = np.full(n, 0.1)
            res = solve_cvar(R, 0.95, ub=cap)
            R2 = next_rebalance(R, n)
            tw, warm = best_of(lambda R2=R2, cap=cap, res=res: solve_cvar(R2, 0.95, ub=cap, warm_start=res),
                               opts.repeat)
            ref = run_worker("cvar", "highs_full_lp", [n, S, 1], 0, limit)
            note = ""
            if ref.get("obj"):
                note = agree("c", "warm re-solve 100x10000", "highs_full_lp",
                             [("rel.obj.diff", _rel(warm.cvar, ref["obj"]), TOL_OBJ)])
            ROWS.append(("c", "warm re-solve 100x10000", f"{tw:.4f}s", "-", "-", "-", f"target <= 0.150s; {note}"))
            print(f"  c   warm-started re-solve at next rebalance: {tw * 1000:.1f} ms (target <= 150 ms)  {note}")
            # a fresh Monte Carlo draw instead of a rolled window: the previous weights
            # are only a starting point there (information, not the target's case)
            R3 = cvar_scenarios(n + 2, S)[:, :n]
            tf, fw = best_of(lambda R3=R3, cap=cap, res=res: solve_cvar(R3, 0.95, ub=cap, warm_start=res), opts.repeat)
            tc, cold = best_of(lambda R3=R3, cap=cap: solve_cvar(R3, 0.95, ub=cap), opts.repeat)
            note = agree("c", "fresh draw 100x10000", "cold solve", [("rel.obj.diff", _rel(fw.cvar, cold.cvar), TOL_OBJ)])
            ROWS.append(("c", "fresh draw 100x10000", f"{tf:.4f}s", "cold solve", f"{tc:.4f}s",
                         f"{tc / tf:.1f}x", f"information: warm start from weights only; {note}"))
            print(f"  c   fresh scenario draw, warm from previous weights: {tf * 1000:.1f} ms "
                  f"(cold {tc * 1000:.1f} ms)  {note}")


def section_d(days, n_trials, workers):
    print(f"(d) {n_trials}-configuration search on (b)'s data, {workers} workers (no peer)")
    md = market(100, days)
    search = HyperparameterSearch(
        space=SearchSpace(lookback=(63, 504), rebalance_every=(5, 63),
                          objectives=("min_variance", "mean_variance", "max_sharpe", "max_diversification",
                                      "risk_parity")),
        settings=Settings(max_weight=0.1), n_trials=n_trials, seed=SEED, halving=False, workers=workers)
    t0 = time.perf_counter()
    search.fit(md)
    t = time.perf_counter() - t0
    ROWS.append(("d", f"{n_trials} trials, no halving", f"{t:.2f}s", "-", "-", "-",
                 f"failures={search.n_failures_}, target <= 35s"))
    print(f"  d   {t:.2f}s, failures={search.n_failures_}, best={search.best_config_}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes and time limits")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    ap.add_argument("--sections", default="abcd")
    ap.add_argument("--repeat", type=int, default=3, help="measurements per side (default 3); the median is compared")
    ap.add_argument("--warmup", type=int, default=1, help="untimed solves before each timed one (default 1)")
    ap.add_argument("--threads", default="1", help="BLAS threads per process (default 1)")
    a = ap.parse_args()
    if a.worker:
        kind, side, *args = a.worker
        *args, warmup = args
        nums = [int(x) for x in args]
        print(json.dumps(WORKERS[kind](side, *nums, int(warmup))))
        return 0
    days = 2520 + 252
    cpus = sorted(os.sched_getaffinity(0))
    print(f"core budget: CPUs {cpus} and {_THREADS} BLAS thread(s) per process, the same for Charter and every "
          f"peer (subprocesses inherit both); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"runs: every side in a fresh subprocess per measurement, imports and inputs before the clock, "
          f"{a.warmup} untimed warm-up solve(s) then one timed; {a.repeat} measurements per side, order rotated "
          f"each repetition (Charter first, then last); medians compared")
    print(f"agreement asserted before each ratio: relative objective difference <= {TOL_OBJ:.0e} "
          f"({TOL_OBJ_WALK:.0e} per rebalance in (b)), and where weights are compared the largest absolute "
          f"weight difference <= {TOL_W:.0e}")
    try:
        if "a" in a.sections:
            section_a([50, 200] if a.quick else [50, 200, 500], a, 120 if a.quick else 600)
        if "b" in a.sections:
            section_b(days, a, 300 if a.quick else 1200)
        if "c" in a.sections:
            section_c([(100, 10000)] if a.quick else [(100, 10000), (200, 50000)], a, 120 if a.quick else 300)
        if "d" in a.sections:
            section_d(days, 20 if a.quick else 100, 2)
    except Disagreement:
        return 1
    print(f"\nload average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    hdr = ("sec", "case", "charter", "peer", "peer time", "ratio", "agreement / note")
    widths = [max(len(str(r[i])) for r in ROWS + [hdr]) for i in range(len(hdr))]
    for r in [hdr] + ROWS:
        print("  ".join(str(x).ljust(wd) for x, wd in zip(r, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Minimum CVaR / mean-CVaR (Rockafellar-Uryasev) solvers.

The RU linear program has one row and one auxiliary variable per scenario, so
with 50,000 scenarios a general LP solver works on a 50,000-row matrix.  Yet at
the optimum only the scenarios whose loss *ties* the VaR matter individually:
scenarios clearly in the tail enter the objective through their sum, scenarios
clearly outside not at all.  The fast path (:func:`solve_cvar`) exploits that:

1. a smoothed problem (softplus CVaR with the VaR level minimised out) is solved
   by projected Newton, each step one box+budget QP from :mod:`.qp`; this gives
   a near-optimal portfolio and hence the tail;
2. scenario cutting planes: the RU LP is solved by HiGHS on a narrow *band* of
   scenarios around the VaR, with the tail aggregated into one column.  The band
   LP is a relaxation, so when its solution classifies every scenario
   consistently it is the exact full-LP optimum; otherwise misclassified
   scenarios join the band (monotone, hence finite).

Warm start at the next rebalance: the previous optimum seeds a single fine
smoothing level and a narrower band.  :func:`cvar_full_lp` is the general
reference (the whole LP in HiGHS) used in tests and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from ..errors import OptimizerError


def _tail_weights(losses: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices and weights of q* (the CVaR dual vertex) for the given losses."""
    S = losses.size
    k = (1.0 - beta) * S
    kf = int(np.floor(k + 1e-9))
    frac = k - kf
    m = min(S, kf + (1 if frac > 1e-9 else 0))
    idx = np.argpartition(losses, S - m)[S - m:]
    idx = idx[np.argsort(-losses[idx], kind="stable")]
    wts = np.full(m, 1.0 / k)
    if frac > 1e-9:
        wts[-1] = frac / k
    return idx, wts


def cvar_value(R: np.ndarray, w: np.ndarray, beta: float) -> float:
    """Exact CVaR_beta of the portfolio loss -R w (fractional tail handled)."""
    losses = -(R @ w)
    idx, wts = _tail_weights(losses, beta)
    return float(wts @ losses[idx])


@dataclass
class CVaRResult:
    w: np.ndarray
    cvar: float
    objective: float
    iterations: int
    cuts: list[np.ndarray] = field(default_factory=list)  # last iterate(s); kept for warm starts
    method: str = "cutting-plane"


def _smoothed(R, w, k, tau, alpha0, value_only=False):
    """Value, gradient, Hessian of the softplus-smoothed CVaR with alpha minimised out."""
    L = -(R @ w)
    # alpha solves  sum sigmoid((L - alpha)/tau) = k : monotone in alpha, so Brent's
    # method on a guaranteed bracket is both safe and fast.
    from scipy.optimize import brentq

    def phi(a):
        return float((0.5 * (1.0 + np.tanh(0.5 * np.clip((L - a) / tau, -700, 700)))).sum()) - k

    lo, hi = float(L.min()) - 40 * tau, float(L.max()) + 40 * tau
    a0 = float(np.clip(alpha0, lo, hi))
    # tighten the bracket around the previous alpha when possible (warm start)
    for span in (tau, 10 * tau, 100 * tau):
        l2, h2 = max(lo, a0 - span), min(hi, a0 + span)
        if phi(l2) > 0 > phi(h2):
            lo, hi = l2, h2
            break
    a = brentq(phi, lo, hi, xtol=1e-13 * tau, rtol=4 * np.finfo(float).eps, maxiter=200)
    x = (L - a) / tau
    sig = 0.5 * (1.0 + np.tanh(0.5 * np.clip(x, -700, 700)))
    val = a + tau / k * float(np.logaddexp(0.0, x).sum())
    if value_only:
        return val, None, None, a
    grad = -(R.T @ sig) / k
    d = sig * (1 - sig)
    act = np.flatnonzero(d > 1e-12 * max(d.max(), 1e-300))
    Ra = R[act]
    dR = Ra.T @ d[act]
    H = (Ra.T @ (Ra * d[act, None]) - np.outer(dR, dR) / max(d[act].sum(), 1e-300)) / (k * tau)
    return val, grad, H, a


def _smooth_start(R, k, lb, ub, budget, lin, w, tau_levels, newton_iter=5):
    """Approximate minimiser of CVaR + lin'w via projected Newton on smoothed CVaR.

    Only needs to be good enough that the exact polish LP sees the right tail.
    """
    from .qp import solve_box_budget_qp

    alpha = float(np.quantile(-(R @ w), 1 - k / R.shape[0]))
    active = None
    for tau in tau_levels:
        val, grad, H, alpha = _smoothed(R, w, k, tau, alpha)
        val += lin @ w
        for _ in range(newton_iter):
            ridge = 1e-6 * max(float(np.trace(H)) / H.shape[0], 1e-300)
            P = H + ridge * np.eye(H.shape[0])
            g = grad + lin
            sol = solve_box_budget_qp(P, g - P @ w, lb, ub, budget, warm_active=active)
            active = sol.active
            step = sol.w - w
            slope = float(g @ step)
            if slope > -1e-14 * max(abs(val), 1e-12):
                break
            t = 1.0
            while t > 1e-6:
                wn = w + t * step
                vn, _, _, an = _smoothed(R, wn, k, tau, alpha, value_only=True)
                vn += lin @ wn
                if vn <= val + 1e-4 * t * slope:
                    break
                t *= 0.5
            else:
                break
            w = wn
            val, grad, H, alpha = _smoothed(R, w, k, tau, an)
            val += lin @ w
    return w


def solve_cvar(
    R: np.ndarray,
    beta: float = 0.95,
    lb: np.ndarray | None = None,
    ub: np.ndarray | None = None,
    budget: float = 1.0,
    mu: np.ndarray | None = None,
    risk_aversion: float | None = None,
    warm_start: CVaRResult | None = None,
    rtol: float = 1e-10,
    max_rounds: int = 200,
) -> CVaRResult:
    """Exact min CVaR_beta(-R w) [- mu'w / risk_aversion] with budget and box constraints.

    Scenario cutting planes: the RU LP is solved on a small *band* of scenarios
    around the VaR; scenarios clearly in the tail enter only through their sum
    (one aggregated column), scenarios clearly outside are dropped.  Both are
    relaxations, so the small LP is a lower bound; when its solution classifies
    every scenario consistently the bound is attained and the answer is the
    exact full-LP optimum.  Otherwise the misclassified scenarios join the band
    (monotone, so it terminates).  A smoothed projected-Newton pass supplies the
    starting point so the band is right first time in most cases.
    """
    R = np.ascontiguousarray(R, dtype=float)
    S, n = R.shape
    if not 0.0 < beta < 1.0:
        raise OptimizerError(f"cvar: beta must be in (0, 1), got {beta}")
    k = (1.0 - beta) * S
    if k < 1.0:
        raise OptimizerError(
            f"cvar: only {S} scenarios, too few for beta={beta}; need at least {int(np.ceil(1 / (1 - beta)))}"
        )
    if not np.all(np.isfinite(R)):
        raise OptimizerError("cvar: scenario matrix contains NaN/inf; clean the return data first")
    lb = np.zeros(n) if lb is None else np.asarray(lb, float)
    ub = np.full(n, budget) if ub is None else np.asarray(ub, float)
    ub = np.where(np.isfinite(ub), ub, max(budget, 1.0) * 10)
    if lb.sum() > budget + 1e-12 or ub.sum() < budget - 1e-12:
        raise OptimizerError(
            f"cvar: budget {budget:g} not reachable within per-asset bounds (sum max_weight={ub.sum():g}); "
            "raise max_weight"
        )
    lin = np.zeros(n)
    if mu is not None and risk_aversion:
        lin = -np.asarray(mu, float) / float(risk_aversion)
    from ..constraints import project_box_budget

    if warm_start is not None and warm_start.w.shape == (n,):
        w0 = project_box_budget(warm_start.w, lb, ub, budget)
        scale = float(np.std(R @ w0)) or 1e-3
        taus = [scale * 1e-2]
    else:
        w0 = project_box_budget(np.full(n, budget / n), lb, ub, budget)
        scale = float(np.std(R @ w0)) or 1e-3
        taus = [scale * 1e-1, scale * 1e-2]
    # Warm start: a single fine smoothing level from the previous optimum; cold: a
    # coarse-to-fine pass from equal weights.  Either way the band LP finishes exactly.
    w = _smooth_start(R, k, lb, ub, budget, lin, w0, taus)

    # --- exact polish: band LP with monotone growth -------------------------------
    L = -(R @ w)
    order = np.argsort(-L)
    ki = int(np.floor(k))
    half = max(20, min(n // 2 + 10, int(0.2 * k))) if warm_start is not None else max(30, min(n + 10, int(0.3 * k)))
    in_tail = np.zeros(S, bool)
    in_band = np.zeros(S, bool)
    in_tail[order[: max(ki - half, 0)]] = True
    in_band[order[max(ki - half, 0): ki + half + 1]] = True
    cap = max(10, half // 4)  # small additions: the LP cost grows fast with its row count
    bounds_w = np.column_stack([lb, ub])
    rounds = 0
    for _ in range(max_rounds):
        rounds += 1
        T = np.flatnonzero(in_tail)
        M = np.flatnonzero(in_band)
        m = M.size
        sT = R[T].sum(axis=0) if T.size else np.zeros(n)
        c = np.concatenate([lin - sT / k, [1.0 - T.size / k], np.full(m, 1.0 / k)])
        A = sparse.hstack([sparse.csr_matrix(-R[M]), sparse.csr_matrix(-np.ones((m, 1))),
                           -sparse.identity(m, format="csr")], format="csr")
        A_eq = sparse.csr_matrix(np.concatenate([np.ones(n), [0.0], np.zeros(m)])[None, :])
        bounds = np.vstack([bounds_w, [[-np.inf, np.inf]], np.column_stack([np.zeros(m), np.full(m, np.inf)])])
        res = linprog(c, A_ub=A, b_ub=np.zeros(m), A_eq=A_eq, b_eq=[budget], bounds=bounds, method="highs")
        if res.status != 0:
            raise OptimizerError(f"cvar: band LP failed ({res.message}); check constraints and data")
        w = res.x[:n]
        a = res.x[n]
        L = -(R @ w)
        tol = 1e-12 * max(1.0, float(np.abs(L).max()))
        v_tail = np.where(in_tail, a - L, 0.0)
        v_out = np.where(~in_tail & ~in_band, L - a, 0.0)
        bad_t = np.flatnonzero(v_tail > tol)
        bad_o = np.flatnonzero(v_out > tol)
        if bad_t.size == 0 and bad_o.size == 0:
            break
        for v, idx in ((v_tail, bad_t), (v_out, bad_o)):
            idx = idx[np.argsort(-v[idx])][:cap]
            in_band[idx] = True
            in_tail[idx] = False
    else:
        raise OptimizerError(f"cvar: scenario cutting planes did not converge in {max_rounds} rounds")
    cv = cvar_value(R, w, beta)
    return CVaRResult(w=w, cvar=cv, objective=float(cv + lin @ w), iterations=rounds, cuts=[w], method="smoothed-newton+band-lp")


def cvar_full_lp(
    R: np.ndarray,
    beta: float = 0.95,
    lb: np.ndarray | None = None,
    ub: np.ndarray | None = None,
    budget: float = 1.0,
    mu: np.ndarray | None = None,
    risk_aversion: float | None = None,
) -> CVaRResult:
    """Reference: the full Rockafellar-Uryasev LP solved by HiGHS (general path)."""
    from scipy import sparse

    R = np.asarray(R, float)
    S, n = R.shape
    lb = np.zeros(n) if lb is None else np.asarray(lb, float)
    ub = np.full(n, np.inf) if ub is None else np.asarray(ub, float)
    k = (1.0 - beta) * S
    lin = np.zeros(n) if (mu is None or not risk_aversion) else -np.asarray(mu, float) / risk_aversion
    # variables: w (n), alpha (1), u (S);  u_s >= -r_s'w - alpha  ->  -R w - alpha - u <= 0
    c = np.concatenate([lin, [1.0], np.full(S, 1.0 / k)])
    A = sparse.hstack([sparse.csr_matrix(-R), sparse.csr_matrix(-np.ones((S, 1))), -sparse.identity(S)], format="csr")
    A_eq = sparse.csr_matrix(np.concatenate([np.ones(n), [0.0], np.zeros(S)])[None, :])
    bounds = np.column_stack([
        np.concatenate([lb, [-np.inf], np.zeros(S)]),
        np.concatenate([ub, [np.inf], np.full(S, np.inf)]),
    ])
    res = linprog(c, A_ub=A, b_ub=np.zeros(S), A_eq=A_eq, b_eq=[budget], bounds=bounds, method="highs")
    if res.status != 0:
        raise OptimizerError(f"cvar full LP failed: {res.message}")
    w = res.x[:n]
    return CVaRResult(w=w, cvar=cvar_value(R, w, beta), objective=float(res.fun), iterations=int(res.nit), method="highs-full-lp")

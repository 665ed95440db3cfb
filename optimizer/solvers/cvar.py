"""Minimum CVaR / mean-CVaR (Rockafellar-Uryasev) solvers.

The RU linear program has one row and one auxiliary variable per scenario, so
with 50,000 scenarios a general LP solver works on a 50,000-row matrix.  Yet at
the optimum only the scenarios whose loss *ties* the VaR matter individually:
scenarios clearly in the tail enter the objective through their sum, scenarios
clearly outside not at all.  The fast path (:func:`solve_cvar`) exploits that:

1. a starting portfolio: cold, a smoothed problem (softplus CVaR with the VaR
   level minimised out) solved by projected Newton, each step one box+budget QP
   from :mod:`.qp`; warm (next rebalance), the previous optimum itself;
2. scenario cutting planes on the LP's *dual*: max over tail weights
   ``0 <= q_s <= 1/k, sum q = 1`` of ``min_w (lin - R'q)'w``.  Only a *band* of
   scenarios around the VaR gets a free ``q_s``; the tail is fixed at ``1/k``
   and the rest at 0.  That LP has n + 1 rows whatever the band size, and its
   basis *is* the optimum's structure (tie scenarios and bounded assets), so the
   previous rebalance's optimum is a ready-made warm basis for HiGHS' dual
   simplex.  A scenario the solution classifies inconsistently joins the band
   with its current ``q_s`` (the basis stays primal feasible, HiGHS hot-starts);
3. a certificate over the full scenario set: the band solution's ``q`` is
   feasible for the full dual, so ``CVaR(w) + lin'w - dual(q)`` bounds the
   distance to the optimum; it must be within ``rtol`` or the LP is re-solved
   tighter (and, failing that, the whole LP is solved).

:func:`cvar_full_lp` is the general reference (the whole primal LP in HiGHS)
used in tests and benchmarks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

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
    iterations: int  # cutting-plane rounds (band LP solves)
    cuts: list[np.ndarray] = field(default_factory=list)  # last iterate(s); kept for warm starts
    method: str = "cutting-plane"
    var: float | None = None  # VaR level at the optimum: with ``w`` it identifies the tie scenarios
    gap: float = 0.0  # certified bound on objective - optimum
    simplex_iterations: int = 0


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


@functools.lru_cache(maxsize=1)
def _highs_core():
    """HiGHS' own Python bindings, needed for warm-started re-solves (linprog takes no basis).

    The ``highspy`` package when it is installed, else the same bindings that scipy
    (>= 1.15) ships for its own HiGHS interface.  None when neither offers the
    calls used here: the solver then runs the same band LPs through
    ``scipy.optimize.linprog``, only without warm starts.

    scipy's copy is private (``scipy.optimize._highspy``): used because Charter's environment
    then needs no second HiGHS build, and the fallback keeps results identical if it goes;
    tests/charter/test_private_internals.py breaks when a scipy upgrade removes it, so the
    lost warm starts (a slower re-solve, not a wrong one) are noticed.
    """
    import importlib

    for name in ("highspy._core", "scipy.optimize._highspy._core"):
        try:
            core = importlib.import_module(name)
        except ImportError:
            continue
        if all(hasattr(core, a) for a in ("_Highs", "HighsLp", "HighsBasis", "HighsBasisStatus", "MatrixFormat")):
            return core
    return None


_LOWER, _BASIC, _UPPER = 0, 1, 2  # HighsBasisStatus codes (kLower, kBasic, kUpper)


class _BandDual:
    """The dual RU LP restricted to a band of scenarios, solved by HiGHS.

    Columns: ``q_M`` (band scenarios, in [0, 1/k]), ``nu`` (budget multiplier,
    free), ``zl``/``zu`` (multipliers of finite lower/upper weight bounds, >= 0).
    Rows: ``R_M' q_M - nu + zl - zu = lin - R_T' 1/k`` (n rows) and
    ``sum q_M = 1 - |T|/k``.  Minimising ``budget nu - lb'zl + ub'zu`` gives minus
    the band primal's optimum; the row duals are ``-w`` and ``-VaR``.
    """

    def __init__(self, R, k, lb, ub, budget, lin, tol):
        self.R, self.k, self.budget, self.lin, self.tol = R, k, budget, lin, tol
        self.n = R.shape[1]
        self.il = np.flatnonzero(np.isfinite(lb))
        self.iu = np.flatnonzero(np.isfinite(ub))
        self.lb, self.ub = lb, ub
        self.core = _highs_core()
        self.simplex_iterations = 0

    def solve(self, M, sT, nT, status=None, extra_status=None):
        """Solve for band ``M`` (tail sum ``sT`` over ``nT`` scenarios).

        ``status``: basis codes of the q_M columns, ``extra_status``: of nu/zl/zu
        (None: cold).  Returns w, VaR, q_M, status, extra_status.
        """
        n, k = self.n, self.k
        m = M.size
        il, iu = self.il, self.iu
        ncol = m + 1 + il.size + iu.size
        cost = np.concatenate([np.zeros(m), [self.budget], -self.lb[il], self.ub[iu]])
        inf = np.inf
        cl = np.zeros(ncol)
        cl[m] = -inf
        cu = np.full(ncol, inf)
        # Scaled by k (q' = k q in [0, 1], every row times k, nu/zl/zu times k): the
        # row duals are unchanged and HiGHS sees O(1) numbers instead of q <= 1/k.
        cu[:m] = 1.0
        rhs = np.concatenate([k * self.lin - sT, [k - nT]])
        if self.core is None:
            return self._solve_linprog(M, cost, cl, cu, rhs)
        core = self.core
        # column-wise sparse matrix: q columns dense [r_s; 1], nu = -1 on rows 0..n-1,
        # zl_i = +e_i, zu_i = -e_i
        vals = np.concatenate([np.column_stack([self.R[M], np.ones(m)]).ravel(), np.full(n, -1.0),
                               np.ones(il.size), -np.ones(iu.size)])
        idx = np.concatenate([np.tile(np.arange(n + 1, dtype=np.int32), m), np.arange(n, dtype=np.int32),
                              il.astype(np.int32), iu.astype(np.int32)])
        start = np.concatenate([np.arange(m + 1, dtype=np.int32) * (n + 1),
                                m * (n + 1) + n + np.arange(il.size + iu.size + 1, dtype=np.int32)])
        h = core._Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off")  # a warm basis is worth more than presolve here
        h.setOptionValue("threads", 1)  # serial dual simplex; no worker threads next to search processes
        h.setOptionValue("primal_feasibility_tolerance", self.tol)
        h.setOptionValue("dual_feasibility_tolerance", self.tol)
        hinf = core.kHighsInf
        # The array form of passModel: numpy buffers are copied as blocks (assigning
        # them to HighsLp attributes converts element by element, ~10x slower here).
        st = h.passModel(ncol, n + 1, vals.size, 1, 1, 0.0, cost, np.where(np.isinf(cl), -hinf, cl),
                         np.where(np.isinf(cu), hinf, cu), rhs, rhs, start[:-1], idx, vals,
                         np.zeros(ncol, np.int32))  # format 1 = column-wise, sense 1 = minimise
        if st != core.HighsStatus.kOk:
            raise OptimizerError("cvar: HiGHS rejected the band LP; check the scenario data for extreme values")
        if status is not None:
            BS = core.HighsBasisStatus
            codes = {_LOWER: BS.kLower, _BASIC: BS.kBasic, _UPPER: BS.kUpper}
            basis = core.HighsBasis()
            basis.col_status = [codes[int(c)] for c in np.concatenate([status, extra_status])]
            basis.row_status = [BS.kLower] * (n + 1)
            # "alien": HiGHS completes/repairs a basis whose size or rank is off (ties that
            # left the scenario set, new ties), instead of rejecting it.
            basis.alien = True
            basis.valid = True
            h.setBasis(basis)
        h.run()
        ms = h.getModelStatus()
        if ms != core.HighsModelStatus.kOptimal:
            raise OptimizerError(f"cvar: band LP failed ({h.modelStatusToString(ms)}); check constraints and data")
        self.simplex_iterations += int(h.getInfo().simplex_iteration_count)
        sol = h.getSolution()
        y = np.asarray(sol.row_dual)
        x = np.asarray(sol.col_value)
        st = np.fromiter((int(c) for c in h.getBasis().col_status), dtype=np.int8, count=ncol)
        exact = self._vertex(M, st, rhs, cost)
        if exact is not None:
            y, xq = exact
        else:
            xq = x[:m]
        return -y[:n], -y[n], xq / k, st[:m], st[m:]

    def _dense(self, M):
        """The constraint matrix as a dense (n+1) x columns array."""
        n, m, il, iu = self.n, M.size, self.il, self.iu
        A = np.zeros((n + 1, m + 1 + il.size + iu.size))
        A[:n, :m] = self.R[M].T
        A[n, :m] = 1.0
        A[:n, m] = -1.0
        A[il, m + 1 + np.arange(il.size)] = 1.0
        A[iu, m + 1 + il.size + np.arange(iu.size)] = -1.0
        return A

    def _vertex(self, M, st, rhs, cost):
        """The optimal basis' vertex solved exactly (one dense (n+1)^2 system each way).

        HiGHS' values are right to its tolerances (1e-9 here); re-solving the basis
        gives them to rounding, which is what the duality-gap certificate needs.
        None if the basis is not square or is singular (HiGHS' values are used then).
        """
        n, m = self.n, M.size
        if int(np.count_nonzero(st == _BASIC)) != n + 1:
            return None
        A = self._dense(M)
        basic = st == _BASIC
        upper_q = np.flatnonzero(st[:m] == _UPPER)  # nonbasic q' at 1; everything else nonbasic sits at 0
        b = rhs - A[:, upper_q].sum(axis=1)
        AB = A[:, basic]
        try:
            xB = np.linalg.solve(AB, b)
            y = np.linalg.solve(AB.T, cost[basic])
        except np.linalg.LinAlgError:
            return None
        xq = np.zeros(m)
        xq[upper_q] = 1.0
        xq[basic[:m]] = xB[: int(np.count_nonzero(basic[:m]))]
        return y, xq

    def _solve_linprog(self, M, cost, cl, cu, rhs):
        from scipy import sparse
        from scipy.optimize import linprog

        n, m = self.n, M.size
        A = self._dense(M)
        res = linprog(cost, A_eq=sparse.csr_matrix(A), b_eq=rhs, bounds=np.column_stack([cl, cu]),
                      method="highs-ds", options={"primal_feasibility_tolerance": self.tol,
                                                  "dual_feasibility_tolerance": self.tol})
        if res.status != 0:
            raise OptimizerError(f"cvar: band LP failed ({res.message}); check constraints and data")
        self.simplex_iterations += int(res.nit)
        y = res.eqlin.marginals
        return -y[:n], -y[n], res.x[:m] / self.k, None, None


def _dual_bound(R, k, q_idx, q_val, lin, lb, ub, budget):
    """min over {lb <= w <= ub, sum w = budget} of (lin - R'q)'w: a lower bound on the optimum
    for any 0 <= q <= 1/k with sum q = 1 (weak duality).  The inner minimum is a greedy fill."""
    c = lin - R[q_idx].T @ q_val
    w = lb.copy()
    rest = budget - lb.sum()
    for i in np.argsort(c, kind="stable"):
        if rest <= 0:
            break
        step = min(ub[i] - lb[i], rest)
        w[i] += step
        rest -= step
    return float(c @ w)


def _fix_sum(q, total, k):
    """Spread the LP's rounding-level residual in sum(q) over entries with room in [0, 1/k]."""
    for _ in range(3):
        gap = total - q.sum()
        if gap == 0.0:
            break
        room = (1.0 / k - q) if gap > 0 else q
        if room.sum() <= 0:
            break
        q = np.clip(q + gap * room / room.sum(), 0.0, 1.0 / k)
    return q


def _polish_feasible(w, lb, ub, budget):
    """Remove the LP's rounding-level bound and budget residuals (~1e-15)."""
    w = np.clip(w, lb, ub)
    for _ in range(3):
        gap = budget - w.sum()
        if gap == 0.0:
            break
        room = (ub - w) if gap > 0 else (w - lb)
        if room.sum() <= 0:
            break
        w = np.clip(w + gap * room / room.sum(), lb, ub)
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

    Scenario cutting planes on the dual band LP (see the module docstring), started
    from the previous optimum (``warm_start``, e.g. last rebalance's result: its
    weights and VaR identify its tie scenarios among the new ones) or from a
    smoothed projected-Newton solve.  The answer carries a duality-gap
    certificate over *all* scenarios (``gap``, at most ``rtol`` relative).
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
    if not np.isfinite(R).all():
        raise OptimizerError("cvar: scenario matrix contains NaN/inf; clean the return data first")
    lb = np.zeros(n) if lb is None else np.asarray(lb, float)
    ub = np.full(n, budget) if ub is None else np.asarray(ub, float)
    # unbounded weights get a (non-binding in practice) bound of 10x the budget, which
    # keeps the LP bounded and the certificate's inner minimum finite
    ub = np.where(np.isfinite(ub), ub, max(budget, 1.0) * 10)
    lb = np.where(np.isfinite(lb), lb, -max(budget, 1.0) * 10)
    if lb.sum() > budget + 1e-12 or ub.sum() < budget - 1e-12:
        raise OptimizerError(
            f"cvar: budget {budget:g} not reachable within per-asset bounds (sum max_weight={ub.sum():g}); "
            "raise max_weight"
        )
    lin = np.zeros(n)
    if mu is not None and risk_aversion:
        lin = -np.asarray(mu, float) / float(risk_aversion)
    from ..constraints import project_box_budget

    ki = int(np.floor(k + 1e-9))
    band = _BandDual(R, k, lb, ub, budget, lin, tol=1e-9)
    basis_start = False
    if warm_start is not None and warm_start.w.shape == (n,):
        # The previous optimum is the start.  Its tie scenarios that are still in the
        # set (a rolled-forward window) have exactly equal losses there, which makes its
        # optimal basis recognisable -- HiGHS then only pivots in what changed.
        w = project_box_budget(warm_start.w, lb, ub, budget)
        L = -(R @ w)
        a0 = warm_start.var
        if a0 is None or not np.isfinite(a0):
            a0 = float(np.partition(L, S - max(ki, 1))[S - max(ki, 1)])
        ties = np.abs(L - a0) <= 1e-10 * max(1.0, float(np.abs(L).max()))
        n_free = int(np.count_nonzero((w > lb + 1e-12) & (w < ub - 1e-12)))
        basis_start = band.core is not None and ties.sum() >= max(1, n_free // 2)
        if not basis_start:
            # fresh scenarios: the previous weights are a good point, not a basis; fine
            # smoothing levels from them find the tail (a single level is not enough:
            # Newton from a point tuned to other scenarios needs the homotopy)
            scale = float(np.std(R @ w)) or 1e-3
            w = _smooth_start(R, k, lb, ub, budget, lin, w, [scale * 3e-2, scale * 1e-2, scale * 3e-3])
            L = -(R @ w)
    else:
        w0 = project_box_budget(np.full(n, budget / n), lb, ub, budget)
        scale = float(np.std(R @ w0)) or 1e-3
        w = _smooth_start(R, k, lb, ub, budget, lin, w0, [scale * 1e-1, scale * 1e-2])
        L = -(R @ w)
    half = min(max(3 * n, 100) if basis_start else max(30, min(n + 10, int(0.3 * k))), S)
    # band: ranks [ki - half, ki + half] by loss, plus (warm) the previous ties
    lo_r, hi_r = max(ki - half, 0), min(ki + half + 1, S)
    part = np.argpartition(-L, [lo_r, hi_r - 1]) if hi_r < S else np.argpartition(-L, lo_r)
    in_band = np.zeros(S, bool)
    in_band[part[lo_r:hi_r]] = True
    in_tail = np.zeros(S, bool)
    in_tail[part[:lo_r]] = True
    status = extra = None
    if basis_start:
        in_band |= ties
        in_tail &= ~ties
        M = np.flatnonzero(in_band)
        status = np.where(ties[M], _BASIC, np.where(L[M] > a0, _UPPER, _LOWER)).astype(np.int8)
        atl = w <= lb + 1e-12 * max(1.0, abs(budget))
        atu = (w >= ub - 1e-12 * max(1.0, abs(budget))) & ~atl
        extra = np.concatenate([[_BASIC], np.where(atl[band.il], _BASIC, _LOWER),
                                np.where(atu[band.iu], _BASIC, _LOWER)]).astype(np.int8)
    cap = max(2 * n, 100)  # scenarios added per round: the band LP's cost grows with its columns
    rounds = 0
    sT = R[in_tail].sum(axis=0)
    nT = int(in_tail.sum())
    for _attempt in range(2):
        for _ in range(max_rounds):
            rounds += 1
            M = np.flatnonzero(in_band)
            w, a, qM, status_M, extra = band.solve(M, sT, nT, status, extra)
            L = -(R @ w)
            tol = 1e-12 * max(1.0, float(np.abs(L).max()))
            bad_t = np.flatnonzero(in_tail & (L < a - tol))
            bad_o = np.flatnonzero(~in_tail & ~in_band & (L > a + tol))
            if bad_t.size == 0 and bad_o.size == 0:
                break
            bad_t = bad_t[np.argsort(L[bad_t] - a)][:cap]
            bad_o = bad_o[np.argsort(a - L[bad_o])][:cap]
            # A misclassified scenario joins the band at its current q (1/k from the tail,
            # 0 from outside): the basis stays primal feasible and HiGHS continues from it.
            in_tail[bad_t] = False
            sT = sT - R[bad_t].sum(axis=0)
            nT -= bad_t.size
            in_band[bad_t] = True
            in_band[bad_o] = True
            if status_M is not None:
                full = np.zeros(S, np.int8)
                full[M] = status_M
                full[bad_t] = _UPPER
                full[bad_o] = _LOWER
                status = full[np.flatnonzero(in_band)]
        else:
            raise OptimizerError(f"cvar: scenario cutting planes did not converge in {max_rounds} rounds")
        # Certificate over all scenarios: q (band values, tail 1/k, rest 0) is feasible for
        # the full dual, so objective(w) - dual(q) bounds the distance to the optimum.
        w = _polish_feasible(w, lb, ub, budget)
        T = np.flatnonzero(in_tail)
        q_idx = np.concatenate([T, M])
        q_val = np.concatenate([np.full(T.size, 1.0 / k),
                                _fix_sum(np.clip(qM, 0.0, 1.0 / k), 1.0 - T.size / k, k)])
        cv = cvar_value(R, w, beta)
        obj = float(cv + lin @ w)
        gap = obj - _dual_bound(R, k, q_idx, q_val, lin, lb, ub, budget)
        certified = (abs(q_val.sum() - 1.0) <= 1e-12
                     and gap <= rtol * max(abs(obj), 1e-9 * max(1.0, float(np.abs(L).max()))))
        if certified or band.tol <= 1e-10 or status_M is None:
            break
        # HiGHS stopped within its tolerances but short of a certifiable vertex: once more,
        # from its basis, at the tightest tolerances it accepts.
        band.tol, status = 1e-10, status_M
    if not certified:
        # Still uncertified (or q could not be made exactly feasible): the whole LP decides.
        ref = cvar_full_lp(R, beta, lb, ub, budget, mu, risk_aversion)
        ref.w = _polish_feasible(ref.w, lb, ub, budget)
        ref.cvar = cvar_value(R, ref.w, beta)
        ref.objective = float(ref.cvar + lin @ ref.w)
        if ref.objective < obj:
            w, cv, obj = ref.w, ref.cvar, ref.objective
        gap = np.nan
    var = float(a)
    return CVaRResult(w=w, cvar=cv, objective=obj, iterations=rounds, cuts=[w],
                      method="band-dual-lp" + ("+warm-basis" if basis_start else ""),
                      var=var, gap=max(float(gap), 0.0) if np.isfinite(gap) else float("nan"),
                      simplex_iterations=band.simplex_iterations)


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
    from scipy.optimize import linprog

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

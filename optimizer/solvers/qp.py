"""Quadratic programs  min 0.5 w'Pw + q'w  for portfolio problems.

Fast path (:func:`solve_box_budget_qp`): budget + box constraints only.  A
primal-dual active-set (semismooth Newton) iteration guesses which assets sit
at a bound; each guess needs one Cholesky solve on the *free* assets only, and
the iteration usually stops after 2-6 guesses (1-2 when warm-started from the
previous rebalance's active set).  If it ever cycles, a classic primal
active-set method (finite, monotone) finishes from the best point found.  The
result satisfies the KKT conditions to ~1e-12, i.e. it *is* the exact optimum,
not an approximation, which is why it agrees with interior-point references to
1e-9 in objective.

General path (:func:`solve_general_qp`): arbitrary linear (in)equalities via
scipy's SLSQP with exact gradients, used for groups, turnover and long-short.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dpotrf as _potrf
from scipy.linalg.lapack import dpotrs as _potrs

from ..errors import OptimizerError


@dataclass
class QPResult:
    """Solution plus the active set (reused as a warm start) and diagnostics."""

    w: np.ndarray
    objective: float
    nu: float
    active: np.ndarray  # -1 at lower bound, +1 at upper bound, 0 free
    iterations: int
    method: str


def _eqp(P, q, lb, ub, budget, state):
    """Solve the equality QP with assets in ``state != 0`` fixed at their bound.

    Called a few times per rebalance in tight loops (walk-forwards, searches), so
    it talks to LAPACK directly: scipy's ``cho_factor``/``cho_solve`` wrappers
    cost more than the 20-60-asset factorisation itself.
    """
    F = np.flatnonzero(state == 0)
    w = np.where(state < 0, lb, ub)
    if F.size == 0:
        return w, None, F
    w[F] = 0.0
    PF = P.take(F, axis=0)
    rhs = np.empty((F.size, 2))
    rhs[:, 0] = -(q.take(F) + PF @ w)  # fixed assets enter through P[F, B] w_B (w is 0 on F)
    rhs[:, 1] = 1.0
    PFF = PF.take(F, axis=1)
    # PFF is symmetric, so its transpose is the same matrix already in Fortran order
    # (no copy inside the LAPACK wrapper).
    c, info = _potrf(PFF.T, lower=0, clean=0, overwrite_a=1)
    if info != 0:
        # Singular covariance on the free set (e.g. more assets than observations):
        # a tiny ridge keeps the step defined; the outer KKT check still decides.
        PFF = PF.take(F, axis=1)
        PFF[np.diag_indices(F.size)] += 1e-12 * max(1.0, float(np.trace(PFF)) / F.size)
        c, info = _potrf(PFF, lower=0, clean=0, overwrite_a=1)
        if info != 0:
            raise OptimizerError("QP: covariance matrix is not positive semi-definite; check the data")
    sol, _ = _potrs(c, rhs, lower=0, overwrite_b=1)
    x1, x2 = sol[:, 0], sol[:, 1]
    nu = (x1.sum() - (budget - w.sum())) / x2.sum()
    w[F] = x1 - nu * x2
    return w, nu, F


def _kkt_ok(P, q, lb, ub, budget, w, nu, state, tol):
    """Check primal feasibility and the multiplier signs of the fixed assets."""
    if nu is None:
        return False, None
    z = P @ w + q + nu
    scale = max(1.0, float(np.max(np.abs(z))) if z.size else 1.0, abs(nu))
    free = state == 0
    feas = np.all(w[free] >= lb[free] - tol) and np.all(w[free] <= ub[free] + tol)
    dual = np.all(z[state < 0] >= -tol * scale) and np.all(z[state > 0] <= tol * scale)
    return bool(feas and dual and abs(w.sum() - budget) <= tol * max(1.0, abs(budget))), z


def solve_box_budget_qp(
    P: np.ndarray,
    q: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    budget: float = 1.0,
    warm_active: np.ndarray | None = None,
    tol: float = 1e-11,
    max_pdas: int | None = None,
) -> QPResult:
    """Exact minimiser of 0.5 w'Pw + q'w  s.t. sum w = budget, lb <= w <= ub."""
    P = np.asarray(P, float)
    q = np.asarray(q, float)
    n = q.size
    if lb.sum() > budget + 1e-12 or ub.sum() < budget - 1e-12:
        raise OptimizerError(
            f"budget {budget:g} not reachable within per-asset bounds (sum lb={lb.sum():g}, sum ub={ub.sum():g}); "
            "relax min_weight/max_weight"
        )
    fixed = lb >= ub - 1e-15
    any_fixed = bool(fixed.any())
    state = np.zeros(n, dtype=np.int8) if warm_active is None else np.array(warm_active, np.int8)
    if state.shape != (n,):
        state = np.zeros(n, dtype=np.int8)
    if any_fixed:
        state[fixed] = -1
    max_pdas = max_pdas or 10 * n + 20
    btol = tol * max(1.0, abs(budget))
    # Block principal pivoting (Judice & Pires 1994): exchange *all* infeasible
    # indices at once while the infeasibility count keeps falling; if it stalls
    # for a few rounds, switch to Murty's single least-index pivot, which is
    # finite for positive-definite problems.  Usually 2-6 Cholesky solves.
    best_cnt, patience, max_patience = n + 1, 3, 3
    for it in range(1, max_pdas + 1):
        w, nu, F = _eqp(P, q, lb, ub, budget, state)
        if nu is None:
            # Every asset at a bound (a vertex, common for aggressive mean-variance).
            g = P @ w + q
            gap = w.sum() - budget
            if abs(gap) > btol:
                # Budget missed: free the most attractive asset that can move the right way.
                cand = np.flatnonzero((state < 0) & ~fixed) if gap < 0 else np.flatnonzero(state > 0)
                if cand.size == 0:
                    break
                j = cand[np.argmin(g[cand])] if gap < 0 else cand[np.argmax(g[cand])]
                state = state.copy()
                state[j] = 0
                continue
            lo_nu = float(np.max(-g[state < 0])) if np.any(state < 0) else -np.inf
            hi_nu = float(np.min(-g[state > 0])) if np.any(state > 0) else np.inf
            nu = lo_nu if lo_nu <= hi_nu and np.isfinite(lo_nu) else (hi_nu if lo_nu <= hi_nu else 0.5 * (lo_nu + hi_nu))
            Pw = g - q
        else:
            Pw = P @ w
        # KKT test and the infeasible set in one pass (this loop is the hot path of
        # every walk-forward): free assets inside their box, multipliers of the
        # bounded ones with the right sign.
        z = Pw + q + nu
        scale = max(1.0, float(np.abs(z).max()), abs(nu))
        ftol = tol * max(1.0, float(np.abs(w).max()))
        free = state == 0
        below = free & (w < lb - ftol)
        above = free & (w > ub + ftol)
        wrong_lo = (state < 0) & (z < -tol * scale)
        wrong_hi = (state > 0) & (z > tol * scale)
        if any_fixed:
            wrong_lo &= ~fixed
        infeas = below | above | wrong_lo | wrong_hi
        cnt = int(np.count_nonzero(infeas))
        if cnt == 0:
            # KKT holds (a budget residual here is rounding in the equality solve,
            # which with huge linear terms -- max-ratio's far frontier -- exceeds tol)
            return _result(Pw, q, w, nu, state, it, "block-pivoting")
        if cnt < best_cnt:
            best_cnt, patience = cnt, max_patience
            flip = infeas
        elif patience > 0:
            patience -= 1
            flip = infeas
        else:
            flip = np.zeros(n, bool)
            flip[int(np.flatnonzero(infeas)[0])] = True
        state = state.copy()
        state[flip & below] = -1
        state[flip & above] = 1
        state[flip & (wrong_lo | wrong_hi)] = 0
        if any_fixed:
            state[fixed] = -1
    return _primal_active_set(P, q, lb, ub, budget, state, tol)


def _primal_active_set(P, q, lb, ub, budget, guess, tol, max_iter=None) -> QPResult:
    """Feasible-point active-set method: monotone and finite, used as a safety net."""
    n = q.size
    max_iter = max_iter or 20 * n + 100
    # Feasible start: the guess' bounds, then projected onto box+budget.
    from ..constraints import project_box_budget

    # Start from the guess' equality-QP solution pulled back into the feasible set:
    # close to the optimum, so only a few active-set changes remain.
    w0, _, _ = _eqp(P, q, lb, ub, budget, np.asarray(guess, np.int8))
    w0 = np.where(np.isfinite(w0), w0, 0.0)
    w = project_box_budget(np.clip(w0, lb, ub), lb, ub, budget)
    state = np.zeros(n, dtype=np.int8)
    state[np.isclose(w, lb, atol=1e-14, rtol=0)] = -1
    state[np.isclose(w, ub, atol=1e-14, rtol=0) & (state == 0)] = 1
    if np.all(state != 0):  # keep at least one free variable for the budget multiplier
        j = int(np.argmax(ub - lb))
        state[j] = 0
    for it in range(1, max_iter + 1):
        target, nu, F = _eqp(P, q, lb, ub, budget, state)
        d = target - w
        # Ratio test on the free variables.
        alpha, block, side = 1.0, -1, 0
        dF = d[F]
        dF = np.where(np.abs(dF) > 1e-12 * max(1.0, abs(budget)), dF, 0.0)  # rounding noise must not block a step
        with np.errstate(divide="ignore", invalid="ignore"):
            ra = np.where(dF < 0, (lb[F] - w[F]) / dF, np.inf)
            rb = np.where(dF > 0, (ub[F] - w[F]) / dF, np.inf)
        if F.size:
            ia, ib = int(np.argmin(ra)), int(np.argmin(rb))
            if ra[ia] < alpha:
                alpha, block, side = max(ra[ia], 0.0), F[ia], -1
            if rb[ib] < alpha:
                alpha, block, side = max(rb[ib], 0.0), F[ib], 1
        w = w + alpha * d
        if block >= 0:
            state[block] = side
            w[block] = lb[block] if side < 0 else ub[block]
            continue
        if nu is None:  # every asset at a bound: pick the budget multiplier in its valid interval
            g = P @ w + q
            lo = float(np.max(-g[state < 0])) if np.any(state < 0) else -np.inf
            hi = float(np.min(-g[state > 0])) if np.any(state > 0) else np.inf
            nu = lo if np.isfinite(lo) and lo <= hi else (hi if np.isfinite(hi) else 0.5 * (lo + hi))
            if lo > hi and np.isfinite(lo) and np.isfinite(hi):
                nu = 0.5 * (lo + hi)
        z = P @ w + q + nu
        viol = np.where(state < 0, -z, np.where(state > 0, z, 0.0))
        j = int(np.argmax(viol))
        if viol[j] <= tol * max(1.0, float(np.max(np.abs(z)))):
            return _result(P @ w, q, w, nu, state, it, "primal-active-set")
        state[j] = 0
    raise OptimizerError("QP solver did not converge (covariance matrix may be badly conditioned); check the data")


def _result(Pw, q, w, nu, state, it, method) -> QPResult:
    """``Pw`` is P @ w, already computed by the caller's KKT test."""
    obj = float(w @ (0.5 * Pw + q))
    return QPResult(w=w, objective=obj, nu=float(nu), active=state.copy(), iterations=it, method=method)


def solve_general_qp(
    P: np.ndarray,
    q: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    A_eq: np.ndarray | None = None,
    b_eq: np.ndarray | None = None,
    A_ub: np.ndarray | None = None,
    b_ub: np.ndarray | None = None,
    x0: np.ndarray | None = None,
    tol: float = 1e-14,
) -> np.ndarray:
    """General linearly-constrained QP with scipy's SLSQP (exact gradients).

    Used for constraint sets outside the fast path.  Raises an
    :class:`OptimizerError` when the constraints are inconsistent.
    """
    from scipy.optimize import minimize

    n = q.size
    cons = []
    if A_eq is not None and len(A_eq):
        cons.append({"type": "eq", "fun": lambda x: A_eq @ x - b_eq, "jac": lambda x: A_eq})
    if A_ub is not None and len(A_ub):
        cons.append({"type": "ineq", "fun": lambda x: b_ub - A_ub @ x, "jac": lambda x: -A_ub})
    if x0 is None:
        x0 = np.clip(np.zeros(n), lb, ub)
    res = minimize(
        lambda x: 0.5 * x @ P @ x + q @ x,
        x0,
        jac=lambda x: P @ x + q,
        bounds=list(zip(np.where(np.isfinite(lb), lb, None), np.where(np.isfinite(ub), ub, None), strict=True)),
        constraints=cons,
        method="SLSQP",
        options={"ftol": tol, "maxiter": 2000},
    )
    x = res.x
    viol = 0.0
    if A_eq is not None and len(A_eq):
        viol = max(viol, float(np.max(np.abs(A_eq @ x - b_eq))))
    if A_ub is not None and len(A_ub):
        viol = max(viol, float(np.max(A_ub @ x - b_ub)))
    if not res.success and viol > 1e-7:
        raise OptimizerError(
            f"constraints are infeasible together (max violation {viol:.3g}): {res.message}; "
            "relax group, turnover or weight bounds"
        )
    return x

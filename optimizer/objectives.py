"""Portfolio objectives.  Each one maps (estimates, constraints) -> weights.

Every objective uses the fast, structure-exploiting solver when the
constraints are budget + box, and falls back to scipy's general solvers
(SLSQP / HiGHS) for groups, turnover and long-short leverage.  ``state`` carries
warm-start information between consecutive rebalances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .constraints import Constraints
from .errors import OptimizerError
from .solvers.cvar import solve_cvar
from .solvers.qp import solve_box_budget_qp, solve_general_qp


@dataclass
class Inputs:
    """Estimates an objective may need; unused ones may be None."""

    cov: np.ndarray | None = None
    mu: np.ndarray | None = None
    scenarios: np.ndarray | None = None
    state: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers
def general_system(c: Constraints, n: int):
    """Linear system over x = [w, t, s] for the general path.

    t >= |w| (gross exposure, long-short only) and s >= |w - w0| (turnover) are
    auxiliary variables; returns bounds and (A_eq, b_eq, A_ub, b_ub) and the size.
    """
    lb, ub = c.check_feasible(n)
    blocks = ["w"]
    if not c.long_only:
        blocks.append("t")
    if c.max_turnover is not None:
        blocks.append("s")
    m = n * len(blocks)
    off = {b: i * n for i, b in enumerate(blocks)}
    LB = np.concatenate([lb] + [np.zeros(n)] * (len(blocks) - 1))
    UB = np.concatenate([ub] + [np.full(n, np.inf)] * (len(blocks) - 1))
    A_eq = np.zeros((1, m))
    A_eq[0, :n] = 1.0
    b_eq = np.array([c.budget])
    rows, rhs = [], []
    eye = np.eye(n)
    if "t" in off:
        o = off["t"]
        for sgn in (1.0, -1.0):
            r = np.zeros((n, m))
            r[:, :n] = sgn * eye
            r[:, o:o + n] = -eye
            rows.append(r)
            rhs.append(np.zeros(n))
        r = np.zeros((1, m))
        r[0, o:o + n] = 1.0
        rows.append(r)
        rhs.append([c.leverage])
    if "s" in off:
        o = off["s"]
        w0 = np.asarray(c.current_weights, float)
        if w0.shape != (n,):
            raise OptimizerError(f"constraints: current_weights has {w0.size} entries for {n} assets")
        for sgn in (1.0, -1.0):
            r = np.zeros((n, m))
            r[:, :n] = sgn * eye
            r[:, o:o + n] = -eye
            rows.append(r)
            rhs.append(sgn * w0)
        r = np.zeros((1, m))
        r[0, o:o + n] = 1.0
        rows.append(r)
        rhs.append([c.max_turnover])
    for g in c.groups:
        members = list(g.members)
        if np.isfinite(g.upper):
            r = np.zeros((1, m))
            r[0, members] = 1.0
            rows.append(r)
            rhs.append([g.upper])
        if np.isfinite(g.lower):
            r = np.zeros((1, m))
            r[0, members] = -1.0
            rows.append(r)
            rhs.append([-g.lower])
    A_ub = np.vstack(rows) if rows else np.zeros((0, m))
    b_ub = np.concatenate([np.asarray(x, float) for x in rhs]) if rhs else np.zeros(0)
    return LB, UB, A_eq, b_eq, A_ub, b_ub, m


def _check_lp_feasible(c: Constraints, n: int) -> None:
    """Use HiGHS to tell 'infeasible' apart from 'hard', naming the culprit."""
    from scipy.optimize import linprog

    LB, UB, A_eq, b_eq, A_ub, b_ub, m = general_system(c, n)
    res = linprog(np.zeros(m), A_ub=A_ub if len(A_ub) else None, b_ub=b_ub if len(b_ub) else None,
                  A_eq=A_eq, b_eq=b_eq, bounds=np.column_stack([LB, UB]), method="highs")
    if res.status == 2:
        parts = []
        if c.max_turnover is not None:
            parts.append(f"max_turnover={c.max_turnover:g}")
        if c.groups:
            parts.append("group bounds " + ", ".join(g.name for g in c.groups))
        if not c.long_only:
            parts.append(f"leverage={c.leverage:g}")
        raise OptimizerError(
            "constraints: infeasible combination of " + (", ".join(parts) or "bounds")
            + " with budget and weight bounds; relax one of them"
        )


def _qp(P, q, c: Constraints, state: dict) -> np.ndarray:
    n = q.size
    if c.is_box_budget():
        lb, ub = c.check_feasible(n)
        res = solve_box_budget_qp(P, q, lb, ub, c.budget, warm_active=state.get("active"))
        state["active"] = res.active
        return res.w
    _check_lp_feasible(c, n)
    LB, UB, A_eq, b_eq, A_ub, b_ub, m = general_system(c, n)
    PP = np.zeros((m, m))
    PP[:n, :n] = P
    qq = np.concatenate([q, np.zeros(m - n)])
    x0 = np.clip(np.concatenate([np.full(n, c.budget / n), np.zeros(m - n)]), LB, UB)
    return solve_general_qp(PP, qq, LB, UB, A_eq, b_eq, A_ub, b_ub, x0=x0)[:n]


def _need(x, what, objective):
    if x is None:
        raise OptimizerError(f"objective '{objective}' needs {what}; configure a {what} model")
    return x


# --------------------------------------------------------------------------- objectives
@dataclass
class MinVariance:
    name: str = "min_variance"

    def solve(self, inp: Inputs, c: Constraints) -> np.ndarray:
        P = _need(inp.cov, "covariance", self.name)
        return _qp(P, np.zeros(P.shape[0]), c, inp.state)


@dataclass
class MeanVariance:
    """max  mu'w - (risk_aversion/2) w'Σw."""

    risk_aversion: float = 1.0
    name: str = "mean_variance"

    def solve(self, inp: Inputs, c: Constraints) -> np.ndarray:
        if self.risk_aversion <= 0:
            raise OptimizerError(f"mean_variance: risk_aversion must be > 0, got {self.risk_aversion}")
        P = _need(inp.cov, "covariance", self.name)
        mu = _need(inp.mu, "expected returns", self.name)
        return _qp(self.risk_aversion * P, -mu, c, inp.state)


def max_ratio_box(P, mu, lb, ub, budget, state) -> np.ndarray:
    """argmax (mu'w)/sqrt(w'Pw) over box+budget, exactly.

    The maximiser lies on the mean-variance frontier w(g) = argmin 0.5 w'Pw - g mu'w.
    On each piece of the frontier (fixed active set) w(g) = a + g d is affine and
    the ratio's stationary point over g has a closed form, g* = (m1 v0 - m0 v1) /
    (m0 v2 - m1 v1).  We iterate "solve QP at g -> closed-form g* on that piece",
    safeguarded by a bracket on g (the ratio is unimodal along the frontier), and
    stop when g* lies on the piece that produced it: that point satisfies the KKT
    conditions exactly.  Warm-started from the previous rebalance's g this takes
    2-4 QP solves.
    """
    from .solvers.qp import _eqp

    n = mu.size
    if mu.max() <= 0:
        raise OptimizerError(
            "max_sharpe: no asset has expected (excess) return above the risk-free rate; "
            "use min_variance or a lower risk_free_rate"
        )
    zero = np.zeros(n)
    if float(np.ptp(mu)) <= 1e-12 * float(np.abs(mu).max()):
        # Equal expected returns (e.g. fully shrunk means): the ratio is mean * budget /
        # volatility, maximised by the minimum-variance portfolio.  The frontier has no
        # direction here, and following rounding noise along it breaks the budget.
        r = solve_box_budget_qp(P, zero, lb, ub, budget, warm_active=state.get("active"))
        state["gamma"], state["active"] = 0.0, r.active
        return r.w
    # On the budget plane mu'w = mean(mu) * budget + mu_c'w, so the frontier QPs and
    # their directions use the centred mu_c: the same solutions, without the large
    # common part that g * mu would otherwise push through the equality solves.
    mu_c = mu - mu.mean()
    scale = float(np.trace(P)) / n / max(float(np.abs(mu).max()), 1e-300)
    g_lo, g_hi = 0.0, scale * 1e8
    g = float(state.get("gamma", scale))
    active = state.get("active")

    def ratio(w):
        v = float(w @ P @ w)
        return float(mu @ w) / np.sqrt(v) if v > 0 else -np.inf

    best_w, best_r = None, -np.inf
    for _ in range(200):
        r = solve_box_budget_qp(P, -g * mu_c, lb, ub, budget, warm_active=active)
        active = r.active
        rr = ratio(r.w)
        if rr > best_r:
            best_w, best_r = r.w, rr
        a, _, F = _eqp(P, zero, lb, ub, budget, active)
        if F.size == 0:  # vertex: ratio constant on this piece; move by bracket
            g_star = None
        else:
            d, _, _ = _eqp(P, -mu_c, zero, zero, 0.0, active)
            m0, m1 = mu @ a, mu_c @ d  # sum(d) = 0, so mu'd = mu_c'd without the cancellation
            v0, v1, v2 = a @ P @ a, a @ P @ d, d @ P @ d
            den = m0 * v2 - m1 * v1
            g_star = (m1 * v0 - m0 * v1) / den if abs(den) > 1e-300 else None
        if g_star is not None and g_star >= 0 and den > 0:
            w_star = a + g_star * d
            # exact optimum if g* is on this piece (same active set stays optimal)
            if abs(g_star - g) <= 1e-12 * max(g, 1e-300) or (
                np.all(w_star[F] >= lb[F] - 1e-13) and np.all(w_star[F] <= ub[F] + 1e-13)
                and _piece_valid(P, mu_c, lb, ub, w_star, g_star, active)
            ):
                rs = ratio(w_star)
                if rs >= best_r:
                    best_w, best_r = np.clip(w_star, lb, ub), rs
                state["gamma"], state["active"] = g_star, active
                return best_w
            # sign of d(ratio)/dg at g on this piece: (m1 v0 - m0 v1) - g * den
            if (m1 * v0 - m0 * v1) - g * den > 0:
                g_lo = g
            else:
                g_hi = g
            g_next = g_star if den > 0 else None
        elif g_star is not None:
            if (m1 * v0 - m0 * v1) - g * den > 0:
                g_lo = g
            else:
                g_hi = g
            g_next = None
        else:
            g_next = None
            g_hi = g
        if g_next is None or not (g_lo < g_next < g_hi):
            g_next = g_hi * 1e-2 if g_lo == 0.0 else np.sqrt(g_lo * g_hi)
        if g_hi <= scale * 1e-12:
            # The ratio falls along the whole frontier: the optimum is its start, g = 0.
            r = solve_box_budget_qp(P, zero, lb, ub, budget, warm_active=active)
            active = r.active
            if ratio(r.w) >= best_r:
                best_w, best_r = r.w, ratio(r.w)
            g = 0.0
            break
        if g_lo > 0 and g_hi / g_lo < 1 + 1e-12:
            break
        g = g_next
    state["gamma"], state["active"] = g, active
    return best_w


def _piece_valid(P, mu, lb, ub, w, g, active) -> bool:
    """KKT multipliers of the bounded assets have the right signs at (w, g)."""
    grad = P @ w - g * mu
    F = active == 0
    if not np.any(F):
        return False
    nu = -float(np.mean(grad[F]))
    z = grad + nu
    s = max(1.0, float(np.max(np.abs(z))))
    return bool(np.all(z[active < 0] >= -1e-11 * s) and np.all(z[active > 0] <= 1e-11 * s))


def _max_ratio_general(P, mu, c: Constraints, name) -> np.ndarray:
    from scipy.optimize import minimize

    n = mu.size
    _check_lp_feasible(c, n)
    LB, UB, A_eq, b_eq, A_ub, b_ub, m = general_system(c, n)
    cons = [{"type": "eq", "fun": lambda x: A_eq @ x - b_eq, "jac": lambda x: A_eq}]
    if len(A_ub):
        cons.append({"type": "ineq", "fun": lambda x: b_ub - A_ub @ x, "jac": lambda x: -A_ub})

    def f(x):
        w = x[:n]
        v = np.sqrt(w @ P @ w)
        val = -(mu @ w) / v
        g = np.zeros(m)
        g[:n] = -mu / v + (mu @ w) * (P @ w) / v**3
        return val, g

    x0 = np.clip(np.concatenate([np.full(n, c.budget / n), np.zeros(m - n)]), LB, UB)
    res = minimize(f, x0, jac=True, method="SLSQP", bounds=list(zip(LB, np.where(np.isfinite(UB), UB, None), strict=True)),
                   constraints=cons, options={"ftol": 1e-15, "maxiter": 1000})
    if not res.success and not np.isfinite(res.fun):
        raise OptimizerError(f"{name}: solver failed ({res.message})")
    return res.x[:n]


@dataclass
class MaxSharpe:
    risk_free_rate: float = 0.0  # per period, same units as the returns
    fallback: str | None = "min_variance"  # when no excess return is positive; None = raise
    name: str = "max_sharpe"

    def solve(self, inp: Inputs, c: Constraints) -> np.ndarray:
        P = _need(inp.cov, "covariance", self.name)
        mu = _need(inp.mu, "expected returns", self.name) - self.risk_free_rate
        if mu.max() <= 0 and self.fallback == "min_variance":
            # No asset beats the risk-free rate in this window: the tangency portfolio
            # does not exist, so hold the minimum-variance portfolio (counted in state).
            inp.state["fallbacks"] = inp.state.get("fallbacks", 0) + 1
            return _qp(P, np.zeros(P.shape[0]), c, inp.state)
        if c.is_box_budget():
            lb, ub = c.check_feasible(mu.size)
            return max_ratio_box(P, mu, lb, ub, c.budget, inp.state)
        return _max_ratio_general(P, mu, c, self.name)


@dataclass
class MaxDiversification:
    """max  w'σ / sqrt(w'Σw): a max-Sharpe problem with volatilities as 'returns'."""

    name: str = "max_diversification"

    def solve(self, inp: Inputs, c: Constraints) -> np.ndarray:
        P = _need(inp.cov, "covariance", self.name)
        sig = np.sqrt(np.diag(P))
        if c.is_box_budget():
            lb, ub = c.check_feasible(sig.size)
            return max_ratio_box(P, sig, lb, ub, c.budget, inp.state)
        return _max_ratio_general(P, sig, c, self.name)


@dataclass
class RiskParity:
    """Equal risk contribution, via Newton on  min 0.5 y'Σy - (1/n) Σ log y  then w = y / sum y."""

    name: str = "risk_parity"

    def solve(self, inp: Inputs, c: Constraints) -> np.ndarray:
        P = _need(inp.cov, "covariance", self.name)
        n = P.shape[0]
        if not c.long_only:
            raise OptimizerError("risk_parity: only defined for long-only portfolios; set long_only: true")
        from scipy.linalg.lapack import dpotrf, dpotrs

        b = np.full(n, 1.0 / n)
        y = inp.state.get("rp_y")
        if y is None or y.shape != (n,):
            y = 1.0 / np.sqrt(np.diag(P))
            y *= 1.0 / np.sqrt(y @ P @ y)
        # (warm: last rebalance's solution, typically 3-4 Newton steps instead of 6)
        diag = np.diag_indices(n)
        for _ in range(100):
            g = P @ y - b / y
            if np.max(np.abs(g)) < 1e-13:
                break
            H = P.copy()
            H[diag] += b / y**2  # positive definite: the barrier term adds a positive diagonal
            cf, info = dpotrf(H, lower=0, clean=0, overwrite_a=1)
            step = dpotrs(cf, g)[0] if info == 0 else np.linalg.solve(P + np.diag(b / y**2), g)
            t = 1.0
            while np.any(y - t * step <= 0):
                t *= 0.5
            y = y - t * step
        inp.state["rp_y"] = y
        w = y / y.sum() * c.budget
        lb, ub = c.bounds(n)
        if c.is_box_budget() and np.all(w >= lb - 1e-12) and np.all(w <= ub + 1e-12):
            return w
        if not c.is_box_budget():
            raise OptimizerError("risk_parity: supports budget + per-asset bounds only; remove groups/turnover")
        return _constrained_risk_budget(P, b, float(w @ P @ w), lb, ub, c, inp.state)


def _constrained_risk_budget(P, b, scale, lb, ub, c: Constraints, state) -> np.ndarray:
    """Richard & Roncalli (2019) constrained risk budgeting:
    min 0.5 w'Pw - scale * sum b_i log w_i  over box+budget, by projected Newton
    (each step one box-budget QP, warm-started).  Equals ERC when no bound binds.
    """
    n = b.size
    lb_eff = np.maximum(lb, 1e-10)
    c.check_feasible(n)
    from .constraints import project_box_budget

    w = project_box_budget(np.full(n, c.budget / n), lb_eff, ub, c.budget)

    def f(x):
        return 0.5 * x @ P @ x - scale * float(b @ np.log(x))

    active = None
    fw = f(w)
    for _ in range(50):
        g = P @ w - scale * b / w
        H = P + np.diag(scale * b / w**2)
        r = solve_box_budget_qp(H, g - H @ w, lb_eff, ub, c.budget, warm_active=active)
        active = r.active
        d = r.w - w
        slope = float(g @ d)
        if slope > -1e-15 * max(1.0, abs(fw)):
            break
        t = 1.0
        while t > 1e-10:
            x = w + t * d
            if np.all(x > 0) and f(x) <= fw + 1e-4 * t * slope:
                break
            t *= 0.5
        w = w + t * d
        fw = f(w)
    return w


@dataclass
class MinCVaR:
    beta: float = 0.95
    name: str = "min_cvar"

    def solve(self, inp: Inputs, c: Constraints) -> np.ndarray:
        R = _need(inp.scenarios, "scenarios", self.name)
        return _cvar(R, self.beta, None, None, c, inp.state)


@dataclass
class MeanCVaR:
    """min  CVaR_beta - mu'w / risk_aversion."""

    beta: float = 0.95
    risk_aversion: float = 1.0
    name: str = "mean_cvar"

    def solve(self, inp: Inputs, c: Constraints) -> np.ndarray:
        R = _need(inp.scenarios, "scenarios", self.name)
        mu = inp.mu if inp.mu is not None else R.mean(axis=0)
        return _cvar(R, self.beta, mu, self.risk_aversion, c, inp.state)


def _cvar(R, beta, mu, ra, c: Constraints, state) -> np.ndarray:
    n = R.shape[1]
    if c.is_box_budget():
        lb, ub = c.check_feasible(n)
        res = solve_cvar(R, beta, lb, ub, c.budget, mu=mu, risk_aversion=ra, warm_start=state.get("cvar"))
        state["cvar"] = res
        return res.w
    # General constraints: the full RU LP with the extra rows, by HiGHS.
    from scipy import sparse
    from scipy.optimize import linprog

    _check_lp_feasible(c, n)
    LB, UB, A_eq, b_eq, A_ub, b_ub, m = general_system(c, n)
    S = R.shape[0]
    k = (1 - beta) * S
    lin = np.zeros(m)
    if mu is not None and ra:
        lin[:n] = -np.asarray(mu) / ra
    cc = np.concatenate([lin, [1.0], np.full(S, 1.0 / k)])
    top = sparse.hstack([sparse.csr_matrix(-R), sparse.csr_matrix((S, m - n)), -np.ones((S, 1)), -sparse.identity(S)])
    rows = [top]
    rhs = [np.zeros(S)]
    if len(A_ub):
        rows.append(sparse.hstack([sparse.csr_matrix(A_ub), sparse.csr_matrix((len(A_ub), 1 + S))]))
        rhs.append(b_ub)
    Aeq = sparse.hstack([sparse.csr_matrix(A_eq), sparse.csr_matrix((1, 1 + S))])
    bounds = np.column_stack([np.concatenate([LB, [-np.inf], np.zeros(S)]), np.concatenate([UB, [np.inf], np.full(S, np.inf)])])
    res = linprog(cc, A_ub=sparse.vstack(rows).tocsr(), b_ub=np.concatenate(rhs), A_eq=Aeq, b_eq=b_eq,
                  bounds=bounds, method="highs")
    if res.status != 0:
        raise OptimizerError(f"min_cvar: LP failed ({res.message}); relax the constraints")
    return res.x[:n]


OBJECTIVES = {
    "min_variance": MinVariance,
    "mean_variance": MeanVariance,
    "max_sharpe": MaxSharpe,
    "max_diversification": MaxDiversification,
    "risk_parity": RiskParity,
    "min_cvar": MinCVaR,
    "mean_cvar": MeanCVaR,
}


def make_objective(name: str, **kwargs):
    try:
        cls = OBJECTIVES[name]
    except KeyError:
        raise OptimizerError(f"objective: unknown '{name}'; choose one of {', '.join(OBJECTIVES)}") from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise OptimizerError(f"objective '{name}': bad parameters {kwargs}: {exc}") from None

"""Fast-path QP and max-ratio solvers against exact / general references."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.optimizer.constraints import Constraints, GroupBound
from charter.optimizer.errors import OptimizerError
from charter.optimizer.objectives import (
    Inputs,
    MaxSharpe,
    MeanVariance,
    MinVariance,
    RiskParity,
    max_ratio_box,
)
from charter.optimizer.solvers.qp import _eqp, _kkt_ok, solve_box_budget_qp


def exact_qp(P, q, lb, ub, budget=1.0):
    """Reference: enumerate every active set (3^n) and keep the KKT point."""
    n = q.size
    best = None
    for states in itertools.product([-1, 0, 1], repeat=n):
        st_ = np.array(states, np.int8)
        if np.all(st_ != 0):
            continue
        w, nu, _ = _eqp(P, q, lb, ub, budget, st_)
        ok, _ = _kkt_ok(P, q, lb, ub, budget, w, nu, st_, 1e-12)
        if ok:
            obj = 0.5 * w @ P @ w + q @ w
            if best is None or obj < best[0]:
                best = (obj, w)
    return best


def random_problem(seed, n=5, T=30):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(T, n)) * rng.uniform(0.5, 2.0, size=n)
    P = A.T @ A / T
    return P, rng.normal(size=n) * 0.5


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), cap=st.sampled_from([0.2, 0.25, 0.35, 0.5, 1.0]), qscale=st.sampled_from([0.0, 0.3, 3.0]))
def test_box_budget_qp_matches_exact_enumeration(seed, cap, qscale):
    P, q = random_problem(seed)
    q = q * qscale
    n = q.size
    lb, ub = np.zeros(n), np.full(n, cap)
    res = solve_box_budget_qp(P, q, lb, ub, 1.0)
    ref_obj, ref_w = exact_qp(P, q, lb, ub)
    assert abs(res.objective - ref_obj) <= 1e-9 * max(1.0, abs(ref_obj))
    assert np.all(res.w >= lb - 1e-12) and np.all(res.w <= ub + 1e-12)
    assert abs(res.w.sum() - 1.0) < 1e-12


def test_qp_warm_start_and_larger_sizes_satisfy_kkt():
    rng = np.random.default_rng(3)
    n = 120
    X = rng.standard_t(5, size=(300, n)) @ rng.normal(size=(n, n)) / np.sqrt(n) * 0.01
    P = np.cov(X.T)
    lb, ub = np.zeros(n), np.full(n, 0.05)
    r1 = solve_box_budget_qp(P, np.zeros(n), lb, ub)
    ok, _ = _kkt_ok(P, np.zeros(n), lb, ub, 1.0, r1.w, r1.nu, r1.active, 1e-9)
    assert ok
    r2 = solve_box_budget_qp(P * 1.01, np.zeros(n), lb, ub, warm_active=r1.active)
    assert r2.iterations <= 3
    # general reference on a 30-asset block: SLSQP finds no better objective
    from scipy.optimize import minimize

    m = 30
    Ps = P[:m, :m]
    fast = solve_box_budget_qp(Ps, np.zeros(m), np.zeros(m), np.full(m, 0.1))
    ref = minimize(lambda w: 0.5 * w @ Ps @ w, np.full(m, 1 / m), jac=lambda w: Ps @ w, method="SLSQP",
                   bounds=[(0, 0.1)] * m, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                   options={"ftol": 1e-16, "maxiter": 500})
    assert fast.objective <= ref.fun * (1 + 1e-9)
    assert abs(fast.objective - ref.fun) <= 1e-6 * ref.fun


def test_min_variance_general_path_agrees_with_fast_path():
    P, _ = random_problem(11, n=8)
    inp = Inputs(cov=P)
    fast = MinVariance().solve(inp, Constraints(max_weight=0.3))
    # a non-binding group forces the general (SLSQP) path
    slow = MinVariance().solve(Inputs(cov=P), Constraints(max_weight=0.3, groups=[GroupBound("all", tuple(range(8)), 0.0, 5.0)]))
    assert abs(fast @ P @ fast - slow @ P @ slow) <= 1e-8 * (fast @ P @ fast)


def test_turnover_and_group_constraints_respected():
    P, mu = random_problem(5, n=8)
    w0 = np.full(8, 1 / 8)
    c = Constraints(max_weight=0.5, max_turnover=0.2, current_weights=w0,
                    groups=[GroupBound("tech", (0, 1, 2), 0.0, 0.3)])
    w = MeanVariance(risk_aversion=2.0).solve(Inputs(cov=P, mu=mu), c)
    assert np.abs(w - w0).sum() <= 0.2 + 1e-7
    assert w[:3].sum() <= 0.3 + 1e-7
    assert abs(w.sum() - 1) < 1e-8


def test_long_short_leverage():
    P, mu = random_problem(6, n=6)
    c = Constraints(long_only=False, leverage=1.5, min_weight=-0.5, max_weight=0.8)
    w = MeanVariance(risk_aversion=1.0).solve(Inputs(cov=P, mu=mu), c)
    assert np.abs(w).sum() <= 1.5 + 1e-7 and abs(w.sum() - 1) < 1e-8


def test_infeasible_bounds_named():
    with pytest.raises(OptimizerError, match="max_weight"):
        MinVariance().solve(Inputs(cov=np.eye(5)), Constraints(max_weight=0.1))
    with pytest.raises(OptimizerError, match="group 'g'"):
        MinVariance().solve(Inputs(cov=np.eye(5)), Constraints(groups=[GroupBound("g", (0, 1), 0.5, 0.4)]))
    c = Constraints(max_weight=0.5, max_turnover=0.01, current_weights=np.array([1.0, 0, 0, 0]))
    with pytest.raises(OptimizerError, match="max_turnover"):
        MinVariance().solve(Inputs(cov=np.eye(4)), c)


def _sharpe_reference(P, mu, cap):
    from scipy.optimize import minimize

    n = mu.size
    f = lambda w: -(mu @ w) / np.sqrt(w @ P @ w)  # noqa: E731
    best = None
    for x0 in [np.full(n, 1 / n), np.eye(n)[int(np.argmax(mu))] * 0.5 + 0.5 / n]:
        r = minimize(f, x0, method="SLSQP", bounds=[(0, cap)] * n,
                     constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}], options={"ftol": 1e-16, "maxiter": 2000})
        if best is None or r.fun < best:
            best = r.fun
    return -best


@pytest.mark.parametrize("seed", range(8))
def test_max_sharpe_matches_general_solver(seed):
    P, mu = random_problem(seed, n=10, T=60)
    mu = np.abs(mu) * 0.1 + 0.01 * np.arange(10) / 10
    w = max_ratio_box(P, mu, np.zeros(10), np.full(10, 0.3), 1.0, {})
    ours = (mu @ w) / np.sqrt(w @ P @ w)
    ref = _sharpe_reference(P, mu, 0.3)
    assert ours >= ref * (1 - 1e-9)
    assert abs(ours - ref) <= 1e-6 * ref  # the reference is only a local solver


def test_max_sharpe_falls_back_when_no_positive_excess_return():
    P, _ = random_problem(1, n=5)
    w = MaxSharpe().solve(Inputs(cov=P, mu=-np.ones(5)), Constraints())
    wmv = MinVariance().solve(Inputs(cov=P), Constraints())
    assert np.allclose(w, wmv)
    with pytest.raises(OptimizerError, match="risk-free"):
        MaxSharpe(fallback=None).solve(Inputs(cov=P, mu=-np.ones(5)), Constraints())


def test_risk_parity_equal_contributions():
    P, _ = random_problem(2, n=7)
    w = RiskParity().solve(Inputs(cov=P), Constraints())
    rc = w * (P @ w)
    assert np.allclose(rc, rc.mean(), rtol=1e-8)
    wc = RiskParity().solve(Inputs(cov=P), Constraints(max_weight=0.16))
    assert wc.max() <= 0.16 + 1e-9 and abs(wc.sum() - 1) < 1e-9


def test_against_pyportfolioopt_min_variance_and_max_sharpe():
    pypfopt = pytest.importorskip("pypfopt")
    P, mu = random_problem(4, n=15, T=80)
    mu = np.abs(mu) * 0.1
    ef = pypfopt.EfficientFrontier(mu, P, weight_bounds=(0, 0.2))
    ef.min_volatility()
    wr = np.array(list(ef.clean_weights(cutoff=0, rounding=None).values()))
    w = MinVariance().solve(Inputs(cov=P), Constraints(max_weight=0.2))
    assert abs(w @ P @ w - wr @ P @ wr) <= 1e-7 * (wr @ P @ wr)
    assert w @ P @ w <= wr @ P @ wr * (1 + 1e-9)
    ef = pypfopt.EfficientFrontier(mu, P, weight_bounds=(0, 0.2))
    ef.max_sharpe(risk_free_rate=0.0)
    wr = np.array(list(ef.clean_weights(cutoff=0, rounding=None).values()))
    w = MaxSharpe().solve(Inputs(cov=P, mu=mu), Constraints(max_weight=0.2))
    sr = lambda x: (mu @ x) / np.sqrt(x @ P @ x)  # noqa: E731
    assert sr(w) >= sr(wr) * (1 - 1e-7)


def test_max_ratio_with_equal_expected_returns_is_min_variance():
    """Fully shrunk means (all equal) leave the frontier without a direction; following
    rounding noise along it used to break the budget by up to 2%."""
    P, _ = random_problem(3, n=12, T=40)
    mu = np.full(12, 4e-4)
    mu[3] += 1e-19  # rounding-level differences, as a James-Stein estimate with shrinkage 1 has
    lb, ub = np.zeros(12), np.full(12, 0.15)
    w = max_ratio_box(P, mu, lb, ub, 1.0, {"gamma": 1e13})
    wmv = solve_box_budget_qp(P, np.zeros(12), lb, ub, 1.0).w
    assert abs(w.sum() - 1.0) < 1e-14 and np.all(w <= 0.15 + 1e-15) and np.all(w >= 0)
    assert np.allclose(w, wmv, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_max_ratio_weights_are_feasible_along_a_walk(seed):
    """Warm-started from each other's state, as in a walk-forward, every answer keeps the budget."""
    rng = np.random.default_rng(seed)
    state, n = {}, 15
    for step in range(12):
        P, mu = random_problem(100 * seed + step, n=n, T=60)
        mu = np.abs(mu) * 0.01 + (1e-3 if step % 3 else 0.0) * rng.random(n)
        w = max_ratio_box(P, mu, np.zeros(n), np.full(n, 0.2), 1.0, state)
        assert abs(w.sum() - 1.0) < 1e-12 and w.min() >= 0 and w.max() <= 0.2 + 1e-15
        ref = _sharpe_reference(P, mu, 0.2)
        assert (mu @ w) / np.sqrt(w @ P @ w) >= ref * (1 - 1e-9)

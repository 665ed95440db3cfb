"""CVaR fast path (smoothed Newton + scenario band LP) against HiGHS on the full RU LP."""

import numpy as np
import pytest

from charter.optimizer.errors import OptimizerError
from charter.optimizer.solvers.cvar import cvar_full_lp, cvar_value, solve_cvar


def scen(seed, S, n):
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(n, 2))
    return rng.standard_t(4, size=(S, 2)) @ B.T * 0.01 + rng.standard_t(4, size=(S, n)) * 0.01 + 0.0005


@pytest.mark.parametrize("seed,S,n,cap,beta", [(0, 400, 8, 0.3, 0.95), (1, 1000, 12, 0.2, 0.95),
                                               (2, 777, 10, 1.0, 0.9), (3, 2000, 15, 0.15, 0.99)])
def test_min_cvar_matches_full_lp(seed, S, n, cap, beta):
    R = scen(seed, S, n)
    ub = np.full(n, cap)
    fast = solve_cvar(R, beta, ub=ub)
    ref = cvar_full_lp(R, beta, ub=ub)
    assert abs(fast.objective - ref.objective) <= 1e-9 * abs(ref.objective)
    assert abs(cvar_value(R, fast.w, beta) - fast.cvar) < 1e-15
    assert np.all(fast.w <= cap + 1e-12) and abs(fast.w.sum() - 1) < 1e-9


def test_mean_cvar_matches_full_lp():
    R = scen(7, 800, 10)
    mu = R.mean(axis=0)
    fast = solve_cvar(R, 0.95, ub=np.full(10, 0.4), mu=mu, risk_aversion=0.5)
    ref = cvar_full_lp(R, 0.95, ub=np.full(10, 0.4), mu=mu, risk_aversion=0.5)
    assert abs(fast.objective - ref.objective) <= 1e-9 * max(abs(ref.objective), 1e-12)


def test_warm_start_resolve_is_exact():
    R = scen(8, 1500, 12)
    first = solve_cvar(R, 0.95, ub=np.full(12, 0.25))
    R2 = np.vstack([R[50:], scen(9, 50, 12)])  # next rebalance: window rolled forward
    warm = solve_cvar(R2, 0.95, ub=np.full(12, 0.25), warm_start=first)
    ref = cvar_full_lp(R2, 0.95, ub=np.full(12, 0.25))
    assert abs(warm.objective - ref.objective) <= 1e-9 * abs(ref.objective)


def test_cvar_errors():
    with pytest.raises(OptimizerError, match="too few"):
        solve_cvar(scen(0, 10, 3), 0.95)
    with pytest.raises(OptimizerError, match="max_weight"):
        solve_cvar(scen(0, 100, 3), 0.9, ub=np.full(3, 0.2))


def test_against_skfolio_min_cvar():
    pytest.importorskip("skfolio")
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    R = scen(4, 400, 10)
    m = MeanRisk(objective_function=ObjectiveFunction.MINIMIZE_RISK, risk_measure=RiskMeasure.CVAR,
                 cvar_beta=0.95, max_weights=0.3)
    m.fit(R)
    ours = solve_cvar(R, 0.95, ub=np.full(10, 0.3))
    assert ours.cvar <= cvar_value(R, m.weights_, 0.95) * (1 + 1e-6)


def _close(a, ref):
    return abs(a.objective - ref.objective) <= 1e-9 * max(abs(ref.objective), 1e-12)


def test_walk_of_warm_resolves_reuses_the_basis_and_stays_exact():
    """Rolling windows: the previous optimum's tie scenarios are recognised in the new set,
    HiGHS restarts from that basis, and every answer carries a duality-gap certificate."""
    R = scen(21, 2200, 20)
    ub = np.full(20, 0.15)
    prev = solve_cvar(R[:2000], 0.95, ub=ub)
    assert prev.var is not None and 0 <= prev.gap <= 1e-10 * abs(prev.objective)
    for step in range(1, 5):
        window = R[50 * step:2000 + 50 * step]
        warm = solve_cvar(window, 0.95, ub=ub, warm_start=prev)
        ref = cvar_full_lp(window, 0.95, ub=ub)
        assert "warm-basis" in warm.method
        assert _close(warm, ref)
        assert abs(warm.w.sum() - 1) < 1e-12 and warm.w.max() <= 0.15 + 1e-15 and warm.w.min() >= 0
        assert 0 <= warm.gap <= 1e-10 * abs(warm.objective)
        prev = warm


def test_warm_start_from_a_fresh_draw_and_mean_cvar():
    R, fresh = scen(30, 1500, 12), scen(31, 1500, 12)
    first = solve_cvar(R, 0.95, ub=np.full(12, 0.3))
    again = solve_cvar(fresh, 0.95, ub=np.full(12, 0.3), warm_start=first)
    assert "warm-basis" not in again.method  # no ties survive a fresh draw: weights only
    assert _close(again, cvar_full_lp(fresh, 0.95, ub=np.full(12, 0.3)))
    mu = R.mean(axis=0) * 5
    m1 = solve_cvar(R, 0.9, ub=np.full(12, 0.3), mu=mu, risk_aversion=0.2)
    R2 = np.vstack([R[30:], fresh[:30]])
    m2 = solve_cvar(R2, 0.9, ub=np.full(12, 0.3), mu=mu, risk_aversion=0.2, warm_start=m1)
    assert _close(m2, cvar_full_lp(R2, 0.9, ub=np.full(12, 0.3), mu=mu, risk_aversion=0.2))


def test_without_highs_bindings_the_linprog_path_is_exact(monkeypatch):
    import charter.optimizer.solvers.cvar as cvar_mod

    monkeypatch.setattr(cvar_mod, "_highs_core", lambda: None)
    R = scen(40, 1200, 10)
    first = solve_cvar(R, 0.95, ub=np.full(10, 0.25))
    R2 = np.vstack([R[40:], scen(41, 40, 10)])
    warm = solve_cvar(R2, 0.95, ub=np.full(10, 0.25), warm_start=first)
    assert _close(first, cvar_full_lp(R, 0.95, ub=np.full(10, 0.25)))
    assert _close(warm, cvar_full_lp(R2, 0.95, ub=np.full(10, 0.25)))
    assert "warm-basis" not in warm.method


def test_uncertified_band_answer_falls_back_to_the_full_lp(monkeypatch):
    """If the band LP's answer cannot be certified (here: a sabotaged dual bound), the
    full LP decides -- never an unchecked answer."""
    import charter.optimizer.solvers.cvar as cvar_mod

    monkeypatch.setattr(cvar_mod, "_dual_bound", lambda *a, **k: -1.0)
    R = scen(50, 600, 8)
    res = solve_cvar(R, 0.95, ub=np.full(8, 0.3))
    assert np.isnan(res.gap)
    assert _close(res, cvar_full_lp(R, 0.95, ub=np.full(8, 0.3)))

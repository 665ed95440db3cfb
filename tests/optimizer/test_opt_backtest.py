"""Walk-forward mechanics: drift, costs, survivorship, vol targeting, metrics."""

import numpy as np
import pytest

from charter.optimizer import Constraints, PortfolioOptimizer, WalkForward, generate_market
from charter.optimizer.data import MarketData
from charter.optimizer.errors import OptimizerError
from charter.optimizer.metrics import deflated_sharpe_ratio, performance


def test_equal_weight_drift_and_costs_by_hand():
    R = np.array([[0.0, 0.0]] * 3 + [[0.1, -0.1], [0.1, 0.0]])
    md = MarketData(np.arange(5), ["a", "b"], R)
    wf = WalkForward(PortfolioOptimizer("min_variance", risk_model="sample", constraints=Constraints(min_weight=0.5)),
                     lookback=3, rebalance_every=10, cost_bps=10).fit(md)
    # day 1: 50/50 -> return 0, minus 10bp on turnover 1.0
    assert wf.returns_[0] == pytest.approx(0.0 - 1.0 * 1e-3)
    # day 2: drifted weights 0.55/0.45 -> 0.55 * 0.1
    assert wf.returns_[1] == pytest.approx(0.055)


def test_objectives_run_and_metrics_sane():
    md = generate_market(15, 500, seed=4)
    for obj in ["min_variance", "mean_variance", "max_sharpe", "max_diversification", "risk_parity", "min_cvar"]:
        wf = WalkForward(PortfolioOptimizer(obj, constraints=Constraints(max_weight=0.2)), lookback=126,
                         rebalance_every=42).fit(md)
        m = wf.metrics_
        assert np.isfinite(m["sharpe"]) and m["max_drawdown"] <= 0 and m["volatility"] > 0
        assert np.allclose(wf.weights_.sum(axis=1), 1.0)
        assert wf.weights_.max() <= 0.2 + 1e-9


def test_survivorship_late_listing_and_delisting():
    md = generate_market(6, 400, seed=2)
    md.returns[:200, 0] = np.nan  # lists late
    md.returns[300:, 1] = np.nan  # delists
    wf = WalkForward(PortfolioOptimizer("min_variance"), lookback=60, rebalance_every=20).fit(md)
    idx = wf.rebalance_index_
    assert np.all(wf.weights_[idx < 260, 0] == 0)  # needs a full clean window first
    assert np.all(wf.weights_[idx > 300, 1] == 0)
    assert wf.metrics_["asset_exclusions"] > 0
    assert np.all(np.isfinite(wf.returns_))


def test_vol_target_scales_risk():
    md = generate_market(10, 600, seed=3)
    base = WalkForward(PortfolioOptimizer("min_variance"), lookback=126, rebalance_every=21).fit(md)
    vt = WalkForward(PortfolioOptimizer("min_variance"), lookback=126, rebalance_every=21, vol_target=0.05).fit(md)
    assert vt.metrics_["volatility"] < base.metrics_["volatility"]


def test_lookback_too_long_is_clear():
    md = generate_market(5, 100, seed=1)
    with pytest.raises(OptimizerError, match="lookback"):
        WalkForward(lookback=200).fit(md)


def test_metrics_and_dsr():
    r = np.random.default_rng(0).normal(0.0005, 0.01, 1000)
    m = performance(r)
    assert set(m) >= {"cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "cvar", "turnover"}
    d1 = deflated_sharpe_ratio(r, np.random.default_rng(1).normal(0, 0.02, 10))
    d2 = deflated_sharpe_ratio(r, np.random.default_rng(1).normal(0, 0.02, 1000), n_trials=1000)
    assert 0 <= d2["dsr"] <= d1["dsr"] <= 1


@pytest.mark.parametrize("risk_model", ["ledoit_wolf", "shrunk", "sample", "oas", "factor"])
def test_incremental_window_moments_do_not_change_the_backtest(risk_model, monkeypatch):
    md = generate_market(12, 700, seed=6)
    md.returns[:150, 3] = np.nan  # a late listing: the asset set changes mid-way

    def run():
        opt = PortfolioOptimizer("min_variance", risk_model=risk_model, constraints=Constraints(max_weight=0.3))
        return WalkForward(opt, lookback=120, rebalance_every=7).fit(md)

    fast = run()
    monkeypatch.setattr(PortfolioOptimizer, "uses_moments", lambda self: False)
    slow = run()
    assert np.abs(fast.weights_ - slow.weights_).max() < 1e-10
    assert np.abs(fast.returns_ - slow.returns_).max() < 1e-12

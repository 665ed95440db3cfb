"""Walk-forward dynamic allocation backtest.

At every rebalance the optimiser sees only the trailing ``lookback`` days;
weights then drift with prices until the next rebalance, transaction costs are
charged on the traded notional, and an optional volatility target scales the
risky book (the rest is cash at zero return).
"""

from __future__ import annotations

import math

import numpy as np

from .constraints import Constraints
from .data import MarketData
from .errors import OptimizerError
from .metrics import performance
from .portfolio import PortfolioOptimizer
from .risk import RollingMoments


class WalkForward:
    """Estimator-style backtest: ``WalkForward(...).fit(market)`` then read ``returns_``, ``metrics_`` ..."""

    def __init__(
        self,
        optimizer: PortfolioOptimizer | None = None,
        lookback: int = 252,
        rebalance_every: int = 21,
        cost_bps: float = 5.0,
        vol_target: float | None = None,
        max_leverage: float = 1.0,
        periods_per_year: int = 252,
    ):
        self.optimizer = optimizer or PortfolioOptimizer()
        self.lookback = int(lookback)
        self.rebalance_every = int(rebalance_every)
        self.cost_bps = float(cost_bps)
        self.vol_target = vol_target
        self.max_leverage = max_leverage
        self.periods_per_year = periods_per_year

    def fit(self, market: MarketData) -> WalkForward:
        R = np.asarray(market.returns, float)
        T, n = R.shape
        L, k = self.lookback, self.rebalance_every
        if L < 2:
            raise OptimizerError(f"backtest: lookback must be >= 2 days, got {L}")
        if k < 1:
            raise OptimizerError(f"backtest: rebalance_every must be >= 1 day, got {k}")
        if T <= L + 1:
            raise OptimizerError(
                f"backtest: {T} days of data but lookback is {L}; need more history or a shorter lookback"
            )
        opt = self.optimizer
        base_c: Constraints = opt.constraints
        rebal = np.arange(L, T, k)
        w = np.zeros(n)  # drifted risky weights (fraction of wealth), cash = 1 - sum
        out = np.empty(T - L)
        weights = np.zeros((rebal.size, n))
        turnovers = np.zeros(rebal.size)
        cost_rate = self.cost_bps / 1e4
        finite = np.isfinite(R)
        all_finite = bool(finite.all())
        Rz = R if all_finite else np.where(finite, R, 0.0)  # delisted/halted: position frozen
        # Consecutive windows share most rows: the covariance estimators that only need
        # the window's mean and scatter get them updated incrementally.
        rolling = RollingMoments(R) if opt.uses_moments() else None
        all_idx = np.arange(n)
        excluded = 0
        last_alive = None
        for j, t in enumerate(rebal):
            window = R[t - L:t]
            alive = all_idx if all_finite else np.flatnonzero(finite[t - L:t].all(axis=0))
            excluded += n - alive.size
            target = np.zeros(n)
            if alive.size >= 1:
                if last_alive is None or not np.array_equal(alive, last_alive):
                    opt._state = {}  # warm starts are per asset-set
                last_alive = alive
                whole = alive.size == n
                c = base_c if whole else base_c.restricted(alive)
                mom = None
                if rolling is not None:
                    rolling.move(t - L, t)
                    mom = rolling.moments(None if whole else alive)
                opt.constraints = c
                try:
                    opt.fit(window if whole else window[:, alive],
                            current_weights=w[alive] if c.max_turnover is not None else None, moments=mom)
                finally:
                    opt.constraints = base_c
                target[alive] = opt.weights_
                if self.vol_target:
                    cov = opt.inputs_.cov
                    if cov is None:
                        cov = np.cov(window[:, alive].T)
                    wa = target[alive]
                    pred = math.sqrt(max(float(wa @ cov @ wa), 0.0) * self.periods_per_year)
                    if pred > 0:
                        target *= min(self.max_leverage, self.vol_target / pred)
            turnover = float(np.abs(target - w).sum())
            turnovers[j] = turnover
            weights[j] = target
            stop = min(t + k, T)
            growth = np.cumprod(1.0 + Rz[t:stop], axis=0)
            cash = 1.0 - target.sum()
            V = cash + growth @ target
            seg_ret = np.empty(V.size)
            seg_ret[0] = V[0] - 1.0
            seg_ret[1:] = V[1:] / V[:-1] - 1.0
            seg_ret[0] -= turnover * cost_rate
            out[t - L:stop - L] = seg_ret
            w = target * growth[-1] / V[-1] if V[-1] > 0 else np.zeros(n)
        self.rebalance_index_ = rebal
        self.rebalance_dates_ = np.asarray(market.dates)[rebal] if len(market.dates) == T else rebal
        self.dates_ = np.asarray(market.dates)[L:] if len(market.dates) == T else np.arange(L, T)
        self.returns_ = out
        self.weights_ = weights
        self.turnover_ = turnovers
        years = out.size / self.periods_per_year
        self.metrics_ = performance(out, turnover=float(turnovers[1:].sum() / years) if years > 0 else 0.0,
                                    periods=self.periods_per_year)
        self.metrics_["n_rebalances"] = int(rebal.size)
        self.metrics_["asset_exclusions"] = int(excluded)
        return self

    def fold_sharpes(self, n_folds: int) -> np.ndarray:
        """Annualised Sharpe of each contiguous out-of-sample fold."""
        from .metrics import sharpe

        parts = np.array_split(self.returns_, n_folds)
        return np.array([sharpe(p, self.periods_per_year) for p in parts])

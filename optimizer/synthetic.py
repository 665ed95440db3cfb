"""Seeded synthetic market: factor model with fat tails and volatility regimes.

Used by tests, demos and benchmarks so every run sees the same data for a seed.
"""

from __future__ import annotations

import numpy as np

from .data import MarketData


def generate_market(
    n_assets: int = 50,
    n_days: int = 1260,
    n_factors: int = 3,
    seed: int = 0,
    dof: float = 5.0,
    stress_prob: float = 0.01,
    calm_prob: float = 0.05,
    stress_vol_mult: float = 2.5,
    start: str = "2015-01-02",
) -> MarketData:
    """Daily returns = alpha + B f_t + e_t, with t-distributed f, e and a 2-state regime.

    The regime is a Markov chain (calm <-> stressed); in the stressed state all
    volatilities are multiplied by ``stress_vol_mult`` and factor means turn
    negative, which produces the volatility clustering and crash correlation
    that make CVaR and volatility targeting meaningful.
    """
    rng = np.random.default_rng(seed)
    B = rng.normal(1.0, 0.3, size=(n_assets, 1))
    if n_factors > 1:
        B = np.hstack([B, rng.normal(0.0, 0.5, size=(n_assets, n_factors - 1))])
    f_vol = np.array([0.010] + [0.005] * (n_factors - 1))
    idio_vol = rng.uniform(0.008, 0.02, size=n_assets)
    alpha = rng.normal(0.0003, 0.0002, size=n_assets)
    regime = np.zeros(n_days, dtype=np.int8)
    u = rng.random(n_days)
    for t in range(1, n_days):
        p = stress_prob if regime[t - 1] == 0 else 1.0 - calm_prob
        regime[t] = 1 if u[t] < p else 0
    mult = np.where(regime == 1, stress_vol_mult, 1.0)[:, None]
    tscale = np.sqrt((dof - 2) / dof)
    f = rng.standard_t(dof, size=(n_days, n_factors)) * f_vol * tscale * mult
    f[:, 0] += np.where(regime == 1, -0.002, 0.0004)
    e = rng.standard_t(dof, size=(n_days, n_assets)) * idio_vol * tscale * mult
    R = alpha + f @ B.T + e
    R = np.maximum(R, -0.95)
    dates = np.busday_offset(np.datetime64(start, "D"), np.arange(n_days), roll="forward")
    names = [f"A{i:03d}" for i in range(n_assets)]
    md = MarketData(dates=dates, assets=names, returns=R)
    md.report = {"source": "synthetic", "seed": seed, "stressed_days": int(regime.sum())}
    return md

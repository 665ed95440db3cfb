"""Scenario generators for CVaR objectives; every random one takes a seed.

All return an S x n matrix of simple returns.
"""

from __future__ import annotations

import numpy as np

from .errors import OptimizerError


def historical(X: np.ndarray) -> np.ndarray:
    """The lookback window itself: each past day is one equally likely scenario."""
    return np.asarray(X, float)


def stationary_bootstrap(X: np.ndarray, n_scenarios: int, mean_block: float = 10.0, seed: int = 0,
                         horizon: int = 1) -> np.ndarray:
    """Politis-Romano stationary bootstrap of ``horizon``-day compounded returns.

    Block lengths are geometric with mean ``mean_block`` so serial dependence
    (volatility clustering) survives resampling.
    """
    X = np.asarray(X, float)
    T, n = X.shape
    if T < 2:
        raise OptimizerError("stationary_bootstrap: need at least 2 observations")
    rng = np.random.default_rng(seed)
    p = 1.0 / max(mean_block, 1.0)
    total = n_scenarios * horizon
    idx = np.empty(total, dtype=np.int64)
    starts = rng.integers(0, T, size=total)
    newblock = rng.random(total) < p
    idx[0] = starts[0]
    for t in range(1, total):  # cheap: integer work only
        idx[t] = starts[t] if newblock[t] else (idx[t - 1] + 1) % T
    paths = X[idx].reshape(n_scenarios, horizon, n)
    return np.expm1(np.log1p(paths).sum(axis=1))


def multivariate_t(mean: np.ndarray, cov: np.ndarray, n_scenarios: int, dof: float = 5.0, seed: int = 0) -> np.ndarray:
    """Multivariate Student-t with the given mean and covariance (fat, jointly heavy tails)."""
    if dof <= 2:
        raise OptimizerError(f"multivariate_t: dof must exceed 2 for a finite covariance, got {dof}")
    rng = np.random.default_rng(seed)
    n = len(mean)
    L = np.linalg.cholesky(cov + 1e-14 * np.trace(cov) / n * np.eye(n))
    z = rng.standard_normal((n_scenarios, n)) @ L.T
    g = rng.chisquare(dof, size=(n_scenarios, 1)) / dof
    return np.asarray(mean) + z / np.sqrt(g) * np.sqrt((dof - 2) / dof)


def factor_monte_carlo(X: np.ndarray, n_scenarios: int, n_factors: int = 3, dof: float = 5.0, seed: int = 0) -> np.ndarray:
    """PCA factor model fitted to ``X``; t-distributed factor and idiosyncratic shocks."""
    X = np.asarray(X, float)
    T, n = X.shape
    m = X.mean(axis=0)
    Xc = X - m
    k = int(min(n_factors, n - 1, T - 1)) if n > 1 else 1
    U, s, Vt = np.linalg.svd(Xc, full_matrices=False)
    F = U[:, :k] * s[:k]
    B = Vt[:k].T
    resid = Xc - F @ B.T
    f_sd = F.std(axis=0, ddof=1)
    e_sd = resid.std(axis=0, ddof=1)
    rng = np.random.default_rng(seed)
    scale = np.sqrt((dof - 2) / dof)
    ft = rng.standard_t(dof, size=(n_scenarios, k)) * f_sd * scale
    et = rng.standard_t(dof, size=(n_scenarios, n)) * e_sd * scale
    return m + ft @ B.T + et


def make_scenarios(kind: str, X: np.ndarray, n_scenarios: int = 2000, seed: int = 0, **kw) -> np.ndarray:
    if kind == "historical":
        return historical(X)
    if kind == "bootstrap":
        return stationary_bootstrap(X, n_scenarios, seed=seed, **kw)
    if kind == "student_t":
        X = np.asarray(X, float)
        return multivariate_t(X.mean(axis=0), np.cov(X.T), n_scenarios, seed=seed, **kw)
    if kind == "factor_mc":
        return factor_monte_carlo(X, n_scenarios, seed=seed, **kw)
    raise OptimizerError(
        f"scenarios: unknown kind '{kind}'; choose historical, bootstrap, student_t or factor_mc"
    )

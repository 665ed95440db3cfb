"""Covariance estimators (risk models), estimator-style: configure, ``fit(X)``, read ``covariance_``.

Functional cores (``ledoit_wolf`` etc.) are plain numpy so the walk-forward can
call them in a tight loop without object overhead.
"""

from __future__ import annotations

import numpy as np

from .errors import OptimizerError


def _center(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, float)
    if X.ndim != 2 or X.shape[0] < 2:
        raise OptimizerError(f"risk model: need a 2-D returns window with >= 2 rows, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise OptimizerError("risk model: returns window contains NaN/inf; clean or restrict the asset set")
    return X - X.mean(axis=0)


def sample_cov(X: np.ndarray) -> np.ndarray:
    Xc = _center(X)
    return Xc.T @ Xc / (Xc.shape[0] - 1)


def ledoit_wolf(X: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf (2004) shrinkage towards a scaled identity; same formula as scikit-learn."""
    Xc = _center(X)
    T, n = Xc.shape
    S = Xc.T @ Xc / T
    mu = np.trace(S) / n
    X2 = Xc * Xc
    beta_ = float(np.sum(X2.T @ X2)) / T - float(np.sum(S * S))
    delta = float(np.sum(S * S)) - 2 * mu * np.trace(S) + n * mu * mu
    beta_ = min(max(beta_ / T, 0.0), delta) if delta > 0 else 0.0
    shrink = 0.0 if delta == 0 else beta_ / delta
    C = (1 - shrink) * S
    C[np.diag_indices(n)] += shrink * mu
    return C, shrink


def oas(X: np.ndarray) -> tuple[np.ndarray, float]:
    """Oracle Approximating Shrinkage (Chen et al. 2010), scikit-learn's formula."""
    Xc = _center(X)
    T, n = Xc.shape
    S = Xc.T @ Xc / T
    mu = np.trace(S) / n
    alpha = float(np.mean(S * S))
    num = alpha + mu * mu
    den = (T + 1.0) * (alpha - mu * mu / n)
    shrink = 1.0 if den == 0 else min(num / den, 1.0)
    C = (1 - shrink) * S
    C[np.diag_indices(n)] += shrink * mu
    return C, shrink


def ewma_cov(X: np.ndarray, halflife: float = 63.0) -> np.ndarray:
    """Exponentially weighted covariance (most recent row weighted most)."""
    X = np.asarray(X, float)
    T = X.shape[0]
    lam = 0.5 ** (1.0 / halflife)
    wts = lam ** np.arange(T - 1, -1, -1)
    wts /= wts.sum()
    m = wts @ X
    Xc = X - m
    return (Xc * wts[:, None]).T @ Xc / (1.0 - np.sum(wts * wts))


def factor_cov(X: np.ndarray, n_factors: int = 3) -> np.ndarray:
    """Statistical (PCA) factor model: top-k eigen-structure plus diagonal idiosyncratic risk."""
    S = sample_cov(X)
    n = S.shape[0]
    k = int(min(max(n_factors, 1), n - 1)) if n > 1 else 1
    vals, vecs = np.linalg.eigh(S)
    top = slice(n - k, n)
    B = vecs[:, top] * np.sqrt(np.maximum(vals[top], 0.0))
    common = B @ B.T
    resid = np.maximum(np.diag(S) - np.diag(common), 1e-12 * np.trace(S) / n)
    return common + np.diag(resid)


class RiskModel:
    """Base: ``fit(returns)`` sets ``covariance_`` (and ``shrinkage_`` when it applies)."""

    name = "base"

    def _estimate(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X: np.ndarray) -> RiskModel:
        self.covariance_ = self._estimate(np.asarray(X, float))
        return self


class SampleCovariance(RiskModel):
    name = "sample"

    def _estimate(self, X):
        return sample_cov(X)


class LedoitWolf(RiskModel):
    name = "ledoit_wolf"

    def _estimate(self, X):
        C, self.shrinkage_ = ledoit_wolf(X)
        return C


class OAS(RiskModel):
    name = "oas"

    def _estimate(self, X):
        C, self.shrinkage_ = oas(X)
        return C


class EWMACovariance(RiskModel):
    name = "ewma"

    def __init__(self, halflife: float = 63.0):
        self.halflife = halflife

    def _estimate(self, X):
        return ewma_cov(X, self.halflife)


class FactorModelCovariance(RiskModel):
    name = "factor"

    def __init__(self, n_factors: int = 3):
        self.n_factors = n_factors

    def _estimate(self, X):
        return factor_cov(X, self.n_factors)


class ShrunkCovariance(RiskModel):
    """Fixed shrinkage intensity towards scaled identity (a search hyperparameter)."""

    name = "shrunk"

    def __init__(self, shrinkage: float = 0.1):
        self.shrinkage = shrinkage

    def _estimate(self, X):
        S = sample_cov(X)
        mu = np.trace(S) / S.shape[0]
        C = (1 - self.shrinkage) * S
        C[np.diag_indices(S.shape[0])] += self.shrinkage * mu
        self.shrinkage_ = self.shrinkage
        return C


RISK_MODELS = {
    "sample": SampleCovariance,
    "ledoit_wolf": LedoitWolf,
    "oas": OAS,
    "ewma": EWMACovariance,
    "factor": FactorModelCovariance,
    "shrunk": ShrunkCovariance,
}


def make_risk_model(name: str, **kwargs) -> RiskModel:
    try:
        cls = RISK_MODELS[name]
    except KeyError:
        raise OptimizerError(
            f"risk_model: unknown '{name}'; choose one of {', '.join(sorted(RISK_MODELS))}"
        ) from None
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise OptimizerError(f"risk_model '{name}': bad parameters {kwargs}: {exc}") from None

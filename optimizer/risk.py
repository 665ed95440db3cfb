"""Covariance estimators (risk models), estimator-style: configure, ``fit(X)``, read ``covariance_``.

Functional cores (``ledoit_wolf`` etc.) are plain numpy so the walk-forward can
call them in a tight loop without object overhead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import OptimizerError


def _check(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, float)
    if X.ndim != 2 or X.shape[0] < 2:
        raise OptimizerError(f"risk model: need a 2-D returns window with >= 2 rows, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise OptimizerError("risk model: returns window contains NaN/inf; clean or restrict the asset set")
    return X


@dataclass
class Moments:
    """Mean and scatter ``S = Xc'Xc / T`` (biased) of one returns window.

    Every covariance estimator below except EWMA is a cheap function of these,
    so a walk-forward computes them once per window -- incrementally, see
    :class:`RollingMoments` -- and hands them to the estimator.
    """

    mean: np.ndarray
    scatter: np.ndarray
    T: int


def _moments(X: np.ndarray, moments: Moments | None) -> tuple[np.ndarray, Moments]:
    """Centred window plus its moments (computed here unless supplied)."""
    X = _check(X)
    if moments is None:
        m = X.mean(axis=0)
        Xc = X - m
        return Xc, Moments(m, Xc.T @ Xc / X.shape[0], X.shape[0])
    if X.shape != (moments.T, moments.mean.size):
        raise OptimizerError(f"risk model: moments are for a {moments.T}x{moments.mean.size} window, got {X.shape}")
    return X - moments.mean, moments


class RollingMoments:
    """Sum and cross-product matrix of a sliding window of rows, updated incrementally.

    A walk-forward's consecutive windows share most rows (252-day lookback,
    21-day step: 231 rows), so instead of one ``L x n`` matrix product per
    rebalance the cross-products are updated with the rows that enter and leave
    (a ``2k x n`` product), falling back to a fresh product when that is not
    cheaper.  Rows are shifted by a fixed per-column centre first so the update
    does not lose precision to the mean.  NaNs count as zero here; callers only
    ask for columns that are finite throughout the window, for which the result
    is exact.  A fresh product every ``refresh`` updates bounds rounding drift.
    """

    def __init__(self, R: np.ndarray, refresh: int = 64):
        R = np.asarray(R, float)
        finite = np.isfinite(R)
        self._R = R if finite.all() else np.where(finite, R, 0.0)
        head = slice(0, min(R.shape[0], 256))  # centre: column means of the first rows seen
        self._c = self._R[head].sum(axis=0) / np.maximum(finite[head].sum(axis=0), 1)
        self._lo = self._hi = 0
        self._G = np.zeros((R.shape[1], R.shape[1]))
        self._s = np.zeros(R.shape[1])
        self._updates = 0
        self._refresh = refresh

    def _rows(self, a: int, b: int) -> np.ndarray:
        return self._R[a:b] - self._c

    def move(self, lo: int, hi: int) -> None:
        """Make the window rows ``[lo, hi)``."""
        old_lo, old_hi = self._lo, self._hi
        add = [(max(lo, old_hi), hi)] if hi > old_hi else []
        drop = [(old_lo, min(lo, old_hi))] if lo > old_lo else []
        n_changed = sum(b - a for a, b in add + drop)
        overlap = lo < old_hi and old_lo < hi and lo >= old_lo and hi >= old_hi
        if not overlap or 2 * n_changed >= hi - lo or self._updates >= self._refresh:
            Y = self._rows(lo, hi)
            self._G = Y.T @ Y
            self._s = Y.sum(axis=0)
            self._updates = 0
        else:
            # one product for all changed rows: [A; B]' [A; -B] = A'A - B'B
            A = np.vstack([self._rows(a, b) for a, b in add] + [self._rows(a, b) for a, b in drop])
            na = sum(b - a for a, b in add)
            Bm = A.copy()
            Bm[na:] *= -1.0
            self._G += A.T @ Bm
            self._s += Bm.sum(axis=0)
            self._updates += 1
        self._lo, self._hi = lo, hi

    def moments(self, cols: np.ndarray | None = None) -> Moments:
        """Moments of the current window, restricted to ``cols`` (all when None)."""
        T = self._hi - self._lo
        G, s, c = self._G, self._s, self._c
        if cols is not None and cols.size != c.size:
            G, s, c = G[np.ix_(cols, cols)], s[cols], c[cols]
        m = s / T
        return Moments(mean=c + m, scatter=G / T - np.outer(m, m), T=T)


def sample_cov(X: np.ndarray, moments: Moments | None = None) -> np.ndarray:
    Xc, mo = _moments(X, moments)
    return mo.scatter * (mo.T / (mo.T - 1))


def _shrink_to_identity(S: np.ndarray, shrink: float, mu: float) -> np.ndarray:
    C = (1 - shrink) * S
    C[np.diag_indices(S.shape[0])] += shrink * mu
    return C


def ledoit_wolf(X: np.ndarray, moments: Moments | None = None) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf (2004) shrinkage towards a scaled identity; same formula as scikit-learn.

    scikit-learn's fourth-moment term ``sum((Xc**2).T @ (Xc**2))`` is an n x n
    product; it equals ``sum_t (sum_i Xc_ti**2)**2``, which is O(T n).
    """
    Xc, mo = _moments(X, moments)
    T, n = Xc.shape
    S = mo.scatter
    mu = np.trace(S) / n
    r2 = np.einsum("ij,ij->i", Xc, Xc)
    SS = float(np.vdot(S, S))
    beta_ = float(r2 @ r2) / T - SS
    delta = SS - 2 * mu * np.trace(S) + n * mu * mu
    beta_ = min(max(beta_ / T, 0.0), delta) if delta > 0 else 0.0
    shrink = 0.0 if delta == 0 else beta_ / delta
    return _shrink_to_identity(S, shrink, mu), shrink


def oas(X: np.ndarray, moments: Moments | None = None) -> tuple[np.ndarray, float]:
    """Oracle Approximating Shrinkage (Chen et al. 2010), scikit-learn's formula."""
    Xc, mo = _moments(X, moments)
    T, n = Xc.shape
    S = mo.scatter
    mu = np.trace(S) / n
    alpha = float(np.vdot(S, S)) / (n * n)
    num = alpha + mu * mu
    den = (T + 1.0) * (alpha - mu * mu / n)
    shrink = 1.0 if den == 0 else min(num / den, 1.0)
    return _shrink_to_identity(S, shrink, mu), shrink


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


def factor_cov(X: np.ndarray, n_factors: int = 3, moments: Moments | None = None) -> np.ndarray:
    """Statistical (PCA) factor model: top-k eigen-structure plus diagonal idiosyncratic risk."""
    S = sample_cov(X, moments)
    n = S.shape[0]
    k = int(min(max(n_factors, 1), n - 1)) if n > 1 else 1
    vals, vecs = np.linalg.eigh(S)
    top = slice(n - k, n)
    B = vecs[:, top] * np.sqrt(np.maximum(vals[top], 0.0))
    common = B @ B.T
    resid = np.maximum(np.diag(S) - np.diag(common), 1e-12 * np.trace(S) / n)
    return common + np.diag(resid)


class RiskModel:
    """Base: ``fit(returns)`` sets ``covariance_`` (and ``shrinkage_`` when it applies).

    ``fit(X, moments=...)`` accepts the window's precomputed :class:`Moments`
    (a walk-forward's incremental ones); estimators that cannot use them ignore them.
    """

    name = "base"

    def _estimate(self, X: np.ndarray, moments: Moments | None) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X: np.ndarray, moments: Moments | None = None) -> RiskModel:
        self.covariance_ = self._estimate(np.asarray(X, float), moments)
        return self


class SampleCovariance(RiskModel):
    name = "sample"

    def _estimate(self, X, moments):
        return sample_cov(X, moments)


class LedoitWolf(RiskModel):
    name = "ledoit_wolf"

    def _estimate(self, X, moments):
        C, self.shrinkage_ = ledoit_wolf(X, moments)
        return C


class OAS(RiskModel):
    name = "oas"

    def _estimate(self, X, moments):
        C, self.shrinkage_ = oas(X, moments)
        return C


class EWMACovariance(RiskModel):
    name = "ewma"

    def __init__(self, halflife: float = 63.0):
        self.halflife = halflife

    def _estimate(self, X, moments):
        return ewma_cov(X, self.halflife)


class FactorModelCovariance(RiskModel):
    name = "factor"

    def __init__(self, n_factors: int = 3):
        self.n_factors = n_factors

    def _estimate(self, X, moments):
        return factor_cov(X, self.n_factors, moments)


class ShrunkCovariance(RiskModel):
    """Fixed shrinkage intensity towards scaled identity (a search hyperparameter)."""

    name = "shrunk"

    def __init__(self, shrinkage: float = 0.1):
        self.shrinkage = shrinkage

    def _estimate(self, X, moments):
        S = sample_cov(X, moments)
        self.shrinkage_ = self.shrinkage
        return _shrink_to_identity(S, self.shrinkage, np.trace(S) / S.shape[0])


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

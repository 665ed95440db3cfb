"""Expected-return estimators: historical mean, EWMA mean, James-Stein shrunk mean."""

from __future__ import annotations

import numpy as np

from .errors import OptimizerError


class ReturnsModel:
    name = "base"

    def fit(self, X: np.ndarray) -> ReturnsModel:
        X = np.asarray(X, float)
        if X.ndim != 2 or X.shape[0] < 1 or not np.all(np.isfinite(X)):
            raise OptimizerError("returns model: need a finite 2-D returns window")
        self.mean_ = self._estimate(X)
        return self


class HistoricalMean(ReturnsModel):
    name = "historical"

    def _estimate(self, X):
        return X.mean(axis=0)


class EWMAMean(ReturnsModel):
    name = "ewma"

    def __init__(self, halflife: float = 126.0):
        self.halflife = halflife

    def _estimate(self, X):
        lam = 0.5 ** (1.0 / self.halflife)
        w = lam ** np.arange(X.shape[0] - 1, -1, -1)
        return (w / w.sum()) @ X


class ShrunkMean(ReturnsModel):
    """James-Stein shrinkage of the sample means towards their cross-sectional average.

    Sample means are the noisiest input of mean-variance; shrinking them is the
    cheapest way to stop the optimiser chasing estimation error.
    """

    name = "shrunk"

    def __init__(self, shrinkage: float | None = None):
        self.shrinkage = shrinkage

    def _estimate(self, X):
        T, n = X.shape
        m = X.mean(axis=0)
        target = m.mean()
        if self.shrinkage is not None:
            a = float(self.shrinkage)
        else:
            var_mean = np.mean(X.var(axis=0, ddof=1)) / T
            dist = float(np.sum((m - target) ** 2))
            a = 1.0 if dist == 0 else min(1.0, max(0.0, (n - 3) * var_mean / dist))
        self.shrinkage_ = a
        return (1 - a) * m + a * target


RETURNS_MODELS = {"historical": HistoricalMean, "ewma": EWMAMean, "shrunk": ShrunkMean}


def make_returns_model(name: str, **kwargs) -> ReturnsModel:
    try:
        return RETURNS_MODELS[name](**kwargs)
    except KeyError:
        raise OptimizerError(
            f"returns_model: unknown '{name}'; choose one of {', '.join(sorted(RETURNS_MODELS))}"
        ) from None

"""Performance metrics of a daily return series (annualised with ``periods``)."""

from __future__ import annotations

import math

import numpy as np


def drawdowns(returns: np.ndarray) -> np.ndarray:
    wealth = np.cumprod(1.0 + np.asarray(returns, float))
    peak = np.maximum.accumulate(np.concatenate([[1.0], wealth]))[1:]
    return wealth / peak - 1.0


def sharpe(returns: np.ndarray, periods: int = 252) -> float:
    r = np.asarray(returns, float)
    if r.size < 2:
        return float("nan")
    sd = r.std(ddof=1)
    return float(r.mean() / sd * math.sqrt(periods)) if sd > 0 else 0.0


def performance(returns: np.ndarray, turnover: float = 0.0, periods: int = 252, beta: float = 0.95) -> dict:
    """CAGR, volatility, Sharpe, Sortino, max drawdown, Calmar, CVaR, turnover."""
    r = np.asarray(returns, float)
    if r.size == 0:
        return {k: float("nan") for k in ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "cvar", "turnover")}
    years = r.size / periods
    wealth = float(np.prod(1.0 + r))
    cagr = wealth ** (1.0 / years) - 1.0 if wealth > 0 else -1.0
    vol = float(r.std(ddof=1) * math.sqrt(periods)) if r.size > 1 else 0.0
    downside = r[r < 0]
    dsd = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(periods) if downside.size else 0.0
    mdd = float(drawdowns(r).min())
    k = max(1, int(math.ceil((1 - beta) * r.size)))
    cvar = float(-np.sort(r)[:k].mean())
    return {
        "cagr": float(cagr),
        "volatility": vol,
        "sharpe": sharpe(r, periods),
        "sortino": float(r.mean() * periods / dsd) if dsd > 0 else 0.0,
        "max_drawdown": mdd,
        "calmar": float(cagr / -mdd) if mdd < 0 else 0.0,
        "cvar": cvar,
        "turnover": float(turnover),
    }


def deflated_sharpe_ratio(returns: np.ndarray, trial_sharpes: np.ndarray, n_trials: int | None = None) -> dict:
    """Bailey & Lopez de Prado (2014) deflated Sharpe ratio of the *selected* strategy.

    ``trial_sharpes`` are the per-period (not annualised) Sharpe ratios of all
    trials tried; the expected maximum of that many noise Sharpes is the hurdle.
    Returns the probability that the true Sharpe exceeds the hurdle.
    """
    # imported here: scipy.stats takes ~1 s to import, which every search worker
    # process would otherwise pay at start-up for a function only the parent calls
    from scipy import stats

    r = np.asarray(returns, float)
    T = r.size
    sr = r.mean() / r.std(ddof=1) if T > 1 and r.std(ddof=1) > 0 else 0.0
    ts = np.asarray(trial_sharpes, float)
    ts = ts[np.isfinite(ts)]
    N = int(n_trials or ts.size)
    var_sr = float(ts.var(ddof=1)) if ts.size > 1 else 0.0
    gamma = 0.5772156649015329
    if N > 1:
        sr0 = math.sqrt(var_sr) * ((1 - gamma) * stats.norm.ppf(1 - 1.0 / N) + gamma * stats.norm.ppf(1 - 1.0 / (N * math.e)))
    else:
        sr0 = 0.0
    skew = float(stats.skew(r)) if T > 2 else 0.0
    kurt = float(stats.kurtosis(r, fisher=False)) if T > 3 else 3.0
    denom = math.sqrt(max(1e-12, 1 - skew * sr + (kurt - 1) / 4.0 * sr * sr))
    z = (sr - sr0) * math.sqrt(max(T - 1, 1)) / denom
    return {"dsr": float(stats.norm.cdf(z)), "sharpe_per_period": float(sr), "hurdle_per_period": float(sr0),
            "n_trials": N, "skew": skew, "kurtosis": kurt}

"""HTML report with matplotlib PNGs.  Imported lazily: matplotlib is optional for the engine."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on environment
        from .errors import OptimizerError

        raise OptimizerError(
            "report: matplotlib is not installed; `pip install matplotlib` or pass --no-report"
        ) from None
    return plt


def efficient_frontier(cov: np.ndarray, mu: np.ndarray, lb, ub, points: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """(vol, return) pairs along the box+budget frontier, per period."""
    from .solvers.qp import solve_box_budget_qp

    n = mu.size
    scale = float(np.trace(cov)) / n / max(float(np.abs(mu).max()), 1e-300)
    vols, rets, act = [], [], None
    for g in np.concatenate([[0.0], np.geomspace(scale * 1e-3, scale * 1e2, points - 1)]):
        r = solve_box_budget_qp(cov, -g * mu, lb, ub, 1.0, warm_active=act)
        act = r.active
        vols.append(float(np.sqrt(r.w @ cov @ r.w)))
        rets.append(float(mu @ r.w))
    return np.array(vols), np.array(rets)


def write_report(out_dir: str | Path, title: str, backtest, summary: dict, frontier=None, assets=None) -> Path:
    """Write equity/drawdown/weights/frontier PNGs and an index.html into ``out_dir``."""
    from .metrics import drawdowns

    plt = _plt()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dates = np.asarray(backtest.dates_)
    x = dates.astype("datetime64[D]").astype(object) if np.issubdtype(dates.dtype, np.datetime64) else dates
    pngs = []

    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(x, np.cumprod(1 + backtest.returns_))
    ax.set_title("Equity curve (net of costs)")
    ax.set_ylabel("wealth")
    fig.tight_layout()
    fig.savefig(out / "equity.png", dpi=90)
    plt.close(fig)
    pngs.append(("Equity curve", "equity.png"))

    fig, ax = plt.subplots(figsize=(8, 3))
    ax.fill_between(x, drawdowns(backtest.returns_), 0, color="tab:red", alpha=0.5)
    ax.set_title("Drawdowns")
    fig.tight_layout()
    fig.savefig(out / "drawdowns.png", dpi=90)
    plt.close(fig)
    pngs.append(("Drawdowns", "drawdowns.png"))

    W = backtest.weights_
    rd = np.asarray(backtest.rebalance_dates_)
    rx = rd.astype("datetime64[D]").astype(object) if np.issubdtype(rd.dtype, np.datetime64) else rd
    top = np.argsort(-W.mean(axis=0))[:10]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    stack = [W[:, j] for j in top] + [W.sum(axis=1) - W[:, top].sum(axis=1)]
    labels = [(assets[j] if assets else str(j)) for j in top] + ["other"]
    ax.stackplot(rx, *stack, labels=labels, step="post")
    ax.legend(fontsize=6, ncol=6, loc="upper left")
    ax.set_title("Weights at each rebalance (top 10 assets)")
    fig.tight_layout()
    fig.savefig(out / "weights.png", dpi=90)
    plt.close(fig)
    pngs.append(("Weights over time", "weights.png"))

    if frontier is not None:
        vols, rets = frontier
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(vols * np.sqrt(252), rets * 252, "-o", ms=3)
        ax.set_xlabel("volatility (ann.)")
        ax.set_ylabel("expected return (ann.)")
        ax.set_title("Efficient frontier (last rebalance window)")
        fig.tight_layout()
        fig.savefig(out / "frontier.png", dpi=90)
        plt.close(fig)
        pngs.append(("Efficient frontier", "frontier.png"))

    rows = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>" for k, v in summary.items()
        if not isinstance(v, (dict, list))
    )
    imgs = "".join(f"<h2>{html.escape(t)}</h2><img src='{p}' alt='{html.escape(t)}'>" for t, p in pngs)
    extra = html.escape(json.dumps({k: v for k, v in summary.items() if isinstance(v, (dict, list))}, indent=2,
                                   default=str))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;max-width:900px;margin:auto}td{padding:2px 8px}</style></head>"
            f"<body><h1>{html.escape(title)}</h1><table>{rows}</table>{imgs}<h2>Details</h2><pre>{extra}</pre>"
            "</body></html>")
    (out / "report.html").write_text(page)
    return out / "report.html"


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)

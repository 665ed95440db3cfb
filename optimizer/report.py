"""HTML report with matplotlib PNGs.  Imported lazily: matplotlib is optional for the engine.

Self-contained on purpose (numpy, matplotlib and this package only): the optimizer ships
in its own container and depends on nothing else of Charter. The page reads at a glance:
metrics as percentages and ratios beside an equal-weight benchmark over the same days,
the benchmark drawn on the equity curve, the weights legend outside the plot, and no
efficient-frontier chart when the frontier is degenerate (all its points within 1e-9 of
each other, e.g. when the bounds leave a single feasible allocation): the page says so.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

#: Points of a frontier closer than this (per period, in volatility and return) are one point.
DEGENERATE_SPAN = 1e-9

#: metric -> (label, how to show it)
METRICS: dict[str, tuple[str, str]] = {
    "cagr": ("Annual return (CAGR)", "pct"),
    "volatility": ("Volatility (annualised)", "pct"),
    "sharpe": ("Sharpe ratio", "ratio"),
    "sortino": ("Sortino ratio", "ratio"),
    "max_drawdown": ("Maximum drawdown", "pct"),
    "calmar": ("Calmar ratio", "ratio"),
    "cvar": ("CVaR 95% (daily)", "pct"),
    "turnover": ("Turnover (per year)", "pct"),
    "n_rebalances": ("Rebalances", "int"),
    "asset_exclusions": ("Asset exclusions (missing data)", "int"),
}


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


def frontier_is_degenerate(frontier: tuple[np.ndarray, np.ndarray], span: float = DEGENERATE_SPAN) -> bool:
    """True when every point lies within `span` of the others: a point, not a curve."""
    vols, rets = (np.asarray(a, float) for a in frontier)
    if vols.size < 2 or not (np.isfinite(vols).all() and np.isfinite(rets).all()):
        return True
    return float(np.ptp(vols)) <= span and float(np.ptp(rets)) <= span


def equal_weight_returns(returns: np.ndarray) -> np.ndarray:
    """The 1/N portfolio rebalanced every period, over the assets with data that period."""
    r = np.asarray(returns, float)
    alive = np.isfinite(r)
    n = alive.sum(axis=1)
    return np.where(n > 0, np.where(alive, r, 0.0).sum(axis=1) / np.maximum(n, 1), 0.0)


def format_metric(key: str, value: Any) -> str:
    """7.0% for a rate, 1.23 for a ratio, 12 for a count; anything else as text."""
    kind = METRICS.get(key, ("", ""))[1]
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        return str(value)
    v = float(value)
    if not np.isfinite(v):
        return "n/a"
    if kind == "pct":
        return f"{v * 100:.1f}%"
    if kind == "ratio":
        return f"{v:.2f}"
    if kind == "int" or isinstance(value, (int, np.integer)):
        return f"{int(round(v)):,}"
    return f"{v:.4g}"


def _x(dates: np.ndarray) -> np.ndarray:
    d = np.asarray(dates)
    return d.astype("datetime64[D]").astype(object) if np.issubdtype(d.dtype, np.datetime64) else d


def equity_figure(backtest, benchmark: np.ndarray | None = None, benchmark_label: str = "equal weight (1/N)"):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    x = _x(backtest.dates_)
    ax.plot(x, np.cumprod(1 + backtest.returns_), label="strategy (net of costs)", color="tab:blue")
    if benchmark is not None:
        ax.plot(x, np.cumprod(1 + benchmark), label=f"benchmark: {benchmark_label}", color="tab:gray",
                linestyle="--")
    ax.set_title("Equity curve")
    ax.set_ylabel("wealth (start = 1)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def weights_figure(backtest, assets: list[str] | None = None):
    """Stacked weights of the top 10 assets; the legend sits right of the axes, never over them."""
    plt = _plt()
    W = backtest.weights_
    rx = _x(backtest.rebalance_dates_)
    top = np.argsort(-W.mean(axis=0))[:10]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    stack = [W[:, j] for j in top] + [W.sum(axis=1) - W[:, top].sum(axis=1)]
    labels = [(assets[j] if assets else str(j)) for j in top] + ["other"]
    ax.stackplot(rx, *stack, labels=labels, step="post")
    ax.set_ylim(0, max(1.0, float(W.sum(axis=1).max())))
    ax.set_ylabel("weight")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, title="asset",
              title_fontsize=7)
    ax.set_title("Weights at each rebalance (top 10 assets)")
    fig.tight_layout()
    return fig


def write_report(out_dir: str | Path, title: str, backtest, summary: dict, frontier=None, assets=None, *,
                 benchmark_returns: np.ndarray | None = None,
                 benchmark_label: str = "equal weight (1/N), rebalanced daily") -> Path:
    """Write equity/drawdown/weights/frontier PNGs and a report.html into ``out_dir``."""
    from .metrics import drawdowns, performance

    plt = _plt()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x = _x(backtest.dates_)
    bench = None
    if benchmark_returns is not None:
        bench = np.asarray(benchmark_returns, float)[-len(backtest.returns_):]
        if bench.shape != np.asarray(backtest.returns_).shape:
            bench = None
    pngs: list[tuple[str, str]] = []

    def save(fig, name: str, caption: str) -> None:
        fig.savefig(out / name, dpi=90, bbox_inches="tight")
        plt.close(fig)
        pngs.append((caption, name))

    save(equity_figure(backtest, bench, benchmark_label), "equity.png", "Equity curve")
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.fill_between(x, drawdowns(backtest.returns_) * 100, 0, color="tab:red", alpha=0.5, label="strategy")
    if bench is not None:
        ax.plot(x, drawdowns(bench) * 100, color="tab:gray", linestyle="--", label="benchmark")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.set_ylabel("drawdown (%)")
    ax.set_title("Drawdowns")
    fig.tight_layout()
    save(fig, "drawdowns.png", "Drawdowns")
    save(weights_figure(backtest, assets), "weights.png", "Weights over time")

    frontier_note = ""
    if frontier is not None and frontier_is_degenerate(frontier):
        frontier_note = ("<p class='note' id='frontier-note'>No efficient frontier is drawn: all its points lie "
                         f"within {DEGENERATE_SPAN:g} of each other (volatility and return), so under these "
                         "constraints every risk appetite gives the same portfolio.</p>")
    elif frontier is not None:
        vols, rets = frontier
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(np.asarray(vols) * np.sqrt(252) * 100, np.asarray(rets) * 252 * 100, "-o", ms=3)
        ax.set_xlabel("volatility (annualised, %)")
        ax.set_ylabel("expected return (annualised, %)")
        ax.set_title("Efficient frontier (last rebalance window)")
        fig.tight_layout()
        save(fig, "frontier.png", "Efficient frontier")

    bench_metrics = performance(bench) if bench is not None else {}
    scalar = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
    head = "<tr><th>metric</th><th>strategy</th>" + ("<th>benchmark</th>" if bench_metrics else "") + "</tr>"
    rows = "".join(
        f"<tr data-metric='{html.escape(str(k))}'><td>{html.escape(METRICS.get(k, (str(k), ''))[0])}</td>"
        f"<td class='num'>{html.escape(format_metric(k, v))}</td>"
        + (f"<td class='num'>{html.escape(format_metric(k, bench_metrics[k]) if k in bench_metrics else '')}</td>"
           if bench_metrics else "")
        + "</tr>" for k, v in scalar.items()
    )
    bench_text = (f"<p class='note'>Benchmark: {html.escape(benchmark_label)} over the same days, before costs.</p>"
                  if bench_metrics else "")
    imgs = "".join(f"<h2>{html.escape(t)}</h2><img src='{p}' alt='{html.escape(t)}'>" for t, p in pngs)
    extra = html.escape(json.dumps({k: v for k, v in summary.items() if isinstance(v, (dict, list))}, indent=2,
                                   default=str))
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'><link rel='icon' href='data:,'>"
            f"<title>{html.escape(title)}</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:900px;margin:1.5rem auto;padding:0 1rem;"
            "color:#1f2328}img{max-width:100%;height:auto}table{border-collapse:collapse}"
            "td,th{padding:3px 10px;border-bottom:1px solid #eaeef2;text-align:left}td.num{text-align:right;"
            "font-variant-numeric:tabular-nums}.note{color:#57606a}pre{overflow-x:auto}</style></head>"
            f"<body><h1>{html.escape(title)}</h1><table id='metrics'>{head}{rows}</table>{bench_text}{imgs}"
            f"{frontier_note}<h2>Details</h2><pre>{extra}</pre></body></html>")
    (out / "report.html").write_text(page)
    return out / "report.html"

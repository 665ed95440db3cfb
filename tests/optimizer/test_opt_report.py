"""The optimizer's report.html reads at a glance: metrics formatted as people read them, an
equal-weight benchmark beside the strategy, the weights legend outside the plot, no frontier
chart drawn from a degenerate frontier (the page says why), and a page that fits 1280 px."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from charter.optimizer import Constraints, PortfolioOptimizer, WalkForward, generate_market  # noqa: E402
from charter.optimizer.report import (  # noqa: E402
    efficient_frontier,
    equal_weight_returns,
    format_metric,
    frontier_is_degenerate,
    weights_figure,
    write_report,
)


@pytest.fixture(scope="module")
def run():
    md = generate_market(12, 400, seed=7)
    wf = WalkForward(PortfolioOptimizer("min_variance", constraints=Constraints(max_weight=0.3)), lookback=100,
                     rebalance_every=30).fit(md)
    return md, wf


@pytest.mark.parametrize(("key", "value", "text"), [
    ("cagr", 0.0704601, "7.0%"), ("volatility", 0.1234, "12.3%"), ("max_drawdown", -0.2051, "-20.5%"),
    ("sharpe", 1.23456, "1.23"), ("calmar", 0.3, "0.30"), ("n_rebalances", 12, "12"), ("turnover", 2.5, "250.0%"),
    ("cagr", float("nan"), "n/a"),
])
def test_metrics_are_formatted(key, value, text):
    assert format_metric(key, value) == text


def test_equal_weight_benchmark_skips_missing_assets():
    r = np.array([[0.02, np.nan, 0.04], [np.nan, np.nan, np.nan]])
    assert equal_weight_returns(r).tolist() == [pytest.approx(0.03), 0.0]


def test_report_shows_formatted_metrics_beside_the_benchmark(run, tmp_path):
    md, wf = run
    bench = equal_weight_returns(md.returns)[-len(wf.returns_):]
    path = write_report(tmp_path, "t", wf, wf.metrics_, assets=md.assets, benchmark_returns=bench)
    page = path.read_text()
    row = re.search(r"<tr data-metric='cagr'><td>[^<]*</td><td class='num'>([^<]*)</td><td class='num'>([^<]*)</td>",
                    page)
    assert row and row.group(1) == f"{wf.metrics_['cagr'] * 100:.1f}%"
    from charter.optimizer.metrics import performance

    assert row.group(2) == f"{performance(bench)['cagr'] * 100:.1f}%"
    assert repr(wf.metrics_["cagr"]) not in page and f"{wf.metrics_['volatility']:.6g}" not in page
    assert "Benchmark: equal weight" in page


def test_weights_legend_sits_outside_the_plot(run):
    md, wf = run
    fig = weights_figure(wf, md.assets)
    fig.canvas.draw()
    ax = fig.axes[0]
    legend, plot = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= plot.x1 - 0.5, (legend, plot)  # right of the axes: covers no weight
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_degenerate_frontier_is_not_drawn_and_the_page_says_so(run, tmp_path):
    md, wf = run
    window = md.returns[-100:]
    cov, mu = np.cov(window.T), window.mean(axis=0)
    n = mu.size
    single = efficient_frontier(cov, mu, np.full(n, 1 / n), np.full(n, 1 / n))  # one feasible allocation
    assert frontier_is_degenerate(single)
    path = write_report(tmp_path / "flat", "t", wf, wf.metrics_, frontier=single, assets=md.assets)
    assert not (tmp_path / "flat" / "frontier.png").exists()
    assert "No efficient frontier is drawn" in path.read_text()
    curve = efficient_frontier(cov, mu, np.zeros(n), np.ones(n))
    assert not frontier_is_degenerate(curve)
    path = write_report(tmp_path / "curve", "t", wf, wf.metrics_, frontier=curve, assets=md.assets)
    assert (tmp_path / "curve" / "frontier.png").exists() and "frontier.png" in path.read_text()


def test_report_in_chromium_fits_and_loads_every_image(run, tmp_path):
    from chromium_page import CHROMIUM, LAYOUT_PROBE, SKIP_REASON, load_in_chromium

    if CHROMIUM is None:
        pytest.skip(SKIP_REASON)
    md, wf = run
    path = write_report(tmp_path, "t", wf, wf.metrics_, assets=md.assets,
                        benchmark_returns=equal_weight_returns(md.returns)[-len(wf.returns_):])
    probe = LAYOUT_PROBE.replace("return {", "return {images: Array.prototype.map.call(document.images, "
                                             "function (i) { return i.complete && i.naturalWidth > 0; }), ")
    _, errors, console, got = load_in_chromium(path, tmp_path, probe)
    assert errors == [] and console == []
    assert got["images"] and all(got["images"])
    assert got["scrollWidth"] <= got["innerWidth"] == 1280

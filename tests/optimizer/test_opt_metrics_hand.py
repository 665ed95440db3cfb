"""The optimizer's performance metrics against numbers worked out by hand on short series.

Each expected value is written as the arithmetic a person does on paper for that series
(wealth path, peak, trough, the worst returns), never with the functions under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from charter.optimizer.metrics import drawdowns, performance, sharpe


def test_one_year_of_four_quarters() -> None:
    # +10 %, -20 %, +25 %, -10 %: wealth 1.10, 0.88, 1.10, 0.99
    r = np.array([0.10, -0.20, 0.25, -0.10])
    m = performance(r, periods=4, beta=0.95)
    assert m["cagr"] == pytest.approx(0.99 - 1)  # one year: the total return
    # the peak 1.10 falls to 0.88 (and later only to 0.99)
    assert m["max_drawdown"] == pytest.approx(0.88 / 1.10 - 1)  # -0.20
    assert m["calmar"] == pytest.approx(-0.01 / 0.20)
    # mean 0.0125 a quarter, 0.05 a year; downside deviation sqrt((0.2² + 0.1²) / 4) a quarter, x sqrt(4) a year
    assert m["sortino"] == pytest.approx(0.05 / (math.sqrt((0.04 + 0.01) / 4) * 2))
    # sample standard deviation: squared deviations from 0.0125 sum to 0.121875, over n - 1 = 3
    quarterly_sd = math.sqrt(0.121875 / 3)
    assert m["volatility"] == pytest.approx(quarterly_sd * 2)
    assert m["sharpe"] == pytest.approx(0.0125 / quarterly_sd * 2)
    assert sharpe(r, periods=4) == pytest.approx(m["sharpe"])
    # CVaR at 95 % of 4 observations: the worst ceil(5 % x 4) = 1 of them, as a loss
    assert m["cvar"] == pytest.approx(0.20)
    # at 50 %: the mean of the worst two, -20 % and -10 %
    assert performance(r, periods=4, beta=0.5)["cvar"] == pytest.approx(0.15)


def test_two_years_with_a_halving_and_a_recovery() -> None:
    # half-years: +10 %, +10 %, -50 %, +100 %: wealth 1.1, 1.21, 0.605, 1.21
    r = np.array([0.10, 0.10, -0.50, 1.00])
    m = performance(r, periods=2, beta=0.75)
    assert m["cagr"] == pytest.approx(1.21 ** (1 / 2) - 1)  # 10 % a year over two years
    assert m["max_drawdown"] == pytest.approx(0.605 / 1.21 - 1)  # -50 %
    assert m["calmar"] == pytest.approx(0.10 / 0.50)
    # mean 0.175 a half-year, 0.35 a year; downside deviation sqrt(0.5² / 4) = 0.25, x sqrt(2) a year
    assert m["sortino"] == pytest.approx(0.35 / (0.25 * math.sqrt(2)))
    assert m["cvar"] == pytest.approx(0.50)  # the worst ceil(25 % x 4) = 1 return


def test_a_loss_on_the_first_day_is_a_drawdown_from_the_starting_wealth() -> None:
    # starting at 1.0: 0.5, then 1.0 again; the peak before the first day counts
    assert drawdowns(np.array([-0.5, 1.0])).tolist() == pytest.approx([-0.5, 0.0])
    m = performance(np.array([-0.5, 1.0]), periods=2)
    assert m["max_drawdown"] == pytest.approx(-0.5) and m["cagr"] == pytest.approx(0.0)


def test_no_loss_has_no_drawdown_no_downside_and_no_calmar() -> None:
    m = performance(np.array([0.01, 0.02, 0.01]), periods=3)
    assert m["max_drawdown"] == 0.0 and m["calmar"] == 0.0 and m["sortino"] == 0.0
    assert m["cagr"] == pytest.approx(1.01 * 1.02 * 1.01 - 1)
    assert m["cvar"] == pytest.approx(-0.01)  # the worst day was still a gain: a negative loss


def test_a_total_loss_is_minus_one_hundred_percent_a_year() -> None:
    m = performance(np.array([0.5, -1.0]), periods=2)
    assert m["cagr"] == -1.0 and m["max_drawdown"] == pytest.approx(-1.0)

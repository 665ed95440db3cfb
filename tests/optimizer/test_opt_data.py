"""Data loading, explicit cleaning report, estimators and scenario reproducibility."""

import builtins

import numpy as np
import pytest

from charter.optimizer.data import load_market
from charter.optimizer.errors import OptimizerError
from charter.optimizer.returns import EWMAMean, HistoricalMean, ShrunkMean
from charter.optimizer.risk import (
    OAS,
    EWMACovariance,
    FactorModelCovariance,
    LedoitWolf,
    SampleCovariance,
    make_risk_model,
)
from charter.optimizer.scenarios import make_scenarios
from charter.optimizer.synthetic import generate_market


def write(tmp_path, text, name="p.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_prices_cleaning_is_reported(tmp_path):
    text = (
        "date,A,B,C\n"
        "2024-01-02,100,,50\n"
        "2024-01-03,101,,51\n"
        "2024-01-06,102,,52\n"  # Saturday -> dropped
        "2024-01-04,,20,52\n"  # gap in A -> forward-filled; B lists late
        "2024-01-04,102,20,52\n"  # duplicate date, last wins
        "2024-01-05,103,21,\n"  # C delisted
        "2024-01-08,104,22,\n"
    )
    md = load_market(write(tmp_path, text))
    r = md.report
    assert r["duplicate_dates_dropped"] == 1
    assert r["non_business_days_dropped"] == 1
    assert r["late_listings"] == {"B": "2024-01-04"}
    assert r["delistings"] == {"C": "2024-01-04"}
    assert md.returns.shape == (4, 3)
    assert np.isnan(md.returns[0, 1]) and np.isnan(md.returns[-1, 2])
    assert md.returns[1, 0] == pytest.approx(102 / 101 - 1)


def test_csv_errors_are_clear(tmp_path):
    with pytest.raises(OptimizerError, match="not found"):
        load_market(tmp_path / "nope.csv")
    with pytest.raises(OptimizerError, match="line 3"):
        load_market(write(tmp_path, "date,A\n2024-01-02,1\n2024-01-03,x\n"))
    with pytest.raises(OptimizerError, match="non-positive"):
        load_market(write(tmp_path, "date,A\n2024-01-02,1\n2024-01-03,-1\n2024-01-04,1\n"))


def test_parquet_without_pyarrow_says_how_to_fix(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def fake(name, *a, **k):
        if name.startswith("pyarrow"):
            raise ImportError("no pyarrow")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    p = tmp_path / "x.parquet"
    p.write_bytes(b"PAR1")
    with pytest.raises(OptimizerError, match="pip install pyarrow"):
        load_market(p)


def test_parquet_roundtrip(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    tbl = pa.table({"date": ["2024-01-02", "2024-01-03", "2024-01-04"], "A": [1.0, 1.1, 1.2], "B": [2.0, None, 2.2]})
    pq.write_table(tbl, tmp_path / "p.parquet")
    md = load_market(tmp_path / "p.parquet")
    assert md.returns.shape == (2, 2) and md.report["values_forward_filled"] == 1


def test_synthetic_is_seeded():
    a, b = generate_market(5, 300, seed=3), generate_market(5, 300, seed=3)
    assert np.array_equal(a.returns, b.returns)
    assert not np.array_equal(a.returns, generate_market(5, 300, seed=4).returns)
    assert a.report["stressed_days"] > 0


def test_risk_models_are_valid_covariances():
    X = generate_market(12, 200, seed=1).returns
    for m in (SampleCovariance(), LedoitWolf(), OAS(), EWMACovariance(30), FactorModelCovariance(2), make_risk_model("shrunk", shrinkage=0.3)):
        C = m.fit(X).covariance_
        assert np.allclose(C, C.T) and np.linalg.eigvalsh(C).min() > 0
    with pytest.raises(OptimizerError, match="unknown"):
        make_risk_model("nope")


def test_ledoit_wolf_and_oas_match_sklearn():
    sk = pytest.importorskip("sklearn.covariance")
    X = generate_market(10, 150, seed=2).returns
    assert np.allclose(LedoitWolf().fit(X).covariance_, sk.LedoitWolf().fit(X).covariance_, rtol=1e-10, atol=1e-16)
    assert np.allclose(OAS().fit(X).covariance_, sk.OAS().fit(X).covariance_, rtol=1e-10, atol=1e-16)


def test_returns_models():
    X = generate_market(8, 250, seed=5).returns
    h = HistoricalMean().fit(X).mean_
    s = ShrunkMean().fit(X)
    assert 0 <= s.shrinkage_ <= 1
    assert np.std(s.mean_) <= np.std(h) + 1e-15
    assert EWMAMean(20).fit(X).mean_.shape == (8,)


@pytest.mark.parametrize("kind", ["bootstrap", "student_t", "factor_mc"])
def test_scenarios_reproducible(kind):
    X = generate_market(6, 300, seed=1).returns
    a = make_scenarios(kind, X, n_scenarios=500, seed=9)
    b = make_scenarios(kind, X, n_scenarios=500, seed=9)
    assert a.shape == (500, 6) and np.array_equal(a, b)
    assert not np.array_equal(a, make_scenarios(kind, X, n_scenarios=500, seed=10))


def test_rolling_moments_match_direct_estimates_through_nans_and_refreshes():
    from charter.optimizer.risk import Moments, RollingMoments, ledoit_wolf, oas, sample_cov

    R = generate_market(7, 400, seed=8).returns
    R[:90, 2] = np.nan  # lists late
    R[300:, 5] = np.nan  # delists
    roll = RollingMoments(R, refresh=5)  # refresh often so both update paths are exercised
    # the walk-forward's moves (overlapping steps) plus jumps back and far ahead (fresh products)
    for lo, hi in [(0, 60), (10, 70), (20, 80), (25, 85), (100, 160), (110, 170), (40, 100), (300, 390),
                   (301, 391), (305, 400)]:
        roll.move(lo, hi)
        X = R[lo:hi]
        cols = np.flatnonzero(np.isfinite(X).all(axis=0))
        mom = roll.moments(cols)
        Xc = X[:, cols]
        assert isinstance(mom, Moments) and mom.T == hi - lo
        assert np.allclose(mom.mean, Xc.mean(axis=0), rtol=0, atol=1e-15)
        for f in (sample_cov, lambda A, m=None: ledoit_wolf(A, m)[0], lambda A, m=None: oas(A, m)[0]):
            direct, shared = f(Xc), f(Xc, mom)
            assert np.abs(direct - shared).max() <= 1e-12 * np.abs(direct).max()
    with pytest.raises(OptimizerError, match="moments are for"):
        ledoit_wolf(R[310:320, :3], roll.moments(np.arange(3)))


def test_ledoit_wolf_fourth_moment_shortcut_is_the_sklearn_term():
    from charter.optimizer.risk import ledoit_wolf

    X = generate_market(9, 120, seed=4).returns
    Xc = X - X.mean(axis=0)
    T, n = Xc.shape
    S = Xc.T @ Xc / T
    mu = np.trace(S) / n
    X2 = Xc**2
    beta = min(max(((X2.T @ X2).sum() / T - (S**2).sum()) / T, 0.0), (S**2).sum() - 2 * mu * np.trace(S) + n * mu**2)
    shrink = beta / ((S**2).sum() - 2 * mu * np.trace(S) + n * mu**2)
    C, s = ledoit_wolf(X)
    assert s == pytest.approx(shrink, rel=1e-12)
    assert np.allclose(C, (1 - shrink) * S + shrink * mu * np.eye(n), rtol=1e-12, atol=0)

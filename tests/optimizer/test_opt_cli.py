"""`charter optimize` sub-app: outputs, and one-line errors with exit code 2."""

import json

import pytest

typer = pytest.importorskip("typer")
pytest.importorskip("yaml")
from typer.testing import CliRunner  # noqa: E402

from charter.commands.optimize import app  # noqa: E402

JOB = """
seed: 3
data:
  synthetic: {{n_assets: 8, n_days: 420}}
portfolio:
  objective: {objective}
  constraints: {{max_weight: {cap}}}
backtest: {{lookback: 60, rebalance_every: 21}}
search:
  n_trials: 4
  n_rungs: 1
  workers: 1
  n_folds: 3
  space: {{lookback: [40, 100], rebalance_every: [10, 30], objectives: [min_variance, risk_parity]}}
"""


def job(tmp_path, objective="min_variance", cap=0.3, text=None):
    p = tmp_path / "job.yaml"
    p.write_text(text if text is not None else JOB.format(objective=objective, cap=cap))
    return p


def test_run_writes_json_and_report(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", "-c", str(job(tmp_path)), "-o", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "result.json").read_text())
    assert "sharpe" in res["metrics"]
    html = (out / "report.html").read_text()
    for png in ("equity.png", "drawdowns.png", "weights.png", "frontier.png"):
        assert (out / png).exists() and png in html


def test_search_writes_results(tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["search", "-c", str(job(tmp_path)), "-o", str(out), "--no-report"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "search.json").read_text())
    assert res["n_failures"] == 0 and len(res["trials"]) == 4
    assert (out / "trials.jsonl").exists()


@pytest.mark.parametrize("text,needle", [
    ("data: [1, 2\n", "invalid YAML"),
    ("bogus: 1\n", "unknown section"),
    ("portfolio: {objective: nope}\n", "job.portfolio.objective"),
    ("data: {synthetic: {n_assets: 8, n_days: 300}}\nbacktest: {lookback: 400}\n", "job.backtest.lookback"),
])
def test_user_errors_exit_2_one_line(tmp_path, text, needle):
    r = CliRunner().invoke(app, ["run", "-c", str(job(tmp_path, text=text)), "--no-report"])
    assert r.exit_code == 2
    assert needle in r.output and r.output.startswith("error: ")
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


def test_infeasible_constraints_exit_2(tmp_path):
    r = CliRunner().invoke(app, ["run", "-c", str(job(tmp_path, cap=0.05)), "--no-report"])
    assert r.exit_code == 2 and "max_weight" in r.output and "error: " in r.output


def test_missing_config_file(tmp_path):
    r = CliRunner().invoke(app, ["search", "-c", str(tmp_path / "none.yaml")])
    assert r.exit_code == 2 and "not found" in r.output

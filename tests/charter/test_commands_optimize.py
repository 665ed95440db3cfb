"""`charter optimize run|search`: mistakes in the paths a user passes end in one `error:` line and
exit 2 before any backtest runs, and nothing is written over."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from charter.cli import app

JOB = """
seed: 3
data:
  synthetic: {n_assets: 8, n_days: 420}
portfolio:
  objective: min_variance
  constraints: {max_weight: 0.3}
backtest: {lookback: 60, rebalance_every: 21}
search:
  n_trials: 4
  n_rungs: 1
  workers: 1
  n_folds: 3
  space: {lookback: [40, 100], rebalance_every: [10, 30], objectives: [min_variance, risk_parity]}
"""


def _one_error(output: str, *needles: str) -> None:
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: CHARTER-"), output
    assert "Traceback" not in output
    for needle in needles:
        assert needle in " ".join(output.split()), (needle, output)


def test_an_output_path_that_is_a_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    taken = tmp_path / "result"
    taken.write_text("keep me")
    for command in ("run", "search"):
        r = CliRunner().invoke(app, ["optimize", command, "-c", str(job), "-o", str(taken)])
        assert r.exit_code == 2, r.output
        _one_error(r.output, f"{taken}: exists and is not a directory", "pass a directory with -o")
    assert taken.read_text() == "keep me"


def test_a_job_file_that_is_not_utf8_says_where(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_bytes(b"seed: 3\n# caf\xe9\n")  # Latin-1, as an old editor saves it: é is byte 13 (from 0)
    r = CliRunner().invoke(app, ["optimize", "run", "-c", str(job), "-o", str(tmp_path / "out"), "--no-report"])
    assert r.exit_code == 2, r.output
    _one_error(r.output, f"{job}: not UTF-8 text (byte 13)", "save the job file as UTF-8")
    assert not (tmp_path / "out").exists()


def test_search_refuses_a_checkpoint_that_is_a_directory(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(JOB)
    (tmp_path / "trials").mkdir()
    r = CliRunner().invoke(app, ["optimize", "search", "-c", str(job), "-o", str(tmp_path / "out"),
                                 "--checkpoint", str(tmp_path / "trials")])
    assert r.exit_code == 2, r.output
    _one_error(r.output, f"--checkpoint {tmp_path / 'trials'}: not a regular file")
    assert not (tmp_path / "out").exists()


def test_a_search_space_with_bounds_reversed_is_one_error_line(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text(JOB.replace("lookback: [40, 100]", "lookback: [100, 40]"))
    r = CliRunner().invoke(app, ["optimize", "search", "-c", str(job), "-o", str(tmp_path / "out"), "--no-report"])
    assert r.exit_code == 2, r.output
    _one_error(r.output, "search.space.lookback: lower bound 100 exceeds upper bound 40")
    assert not (tmp_path / "out" / "search.json").exists()

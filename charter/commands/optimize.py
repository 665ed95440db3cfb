"""`charter optimize run|search -c job.yaml`: portfolio optimisation from a job file.

Heavy imports (numpy, scipy, matplotlib, the engine) happen inside the command
functions so `charter --help` stays fast.  User-caused problems (bad job file,
infeasible constraints) print one `error: ...` line and exit with code 2.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from charter.commands.optimize_cluster import local_cluster
from charter.errors import JobError
from charter.options import OUTPUT, OutputFormat
from charter.output import emit_json, err_console

app = typer.Typer(help="Portfolio optimisation: single backtest (run) or hyperparameter search (search).",
                  no_args_is_help=True)

ConfigOpt = typer.Option(..., "-c", "--config", help="Job description (YAML).")
OutOpt = typer.Option(Path("optimizer-out"), "-o", "--out", help="Output directory for JSON and HTML report.")


def _fail(msg: str) -> None:
    """One `error: CHARTER-760: ...` line, exit 2 (printed here, as the group also runs on its own)."""
    from charter.output import error

    error(msg, JobError.code)
    raise typer.Exit(2)


def _out_dir(out: Path) -> None:
    """Checked before any work: a backtest that runs for minutes must not end on a bad -o."""
    if out.exists() and not out.is_dir():
        _fail(f"{out}: exists and is not a directory; pass a directory with -o")
    parent = out.parent if not out.exists() else out
    if not parent.exists():
        return  # made with its parents
    if not os.access(parent, os.W_OK):
        _fail(f"{parent}: not writable; pass a writable directory with -o")


def _load_job(config: Path):
    import yaml

    from charter.optimizer.errors import OptimizerError
    from charter.optimizer.jobfile import parse_job

    if not config.exists():
        _fail(f"{config}: file not found; pass an existing job.yaml with -c")
    if not config.is_file():
        _fail(f"{config}: not a regular file (a directory, FIFO or device); pass the job.yaml file with -c")
    try:
        text = config.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        _fail(f"{config}: not UTF-8 text (byte {exc.start}); save the job file as UTF-8")
    except OSError as exc:
        _fail(f"{config}: cannot read: {exc.strerror}")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        _fail(f"{config}:{where} invalid YAML ({getattr(exc, 'problem', exc)}); fix the syntax")
    try:
        return parse_job(raw or {}, base_dir=str(config.parent))
    except OptimizerError as exc:
        _fail(f"{config}: {exc}")


def _write_json(path: Path, obj) -> None:
    import json

    import numpy as np

    def default(o):
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (np.floating, np.integer)):
            return o.item()
        return str(o)

    path.write_text(json.dumps(obj, indent=2, default=default, allow_nan=True))


@app.command()
def run(config: Path = ConfigOpt, out: Path = OutOpt,
        report: bool = typer.Option(True, "--report/--no-report", help="Write the HTML report."),
        output: OutputFormat = OUTPUT) -> None:
    """Backtest the portfolio described in the job file (walk-forward).

    Writes result.json and report.html (equity curve, drawdowns, weights, efficient frontier).

    Example: `charter optimize run -c examples/optimizer/job.yaml -o optimizer-out`
    """
    from charter.optimizer.backtest import WalkForward
    from charter.optimizer.errors import OptimizerError
    from charter.optimizer.portfolio import PortfolioOptimizer

    _out_dir(out)
    job = _load_job(config)
    try:
        wf = WalkForward(PortfolioOptimizer(**job.optimizer_kwargs), **job.backtest_kwargs).fit(job.market)
        out.mkdir(parents=True, exist_ok=True)
        result = {
            "metrics": wf.metrics_,
            "data_report": job.market.report,
            "assets": job.market.assets,
            "final_weights": dict(zip(job.market.assets, wf.weights_[-1].tolist(), strict=True)),
        }
        _write_json(out / "result.json", result)
        if report:
            _report(out, "Charter optimisation: " + job.optimizer_kwargs["objective"], wf, job, wf.metrics_)
    except OptimizerError as exc:
        _fail(f"{config}: {exc}")
    if output == OutputFormat.json:
        emit_json("optimize-run", {"result": str(out / "result.json"),
                                   "report": str(out / "report.html") if report else None,
                                   "metrics": _plain(result["metrics"]), "final_weights": _plain(result["final_weights"])})
        return
    typer.echo(f"wrote {out / 'result.json'}" + (f" and {out / 'report.html'}" if report else ""))


def _plain(obj):
    """numpy scalars and arrays as JSON numbers and lists; NaN/inf as null (JSON has neither)."""
    import json
    import math

    def clean(o):
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, list | tuple):
            return [clean(v) for v in o]
        if hasattr(o, "tolist"):
            return clean(o.tolist())
        if isinstance(o, float) and not math.isfinite(o):
            return None
        return o

    return json.loads(json.dumps(clean(obj), default=str))


def _report(out: Path, title: str, wf, job, summary: dict) -> None:
    from charter.optimizer.report import efficient_frontier, equal_weight_returns, write_report
    from charter.optimizer.returns import ShrunkMean
    from charter.optimizer.risk import ledoit_wolf

    L = job.backtest_kwargs["lookback"]
    window = job.market.returns[-L:]
    alive = (window == window).all(axis=0)
    cov, _ = ledoit_wolf(window[:, alive])
    mu = ShrunkMean().fit(window[:, alive]).mean_
    lb, ub = job.optimizer_kwargs["constraints"].bounds(int(alive.sum()))
    try:
        frontier = efficient_frontier(cov, mu, lb, ub)
    except Exception:  # a report must not fail on a degenerate frontier
        frontier = None
    write_report(out, title, wf, summary, frontier=frontier, assets=job.market.assets,
                 benchmark_returns=equal_weight_returns(job.market.returns)[-len(wf.returns_):])


@app.command()
def search(config: Path = ConfigOpt, out: Path = OutOpt,
           workers: int = typer.Option(None, "--workers", "-w", help="Processes (default: job file / 2)."),
           checkpoint: Path = typer.Option(None, "--checkpoint", help="JSONL checkpoint (default OUT/trials.jsonl)."),
           report: bool = typer.Option(True, "--report/--no-report", help="Write the HTML report."),
           output: OutputFormat = OUTPUT) -> None:
    """Hyperparameter search with out-of-sample validation; resumable from its checkpoint.

    Interrupt it at any time: rerunning the same command skips the trials in the checkpoint.

    Example: `charter optimize search -c examples/optimizer/job.yaml -o search-out --workers 2`
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from charter.optimizer.errors import OptimizerError

    _out_dir(out)
    if checkpoint is not None and checkpoint.exists() and not checkpoint.is_file():
        _fail(f"--checkpoint {checkpoint}: not a regular file")
    job = _load_job(config)
    if job.search is None:
        _fail(f"{config}: no 'search:' section; add one (see examples/optimizer/job.yaml)")
    s = job.search
    if workers is not None:
        if workers < 1:
            _fail("--workers must be >= 1")
        s.workers = workers
    out.mkdir(parents=True, exist_ok=True)
    s.checkpoint = str(checkpoint or out / "trials.jsonl")
    try:
        with Progress(TextColumn("[bold]search[/] rung {task.fields[rung]}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), transient=False, console=err_console) as prog:
            task = prog.add_task("search", total=None, rung=0)

            def cb(done, total, rung):
                prog.update(task, completed=done, total=total, rung=rung)

            s.fit(job.market, progress=cb)
        summary = {
            "best_config": s.best_config_,
            "best_score_validation_sharpe": s.best_record_["score"],
            "holdout_sharpe": s.holdout_sharpe_,
            "deflated_sharpe": s.deflated_sharpe_,
            "n_trials": s.n_trials,
            "n_failures": s.n_failures_,
            "full_period_metrics": s.best_backtest_.metrics_,
        }
        _write_json(out / "search.json", {**summary, "trials": s.table_, "data_report": job.market.report})
        if report:
            flat = {"best_" + k: v for k, v in s.best_config_.items()}
            flat.update({k: v for k, v in s.best_backtest_.metrics_.items()})
            flat["deflated_sharpe"] = s.deflated_sharpe_["dsr"]
            flat["holdout_sharpe"] = s.holdout_sharpe_
            flat["details"] = summary
            _report(out, "Charter optimisation search", s.best_backtest_, job, flat)
    except OptimizerError as exc:
        _fail(f"{config}: {exc}")
    if output == OutputFormat.json:
        emit_json("optimize-search", {"search": str(out / "search.json"), "best_config": _plain(s.best_config_),
                                      "holdout_sharpe": _plain(s.holdout_sharpe_), "n_trials": s.n_trials,
                                      "n_failures": s.n_failures_, "metrics": _plain(s.best_backtest_.metrics_)})
        return
    typer.echo(f"best: {s.best_config_}  ->  {out / 'search.json'}")
app.command("local-cluster")(local_cluster)

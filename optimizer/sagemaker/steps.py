"""The optimizer's pipeline steps as functions of a SageMaker :class:`Contract`.

    validate-data -> generate-scenarios -> optimize-shard (x N hosts, per rung) -> aggregate
                  -> synthesize-agent-report

and ``search`` (a Training job: one host runs the whole search, several hosts run their
shards), all reading inputs and writing outputs only where SageMaker's contracts put
them.  Nothing here depends on the SageMaker SDK, so the container needs numpy + scipy.

Determinism across host counts: trial ``i`` is the same configuration everywhere
(``sample_configs`` is seeded), each trial's result is a pure function of (config,
data, settings), a host evaluates ``shard(ids, host_index, n_hosts)`` (or the trial
files ShardedByS3Key handed it), and the aggregator merges the shard files into one
checkpoint that :meth:`HyperparameterSearch.fit` finishes from.  So N hosts give the
same trial table and best configuration as one process.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from charter.optimizer.checkpoint import Checkpoint, repair_torn_tail  # noqa: F401 (re-exported for tests)
from charter.optimizer.data import MarketData, save_returns_csv
from charter.optimizer.errors import OptimizerError
from charter.optimizer.jobfile import Job, parse_job
from charter.optimizer.search import (
    HyperparameterSearch,
    aggregate,
    budgets_for,
    evaluate_trial,
    promote,
    sample_configs,
    shard,
)

from .contract import Contract

#: Input / output names shared by the entrypoint, the pipeline definition and the local cluster.
CONFIG, MARKET, VALIDATED, PLAN, TRIALS, PROMOTED, SHARDS, RESULTS, REPORT = (
    "config", "market", "validated", "plan", "trials", "promoted", "shards", "results", "report")
JOB_FILE = "job.json"
RETURNS_FILE = "returns.csv"
N_STRESS_SCENARIOS = 2000

Log = Callable[[str], None]


def _log(msg: str) -> None:
    print(msg, flush=True)


def _write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default))
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)


def _read_json(path: Path, what: str) -> Any:
    if not path.exists():
        raise OptimizerError(f"{what}: {path} is missing; did the previous pipeline step write it?")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise OptimizerError(f"{what}: {path} is not valid JSON ({exc})") from None


# ------------------------------------------------------------------ job loading
def _load_job_file(path: Path) -> dict:
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # the container ships numpy + scipy only
            raise OptimizerError(f"{path}: the container reads JSON job files; convert the YAML to JSON") from None
        return yaml.safe_load(path.read_text()) or {}
    return _read_json(path, "job")


def _find_job(directory: Path) -> Path:
    for name in (JOB_FILE, "job.yaml", "job.yml"):
        if (directory / name).exists():
            return directory / name
    found = sorted(directory.glob("*.json")) if directory.exists() else []
    if len(found) == 1:
        return found[0]
    raise OptimizerError(f"job: no {JOB_FILE} in {directory}; pass the job description as the '{CONFIG}' input")


def validated_job(c: Contract) -> Job:
    """The job as DataValidation rewrote it: data = the validated returns file."""
    d = c.input(VALIDATED)
    job = parse_job(_read_json(d / JOB_FILE, "validated job"), base_dir=str(d))
    if job.search is None:
        raise OptimizerError("job: no 'search:' section; the pipeline runs a hyperparameter search")
    return job


def search_fingerprint(search: HyperparameterSearch, market: MarketData) -> str:
    """The fingerprint ``HyperparameterSearch.fit`` writes into its checkpoint header.

    Shard checkpoints carry it so a stale checkpoint from another search is refused,
    and the aggregator's merged checkpoint is accepted by ``fit``.  (The engine keeps the
    computation private; a test pins that this matches the header ``fit`` writes.)
    """
    from charter.optimizer.search import _fingerprint

    budgets = budgets_for(search.halving, search.n_rungs, search.eta)
    return _fingerprint(market, search.space, search.settings, {
        "n": search.n_trials, "sampler": search.sampler, "seed": search.seed, "budgets": budgets,
        "eta": search.eta})


# ------------------------------------------------------------------ step 1: validate-data
def validate_data(c: Contract, log: Log = _log) -> dict:
    """Parse and clean the job's market data; write the returns every later step reads."""
    cfg_path = _find_job(c.input(CONFIG))
    cfg = _load_job_file(cfg_path)
    if not isinstance(cfg, dict):
        raise OptimizerError(f"{cfg_path}: top level must be a mapping")
    data = cfg.get("data") or {"synthetic": {}}
    if isinstance(data, dict) and "path" in data:
        # The file travels in the 'market' input; the job names it by its base name.
        name = Path(str(data["path"])).name
        local = c.input(MARKET) / name
        if not local.exists():
            raise OptimizerError(f"job.data.path: {name} is not in the '{MARKET}' input ({c.input(MARKET)}); "
                                 "upload it next to the other market data files")
        data = {**data, "path": str(local)}
    job = parse_job({**cfg, "data": data}, base_dir=str(cfg_path.parent))
    if job.search is None:
        raise OptimizerError(f"{cfg_path}: no 'search:' section; the pipeline runs a hyperparameter search")
    out = c.output(VALIDATED)
    out.mkdir(parents=True, exist_ok=True)
    save_returns_csv(job.market, out / RETURNS_FILE)  # repr() floats: an exact round trip
    _write_json(out / JOB_FILE, {**cfg, "data": {"path": RETURNS_FILE, "kind": "returns"}})
    report = {"assets": job.market.n_assets, "days": int(job.market.returns.shape[0]),
              "first_date": str(job.market.dates[0]), "last_date": str(job.market.dates[-1]),
              "cleaning": job.market.report}
    _write_json(out / "data_report.json", report)
    log(f"validate-data: {report['assets']} assets x {report['days']} days -> {out}")
    return report


# ------------------------------------------------------------------ step 2: generate-scenarios
def generate_scenarios(c: Contract, parts: int, log: Log = _log) -> dict:
    """Write the search plan, the trial configurations split into ``parts`` files (one per
    optimization host, distributed with ShardedByS3Key) and bootstrap stress scenarios."""
    if parts < 1:
        raise OptimizerError(f"generate-scenarios: --parts must be >= 1, got {parts}")
    job = validated_job(c)
    s = job.search
    configs = sample_configs(s.space, s.n_trials, s.seed, s.sampler)
    budgets = budgets_for(s.halving, s.n_rungs, s.eta)
    plan = {"fingerprint": search_fingerprint(s, job.market), "n_trials": s.n_trials, "seed": s.seed,
            "sampler": s.sampler, "budgets": budgets, "eta": s.eta, "parts": parts}
    plan_dir, trials_dir = c.output(PLAN), c.output(TRIALS)
    _write_json(plan_dir / "plan.json", plan)
    for p in range(parts):
        _write_json(trials_dir / f"part-{p:05d}.json", shard(configs, p, parts))
    # Stress scenarios for the agent report: stationary bootstrap of the whole history,
    # seeded by the job, so the report's tail-risk numbers are reproducible.
    from charter.optimizer.scenarios import make_scenarios

    X = np.nan_to_num(job.market.returns, nan=0.0)
    stress = make_scenarios("bootstrap", X, n_scenarios=N_STRESS_SCENARIOS, seed=s.seed)
    np.save(plan_dir / "stress.npy", stress)
    log(f"generate-scenarios: {s.n_trials} trials in {parts} part(s), {len(budgets)} rung(s), "
        f"{stress.shape[0]} stress scenarios")
    return plan


# ------------------------------------------------------------------ step 3: optimize-shard
_W: dict = {}


def _init_worker(market: MarketData, settings: Any) -> None:
    _W["market"], _W["settings"] = market, settings


def _evaluate(cfg: dict, budget: float, rung: int) -> dict:
    return evaluate_trial(cfg, _W["market"], _W["settings"], budget, rung)


def shard_file_name(host: str, rung: int) -> str:
    return f"{host}-rung{rung}.jsonl"


def _my_trials(c: Contract, plan: dict, rung: int, host_index: int, n_hosts: int) -> list[int]:
    if rung > 0:
        promoted = _read_json(c.input(PROMOTED) / "promoted.json", "promoted trials")
        if int(promoted.get("rung", -1)) != rung:
            raise OptimizerError(f"optimize-shard: promoted.json is for rung {promoted.get('rung')}, not {rung}")
        return shard([int(t) for t in promoted["trials"]], host_index, n_hosts)
    if not c.input(TRIALS).is_dir():
        raise OptimizerError(f"optimize-shard: the '{TRIALS}' input ({c.input(TRIALS)}) is missing; "
                             "pass generate-scenarios' trials output")
    # An empty directory is a legal share: ShardedByS3Key with more hosts than part files.
    files = sorted(c.input(TRIALS).glob("part-*.json"))
    ids = sorted(int(cfg["trial"]) for f in files for cfg in _read_json(f, "trials"))
    dist = c.distribution(TRIALS)
    if dist == "ShardedByS3Key" or (dist is None and len(files) < int(plan["parts"])):
        # SageMaker already dealt this host its share of the part files: evaluate them all.
        return ids
    # FullyReplicated: every host sees every part; split by host index.
    return shard(ids, host_index, n_hosts)


def optimize_shard(c: Contract, rung: int | None = None, workers: int = 1,
                   max_new_trials: int | None = None, log: Log = _log) -> Path:
    """Evaluate this host's share of one rung; resumable from its checkpoint file.

    Every finished trial is appended (fsync'd) to ``<checkpoint dir>/<host>-rung<r>.jsonl``
    before the next starts, so a spot interruption or a kill loses at most the trial in
    flight; a restart skips every trial already in the file.
    """
    hp = c.hyperparameters()
    rung = int(hp.get("rung", 0)) if rung is None else rung
    workers = int(hp.get("workers", workers))
    cluster = c.cluster()
    job = validated_job(c)
    s = job.search
    plan = _read_json(c.input(PLAN) / "plan.json", "plan")
    fp = search_fingerprint(s, job.market)
    if plan["fingerprint"] != fp:
        raise OptimizerError("optimize-shard: the plan was generated for a different search or data; "
                             "re-run generate-scenarios")
    budgets = plan["budgets"]
    if not 0 <= rung < len(budgets):
        raise OptimizerError(f"optimize-shard: rung {rung} out of range (the search has {len(budgets)} rung(s))")
    mine = _my_trials(c, plan, rung, cluster.host_index, cluster.n_hosts)
    ckpt_path = c.checkpoint_dir / shard_file_name(cluster.current_host, rung)
    ckpt = Checkpoint(ckpt_path, fp)  # drops a torn last line left by a killed shard
    configs = sample_configs(s.space, s.n_trials, s.seed, s.sampler)
    todo = [configs[i] for i in mine if not ckpt.done(rung, i)]
    log(f"optimize-shard: host {cluster.current_host} ({cluster.host_index + 1}/{cluster.n_hosts}) rung {rung}: "
        f"{len(mine)} trial(s), {len(mine) - len(todo)} already in checkpoint, {len(todo)} to evaluate")
    new = 0
    if workers > 1 and len(todo) > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                 initargs=(job.market, s.settings)) as pool:
            # map keeps submission order, so the checkpoint order is deterministic too
            for rec in pool.map(_evaluate, todo, [budgets[rung]] * len(todo), [rung] * len(todo)):
                ckpt.add(rec)
                new += 1
                if max_new_trials is not None and new >= max_new_trials:
                    pool.shutdown(wait=False, cancel_futures=True)
                    break
    else:
        for cfg in todo:
            ckpt.add(evaluate_trial(cfg, job.market, s.settings, budgets[rung], rung))
            new += 1
            if max_new_trials is not None and new >= max_new_trials:
                break
    if max_new_trials is not None and new < len(todo):
        raise Interrupted(f"optimize-shard: stopped after {new} new trial(s) (--max-new-trials); "
                          f"re-run to resume from {ckpt_path}")
    out = c.output(SHARDS) / ckpt_path.name
    if out.resolve() != ckpt_path.resolve():
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ckpt_path, out)
    ok = [ckpt.records[(rung, i)] for i in mine]
    log(f"optimize-shard: evaluated {new} new trial(s); {sum(1 for r in ok if r['error'])} failed; wrote {out}")
    return out


class Interrupted(OptimizerError):
    """A run stopped at its trial budget (``--max-new-trials``); its checkpoint is intact and the
    next run resumes from it."""


def _trial_budget(limit: int) -> Callable[[int, int, int], None]:
    """A `HyperparameterSearch.fit` progress callback that ends the run once `limit` trials not
    in the checkpoint have been evaluated (each is in the checkpoint before the callback runs)."""
    start: list[int] = []

    def progress(done: int, _total: int, _rung: int) -> None:
        if not start:
            start.append(done)
        if done - start[0] >= limit:
            raise Interrupted(f"search: stopped after {done - start[0]} new trial(s) (--max-new-trials); "
                              "re-run to resume from the checkpoint")

    return progress


# ------------------------------------------------------------------ step 4: aggregate
def _shard_files(directory: Path, scratch: Path) -> list[Path]:
    """Every JSONL shard under ``directory``, unpacking Training's output.tar.gz archives."""
    files = sorted(directory.rglob("*.jsonl"))
    for i, tgz in enumerate(sorted(directory.rglob("*.tar.gz"))):
        dest = scratch / f"archive-{i}"
        with tarfile.open(tgz) as tar:
            tar.extractall(dest, filter="data")
        files += sorted(dest.rglob("*.jsonl"))
    return files


def write_checkpoint(path: Path, fingerprint: str, records: list[dict]) -> Path:
    """A checkpoint file in the engine's format (header + one record per line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fh.write(json.dumps({"kind": "header", "fingerprint": fingerprint}, sort_keys=True) + "\n")
        for rec in records:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
    return path


def aggregate_results(c: Contract, rung: int | None = None, final: bool = True, workers: int = 1,
                      log: Log = _log) -> dict:
    """Merge the hosts' shard files.

    With ``final=False`` the rung's promotions are written for the next distributed rung.
    With ``final=True`` the merged checkpoint is handed to ``HyperparameterSearch.fit``,
    which re-evaluates nothing that is in it, evaluates any rung that was not distributed
    (the small later rungs of successive halving) and picks the winner.
    """
    job = validated_job(c)
    s = job.search
    fp = search_fingerprint(s, job.market)
    out = c.output(RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    scratch = out / ".unpacked"
    files = _shard_files(c.input(SHARDS), scratch)
    if not files:
        raise OptimizerError(f"aggregate: no shard files (*.jsonl or *.tar.gz) in {c.input(SHARDS)}")
    merged = aggregate(str(f) for f in files)
    shutil.rmtree(scratch, ignore_errors=True)
    merged_path = write_checkpoint(out / "trials.jsonl", fp, merged)
    by_key = {(int(r["rung"]), int(r["trial"])): r for r in merged}
    rungs_seen = sorted({k[0] for k in by_key})
    rung = rungs_seen[-1] if rung is None else rung
    if rung == 0:
        expected = list(range(s.n_trials))
    else:
        expected = [int(t) for t in _read_json(c.input(PROMOTED) / "promoted.json", "promoted trials")["trials"]]
    missing = [i for i in expected if (rung, i) not in by_key]
    if missing:
        raise OptimizerError(f"aggregate: rung {rung} is missing {len(missing)} trial(s) (first: {missing[:5]}); "
                             "a host did not finish; re-run the optimization step, it resumes from checkpoints")
    budgets = budgets_for(s.halving, s.n_rungs, s.eta)
    if not final:
        if rung >= len(budgets) - 1:
            raise OptimizerError(f"aggregate: rung {rung} is the last; aggregate it with --final")
        nxt = promote([by_key[(rung, i)] for i in expected], s.eta)
        _write_json(c.output(PROMOTED) / "promoted.json", {"rung": rung + 1, "trials": nxt})
        log(f"aggregate: rung {rung}: {len(expected)} trial(s) from {len(files)} shard file(s); "
            f"{len(nxt)} promoted to rung {rung + 1}")
        return {"rung": rung, "promoted": nxt}
    before = len(merged)
    s.checkpoint = str(merged_path)
    s.workers = max(1, workers)
    s.fit(job.market)
    result = search_summary(s)
    _write_json(out / "search.json", result)
    log(f"aggregate: {before} trial result(s) from {len(files)} shard file(s), "
        f"{len(s.results_) - before} evaluated here; best trial {s.best_config_['trial']} "
        f"(validation Sharpe {s.best_record_['score']:.4f})")
    return result


def search_summary(s: HyperparameterSearch) -> dict:
    return {
        "best_config": s.best_config_,
        "best_score_validation_sharpe": s.best_record_["score"],
        "holdout_sharpe": s.holdout_sharpe_,
        "deflated_sharpe": s.deflated_sharpe_,
        "n_trials": s.n_trials,
        "n_failures": s.n_failures_,
        "full_period_metrics": s.best_backtest_.metrics_,
        "settings": asdict(s.settings),
        "trials": s.table_,
    }


# ------------------------------------------------------------------ step 5: synthesize-agent-report
def synthesize_agent_report(c: Contract, log: Log = _log) -> dict:
    """The facts the allocation agents reason over: winner, out-of-sample evidence, final
    weights and their tail risk on the stress scenarios, as JSON plus a short summary."""
    from charter.optimizer.search import build_backtest

    job = validated_job(c)
    res = _read_json(c.input(RESULTS) / "search.json", "search result")
    stress = np.load(c.input(PLAN) / "stress.npy")
    wf = build_backtest(res["best_config"], job.search.settings).fit(job.market)
    w = np.nan_to_num(wf.weights_[-1])
    pnl = stress @ w
    beta = job.search.settings.cvar_beta
    var = float(-np.quantile(pnl, 1 - beta))
    tail = pnl[pnl <= -var]
    cvar = float(-tail.mean()) if tail.size else var
    top = sorted(zip(job.market.assets, w.tolist(), strict=True), key=lambda x: -x[1])[:10]
    dsr = res["deflated_sharpe"]
    dsr_value = dsr.get("dsr") if isinstance(dsr, dict) else dsr
    flags = []
    if dsr_value is not None and dsr_value < 0.95:
        flags.append(f"deflated Sharpe {dsr_value:.2f} < 0.95: the winner may be luck among "
                     f"{res['n_trials']} trials")
    if res["holdout_sharpe"] < 0:
        flags.append("negative holdout Sharpe: the configuration did not generalise")
    if res["n_failures"]:
        flags.append(f"{res['n_failures']} trial(s) failed")
    report = {
        "best_config": res["best_config"],
        "validation_sharpe": res["best_score_validation_sharpe"],
        "holdout_sharpe": res["holdout_sharpe"],
        "deflated_sharpe": dsr,
        "full_period_metrics": res["full_period_metrics"],
        "final_weights_top10": dict(top),
        "stress": {"scenarios": int(stress.shape[0]), "beta": beta, "var": var, "cvar": cvar},
        "flags": flags,
        "decision": "review" if flags else "approve",
    }
    out = c.output(REPORT)
    _write_json(out / "agent_report.json", report)
    cfg = res["best_config"]
    lines = [
        "# Allocation search: agent summary", "",
        f"- winner: trial {cfg['trial']} ({cfg['objective']}, {cfg['risk_model']}, lookback {cfg['lookback']}, "
        f"rebalance every {cfg['rebalance_every']} days)",
        f"- validation Sharpe {report['validation_sharpe']:.3f}, holdout Sharpe {report['holdout_sharpe']:.3f}",
        f"- stress ({stress.shape[0]} bootstrap scenarios): VaR{beta:.0%} {var:.4f}, CVaR{beta:.0%} {cvar:.4f}",
        f"- decision: {report['decision']}" + ("".join(f"\n  - {f}" for f in flags)),
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    log(f"synthesize-agent-report: decision {report['decision']} -> {out}")
    return report


# ------------------------------------------------------------------ training: search
def search(c: Contract, workers: int | None = None, max_new_trials: int | None = None, log: Log = _log) -> Path:
    """The Training job (managed spot, checkpoints in /opt/ml/checkpoints).

    With a ``plan`` channel this host runs its shard of the rung named by the ``rung``
    hyperparameter (the pipeline's distributed optimization); without one a single host
    runs the whole search from the ``config`` channel, resuming from its checkpoint.
    """
    hp = c.hyperparameters()
    workers = int(hp.get("workers", workers or os.cpu_count() or 1))
    if (c.input(PLAN) / "plan.json").exists():
        return optimize_shard(c, workers=workers, max_new_trials=max_new_trials, log=log)
    cluster = c.cluster()
    if cluster.n_hosts > 1:
        raise OptimizerError("search: a multi-host training job needs the 'plan' and 'trials' channels "
                             "from generate-scenarios")
    cfg_path = _find_job(c.input(CONFIG))
    cfg = _load_job_file(cfg_path)
    data = (cfg or {}).get("data") or {}
    if isinstance(data, dict) and "path" in data:
        data = {**data, "path": str(c.input(MARKET) / Path(str(data["path"])).name)}
        cfg = {**cfg, "data": data}
    job = parse_job(cfg, base_dir=str(cfg_path.parent))
    if job.search is None:
        raise OptimizerError(f"{cfg_path}: no 'search:' section")
    s = job.search
    s.workers = workers
    s.checkpoint = str(c.checkpoint_dir / "trials.jsonl")  # Checkpoint drops a torn last line on resume
    s.fit(job.market, progress=None if max_new_trials is None else _trial_budget(max_new_trials))
    out = _write_json(c.ml / "model" / "search.json", search_summary(s))
    # SageMaker's metric definition scrapes this line from the log.
    log(f"validation:sharpe_ratio={s.best_record_['score']:.6f}")
    return out


def trial_count(path: Path) -> int:
    """Finished trials in a checkpoint file (for progress and tests)."""
    if not path.exists():
        return 0
    n = 0
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        n += rec.get("kind") != "header"
    return n


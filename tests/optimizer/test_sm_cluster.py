"""The optimizer's SageMaker contract run as a local cluster of subprocesses.

One 4-host run (module fixture) is compared with a single-process search of the same
job; the kill/resume test reuses its validated data and plan.
"""

import json
import shutil

import pytest

from charter.optimizer.jobfile import parse_job
from charter.optimizer.sagemaker import steps as st
from charter.optimizer.sagemaker.local_cluster import FULL, SHARDED, LocalCluster, run_local_cluster

JOB = {
    "seed": 5,
    "data": {"synthetic": {"n_assets": 8, "n_days": 500, "seed": 11}},
    "portfolio": {"constraints": {"max_weight": 0.3}},
    "backtest": {"lookback": 60},
    "search": {"n_trials": 9, "n_rungs": 2, "eta": 3, "n_folds": 4, "workers": 1,
               "space": {"lookback": [40, 120], "rebalance_every": [10, 40],
                         "objectives": ["min_variance", "mean_variance", "max_sharpe", "risk_parity"]}},
}
HOSTS = 4


@pytest.fixture(scope="module")
def single():
    job = parse_job(json.loads(json.dumps(JOB)))
    s = job.search
    s.workers = 1
    s.fit(job.market)
    # what the cluster writes is JSON: compare like with like
    return json.loads(json.dumps(st.search_summary(s), default=st._json_default))


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cluster")
    res = run_local_cluster(json.loads(json.dumps(JOB)), out, out, hosts=HOSTS, log=lambda m: None)
    return out, res


def test_four_hosts_match_a_single_process(cluster_run, single):
    out, res = cluster_run
    result = json.loads((out / "search.json").read_text())
    assert result["best_config"] == single["best_config"]
    assert result["trials"] == single["trials"]  # every trial's furthest rung, bit for bit
    assert result["deflated_sharpe"] == single["deflated_sharpe"]
    assert [s for s, _, _ in res["steps"]] == [
        "01-validate-data", "02-generate-scenarios", "03-optimize-rung0", "04-aggregate-rung0",
        "03-optimize-rung1", "04-aggregate-rung1", "05-synthesize-agent-report"]


def test_each_host_ran_its_own_shard_with_its_own_resourceconfig(cluster_run):
    out, _ = cluster_run
    jobs = out / "cluster" / "jobs" / "03-optimize-rung0"
    seen = []
    for i in range(HOSTS):
        root = jobs / f"algo-{i + 1}"
        rc = json.loads((root / "opt/ml/input/config/resourceconfig.json").read_text())
        assert rc["current_host"] == f"algo-{i + 1}" and len(rc["hosts"]) == HOSTS
        recs = [json.loads(x) for x in (root / f"opt/ml/checkpoints/algo-{i + 1}-rung0.jsonl").read_text().splitlines()]
        trials = [r["trial"] for r in recs if r.get("kind") != "header"]
        assert trials == [t for t in range(9) if t % HOSTS == i]  # round-robin by host index
        seen += trials
    assert sorted(seen) == list(range(9))  # no trial twice, none missing


def test_agent_report_is_written(cluster_run):
    out, _ = cluster_run
    rep = json.loads((out / "agent_report.json").read_text())
    assert rep["decision"] in ("approve", "review")
    assert rep["stress"]["cvar"] >= rep["stress"]["var"] > 0
    assert len(rep["final_weights_top10"]) == 8  # 8 assets: all of them
    assert abs(sum(rep["final_weights_top10"].values()) - 1.0) < 1e-6
    assert "winner: trial" in (out / "summary.md").read_text()


def _run(job) -> int:
    """Run one host's container process to its end; never leave it running."""
    from childproc import stop_process

    proc = job.start()
    try:
        return proc.wait(timeout=900)
    finally:
        stop_process(proc, group=False)


def test_interrupted_shard_resumes_without_redoing_trials(cluster_run, tmp_path):
    src, _ = cluster_run
    lc = LocalCluster(tmp_path / "c", log=lambda m: None)
    for prefix in ("validated", "plan", "trials"):
        shutil.copytree(src / "cluster" / "s3" / prefix, lc.s3 / prefix)
    inputs = {st.VALIDATED: ("validated", FULL), st.PLAN: ("plan", FULL), st.TRIALS: ("trials", SHARDED)}
    (job,) = lc.prepare("shard", ["search", "--max-new-trials", "4"], kind="training", hosts=1, inputs=inputs,
                        hyperparameters={"rung": "0"})
    assert _run(job) == 3  # interrupted: non-zero, reason where SageMaker reads it
    assert job.failure().startswith("interrupted:")
    ckpt = job.contract.checkpoint_dir / "algo-1-rung0.jsonl"
    first = ckpt.read_text().splitlines()
    assert st.trial_count(ckpt) == 4
    with open(ckpt, "a") as fh:
        fh.write('{"rung": 0, "trial": 7, "sco')  # killed mid-write
    job.argv = job.argv[: job.argv.index("--max-new-trials")]
    assert _run(job) == 0, job.log_text()
    assert "4 already in checkpoint, 5 to evaluate" in job.log_text()
    lines = ckpt.read_text().splitlines()
    assert lines[: len(first)] == first  # finished trials kept as they were
    recs = {(r["rung"], r["trial"]): r for r in map(json.loads, lines[len(first):])}  # torn line cut
    assert sorted(t for _, t in recs) == sorted(set(range(9)) - {json.loads(x)["trial"] for x in first[1:]})
    # and the resumed results are the ones the uninterrupted hosts produced
    reference = {}
    for f in (src / "cluster" / "s3" / "checkpoints").glob("*-rung0.jsonl"):
        for line in f.read_text().splitlines()[1:]:
            r = json.loads(line)
            reference[(r["rung"], r["trial"])] = r
    assert all(reference[k] == v for k, v in recs.items())

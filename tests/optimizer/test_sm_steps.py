"""The pipeline's default shape in-process: rung 0 sharded over hosts (one with a worker
pool), the aggregator finishing the later halving rungs itself; same result as one process."""

import json
import shutil

from charter.optimizer.jobfile import parse_job
from charter.optimizer.sagemaker import contract as ct
from charter.optimizer.sagemaker import steps as st

JOB = {"seed": 2, "data": {"synthetic": {"n_assets": 6, "n_days": 400, "seed": 4}}, "backtest": {"lookback": 60},
       "search": {"n_trials": 7, "n_rungs": 3, "eta": 2, "n_folds": 3,
                  "space": {"lookback": [40, 90], "rebalance_every": [10, 30],
                            "objectives": ["min_variance", "max_sharpe", "risk_parity"]}}}
quiet = dict(log=lambda m: None)


def test_aggregator_finishes_undistributed_rungs_like_a_single_process(tmp_path):
    def processing(name):
        c = ct.Contract("processing", tmp_path / name)
        ct.write_resourceconfig(c, "algo-1", ["algo-1"])
        return c

    v = processing("validate")
    v.input("config").mkdir(parents=True)
    (v.input("config") / "job.json").write_text(json.dumps(JOB))
    st.validate_data(v, **quiet)
    g = processing("scenarios")
    shutil.copytree(v.output("validated"), g.input("validated"))
    st.generate_scenarios(g, parts=2, **quiet)
    shard_dir = tmp_path / "s3-checkpoints"
    # host 1 under the Processing contract, host 2 under Training with a process pool
    for i, kind, workers in ((0, "processing", 1), (1, "training", 2)):
        h = ct.Contract(kind, tmp_path / f"host{i}")
        ct.write_resourceconfig(h, f"algo-{i + 1}", ["algo-1", "algo-2"])
        shutil.copytree(v.output("validated"), h.input("validated"))
        shutil.copytree(g.output("plan"), h.input("plan"))
        shutil.copytree(g.output("trials"), h.input("trials"))  # FullyReplicated: split by host index
        out = st.optimize_shard(h, rung=0, workers=workers, **quiet)
        assert out.parent == h.output("shards")
        shutil.copytree(out.parent, shard_dir, dirs_exist_ok=True)
    a = processing("aggregate")
    shutil.copytree(v.output("validated"), a.input("validated"))
    shutil.copytree(g.output("plan"), a.input("plan"))
    shutil.copytree(shard_dir, a.input("shards"))
    result = st.aggregate_results(a, rung=0, final=True, **quiet)

    job = parse_job(json.loads(json.dumps(JOB)))
    s = job.search
    s.workers = 1
    s.fit(job.market)
    single = json.loads(json.dumps(st.search_summary(s), default=st._json_default))
    got = json.loads((a.output("results") / "search.json").read_text())
    assert got["best_config"] == single["best_config"] == result["best_config"]
    assert got["trials"] == single["trials"]
    assert {r["rung"] for r in got["trials"]} == {0, 1, 2}  # rungs 1-2 were evaluated by the aggregator


def test_aggregate_refuses_an_incomplete_rung(tmp_path):
    import pytest

    from charter.optimizer.errors import OptimizerError

    c = ct.Contract("processing", tmp_path)
    c.input("config").mkdir(parents=True)
    (c.input("config") / "job.json").write_text(json.dumps(JOB))
    st.validate_data(c, **quiet)
    shutil.copytree(c.output("validated"), c.input("validated"))
    job = parse_job(json.loads(json.dumps(JOB)))
    fp = st.search_fingerprint(job.search, job.market)
    st.write_checkpoint(c.input("shards") / "algo-1-rung0.jsonl", fp,
                        [{"rung": 0, "trial": 0, "score": 0.1, "error": None}])
    with pytest.raises(OptimizerError, match="rung 0 is missing 6 trial"):
        st.aggregate_results(c, rung=0, final=False, **quiet)

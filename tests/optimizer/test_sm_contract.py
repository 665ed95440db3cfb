"""SageMaker's container contract: paths under CHARTER_SM_ROOT, cluster config, exit codes
and the failure message, run in-process through the entrypoint."""

import json
import shutil

import pytest

from charter.optimizer.container.entrypoint import main
from charter.optimizer.errors import OptimizerError
from charter.optimizer.sagemaker import contract as ct
from charter.optimizer.sagemaker import steps as st

JOB = {"seed": 3, "data": {"synthetic": {"n_assets": 6, "n_days": 300}}, "backtest": {"lookback": 60},
       "search": {"n_trials": 5, "halving": False, "n_folds": 3,
                  "space": {"lookback": [40, 80], "rebalance_every": [10, 30],
                            "objectives": ["min_variance", "risk_parity"]}}}


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv(ct.ROOT_ENV, str(tmp_path))
    return tmp_path


def processing(root, hosts=("algo-1",), current="algo-1"):
    c = ct.Contract("processing", root)
    ct.write_resourceconfig(c, current, list(hosts))
    return c


def test_paths_follow_the_contracts_under_the_root(root):
    p, t = ct.Contract("processing", root), ct.Contract("training", root)
    assert p.input("config") == root / "opt/ml/processing/input/config"
    assert p.output("validated") == root / "opt/ml/processing/output/validated"
    assert p.resourceconfig_path == root / "opt/ml/config/resourceconfig.json"
    assert p.processingjobconfig_path == root / "opt/ml/config/processingjobconfig.json"
    assert p.failure_path == root / "opt/ml/output/message"
    assert t.input("plan") == root / "opt/ml/input/data/plan"
    assert t.resourceconfig_path == root / "opt/ml/input/config/resourceconfig.json"
    assert t.hyperparameters_path == root / "opt/ml/input/config/hyperparameters.json"
    assert t.checkpoint_dir == root / "opt/ml/checkpoints"
    assert t.failure_path == root / "opt/ml/output/failure"
    assert ct.container_root() == root
    assert ct.detect().kind == "processing"
    ct.write_resourceconfig(t, "algo-1", ["algo-1"])
    assert ct.detect().kind == "training"


def test_host_index_orders_hosts_numerically(root):
    c = processing(root, [f"algo-{i}" for i in range(1, 13)], "algo-10")
    cl = c.cluster()
    assert (cl.n_hosts, cl.host_index, cl.is_leader) == (12, 9, False)


def test_bad_resourceconfig_is_a_clear_error(root):
    c = ct.Contract("processing", root)
    with pytest.raises(OptimizerError, match="resourceconfig.json not found"):
        c.cluster()
    c.resourceconfig_path.parent.mkdir(parents=True)
    c.resourceconfig_path.write_text(json.dumps({"current_host": "algo-3", "hosts": ["algo-1"]}))
    with pytest.raises(OptimizerError, match="current_host"):
        c.cluster()


def test_failure_writes_the_reason_and_exits_non_zero(root):
    c = processing(root)
    (c.input("config")).mkdir(parents=True)
    (c.input("config") / "job.json").write_text(json.dumps({**JOB, "bogus": 1}))
    assert main(["validate-data"]) == 2
    msg = c.failure_path.read_text()
    assert msg.startswith("validate-data: job: unknown section(s) ['bogus']")
    assert not c.output("validated").exists()


def test_failure_message_keeps_the_first_kilobyte(root):
    c = ct.Contract("processing", root)
    c.write_failure("é" * 2000)
    data = c.failure_path.read_bytes()
    assert len(data) <= 1024 and data.decode("utf-8") == "é" * 512


def test_steps_through_the_entrypoint_and_empty_sharded_share(root, tmp_path_factory):
    c = processing(root)
    c.input("config").mkdir(parents=True)
    (c.input("config") / "job.json").write_text(json.dumps(JOB))
    assert main(["validate-data"]) == 0
    assert (c.output("validated") / "returns.csv").exists()
    # next step: its input is the previous output (what SageMaker copies from S3)
    c.input("validated").parent.mkdir(parents=True, exist_ok=True)
    c.output("validated").rename(c.input("validated"))
    assert main(["generate-scenarios", "--parts", "3"]) == 0
    plan = json.loads((c.output("plan") / "plan.json").read_text())
    assert plan["parts"] == 3 and plan["n_trials"] == 5
    parts = sorted(p.name for p in c.output("trials").iterdir())
    assert parts == ["part-00000.json", "part-00001.json", "part-00002.json"]
    # a training host that ShardedByS3Key handed no trial file evaluates nothing and succeeds
    troot = tmp_path_factory.mktemp("host")
    t = ct.Contract("training", troot)
    ct.write_resourceconfig(t, "algo-4", [f"algo-{i}" for i in range(1, 5)])
    for name, src in (("validated", c.input("validated")), ("plan", c.output("plan"))):
        shutil.copytree(src, t.input(name))
    t.input("trials").mkdir(parents=True)
    out = st.optimize_shard(t, rung=0, log=lambda m: None)
    assert st.trial_count(out) == 0


def test_shard_fingerprint_matches_the_engine_checkpoint(tmp_path):
    """The shard checkpoints use the header HyperparameterSearch.fit writes (pins a private helper)."""
    from charter.optimizer.jobfile import parse_job

    job = parse_job(json.loads(json.dumps(JOB)))
    s = job.search
    s.workers, s.checkpoint = 1, str(tmp_path / "t.jsonl")
    with pytest.raises(st.Interrupted):
        s.fit(job.market, progress=st._trial_budget(1))
    header = json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])
    assert header == {"kind": "header", "fingerprint": st.search_fingerprint(s, job.market)}


def test_torn_tail_is_cut_before_appending(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"kind": "header"}\n{"rung": 0, "tri')
    assert st.repair_torn_tail(p) == len('{"rung": 0, "tri')
    assert p.read_text() == '{"kind": "header"}\n'
    assert st.repair_torn_tail(p) == 0


def test_single_host_training_search_resumes_after_spot_interruption(root, capsys):
    """`train` (SageMaker's Training command) without a plan: the whole search, checkpointed."""
    from charter.optimizer.jobfile import parse_job

    t = ct.Contract("training", root)
    ct.write_resourceconfig(t, "algo-1", ["algo-1"])
    t.hyperparameters_path.write_text(json.dumps({"workers": "1"}))
    t.input("config").mkdir(parents=True)
    (t.input("config") / "job.json").write_text(json.dumps(JOB))
    assert main(["train", "--max-new-trials", "2"]) == 3  # interrupted
    assert t.failure_path.read_text().startswith("interrupted:")
    assert st.trial_count(t.checkpoint_dir / "trials.jsonl") == 2
    assert main(["train"]) == 0
    assert st.trial_count(t.checkpoint_dir / "trials.jsonl") == 5  # 2 kept + 3 new, none twice
    assert "validation:sharpe_ratio=" in capsys.readouterr().out  # scraped by MetricDefinitions
    got = json.loads((t.ml / "model" / "search.json").read_text())
    job = parse_job(json.loads(json.dumps(JOB)))
    job.search.workers = 1
    job.search.fit(job.market)
    assert got["best_config"] == job.search.best_config_


def test_input_distribution_comes_from_the_job_config(root):
    t = ct.Contract("training", root)
    assert t.distribution("trials") is None
    (t.ml / "input" / "config").mkdir(parents=True)
    (t.ml / "input" / "config" / "inputdataconfig.json").write_text(json.dumps(
        {"trials": {"TrainingInputMode": "File", "S3DistributionType": "ShardedByS3Key"}}))
    assert t.distribution("trials") == "ShardedByS3Key"
    p = ct.Contract("processing", root)
    p.processingjobconfig_path.parent.mkdir(parents=True)
    p.processingjobconfig_path.write_text(json.dumps({"ProcessingInputs": [
        {"InputName": "plan", "S3Input": {"S3DataDistributionType": "FullyReplicated"}}]}))
    assert (p.distribution("plan"), p.distribution("other")) == ("FullyReplicated", None)


def test_sharded_host_evaluates_every_trial_it_was_handed(tmp_path):
    """One part file, two hosts, ShardedByS3Key: the host holding the file runs all of it."""
    c = ct.Contract("processing", tmp_path / "prep")
    c.input("config").mkdir(parents=True)
    (c.input("config") / "job.json").write_text(json.dumps(JOB))
    st.validate_data(c, log=lambda m: None)
    shutil.copytree(c.output("validated"), c.input("validated"))
    st.generate_scenarios(c, parts=1, log=lambda m: None)
    t = ct.Contract("training", tmp_path / "host")
    ct.write_resourceconfig(t, "algo-2", ["algo-1", "algo-2"])
    (t.ml / "input" / "config" / "inputdataconfig.json").write_text(json.dumps(
        {"trials": {"S3DistributionType": "ShardedByS3Key"}}))
    shutil.copytree(c.input("validated"), t.input("validated"))
    shutil.copytree(c.output("plan"), t.input("plan"))
    shutil.copytree(c.output("trials"), t.input("trials"))
    assert st.trial_count(st.optimize_shard(t, rung=0, log=lambda m: None)) == 5

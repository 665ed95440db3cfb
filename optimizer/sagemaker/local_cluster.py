"""SageMaker's contract on one machine: every host of every step is a subprocess of the
container entrypoint with its own container root (``CHARTER_SM_ROOT``), its own
``resourceconfig.json``, and inputs copied in the way SageMaker would (FullyReplicated:
all files; ShardedByS3Key: the sorted keys dealt round-robin to the hosts).  A directory
plays S3: each step's outputs are uploaded to it and the next step downloads from it.

    validate-data -> generate-scenarios --parts N
        -> for each rung: search (Training, N hosts, checkpoints) -> aggregate
        -> synthesize-agent-report

The result equals a single-process search with the same seed (see steps.py for why).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from charter.optimizer.errors import OptimizerError

from . import steps as st
from .contract import ROOT_ENV, Contract, write_resourceconfig

REPO_ROOT = Path(__file__).resolve().parents[2]
FULL, SHARDED = "FullyReplicated", "ShardedByS3Key"


@dataclass
class HostJob:
    """One host of one step, ready to launch."""

    step: str
    host: str
    contract: Contract
    argv: list[str]
    env: dict[str, str]

    def start(self) -> subprocess.Popen:
        log = open(self.contract.root / "container.log", "w")  # noqa: SIM115 - closed by the caller's wait
        return subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=self.contract.root)

    def log_text(self) -> str:
        p = self.contract.root / "container.log"
        return p.read_text() if p.exists() else ""

    def failure(self) -> str:
        p = self.contract.failure_path
        return p.read_text() if p.exists() else ""


@dataclass
class StepResult:
    step: str
    hosts: int
    seconds: float
    logs: dict[str, str] = field(default_factory=dict)


def _copy_tree(src: Path, dst: Path) -> None:
    if src.exists():
        shutil.copytree(src, dst, dirs_exist_ok=True)


class LocalCluster:
    """Run pipeline steps as host subprocesses under ``workdir`` (``workdir/s3`` is the bucket)."""

    def __init__(self, workdir: Path, python: str = sys.executable, log: Callable[[str], None] = print):
        self.workdir = Path(workdir).resolve()  # hosts run with their own cwd
        self.s3 = self.workdir / "s3"
        self.jobs = self.workdir / "jobs"
        self.python = python
        self.log = log
        self.results: list[StepResult] = []

    # ------------------------------------------------------------ preparing hosts
    def prepare(self, step: str, args: list[str], kind: str = "processing", hosts: int = 1,
                inputs: dict[str, tuple[str, str]] | None = None, outputs: dict[str, str] | None = None,
                hyperparameters: dict[str, str] | None = None, checkpoint_s3: str | None = None) -> list[HostJob]:
        """Lay out each host's container root as SageMaker would before starting it.

        ``inputs`` maps an input name to (S3 prefix under the bucket dir, distribution);
        ``outputs`` maps an output name to its S3 prefix (recorded in the job config).
        """
        names = [f"algo-{i + 1}" for i in range(hosts)]
        jobs = []
        for i, host in enumerate(names):
            root = self.jobs / step / host
            if root.exists():
                shutil.rmtree(root)
            c = Contract(kind, root)  # type: ignore[arg-type]
            root.mkdir(parents=True)
            write_resourceconfig(c, host, names)
            for name, (prefix, dist) in (inputs or {}).items():
                self._download(self.s3 / prefix, c.input(name), dist, i, hosts)
            if kind == "processing":
                c.processingjobconfig_path.write_text(json.dumps(self._processing_request(
                    step, args, hosts, inputs or {}, outputs or {}), indent=2))
            else:
                c.hyperparameters_path.write_text(json.dumps(hyperparameters or {}))
                (c.ml / "input" / "config" / "inputdataconfig.json").write_text(json.dumps(
                    {n: {"TrainingInputMode": "File", "S3DistributionType": d} for n, (_, d) in (inputs or {}).items()}))
                if checkpoint_s3:  # SageMaker restores the checkpoint prefix before a (re)start
                    _copy_tree(self.s3 / checkpoint_s3, c.checkpoint_dir)
                c.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, ROOT_ENV: str(root), "PYTHONPATH": os.pathsep.join(
                [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
                # one BLAS thread per host process: hosts are the unit of parallelism here
                "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
            argv = [self.python, "-m", "charter.optimizer.container", *args]
            jobs.append(HostJob(step, host, c, argv, env))
        return jobs

    def _download(self, src: Path, dst: Path, dist: str, index: int, hosts: int) -> None:
        dst.mkdir(parents=True, exist_ok=True)
        if not src.exists():
            return
        files = sorted(p for p in src.rglob("*") if p.is_file())
        if dist == SHARDED:
            files = [f for j, f in enumerate(files) if j % hosts == index]
        for f in files:
            target = dst / f.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)

    @staticmethod
    def _processing_request(step: str, args: list[str], hosts: int, inputs: dict, outputs: dict) -> dict:
        return {
            "ProcessingJobName": f"local-{step}",
            "AppSpecification": {"ContainerEntrypoint": ["python3", "-m", "charter.optimizer.container", *args]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": hosts, "InstanceType": "local"}},
            "ProcessingInputs": [{"InputName": n, "S3Input": {
                "S3Uri": f"s3://local/{p}", "LocalPath": f"/opt/ml/processing/input/{n}",
                "S3DataDistributionType": d}} for n, (p, d) in inputs.items()],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": n, "S3Output": {
                "S3Uri": f"s3://local/{p}", "LocalPath": f"/opt/ml/processing/output/{n}"}}
                for n, p in outputs.items()]},
        }

    # ------------------------------------------------------------ running
    def run(self, step: str, args: list[str], kind: str = "processing", hosts: int = 1,
            inputs: dict[str, tuple[str, str]] | None = None, outputs: dict[str, str] | None = None,
            hyperparameters: dict[str, str] | None = None, checkpoint_s3: str | None = None) -> StepResult:
        t0 = time.perf_counter()
        jobs = self.prepare(step, args, kind, hosts, inputs, outputs, hyperparameters, checkpoint_s3)
        procs: list[subprocess.Popen] = []
        try:
            procs += [j.start() for j in jobs]
            codes = [p.wait() for p in procs]
        finally:  # interrupted (Ctrl-C, a failing caller): no host is left running
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                if p.stdout:
                    p.stdout.close()
        # upload what every host wrote, failed or not (checkpoints must survive a failure)
        for j in jobs:
            if checkpoint_s3:
                _copy_tree(j.contract.checkpoint_dir, self.s3 / checkpoint_s3)
            for name, prefix in (outputs or {}).items():
                _copy_tree(j.contract.output(name), self.s3 / prefix)
        failed = [(j, code) for j, code in zip(jobs, codes, strict=True) if code != 0]
        if failed:
            j, code = failed[0]
            raise OptimizerError(f"local cluster: step {step} failed on {j.host} (exit {code}): "
                                 f"{j.failure() or j.log_text()[-1000:]}")
        res = StepResult(step, hosts, time.perf_counter() - t0, {j.host: j.log_text() for j in jobs})
        self.results.append(res)
        self.log(f"{step}: {hosts} host(s), {res.seconds:.1f}s")
        return res

    # ------------------------------------------------------------ the whole pipeline
    def stage_job(self, job: dict, base_dir: Path) -> None:
        """Upload the job (as JSON: the image has no YAML parser) and its data file."""
        if not isinstance(job, dict):
            raise OptimizerError("job: top level must be a mapping")
        _write = self.s3 / "input" / st.CONFIG
        _write.mkdir(parents=True, exist_ok=True)
        (_write / st.JOB_FILE).write_text(json.dumps(job, indent=2))
        data = job.get("data") or {}
        if isinstance(data, dict) and "path" in data:
            src = Path(str(data["path"]))
            src = src if src.is_absolute() else base_dir / src
            if not src.exists():
                raise OptimizerError(f"job.data.path: file not found: {src}")
            dst = self.s3 / "input" / st.MARKET
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst / src.name)

    def run_search(self, job: dict, base_dir: Path, hosts: int = 4, workers: int = 1) -> dict:
        if hosts < 1:
            raise OptimizerError(f"--hosts must be >= 1, got {hosts}")
        self.stage_job(job, base_dir)
        self.run("01-validate-data", ["validate-data"],
                 inputs={st.CONFIG: ("input/config", FULL), st.MARKET: ("input/market", FULL)},
                 outputs={st.VALIDATED: "validated"})
        self.run("02-generate-scenarios", ["generate-scenarios", "--parts", str(hosts)],
                 inputs={st.VALIDATED: ("validated", FULL)},
                 outputs={st.PLAN: "plan", st.TRIALS: "trials"})
        n_rungs = len(json.loads((self.s3 / "plan" / "plan.json").read_text())["budgets"])
        for rung in range(n_rungs):
            last = rung == n_rungs - 1
            inputs = {st.VALIDATED: ("validated", FULL), st.PLAN: ("plan", FULL)}
            inputs.update({st.TRIALS: ("trials", SHARDED)} if rung == 0 else
                          {st.PROMOTED: (f"promoted/rung{rung}", FULL)})
            self.run(f"03-optimize-rung{rung}", ["search"], kind="training", hosts=hosts, inputs=inputs,
                     hyperparameters={"rung": str(rung), "workers": str(workers)},
                     checkpoint_s3="checkpoints")
            agg_in = {st.VALIDATED: ("validated", FULL), st.PLAN: ("plan", FULL), st.SHARDS: ("checkpoints", FULL)}
            if rung > 0:
                agg_in[st.PROMOTED] = (f"promoted/rung{rung}", FULL)
            self.run(f"04-aggregate-rung{rung}",
                     ["aggregate", "--rung", str(rung)] + (["--final"] if last else ["--no-final"]),
                     inputs=agg_in,
                     outputs={st.PROMOTED: f"promoted/rung{rung + 1}", st.RESULTS: "results"})
        self.run("05-synthesize-agent-report", ["synthesize-agent-report"],
                 inputs={st.VALIDATED: ("validated", FULL), st.PLAN: ("plan", FULL),
                         st.RESULTS: ("results", FULL)},
                 outputs={st.REPORT: "report"})
        return json.loads((self.s3 / "results" / "search.json").read_text())


def run_local_cluster(job: dict, base_dir: Path, out: Path, hosts: int = 4, workers: int = 1,
                      log: Callable[[str], None] = print) -> dict:
    """Run the pipeline on ``hosts`` local processes; copy results and report into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(out / "cluster", log=log)
    if cluster.workdir.exists():
        shutil.rmtree(cluster.workdir)  # a fresh run: stale checkpoints belong to another search
    result = cluster.run_search(job, base_dir, hosts=hosts, workers=workers)
    for src in ("results/search.json", "results/trials.jsonl", "report/agent_report.json", "report/summary.md"):
        shutil.copyfile(cluster.s3 / src, out / Path(src).name)
    return {"result": result, "steps": [(r.step, r.hosts, round(r.seconds, 2)) for r in cluster.results]}

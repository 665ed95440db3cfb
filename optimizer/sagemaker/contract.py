"""SageMaker's container contracts (Processing and Training) as paths and config readers.

SageMaker talks to a container only through the file system and the exit code:

* Processing: inputs under ``/opt/ml/processing/input/<name>``, outputs under
  ``/opt/ml/processing/output/<name>``, the job request in
  ``/opt/ml/config/processingjobconfig.json`` and this host's place in the cluster in
  ``/opt/ml/config/resourceconfig.json`` (``current_host``, ``hosts``); a failure
  writes its reason to ``/opt/ml/output/message`` (the first 1 KB becomes the job's
  FailureReason) and exits non-zero.
* Training: channels under ``/opt/ml/input/data/<channel>``, config in
  ``/opt/ml/input/config/{resourceconfig,hyperparameters,inputdataconfig}.json``,
  results in ``/opt/ml/model`` and ``/opt/ml/output/data``, a failure reason in
  ``/opt/ml/output/failure``, and ``/opt/ml/checkpoints`` synced to S3 so a managed
  spot job that was interrupted resumes from it.

Every path hangs off a root that defaults to ``/`` and is overridden by the
``CHARTER_SM_ROOT`` environment variable, so the very same entrypoint runs in a plain
directory (tests, ``charter optimize local-cluster``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from charter.optimizer.errors import OptimizerError

ROOT_ENV = "CHARTER_SM_ROOT"
MESSAGE_LIMIT = 1024  # SageMaker keeps the first 1 KB of the failure message

Kind = Literal["processing", "training"]


def container_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or "/")


def _ml(root: Path) -> Path:
    return root / "opt" / "ml"


def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise OptimizerError(f"sagemaker: {what} not found at {path}; is this running inside a SageMaker job "
                             f"(or is {ROOT_ENV} pointing at a prepared container root)?") from None
    except json.JSONDecodeError as exc:
        raise OptimizerError(f"sagemaker: {path} is not valid JSON ({exc})") from None


def _host_order(host: str) -> tuple[int, str]:
    # SageMaker names hosts algo-1 .. algo-N; order numerically so algo-10 follows algo-9.
    m = re.search(r"(\d+)$", host)
    return (int(m.group(1)) if m else 0, host)


@dataclass(frozen=True)
class Cluster:
    """This host's place among the job's instances."""

    current_host: str
    hosts: list[str] = field(default_factory=list)

    @property
    def n_hosts(self) -> int:
        return len(self.hosts)

    @property
    def host_index(self) -> int:
        return sorted(self.hosts, key=_host_order).index(self.current_host)

    @property
    def is_leader(self) -> bool:
        return self.host_index == 0

    @classmethod
    def from_resourceconfig(cls, data: dict, path: Path) -> Cluster:
        cur, hosts = data.get("current_host"), data.get("hosts")
        if not isinstance(cur, str) or not isinstance(hosts, list) or cur not in hosts:
            raise OptimizerError(f"sagemaker: {path} must name current_host and list it in hosts, got {data!r}")
        return cls(current_host=cur, hosts=[str(h) for h in hosts])


@dataclass(frozen=True)
class Contract:
    """Paths and config of one SageMaker job type, rooted at ``root``."""

    kind: Kind
    root: Path

    # ---------------------------------------------------------------- paths
    @property
    def ml(self) -> Path:
        return _ml(self.root)

    @property
    def resourceconfig_path(self) -> Path:
        if self.kind == "processing":
            return self.ml / "config" / "resourceconfig.json"
        return self.ml / "input" / "config" / "resourceconfig.json"

    @property
    def processingjobconfig_path(self) -> Path:
        return self.ml / "config" / "processingjobconfig.json"

    @property
    def hyperparameters_path(self) -> Path:
        return self.ml / "input" / "config" / "hyperparameters.json"

    @property
    def failure_path(self) -> Path:
        return self.ml / "output" / ("message" if self.kind == "processing" else "failure")

    @property
    def checkpoint_dir(self) -> Path:
        """Training: synced to S3 by managed spot.  Processing has no checkpoints, so the
        shard file in the output directory doubles as one (it survives a restart in place)."""
        if self.kind == "training":
            return self.ml / "checkpoints"
        return self.output("shards")

    def input(self, name: str) -> Path:
        if self.kind == "processing":
            return self.ml / "processing" / "input" / name
        return self.ml / "input" / "data" / name

    def output(self, name: str) -> Path:
        if self.kind == "processing":
            return self.ml / "processing" / "output" / name
        # Training uploads /opt/ml/output/data as output.tar.gz next to the model artifact.
        return self.ml / "output" / "data" / name

    # ---------------------------------------------------------------- config
    def cluster(self) -> Cluster:
        p = self.resourceconfig_path
        return Cluster.from_resourceconfig(_read_json(p, "resourceconfig.json"), p)

    def hyperparameters(self) -> dict[str, str]:
        """Training hyperparameters (SageMaker passes every value as a string)."""
        if self.kind != "training" or not self.hyperparameters_path.exists():
            return {}
        return {str(k): str(v) for k, v in _read_json(self.hyperparameters_path, "hyperparameters.json").items()}

    def job_config(self) -> dict:
        """Processing: the CreateProcessingJob request SageMaker ran (empty if absent)."""
        p = self.processingjobconfig_path
        return _read_json(p, "processingjobconfig.json") if self.kind == "processing" and p.exists() else {}

    def distribution(self, name: str) -> str | None:
        """How SageMaker distributed input ``name`` (FullyReplicated / ShardedByS3Key), if the
        job config says: Training's inputdataconfig.json, Processing's job request."""
        if self.kind == "training":
            p = self.ml / "input" / "config" / "inputdataconfig.json"
            if p.exists():
                ch = _read_json(p, "inputdataconfig.json").get(name) or {}
                return ch.get("S3DistributionType")
            return None
        for inp in self.job_config().get("ProcessingInputs", []):
            if inp.get("InputName") == name:
                return (inp.get("S3Input") or {}).get("S3DataDistributionType")
        return None

    def write_failure(self, reason: str) -> Path:
        """Record why the job failed where SageMaker reads it (truncated to 1 KB of UTF-8)."""
        data = reason.encode("utf-8")[:MESSAGE_LIMIT].decode("utf-8", errors="ignore")
        self.failure_path.parent.mkdir(parents=True, exist_ok=True)
        self.failure_path.write_text(data)
        return self.failure_path


def detect(root: Path | None = None, prefer: Kind | None = None) -> Contract:
    """The contract of the job this container runs in: Training if its config exists, else Processing."""
    root = root or container_root()
    if prefer:
        return Contract(prefer, root)
    if (_ml(root) / "input" / "config" / "resourceconfig.json").exists():
        return Contract("training", root)
    return Contract("processing", root)


def write_resourceconfig(contract: Contract, current_host: str, hosts: list[str]) -> None:
    """Lay out a host's config as SageMaker would (local cluster, tests)."""
    contract.resourceconfig_path.parent.mkdir(parents=True, exist_ok=True)
    contract.resourceconfig_path.write_text(json.dumps({
        "current_host": current_host, "hosts": hosts,
        "network_interface_name": "eth0",
    }, indent=2))

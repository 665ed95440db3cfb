"""`docker build` of both images Charter ships, and a run of what each one is for:

- the optimizer's SageMaker image (optimizer/container/Dockerfile): its entrypoint lists the
  pipeline steps, its health check imports the engine, and it runs as a user, not root;
- the risk manager's Lambda image (workloads/container/risk.Dockerfile), built from the
  handlers zip `charter workload package` makes: the handler computes a portfolio's risk.

Each build gets exactly the files its Dockerfile copies (as its .dockerignore allows), so a
COPY of something the repository no longer has fails here. Skipped, with the reason, where no
Docker engine answers (tests/conftest.py allows that one skip in CI).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.workloads import package as pkg

REPO = Path(__file__).resolve().parents[2]
#: a hang guard: a build pulls a base image and installs wheels, minutes on a slow network
BUILD_TIMEOUT = 3600


def _engine() -> str | None:
    """Why no image can be built here, or None when a Docker engine answers."""
    docker = shutil.which("docker")
    if docker is None:
        return "no Docker engine: the docker client is not installed"
    try:
        info = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                              timeout=120)
    except subprocess.TimeoutExpired:
        return "no Docker engine: `docker info` did not answer in 120 s"
    if info.returncode != 0 or not info.stdout.strip():
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"no Docker engine: `docker info` failed ({reason})"
    return None


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def docker() -> str:
    why = _engine()
    if why:
        pytest.skip(why)
    return shutil.which("docker") or "docker"


@pytest.fixture()
def image(docker: str) -> Iterator[str]:
    """A fresh tag; the image is removed after the test whatever happened."""
    tag = f"charter-test-{uuid.uuid4().hex[:12]}:latest"
    try:
        yield tag
    finally:
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True, timeout=300)


def _docker(docker: str, *args: str, timeout: float = 600) -> str:
    proc = subprocess.run([docker, *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"docker {' '.join(args[:3])} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _copy(relative: str, context: Path) -> None:
    src, dest = REPO / relative, context / relative
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copyfile(src, dest)


def test_optimizer_image_builds_and_runs_its_steps_as_a_user(docker: str, image: str, tmp_path: Path) -> None:
    context = tmp_path / "context"
    for relative in ("optimizer", "charter/__init__.py"):  # what its Dockerfile copies
        _copy(relative, context)
    _docker(docker, "build", "-f", str(context / "optimizer" / "container" / "Dockerfile"), "-t", image,
            str(context), timeout=BUILD_TIMEOUT)
    steps = _docker(docker, "run", "--rm", image, "--help")
    for step in ("validate-data", "generate-scenarios", "optimize-shard", "aggregate", "search"):
        assert step in steps, steps
    health = json.loads(_docker(docker, "inspect", "--format", "{{json .Config.Healthcheck.Test}}", image))
    _docker(docker, "run", "--rm", "--entrypoint", health[1], image, *health[2:])  # CMD exec form
    uid = _docker(docker, "run", "--rm", "--entrypoint", "python3", image, "-c", "import os; print(os.getuid())")
    assert uid.strip() == "1000"  # SageMaker runs the image's user: never root


def test_risk_image_builds_from_the_handlers_zip_and_its_handler_computes_risk(docker: str, image: str,
                                                                                tmp_path: Path) -> None:
    context = tmp_path / "context"
    _copy("workloads/requirements-layer.txt", context)
    (context / "dist").mkdir()
    pkg.build_handlers_zip(context / "dist")  # what `charter workload package optimizer -o dist` writes
    _docker(docker, "build", "-f", str(REPO / "workloads" / "container" / "risk.Dockerfile"), "-t", image,
            str(context), timeout=BUILD_TIMEOUT)
    cmd = json.loads(_docker(docker, "inspect", "--format", "{{json .Config.Cmd}}", image))
    assert cmd == ["charter.workloads.handlers.risk.handler"]  # what Lambda invokes
    script = ("import json, numpy as np\n"
              "from charter.workloads.handlers.risk import portfolio_risk\n"
              "r = np.random.default_rng(1).normal(0.0005, 0.01, (60, 3))\n"
              "print(json.dumps(portfolio_risk(r, np.array([0.5, 0.3, 0.2]), ['A', 'B', 'C'])))")
    risk = json.loads(_docker(docker, "run", "--rm", "--entrypoint", "python3", image, "-c", script))
    assert risk["observations"] == 60 and risk["cvar"] >= risk["var"] and risk["largest_position"]["asset"] == "A"

"""The optimizer image writes SageMaker's mounted folders (issue #26, 9).

SageMaker mounts `/opt/ml/output`, `/opt/ml/model`, `/opt/ml/checkpoints` and the
processing outputs into the container owned by root, mode 0755, and restores a spot job's
checkpoints as root's files. These tests lay a container root out exactly so and run the
entrypoint in a child process: as the image's unprivileged user it cannot write them (the
image before this fix), started as root (as SageMaker starts it) it hands them to its
runtime user and completes the step as that user.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from charter.optimizer.sagemaker import contract as ct

DOCKERFILE = Path(__file__).resolve().parents[2] / "optimizer" / "container" / "Dockerfile"
RUNTIME_UID = 1000
JOB = {"seed": 3, "data": {"synthetic": {"n_assets": 5, "n_days": 260}}, "backtest": {"lookback": 60},
       "search": {"n_trials": 3, "halving": False, "n_folds": 2,
                  "space": {"lookback": [40, 80], "objectives": ["min_variance", "risk_parity"]}}}

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing file owners and dropping root needs root")


@pytest.fixture
def container_root():
    """A container root every user may traverse (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="charter-sm-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def mount_as_sagemaker(root: Path, kind: str) -> ct.Contract:
    """Inputs and config readable by all; the writable folders root-owned 0755, as SageMaker mounts them."""
    c = ct.Contract(kind, root)  # type: ignore[arg-type]
    ct.write_resourceconfig(c, "algo-1", ["algo-1"])
    c.input("config").mkdir(parents=True)
    (c.input("config") / "job.json").write_text(json.dumps(JOB))
    if kind == "processing":
        c.processingjobconfig_path.write_text(json.dumps({"ProcessingOutputConfig": {"Outputs": [
            {"OutputName": "validated", "S3Output": {"LocalPath": "/opt/ml/processing/output/validated"}}]}}))
        mounts = [c.ml / "output", c.output("validated")]
    else:
        c.hyperparameters_path.write_text(json.dumps({"workers": "1"}))
        mounts = [c.ml / "output", c.ml / "model", c.checkpoint_dir]
    for d in mounts:
        d.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            Path(dirpath, name).chmod(0o755)
        for name in filenames:
            Path(dirpath, name).chmod(0o644)
    return c


def warm_up(tmp: Path, kind: str, *args: str) -> None:
    """Run the same step once in a scratch root, as root, so this interpreter has imported
    everything it needs: the forked child then reads no module file after dropping root
    (this machine's Python may live where uid 1000 cannot read; the image's does not)."""
    from charter.optimizer.container.entrypoint import main

    scratch = tmp / "warm-up"
    mount_as_sagemaker(scratch, kind)
    before = os.environ.get(ct.ROOT_ENV)
    os.environ[ct.ROOT_ENV] = str(scratch)
    try:
        main(list(args))
    finally:
        if before is None:
            os.environ.pop(ct.ROOT_ENV, None)
        else:
            os.environ[ct.ROOT_ENV] = before


def run_entrypoint(root: Path, *args: str, user: int | None = None, run_as: str | None = None) -> tuple[int, str]:
    """The entrypoint in a forked child (as a container process): `user` makes the child that
    unprivileged user before it starts (an image whose USER is that user); `run_as` is the
    image's CHARTER_RUN_AS (the entrypoint, started as root, drops to it). (exit code, stderr)"""
    from charter.optimizer.container.entrypoint import main

    log = root.parent / f"{root.name}.stderr"
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            err = open(log, "w")  # opened as root: stays writable after the drop
            sys.stderr = err
            os.environ[ct.ROOT_ENV] = str(root)
            os.environ.pop("CHARTER_RUN_AS", None)
            if run_as:
                os.environ["CHARTER_RUN_AS"] = run_as
            if user is not None:
                os.setgroups([])
                os.setgid(user)
                os.setuid(user)
            code = main(list(args))
        except BaseException:  # noqa: BLE001 - reported through the log and the exit code
            import traceback

            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    try:
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), log.read_text()


@needs_root
def test_an_unprivileged_image_user_cannot_write_sagemakers_mounts(container_root):
    """What the image did before: USER charter meets root-owned mounts; not even the
    failure message can be written, so the job fails without a reason."""
    c = mount_as_sagemaker(container_root / "job", "processing")
    warm_up(container_root, "processing", "validate-data")
    code, err = run_entrypoint(container_root / "job", "validate-data", user=RUNTIME_UID)
    assert code != 0
    assert "Permission denied" in err
    assert not c.failure_path.exists()


@needs_root
def test_processing_step_started_as_root_writes_its_outputs_as_the_runtime_user(container_root):
    c = mount_as_sagemaker(container_root / "job", "processing")
    warm_up(container_root, "processing", "validate-data")
    code, err = run_entrypoint(container_root / "job", "validate-data", run_as=f"{RUNTIME_UID}:{RUNTIME_UID}")
    assert code == 0, err
    written = c.output("validated") / "returns.csv"
    assert written.exists() and written.stat().st_uid == RUNTIME_UID
    assert c.output("validated").stat().st_uid == RUNTIME_UID


@needs_root
def test_training_search_checkpoints_and_model_as_the_runtime_user_after_a_spot_restart(container_root):
    c = mount_as_sagemaker(container_root / "job", "training")
    warm_up(container_root, "training", "train")
    first, err = run_entrypoint(container_root / "job", "train", "--max-new-trials", "1",
                                run_as=f"{RUNTIME_UID}:{RUNTIME_UID}")
    assert first == 3, err
    # SageMaker restores an interrupted spot job's checkpoints from S3 as root's files
    for dirpath, _dirs, files in os.walk(c.checkpoint_dir):
        for name in files:
            os.chown(Path(dirpath, name), 0, 0)
            Path(dirpath, name).chmod(0o644)
    os.chown(c.checkpoint_dir, 0, 0)
    code, err = run_entrypoint(container_root / "job", "train", run_as=f"{RUNTIME_UID}:{RUNTIME_UID}")
    assert code == 0, err
    model = c.ml / "model" / "search.json"
    assert model.exists() and model.stat().st_uid == RUNTIME_UID
    checkpoints = [p for p in c.checkpoint_dir.rglob("*") if p.is_file()]
    assert checkpoints and all(p.stat().st_uid == RUNTIME_UID for p in checkpoints)


@needs_root
def test_a_bad_runtime_user_fails_with_the_reason_sagemaker_reports(container_root):
    c = mount_as_sagemaker(container_root / "job", "processing")
    code, _ = run_entrypoint(container_root / "job", "validate-data", run_as="0:0")
    assert code == 1
    assert "must not be root" in c.failure_path.read_text()


def test_image_starts_as_root_and_names_its_runtime_user():
    """SageMaker runs the image as its USER: root, so the mounted folders can be handed over."""
    text = DOCKERFILE.read_text()
    users = [ln.split()[1] for ln in text.splitlines() if ln.startswith("USER ")]
    assert users[-1] == "root"
    assert f"--uid {RUNTIME_UID}" in text and f"ENV CHARTER_RUN_AS={RUNTIME_UID}:{RUNTIME_UID}" in text
    skip = next(ln for ln in text.splitlines() if "checkov:skip=CKV_DOCKER_8" in ln)
    assert "drops root" in skip

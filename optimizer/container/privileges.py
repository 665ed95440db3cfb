"""Start as root, as SageMaker expects, then run the step as the image's own user.

SageMaker creates the folders a job writes (`/opt/ml/output`, `/opt/ml/model`,
`/opt/ml/checkpoints` for Training, each `ProcessingOutput`'s `LocalPath` for Processing)
on the instance and mounts them into the container owned by root, mode 0755, and restores
a spot job's checkpoints as root's files: an image whose USER is unprivileged cannot
write its outputs, its checkpoints or even its failure message there. So the image starts
as root (the user SageMaker runs it as), and the entrypoint hands exactly those folders
to the runtime user named by `CHARTER_RUN_AS` (`uid:gid`, set by the Dockerfile), drops
root (supplementary groups, then gid, then uid) and only then reads any input. Run
unprivileged (a laptop, `charter optimize local-cluster`), it changes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from charter.optimizer.errors import OptimizerError
from charter.optimizer.sagemaker.contract import Contract

RUN_AS_ENV = "CHARTER_RUN_AS"


def writable_dirs(c: Contract) -> list[Path]:
    """The folders SageMaker mounts for the container to write, for this job type."""
    dirs = [c.ml / "output"]
    if c.kind == "training":
        dirs += [c.ml / "model", c.ml / "checkpoints"]
        return dirs
    dirs.append(c.ml / "processing" / "output")
    for out in (c.job_config().get("ProcessingOutputConfig") or {}).get("Outputs", []):
        local = ((out.get("S3Output") or {}).get("LocalPath") or "").lstrip("/")
        if local:
            dirs.append(c.root / local)
    return dirs


def _run_as() -> tuple[int, int] | None:
    raw = os.environ.get(RUN_AS_ENV, "")
    if not raw:
        return None
    try:
        uid, gid = (int(p) for p in raw.split(":", 1))
    except ValueError:
        raise OptimizerError(f"{RUN_AS_ENV}={raw!r}: expected uid:gid, e.g. 1000:1000") from None
    if uid == 0:
        raise OptimizerError(f"{RUN_AS_ENV}={raw!r}: the runtime user must not be root")
    return uid, gid


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    os.chown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def drop_privileges(c: Contract) -> tuple[int, int] | None:
    """Give the job's writable folders to the runtime user and become it; returns (uid, gid),
    or None when there is nothing to drop (not root, or no runtime user configured)."""
    target = _run_as()
    if target is None or os.geteuid() != 0:
        return None
    uid, gid = target
    for d in writable_dirs(c):
        d.mkdir(parents=True, exist_ok=True)
        _chown_tree(d, uid, gid)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    return uid, gid

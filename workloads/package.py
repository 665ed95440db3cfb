"""The optimizer's Lambda artifacts, built one way for every consumer.

`charter workload package optimizer -o dist` (the pipeline's build step) writes:

- `optimizer-handlers.zip`: exactly the first-party modules the handlers import at runtime.
  They are found by following imports from each function's handler module (the handler
  strings of the compute and secrets stacks) with the standard library's `modulefinder`,
  which reads bytecode, so imports inside functions count too. Only the packages the
  handlers reach are shipped (`workloads.handlers` and the `optimizer` engine): no stacks,
  no CLI, no tests. Entries are sorted and time-stamped 1980-01-01, so the same source gives
  the same bytes (and the same sha256).
- `optimizer-layer.zip`: the shared layer, `python/` with workloads/requirements-layer.txt
  installed by pip for the functions' runtime (`LAMBDA_RUNTIME`) and architecture, from
  wheels only (no compiler, nothing built on the build host). The build fails if a
  third-party module the handlers import is not in the layer, or if the handlers plus the
  layer exceed Lambda's 250 MB unzipped.

The risk manager's container image unpacks the same handlers zip
(workloads/container/risk.Dockerfile), and `charter workload deploy --local` uploads it to
the embedded AWS (without the layer: that needs PyPI).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from charter.closure import Closure
from charter.closure import closure as follow
from charter.errors import CharterError

REQUIREMENTS = Path(__file__).resolve().parent / "requirements-layer.txt"
HANDLERS_ZIP = "optimizer-handlers.zip"
LAYER_ZIP = "optimizer-layer.zip"
#: First-party packages the handlers may import; importing any other Charter package
#: (charter.landing_zone, ...) from a handler is an error: it would not be in the zip.
#: `charter` itself ships only as the namespace's `__init__.py`.
SHIPPED_PACKAGES = ("charter.workloads", "charter.optimizer")
#: Every Lambda Python runtime includes the AWS SDK.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore"})
#: Imported behind `except ImportError` with an answer for the caller, and left out on purpose.
OPTIONAL = {"pyarrow": "Parquet input; the handlers answer 'send CSV' without it, and it would take "
                       "the layer past Lambda's 250 MB"}
#: Needed at runtime although no handler imports it by name.
IMPLICIT = {"cryptography": "PyJWT verifies Cognito's RS256 signatures with it (ws_authorizer)"}
#: Lambda's limit on a function's code plus all its layers, unzipped: 250 MB, the
#: `CodeSizeUnzipped` that Lambda's GetAccountSettings reports (262,144,000 bytes).
LAMBDA_UNZIPPED_LIMIT = 262_144_000
#: Lambda architecture -> the machine name in wheel platform tags.
ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}
#: The layer's functions run on arm64 (compute.py: every zip function is arm64).
DEFAULT_ARCH = "arm64"
#: Fixed zip timestamps (the earliest a zip can hold) so builds are reproducible.
_EPOCH = (1980, 1, 1, 0, 0, 0)

Installer = Callable[[list[str]], None]
Progress = Callable[[str], None]


class PackageError(CharterError):
    """The optimizer's Lambda artifacts could not be built."""

    code = "CHARTER-710"
    fix = ("Read the message: it names the missing module, the pip failure or the size; fix "
           "workloads/requirements-layer.txt or the handler's imports and re-run `charter workload package`.")


@dataclass(frozen=True)
class Artifact:
    path: Path
    files: int
    unzipped_bytes: int
    zipped_bytes: int
    sha256: str


@dataclass
class PackageResult:
    handlers: Artifact
    layer: Artifact
    third_party: list[str] = field(default_factory=list)

    @property
    def unzipped_bytes(self) -> int:
        return self.handlers.unzipped_bytes + self.layer.unzipped_bytes


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB"


def handler_modules() -> list[str]:
    """The module of every function's handler, from the stacks that deploy them."""
    from charter.workloads.stacks.compute import FUNCTIONS
    from charter.workloads.stacks.secrets import REMINDER_HANDLER

    return sorted({f.handler.rsplit(".", 1)[0] for f in FUNCTIONS} | {REMINDER_HANDLER.rsplit(".", 1)[0]})


def closure(modules: Iterable[str] | None = None, *, root: Path | None = None,
            shipped: Sequence[str] = SHIPPED_PACKAGES) -> Closure:
    """The files (by installed arcname) and third-party modules reached from the handler
    modules (`charter.closure`, with this module's error). `root` is a tree in the installed
    layout (`root/charter/...`); by default the installed Charter, wherever its folders are."""
    modules = list(modules) if modules is not None else handler_modules()
    return follow(modules, shipped, root=root, error=PackageError)


def _zip(entries: Iterable[tuple[str, Path]], dest: io.BufferedIOBase | Path) -> tuple[int, int]:
    """Write a reproducible zip; returns (files, unzipped bytes)."""
    count = size = 0
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, path in sorted(entries):
            info = zipfile.ZipInfo(arcname, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the mode below applies when Lambda extracts it
            mode = 0o755 if os.stat(path).st_mode & 0o111 else 0o644
            info.external_attr = (0o100000 | mode) << 16
            with open(path, "rb") as src, zf.open(info, "w") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            count += 1
            size += path.stat().st_size
    return count, size


def handlers_zip_bytes(cl: Closure | None = None) -> bytes:
    """The handlers zip in memory (what `charter workload deploy --local` uploads)."""
    cl = cl or closure()
    buf = io.BytesIO()
    _zip(cl.files.items(), buf)
    return buf.getvalue()


def build_handlers_zip(out_dir: Path, cl: Closure | None = None) -> Artifact:
    cl = cl or closure()
    dest = Path(out_dir) / HANDLERS_ZIP
    count, size = _zip(cl.files.items(), dest)
    return _artifact(dest, count, size)


def _artifact(path: Path, count: int, size: int) -> Artifact:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return Artifact(path=path, files=count, unzipped_bytes=size, zipped_bytes=path.stat().st_size,
                    sha256=digest.hexdigest())


def python_version(runtime: str | None = None) -> str:
    """`python3.12` -> `3.12` (the stacks' LAMBDA_RUNTIME by default)."""
    if runtime is None:
        from charter.workloads.stacks._common import LAMBDA_RUNTIME

        runtime = LAMBDA_RUNTIME
    return runtime.removeprefix("python")


def platforms(arch: str, py: str) -> list[str]:
    """Wheel platform tags the runtime's OS accepts, newest glibc first.

    Python 3.12 and later run on Amazon Linux 2023 (glibc 2.34), earlier ones on Amazon
    Linux 2 (glibc 2.26). pip does not widen a `manylinux_2_X` platform to older glibc
    versions by itself, so every compatible tag is listed; `manylinux2014` is the legacy
    name of 2.17 that older wheels carry alone.
    """
    if arch not in ARCHITECTURES:
        raise PackageError(f"--arch {arch}: not a Lambda architecture", hint="use --arch arm64 or --arch x86_64")
    machine = ARCHITECTURES[arch]
    major, minor = (int(p) for p in py.split(".")[:2])
    glibc = 34 if (major, minor) >= (3, 12) else 26
    return [f"manylinux_2_{m}_{machine}" for m in range(glibc, 16, -1)] + [f"manylinux2014_{machine}"]


def pip_command(target: Path, *, arch: str = DEFAULT_ARCH, py: str | None = None,
                requirements: Path = REQUIREMENTS) -> list[str]:
    """The pip invocation that fills the layer (wheels for Lambda's OS, Python and CPU)."""
    py = py or python_version()
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
           "--only-binary=:all:", "--implementation", "cp", "--python-version", py]
    for tag in platforms(arch, py):
        cmd += ["--platform", tag]
    # --no-compile: bytecode compiled here would be for this interpreter, not the runtime's.
    cmd += ["--no-compile", "--target", str(target), "--requirement", str(requirements)]
    return cmd


def run_pip(cmd: list[str]) -> None:
    """Run pip; a failure becomes a PackageError with pip's last lines."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise PackageError(f"pip could not install the layer's requirements (exit {proc.returncode}):\n{tail}",
                           hint="check that every pin in workloads/requirements-layer.txt has a wheel for the "
                                "runtime's Python and platform, and that PyPI (or PIP_INDEX_URL) is reachable")


def _prune(target: Path) -> None:
    """Drop what never runs: bytecode of the build host's Python, console scripts (`bin/`,
    their shebang names the build host's interpreter) and the test suites that packages ship
    inside themselves (numpy's and scipy's are tens of MB; nothing imports them at runtime).
    Other top-level directories are packages and are kept whatever their name."""
    shutil.rmtree(target / "bin", ignore_errors=True)
    for path in sorted(target.rglob("*"), reverse=True):
        if path.is_dir() and path.parent != target and path.name in ("__pycache__", "tests"):
            shutil.rmtree(path)


def tree_size(root: Path) -> tuple[int, int]:
    """(files, bytes) of a directory tree."""
    count = size = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            count += 1
            size += os.lstat(os.path.join(dirpath, name)).st_size
    return count, size


def _provides(target: Path, top: str) -> bool:
    return ((target / top).is_dir() or (target / f"{top}.py").is_file()
            or any(target.glob(f"{top}.*.so")) or any(target.glob(f"{top}.*.pyd")))


def layer_needs(cl: Closure) -> set[str]:
    """Top-level third-party modules the layer must provide."""
    return (set(cl.third_party_top) - RUNTIME_PROVIDED - set(OPTIONAL)) | set(IMPLICIT)


def install_layer(target: Path, cl: Closure, *, arch: str = DEFAULT_ARCH, installer: Installer | None = None,
                  requirements: Path = REQUIREMENTS) -> None:
    """Fill `target` (the layer's `python/`) and check it provides what the handlers import.
    `installer` runs the pip command (`run_pip` unless given: tests pass one that does not
    download)."""
    if not requirements.is_file():
        raise PackageError(f"{requirements}: not found", hint="restore workloads/requirements-layer.txt")
    target.mkdir(parents=True, exist_ok=True)
    (installer or run_pip)(pip_command(target, arch=arch, requirements=requirements))
    _prune(target)
    missing = sorted(t for t in layer_needs(cl) if not _provides(target, t))
    if missing:
        raise PackageError(f"the handlers import {', '.join(missing)} but the layer does not provide "
                           f"{'it' if len(missing) == 1 else 'them'}",
                           hint=f"add the distribution to {requirements.name} (pinned, with its dependencies)")


def package(out_dir: Path, *, arch: str = DEFAULT_ARCH, installer: Installer | None = None,
            requirements: Path = REQUIREMENTS, limit: int = LAMBDA_UNZIPPED_LIMIT,
            progress: Progress = lambda _msg: None) -> PackageResult:
    """Build both zips into `out_dir`."""
    out_dir = Path(out_dir)
    platforms(arch, python_version())  # a bad --arch fails before any work
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PackageError(f"{out_dir}: cannot create: {exc.strerror}", hint="choose a writable directory with -o") \
            from None
    progress("following the handlers' imports")
    cl = closure()
    progress(f"writing {HANDLERS_ZIP} ({len(cl.files)} modules)")
    handlers = build_handlers_zip(out_dir, cl)
    with tempfile.TemporaryDirectory(prefix="charter-layer-") as tmp:
        target = Path(tmp) / "python"
        progress(f"installing {requirements.name} for {arch} / Python {python_version()} (pip)")
        install_layer(target, cl, arch=arch, installer=installer, requirements=requirements)
        count, size = tree_size(target)
        total = size + handlers.unzipped_bytes
        if total > limit:
            raise PackageError(
                f"{LAYER_ZIP}: {_mb(size)} unzipped, {_mb(total)} ({total:,} bytes) with the handlers; Lambda "
                f"allows {_mb(limit)} ({limit:,} bytes) for a function and its layers",
                hint=f"drop a dependency from {requirements.name}, or move the function that needs it to a "
                     "container image as the risk manager is")
        progress(f"writing {LAYER_ZIP} ({count:,} files, {_mb(size)})")
        dest = out_dir / LAYER_ZIP
        _zip(((f"python/{p.relative_to(target).as_posix()}", p) for p in target.rglob("*") if p.is_file()), dest)
        layer = _artifact(dest, count, size)
    return PackageResult(handlers=handlers, layer=layer, third_party=sorted(cl.third_party))

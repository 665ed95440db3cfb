"""Tools Charter runs in environments of their own, created on first use (as pre-commit and pipx do).

checkov is the one today. It pins `boto3==1.35.49`, `networkx<2.7` and `packaging<24`; installed
beside Charter it would hold the whole product on a 2024 AWS SDK and keep the SageMaker SDK v3
out. So Charter keeps it in a virtualenv under the user's cache directory, installed from the
pins in `toolenv_checkov.txt` (the closure this checkov version was tested with), and talks to
it through checkov's own JSON output: one process per framework over all the files, never one
process per file.

Where the environment lives: `$CHARTER_TOOLS_DIR`, else `$XDG_CACHE_HOME/charter/tools`, else
`~/.cache/charter/tools`. `$CHARTER_CHECKOV` names a checkov executable to use instead (one
installed with pipx, say); Charter then installs nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from charter.errors import CharterError

#: The checkov release whose checks Charter's templates are held to (a new release brings new
#: checks: raising it is a deliberate change, with the templates re-linted).
CHECKOV_VERSION = "3.3.30"

#: checkov's command line, run by the environment's python (see its docstring)
LAUNCHER = Path(__file__).with_name("toolenv_checkov_launch.py")


class ToolError(CharterError):
    """A tool Charter runs in its own environment could not be installed or run."""

    code = "CHARTER-230"
    fix = ("Run `charter tools install` where PyPI is reachable (or set CHARTER_CHECKOV to a checkov "
           f"{CHECKOV_VERSION} executable); `charter tools` shows where the environment is.")


@dataclass(frozen=True)
class CheckovResult:
    """checkov's answer: its failed and passed checks, each as checkov's JSON report gives it
    (`check_id`, `check_name`, `resource`, `file_path`, `file_line_range`, ...)."""

    failed: list[dict[str, Any]]
    passed: list[dict[str, Any]]
    #: checks a file skips itself (`# checkov:skip=` in a Dockerfile, Metadata in a template)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def tools_dir() -> Path:
    if os.environ.get("CHARTER_TOOLS_DIR"):
        return Path(os.environ["CHARTER_TOOLS_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "charter" / "tools"


def checkov_env() -> Path:
    """The environment's folder, named by version so an upgrade never reuses an old one."""
    return tools_dir() / f"checkov-{CHECKOV_VERSION}-py{sys.version_info.major}{sys.version_info.minor}"


def _pins() -> str:
    return files("charter").joinpath("toolenv_checkov.txt").read_text()


def _bin(env: Path, name: str) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / name


def _ready_marker(env: Path) -> Path:
    return env / "charter-ready.txt"


def installed_checkov() -> Path | None:
    """The checkov executable if it is ready to run (an override or a completed install), else None."""
    override = os.environ.get("CHARTER_CHECKOV")
    if override:
        return Path(override)
    env = checkov_env()
    marker = _ready_marker(env)
    # the marker holds the pins it was installed from: changed pins mean a new install
    if marker.is_file() and marker.read_text() == _pins() and _bin(env, "checkov").exists():
        return _bin(env, "checkov")
    return None


@contextmanager
def _install_lock() -> Iterator[None]:
    # Parallel test workers (and two terminals) may ask for the environment at the same time:
    # one installs, the others wait and then find it ready.
    tools_dir().mkdir(parents=True, exist_ok=True)
    with open(tools_dir() / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_checkov(say: Callable[[str], None] | None = None) -> Path:
    """The checkov executable, installing its environment first if it is not there yet."""
    found = installed_checkov()
    if found:
        if not found.exists():
            raise ToolError(f"CHARTER_CHECKOV={found}: no such file",
                            hint="point CHARTER_CHECKOV at a checkov executable, or unset it to let Charter install one")
        return found
    with _install_lock():
        found = installed_checkov()
        if found:
            return found
        env = checkov_env()
        if say:
            say(f"Installing checkov {CHECKOV_VERSION} into {env} (once; it is kept apart from Charter's own packages)")
        if env.exists():
            shutil.rmtree(env)  # a half-finished install from an interrupted run
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
        # the pins are checkov's whole closure: nothing to resolve, only to download
        pins = env / "pins.txt"
        pins.write_text(_pins())
        proc = subprocess.run(
            [str(_bin(env, "python")), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps",
             "-r", str(pins)], capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise ToolError(f"could not install checkov {CHECKOV_VERSION} into {env}:\n{tail}",
                            hint=ToolError.fix)
        _ready_marker(env).write_text(_pins())
        return _bin(env, "checkov")


def run_checkov(paths: list[str], framework: str, say: Callable[[str], None] | None = None) -> CheckovResult:
    """checkov over `paths` (files) for one framework, in one process, read from its JSON report."""
    if not paths:
        return CheckovResult([], [])
    exe = ensure_checkov(say)
    args = [*checkov_command(exe), "--framework", framework, "--output", "json", "--soft-fail", "--compact",
            "--skip-download"]
    for path in paths:
        args += ["--file", path]
    env = {**os.environ, "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"}
    # --soft-fail: exit 0 with failed checks, so a non-zero exit is checkov itself failing
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise ToolError(f"checkov {CHECKOV_VERSION} failed (exit {proc.returncode}) on {len(paths)} file(s):\n{tail}")
    return parse_report(proc.stdout)


def checkov_command(exe: Path) -> list[str]:
    """How to start `exe`: the checkov Charter installed runs through `toolenv_checkov_launch.py`
    in its environment's python (bc-jsonpath-ng's parser built once per grammar, until upstream
    releases the fix in docs/upstream/); any other checkov (CHARTER_CHECKOV) runs as given."""
    env = checkov_env()
    if os.environ.get("CHARTER_CHECKOV") or exe != _bin(env, "checkov"):
        return [str(exe)]
    # -I: the environment's own packages only (no user site, no PYTHONPATH, no script folder)
    return [str(_bin(env, "python")), "-I", str(LAUNCHER)]


def parse_report(text: str) -> CheckovResult:
    """checkov's `--output json`: one report object, a list of them (one per framework), or, when
    it found nothing to check, a summary object without results."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ToolError(f"checkov's output is not JSON ({exc}): {text[:200]!r}") from None
    reports = data if isinstance(data, list) else [data]
    failed: list[dict[str, Any]] = []
    passed: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for report in reports:
        results = report.get("results") or {}
        failed += results.get("failed_checks") or []
        passed += results.get("passed_checks") or []
        skipped += results.get("skipped_checks") or []
    return CheckovResult(failed, passed, skipped)

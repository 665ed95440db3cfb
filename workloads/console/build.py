"""Build the console app with Node (`npm ci && npm run build`) and check a build is current.

The hash is computed exactly as `vite.config.js` computes it into `dist/build-info.json`:
SHA-256 over the sorted relative paths of the build's inputs (`HASHED`), each line
`<path>\\0<sha256 of the file>\\n`. A dist whose recorded hash differs from the sources'
was built from other sources (someone changed src/ and did not rebuild).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from charter.errors import CharterError
from charter.workloads.console import CONSOLE_DIR, dist_dir

#: The build's inputs (vite.config.js's HASHED).
HASHED = ("index.html", "package.json", "package-lock.json", "vite.config.js", "src", "public")
NODE_MAJOR = 20


class BuildError(CharterError):
    """The console could not be built (no Node/npm, a failed build) or its build is stale."""

    code = "CHARTER-740"
    fix = "Install Node 20 and npm, then `charter console build`; commit workloads/console/dist."


def _files(root: Path) -> list[str]:
    out: list[str] = []
    for name in HASHED:
        path = root / name
        if path.is_file():
            out.append(name)
        elif path.is_dir():
            out += [p.relative_to(root).as_posix() for p in path.rglob("*") if p.is_file()]
    return sorted(out)


def source_hash(root: Path = CONSOLE_DIR) -> str:
    h = hashlib.sha256()
    for rel in _files(root):
        h.update(f"{rel}\0{hashlib.sha256((root / rel).read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def build_info(dist: Path | None = None) -> dict[str, Any]:
    path = (dist or dist_dir()) / "build-info.json"
    if not path.is_file():
        raise BuildError(f"{path}: missing; the console has not been built", hint="run `charter console build`")
    return json.loads(path.read_text())


def stale(root: Path = CONSOLE_DIR) -> str | None:
    """Why the committed build does not match the sources, or None."""
    try:
        info = build_info(root / "dist")
    except BuildError as exc:
        return exc.message
    current = source_hash(root)
    if info.get("source_hash") != current:
        return (f"workloads/console/dist was built from other sources (build {str(info.get('source_hash'))[:12]}, "
                f"sources {current[:12]})")
    missing = [f for f in info.get("files", {}) if not (root / "dist" / f).is_file()]
    if missing:
        return f"workloads/console/dist lacks {', '.join(missing)}"
    return None


def _run(cmd: list[str], cwd: Path, echo: Callable[[str], Any]) -> str:
    echo(f"$ {' '.join(cmd)}")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise BuildError(f"`{' '.join(cmd)}` failed in {cwd} (exit {proc.returncode}):\n{tail}",
                         hint="fix the error above; `npm ci` needs the npm registry")
    return proc.stdout


def build_app(root: Path = CONSOLE_DIR, echo: Callable[[str], Any] = print) -> dict[str, Any]:
    """`npm ci && npm run build` in `root`; returns build-info.json (sizes, first load)."""
    npm = shutil.which("npm")
    node = shutil.which("node")
    if not npm or not node:
        raise BuildError("the console build needs Node.js and npm, which are not on PATH",
                         hint=f"install Node {NODE_MAJOR} (it brings npm), then run `charter console build`")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        major = 0
    if major < NODE_MAJOR:
        raise BuildError(f"Node {version or '?'} is too old for the console build (Vite 8)",
                         hint=f"install Node {NODE_MAJOR}.19 or newer")
    _run([npm, "ci", "--no-audit", "--no-fund"], root, echo)
    out = _run([npm, "run", "build"], root, echo)
    for line in out.splitlines():
        if "first load" in line:
            echo(line.strip())
    return build_info(root / "dist")

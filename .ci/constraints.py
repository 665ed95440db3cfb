"""Print the pins of everything `charter[test]` installed in this environment, as a pip
constraints file: `pip install -c constraints.txt -e '.[test]'` then resolves the versions
that this environment ran green with, instead of whatever is newest that day.

Only Charter's own dependency closure is written (walked from charter's metadata, extras and
environment markers included), not every package the environment happens to hold.
Run through `.ci/refresh-constraints`, which installs first.
"""

from __future__ import annotations

import importlib.metadata as md
import platform
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = "charter"


def closure(root: str, extras: set[str]) -> dict[str, str]:
    """canonical name -> installed version of every distribution `root[extras]` needs here."""
    pins: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    todo = [(root, extra) for extra in {"", *extras}]
    while todo:
        name, extra = todo.pop()
        if (canonicalize_name(name), extra) in seen:
            continue
        seen.add((canonicalize_name(name), extra))
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            sys.exit(f"{name} is required but not installed: run `pip install -e '.[test]'` first")
        if canonicalize_name(name) != ROOT:
            pins[canonicalize_name(name)] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": extra}):
                continue
            todo += [(req.name, e) for e in {"", *req.extras}]
    return pins


def main() -> int:
    pins = closure(ROOT, {"test"})
    print("# Versions of Charter's test environment that last ran `bash .ci/run` green; the README's test")
    print("# line installs with `-c constraints.txt`. Refresh after changing dependencies in pyproject.toml:")
    print("#   bash .ci/refresh-constraints            (add --upgrade to move everything to the newest allowed)")
    print(f"# Written on Python {platform.python_version()} ({sys.platform}).")
    for name, version in sorted(pins.items()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

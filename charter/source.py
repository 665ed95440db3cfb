"""Where Charter's own packages live on disk, in any install, and their files as they install.

Every folder of the repository installs under the one import namespace `charter.` (see
setup.py): in a wheel `charter/landing_zone/...` is a real sub-directory, in an editable
install or a checkout `landing_zone/` sits beside `charter/`. Code that ships Charter's
own source somewhere else (a Lambda zip, a container, a worker's search path) asks here,
so it needs no knowledge of which of the two it runs from, and always writes the installed
layout (`charter/evidence/...`) whatever the layout it reads.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

_SKIP_SUFFIXES = (".pyc", ".pyo")


def package_dir(dotted: str) -> Path:
    """The directory of a Charter package (`charter.evidence` -> .../evidence)."""
    spec = importlib.util.find_spec(dotted)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{dotted} is not an installed package", name=dotted)
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def search_path(dotted: str = "charter") -> list[str]:
    """Directories in which the sub-packages of `dotted` are found by folder name.

    In a wheel that is the package's own directory; in an editable install or a checkout
    also the directory beside it that holds the mapped folders. A tool that resolves
    imports itself (`modulefinder`) searches these instead of the package's `__path__`."""
    own = package_dir(dotted)
    dirs = [own]
    for folder in sorted(own.parent.iterdir()):
        if folder == own or not (folder / "__init__.py").is_file():
            continue
        spec = importlib.util.find_spec(f"{dotted}.{folder.name}")
        if spec is not None and spec.origin and Path(spec.origin).resolve().parent == folder.resolve():
            if own.parent not in dirs:
                dirs.append(own.parent)
    return [str(d) for d in dirs]


def files(dotted: str) -> Iterator[tuple[str, Path]]:
    """(installed arcname, file) for every file of a package and its sub-packages, sorted.

    `charter.evidence` yields ("charter/evidence/store.py", <checkout>/evidence/store.py), ...
    Bytecode and caches are left out."""
    root = package_dir(dotted)
    prefix = dotted.replace(".", "/") + "/"
    found = [(prefix + p.relative_to(root).as_posix(), p) for p in root.rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix not in _SKIP_SUFFIXES]
    yield from sorted(found)


def module_arcname(name: str, is_package: bool) -> str:
    """The installed path of a module: `charter.workloads.handlers.api` -> charter/workloads/handlers/api.py."""
    base = name.replace(".", "/")
    return f"{base}/__init__.py" if is_package else f"{base}.py"

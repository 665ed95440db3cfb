"""The floors (README, Layout): the import-linter contracts of pyproject.toml hold, and they can fail.

grimp (import-linter's graph) reads one directory tree per top-level package; an editable
install of setup.py's package-dir mapping spreads `charter` over several folders. So the test
lays out the sources as the wheel installs them (`landing_zone/` as `charter/landing_zone/`,
...) and runs `lint-imports` there, in a child process whose import path sees only that copy.
"""

from __future__ import annotations

import ast
import shutil
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = REPO / "pyproject.toml"


def _domains() -> tuple[str, ...]:
    """setup.py's DOMAINS: the folders installed as `charter.<folder>`."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "DOMAINS":
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no DOMAINS")


def _python_only(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n in ("__pycache__", "node_modules", "dist")
            or (not n.endswith(".py") and not (Path(folder) / n).is_dir())]


def _installed_layout(root: Path) -> Path:
    shutil.copytree(REPO / "charter", root / "charter", ignore=_python_only)
    for folder in _domains():
        shutil.copytree(REPO / folder, root / "charter" / folder, ignore=_python_only)
    return root


def _lint_imports(spawn: Callable, root: Path) -> tuple[int, str]:
    # cwd is the copy: lint-imports puts its working directory first on the import path
    child = spawn([sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
                   "--config", str(PYPROJECT), "--no-cache"], cwd=root, env={"PATH": "/usr/bin:/bin"})
    code, out, err = child.finish(timeout=600)
    return code, out + err


def _layer_modules() -> set[str]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    floors = next(c for c in config["contracts"] if c["id"] == "floors")
    return {m.strip() for layer in floors["layers"] for m in layer.replace("|", ":").split(":")}


def test_every_part_of_charter_is_on_a_floor(tmp_path: Path) -> None:
    """A new folder or top-level module outside the layers would escape the contract unnoticed."""
    root = _installed_layout(tmp_path)
    listed = _layer_modules()
    top = {f"charter.{p.stem}" for p in (root / "charter").iterdir()
           if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    # the control package is split: its catalog is the spine, its matrix and links sit above the domains
    top = (top - {"charter.controls"}) | {f"charter.controls.{p.stem}" for p in (root / "charter/controls").glob("*.py")
                                           if p.stem != "__init__"}
    assert sorted(top - listed) == []


def test_the_floors_hold(tmp_path: Path, spawn: Callable) -> None:
    code, out = _lint_imports(spawn, _installed_layout(tmp_path))
    assert code == 0, out
    assert "Contracts: 4 kept, 0 broken" in out, out


@pytest.mark.parametrize(("module", "imports", "contract"), [
    # evidence reading the landing zone's builders: what made its Lambda need awacs
    ("charter/evidence/_probe.py", "from charter.landing_zone.scp import guardrails", "Three floors"),
    # a product module starting the embedded AWS
    ("charter/workloads/_probe.py", "import charter.local", "Three floors"),
    # the ground floor reaching up into a domain
    ("charter/config/_probe.py", "from charter.controls import catalog", "Three floors"),
    ("charter/optimizer/_probe.py", "from charter import errors", "optimizer imports no other"),
    ("charter/workloads/_probe.py", "from charter.landing_zone.builders import kms", "never its builders"),
    ("charter/config/_probe2.py", "from charter.config import workloads", None),
    ("charter/config/types.py", "from charter.config import model", "config sections"),
])
def test_a_wrong_arrow_breaks_a_contract(tmp_path: Path, spawn: Callable, module: str, imports: str,
                                         contract: str | None) -> None:
    root = _installed_layout(tmp_path)
    path = root / module
    path.write_text((path.read_text(encoding="utf-8") if path.exists() else "") + f"\n{imports}\n", encoding="utf-8")
    code, out = _lint_imports(spawn, root)
    if contract is None:  # an arrow the floors allow: the contracts stay kept
        assert code == 0, out
    else:
        assert code == 1, out
        broken = out[out.index("Broken contracts"):]
        assert contract in broken and module.removesuffix(".py").replace("/", ".") in broken, out

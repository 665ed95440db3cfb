"""The committed console build is the build of the committed sources, within its size budget,
and installs with the package (so serving it needs no Node)."""

from __future__ import annotations

import re

from charter.workloads.console import CONSOLE_DIR, dist_dir
from charter.workloads.console.build import build_info, source_hash, stale


def test_committed_dist_matches_the_sources() -> None:
    problem = stale()
    assert problem is None, f"{problem}: run `charter console build` and commit workloads/console/dist"
    assert build_info()["source_hash"] == source_hash()


def test_first_load_is_within_budget_and_references_only_its_own_files() -> None:
    info = build_info()
    assert info["first_load_gzip"] < info["budget"] == 300 * 1024
    html = (dist_dir() / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(r.startswith("/") and not r.startswith("//") for r in refs)  # same origin, no CDN
    for ref in refs:
        assert (dist_dir() / ref.lstrip("/")).is_file(), ref
    assert "<script>" not in html  # CSP: scripts from files only


def test_the_build_hash_changes_with_any_source(tmp_path) -> None:
    import shutil

    copy = tmp_path / "console"
    copy.mkdir()
    for name in ("index.html", "package.json", "package-lock.json", "vite.config.js", "src", "public"):
        src = CONSOLE_DIR / name
        if src.is_dir():
            shutil.copytree(src, copy / name)
        elif src.is_file():
            shutil.copy(src, copy / name)
    assert source_hash(copy) == source_hash()  # node_modules, dist and build.py are not inputs
    before = source_hash(copy)
    (copy / "src" / "format.js").write_text((copy / "src" / "format.js").read_text() + "\n// changed\n")
    assert source_hash(copy) != before


def test_package_data_covers_the_built_files() -> None:
    import tomllib
    from fnmatch import fnmatch

    data = tomllib.loads((CONSOLE_DIR.parents[1] / "pyproject.toml").read_text())
    globs = data["tool"]["setuptools"]["package-data"]["charter.workloads.console"]
    built = [p.relative_to(dist_dir()).as_posix() for p in dist_dir().rglob("*") if p.is_file()]
    assert built and all(any(fnmatch(f"dist/{b}", g) for g in globs) for b in built), built

"""Charter installs one import name, `charter`; the repository's folders are its sub-packages."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from charter import source

REPO = Path(__file__).resolve().parents[2]
DOMAINS = ("landing_zone", "controls", "evidence", "workloads", "optimizer", "runbooks", "templates", "cost")


@pytest.mark.slow
def test_the_wheel_installs_only_the_charter_namespace(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("charter-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/", 1)[0] for n in names} == {"charter", wheel.name.split("-py")[0] + ".dist-info"}
    for folder in DOMAINS:  # every folder of the repository is inside the namespace, data files too
        assert f"charter/{folder}/__init__.py" in names
    assert "charter/controls/catalog/log.yaml" in names and "charter/templates/matrix.html.j2" in names
    assert "charter/templates/docs/deploy-guide.md.j2" in names  # data folders that are not packages


def test_domains_import_under_charter_and_not_alone():
    code = ("import importlib, json\n"
            f"ok = [importlib.import_module('charter.' + d).__name__ for d in {DOMAINS!r}]\n"
            "bare = []\n"
            f"for d in {DOMAINS!r}:\n"
            "    try:\n        importlib.import_module(d); bare.append(d)\n"
            "    except ModuleNotFoundError:\n        pass\n"
            "print(json.dumps([ok, bare]))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f'[{list("charter." + d for d in DOMAINS)!r}, []]'.replace("'", '"')


def test_source_files_are_named_as_installed():
    names = dict(source.files("charter.evidence"))
    assert "charter/evidence/store.py" in names and names["charter/evidence/store.py"].is_file()
    assert source.module_arcname("charter.workloads.handlers", True) == "charter/workloads/handlers/__init__.py"
    # modulefinder-style tools search every directory that holds charter's sub-packages
    assert any((Path(d) / "landing_zone" / "__init__.py").is_file() or (Path(d) / "charter").is_dir()
               for d in source.search_path())

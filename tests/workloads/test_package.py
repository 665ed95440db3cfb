"""The optimizer's Lambda artifacts (workloads/package.py, `charter workload package`) and the
pipeline that builds them: the handlers zip runs on its own with only the layer's packages,
the layer is assembled for the runtime and checked against Lambda's size limit, and every
file the pipeline's build spec names exists in the repository."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from typer.testing import CliRunner

from charter.cli import app
from charter.workloads import package as pkg
from charter.workloads.stacks import cicd
from charter.workloads.stacks._common import LAMBDA_RUNTIME
from charter.workloads.stacks.compute import FUNCTION_BY_NAME, FUNCTIONS
from charter.workloads.stacks.registry import REPOSITORIES

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _requirements(path: Path = pkg.REQUIREMENTS) -> list[Requirement]:
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    return [Requirement(ln) for ln in lines if ln and not ln.startswith("#")]


def _arg(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


def _copy_distributions(names: list[str], target: Path) -> None:
    """Put the installed files of these distributions into `target`, as pip --target would
    (no bytecode, no console scripts). Hard links where possible: the tree is only read."""
    for name in names:
        for rel in md.distribution(name).files or []:
            if rel.parts[0] == ".." or "__pycache__" in rel.parts:
                continue
            src = Path(rel.locate())
            if not src.is_file():
                continue
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dest)
            except OSError:
                shutil.copy2(src, dest)


def _simulated_pip(cmd: list[str]) -> None:
    """Stands in for pip (no download): installs the requirements file's distributions from
    this environment into --target, with the dependencies their metadata declares for the
    runtime's platform. The pins are not compared: the versions here are the ones tested."""
    target = Path(_arg(cmd, "--target"))
    env = {**default_environment(), "python_version": _arg(cmd, "--python-version"), "sys_platform": "linux",
           "platform_system": "Linux", "platform_python_implementation": "CPython", "implementation_name": "cpython"}
    wanted, queue = set(), [r for r in _requirements(Path(_arg(cmd, "--requirement")))]
    while queue:
        req = queue.pop()
        name = req.name.lower().replace("_", "-")
        if name in wanted:
            continue
        wanted.add(name)
        for extra in req.extras or {""}:
            for dep in md.distribution(name).requires or []:
                d = Requirement(dep)
                if d.marker is None or d.marker.evaluate({**env, "extra": extra}):
                    queue.append(d)
    _copy_distributions(sorted(wanted), target)


def _fake_pip(provides: list[str], extra: dict[str, bytes | int] | None = None):
    """A pip that writes tiny packages named `provides` (plus files: bytes, or an int for a
    sparse file of that size) into --target, and records the command it was given."""
    calls: list[list[str]] = []

    def install(cmd: list[str]) -> None:
        calls.append(cmd)
        target = Path(_arg(cmd, "--target"))
        for name in provides:
            (target / name).mkdir(parents=True, exist_ok=True)
            (target / name / "__init__.py").write_text(f"NAME = {name!r}\n")
        for rel, content in (extra or {}).items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, int):
                with open(path, "wb") as fh:
                    fh.truncate(content)
            else:
                path.write_bytes(content)

    install.calls = calls  # type: ignore[attr-defined]
    return install


# --- the handlers zip -------------------------------------------------------------------------


def test_handlers_zip_is_exactly_what_the_handlers_import(tmp_path):
    art = pkg.build_handlers_zip(tmp_path)
    names = zipfile.ZipFile(art.path).namelist()
    for module in pkg.handler_modules():
        assert module.replace(".", "/") + ".py" in names
    assert {"charter/__init__.py", "charter/workloads/__init__.py", "charter/workloads/handlers/__init__.py",
            "charter/optimizer/__init__.py", "charter/optimizer/solvers/qp.py",
            "charter/workloads/handlers/jobstatus.py"} <= set(names)
    assert all(n.startswith(("charter/workloads/handlers/", "charter/optimizer/"))
               or n in ("charter/__init__.py", "charter/workloads/__init__.py") for n in names)
    # nothing the handlers do not reach: no stacks, CLI, SageMaker tooling, container entrypoint, tests
    assert not [n for n in names if n.startswith(("charter/workloads/stacks", "charter/optimizer/sagemaker",
                                                  "charter/optimizer/container"))
                or "/tests/" in n or n.rsplit("/", 1)[-1].startswith("test") or n.endswith("report.py")]
    assert art.files == len(names) and art.zipped_bytes < 1_000_000
    # reproducible: the same source gives the same bytes
    assert pkg.handlers_zip_bytes() == art.path.read_bytes()


def test_closure_follows_lazy_imports_and_rejects_charter_packages(tmp_path):
    ns = tmp_path / "charter"
    (ns / "workloads" / "handlers").mkdir(parents=True)
    (ns / "__init__.py").write_text("")
    (ns / "workloads" / "__init__.py").write_text("")
    (ns / "workloads" / "handlers" / "__init__.py").write_text("")
    (ns / "workloads" / "handlers" / "lazy.py").write_text(
        "import json\n\ndef handler(event, context):\n    import yaml.constructor\n    from . import helper\n")
    (ns / "workloads" / "handlers" / "helper.py").write_text("import numpy as np\n")
    (ns / "workloads" / "handlers" / "unused.py").write_text("import requests\n")
    cl = pkg.closure(["charter.workloads.handlers.lazy"], root=tmp_path)
    assert sorted(cl.files) == ["charter/__init__.py", "charter/workloads/__init__.py",
                                "charter/workloads/handlers/__init__.py",
                                "charter/workloads/handlers/helper.py", "charter/workloads/handlers/lazy.py"]
    assert cl.third_party == {"yaml.constructor", "numpy"}  # json is stdlib; unused.py is not reached
    (ns / "landing_zone").mkdir()
    (ns / "landing_zone" / "__init__.py").write_text("")
    (ns / "workloads" / "handlers" / "bad.py").write_text("from charter.landing_zone import synth\n")
    with pytest.raises(pkg.PackageError, match="landing_zone.*do not ship"):
        pkg.closure(["charter.workloads.handlers.bad"], root=tmp_path)
    with pytest.raises(pkg.PackageError, match="charter.workloads.handlers.missing not found"):
        pkg.closure(["charter.workloads.handlers.missing"], root=tmp_path)


@pytest.mark.slow
def test_handlers_import_from_the_unzipped_tree_with_only_the_layer(tmp_path):
    """Unzip the handlers, build the layer with pip simulated from this environment, and import
    every handler plus every third-party module they reach (lazy ones too) in a fresh
    interpreter whose only paths are those two trees, the runtime's SDK and the stdlib."""
    code, layer, sdk = tmp_path / "task", tmp_path / "opt" / "python", tmp_path / "runtime"
    with zipfile.ZipFile(pkg.build_handlers_zip(tmp_path).path) as zf:
        zf.extractall(code)
    cl = pkg.closure()
    pkg.install_layer(layer, cl, installer=_simulated_pip)
    assert not list(layer.glob("*/**/tests")) and not (layer / "bin").exists()  # pruned
    # what the Lambda Python runtime provides: the AWS SDK and its dependencies
    _copy_distributions(["boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"], sdk)
    lazy = sorted(m for m in cl.third_party if m.split(".")[0] not in pkg.OPTIONAL)
    script = f"""
import importlib, json, sys
sys.path[:0] = {[str(code), str(layer), str(sdk)]!r}
for name in {pkg.handler_modules()!r} + {lazy!r}:
    importlib.import_module(name)
import numpy as np
from jwt.algorithms import has_crypto
from scipy.optimize import linprog
from charter.optimizer import generate_market
from charter.workloads.handlers.risk import portfolio_risk
m = generate_market(n_assets=6, n_days=300, seed=1)
risk = portfolio_risk(m.returns, np.full(6, 1 / 6), m.assets)
lp = linprog([1.0, 2.0], A_ub=[[-1.0, -1.0]], b_ub=[-1.0], bounds=[(0, None)] * 2)
files = sorted({{getattr(mod, "__file__", None) or "" for mod in list(sys.modules.values())}} - {{""}})
print(json.dumps({{"crypto": has_crypto, "vol": risk["volatility"], "lp": lp.fun, "files": files}}))
"""
    # -I -S: no site-packages, no .pth (so not the editable checkout), no PYTHON* variables
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["crypto"] is True and out["vol"] > 0 and out["lp"] == pytest.approx(1.0)
    allowed = (str(code), str(layer), str(sdk), sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
    strays = [f for f in out["files"] if not f.startswith(allowed)]
    assert strays == []
    assert any(f.startswith(str(code / "charter" / "optimizer")) for f in out["files"])


# --- the layer ---------------------------------------------------------------------------------


def test_pip_command_targets_the_lambda_runtime(tmp_path):
    cmd = pkg.pip_command(tmp_path / "python")
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"]
    assert "--only-binary=:all:" in cmd and "--no-compile" in cmd
    assert _arg(cmd, "--implementation") == "cp"
    assert _arg(cmd, "--python-version") == LAMBDA_RUNTIME.removeprefix("python") == "3.12"
    assert _arg(cmd, "--target") == str(tmp_path / "python")
    assert Path(_arg(cmd, "--requirement")) == ROOT / "workloads" / "requirements-layer.txt"
    tags = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--platform"]
    # python3.12 runs on Amazon Linux 2023 (glibc 2.34): every manylinux tag up to 2.34, none newer
    assert tags[0] == "manylinux_2_34_aarch64" and tags[-1] == "manylinux2014_aarch64"
    assert {"manylinux_2_28_aarch64", "manylinux_2_17_aarch64"} <= set(tags) and len(tags) == 19
    assert all(t.endswith("_aarch64") for t in tags)
    x86 = pkg.pip_command(tmp_path, arch="x86_64", py="3.11")  # an AL2 runtime: glibc 2.26
    assert [x86[i + 1] for i, a in enumerate(x86) if a == "--platform"][0] == "manylinux_2_26_x86_64"
    with pytest.raises(pkg.PackageError, match="--arch s390x"):
        pkg.pip_command(tmp_path, arch="s390x")


def test_run_pip_failure_is_a_charter_error(tmp_path):
    cmd = [sys.executable, "-c", "import sys; print('ERROR: No matching distribution found for numpy==0.0', "
                                 "file=sys.stderr); sys.exit(1)"]
    with pytest.raises(pkg.PackageError, match="No matching distribution found for numpy==0.0") as exc:
        pkg.run_pip(cmd)
    assert exc.value.code == "CHARTER-710" and "requirements-layer.txt" in exc.value.hint


def test_package_command_writes_both_zips(tmp_path, monkeypatch):
    fake = _fake_pip(["numpy", "scipy", "pydantic", "jwt", "cryptography"],
                     {"numpy/tests/test_big.py": b"x" * 1000, "numpy/__pycache__/x.cpython-311.pyc": b"pyc",
                      "bin/f2py": b"#!/usr/bin/python3\n", "numpy.libs/libopenblas.so": b"\x7fELF"})
    monkeypatch.setattr(pkg, "run_pip", fake)
    out = tmp_path / "dist"
    result = runner.invoke(app, ["workload", "package", "optimizer", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "optimizer-handlers.zip" in text and "optimizer-layer.zip" in text and "of Lambda's 250 MB unzipped" in text
    assert len(fake.calls) == 1 and _arg(fake.calls[0], "--python-version") == "3.12"
    layer = zipfile.ZipFile(out / "optimizer-layer.zip").namelist()
    assert "python/numpy/__init__.py" in layer and "python/numpy.libs/libopenblas.so" in layer
    assert all(n.startswith("python/") for n in layer)
    assert not [n for n in layer if "/tests/" in n or "__pycache__" in n or n.startswith("python/bin/")]
    assert "charter/workloads/handlers/api.py" in zipfile.ZipFile(out / "optimizer-handlers.zip").namelist()

    assert runner.invoke(app, ["workload", "package", "pricing", "-o", str(out)]).exception.code == "CHARTER-710"
    assert "Example: " in runner.invoke(app, ["workload", "package", "--help"]).output


def test_layer_without_a_module_the_handlers_import_fails(tmp_path):
    fake = _fake_pip(["numpy", "scipy", "pydantic", "cryptography"])  # no jwt
    with pytest.raises(pkg.PackageError, match="handlers import jwt but the layer does not provide it"):
        pkg.package(tmp_path, installer=fake)


def test_layer_over_lambdas_250_mb_fails_naming_the_size(tmp_path):
    # a sparse 250 MB file: the handlers on top take the function past the limit
    fake = _fake_pip(["numpy", "scipy", "pydantic", "jwt", "cryptography"],
                     {"scipy.libs/libhuge.so": pkg.LAMBDA_UNZIPPED_LIMIT})
    with pytest.raises(pkg.PackageError) as exc:
        pkg.package(tmp_path, installer=fake)
    msg = exc.value.message
    assert "optimizer-layer.zip: 250.0 MB unzipped" in msg and "262,144,000 bytes" in msg
    total = int(re.search(r"\(([\d,]+) bytes\) with the handlers", msg).group(1).replace(",", ""))
    assert total > pkg.LAMBDA_UNZIPPED_LIMIT
    assert "container image" in exc.value.hint
    assert not (tmp_path / pkg.LAYER_ZIP).exists()


def test_requirements_are_pinned_complete_and_agree_with_the_sagemaker_image():
    reqs = _requirements()
    assert all(len(r.specifier) == 1 and next(iter(r.specifier)).operator == "==" for r in reqs)
    pinned = {r.name.lower().replace("_", "-") for r in reqs}
    # every dependency (for the runtime's platform) of what is listed is listed too
    env = {**default_environment(), "python_version": "3.12", "sys_platform": "linux",
           "platform_python_implementation": "CPython", "implementation_name": "cpython"}
    for r in reqs:
        for extra in r.extras or {""}:
            for dep in md.distribution(r.name).requires or []:
                d = Requirement(dep)
                if d.marker is None or d.marker.evaluate({**env, "extra": extra}):
                    assert d.name.lower().replace("_", "-") in pinned, f"{r.name} needs {d.name}"
    # what the layer must provide maps to listed distributions
    dists = md.packages_distributions()
    for top in pkg.layer_needs(pkg.closure()):
        assert {d.lower().replace("_", "-") for d in dists[top]} & pinned, top
    assert not pinned & pkg.RUNTIME_PROVIDED and not pinned & set(pkg.OPTIONAL)
    engine = _requirements(ROOT / "optimizer" / "container" / "requirements.txt")
    layer = {r.name: str(r.specifier) for r in reqs}
    image = {r.name: str(r.specifier) for r in engine}
    # the engine's numpy and scipy, and the job step's pydantic, as the functions have them;
    # boto3 as the Lambda runtime's (the step imports the handlers' modules)
    assert {k: image[k] for k in ("numpy", "scipy", "pydantic")} == {k: layer[k] for k in ("numpy", "scipy", "pydantic")}
    assert set(image) == {"numpy", "scipy", "pydantic", "boto3"}


def test_layer_functions_run_on_the_layers_architecture():
    zipped = [f for f in FUNCTIONS if not f.image]
    assert zipped and all(f.architecture == pkg.DEFAULT_ARCH for f in zipped)


# --- the risk manager's image ------------------------------------------------------------------

RISK_DOCKERFILE = ROOT / "workloads" / "container" / "risk.Dockerfile"


def test_risk_dockerfile_passes_checkov():
    from charter.toolenv import run_checkov

    report = run_checkov([str(RISK_DOCKERFILE)], "dockerfile")
    assert report.passed, "checkov ran no Dockerfile check"
    assert [(c["check_id"], c["check_name"]) for c in report.failed] == []
    # healthcheck, user, tag, non-root
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3", "CKV_DOCKER_7", "CKV_DOCKER_8"} <= {c["check_id"] for c in report.passed}


def test_risk_image_matches_the_function_and_installs_the_layer_requirements():
    text = RISK_DOCKERFILE.read_text()
    base = next(ln.split()[1] for ln in text.splitlines() if ln.startswith("FROM "))
    risk = FUNCTION_BY_NAME["risk"]
    version = LAMBDA_RUNTIME.removeprefix("python")
    # the stacks' runtime, a dated (immutable) tag, the function's architecture
    assert re.fullmatch(rf"public\.ecr\.aws/lambda/python:{re.escape(version)}\.\d{{4}}(\.\d{{2}}){{3}}-"
                        + re.escape(risk.architecture), base), base
    assert f'CMD ["{risk.handler}"]' in text
    assert "COPY workloads/requirements-layer.txt " in text and "--only-binary=:all:" in text
    assert "COPY dist/optimizer-handlers.zip " in text and "ADD " not in text


# --- the pipeline ------------------------------------------------------------------------------


def _commands(spec: str) -> list[str]:
    phases = yaml.safe_load(spec)["phases"]
    return [c for phase in phases.values() for c in phase.get("commands", [])]


def _copy_sources(dockerfile: Path) -> list[str]:
    return [ln.split()[-2] for ln in dockerfile.read_text().splitlines() if ln.startswith("COPY ")]


def test_every_path_the_build_spec_names_exists():
    """The defect this guards: the build named requirements-layer.txt and docker/<image>.Dockerfile,
    which were never in the repository. Paths must be literal so they can be checked."""
    built = {f"dist/{pkg.HANDLERS_ZIP}", f"dist/{pkg.LAYER_ZIP}", cicd.IMAGES_TAR, cicd.TAG_FILE}
    named = []
    for command in _commands(cicd.BUILD_SPEC):
        args = shlex.split(command)
        for i, arg in enumerate(args):
            flagged = i > 0 and args[i - 1] in ("-f", "--file", "-r", "--requirement")
            if flagged or "Dockerfile" in arg or arg.endswith((".txt", ".toml", ".py", ".yaml")):
                assert "$" not in arg, f"{command}: {arg} is not a literal path"
                named.append(arg)
    dockerfiles = [p for p in named if "Dockerfile" in p]
    assert sorted(set(dockerfiles)) == sorted(set(cicd.IMAGES.values()))
    for path in named:
        assert path.split("/")[0] == "dist" or (ROOT / path).is_file(), f"BUILD_SPEC names {path}, not in the repo"
    # the Dockerfiles' inputs: in the repository, or made by `charter workload package` first
    for dockerfile in dockerfiles:
        for src in _copy_sources(ROOT / dockerfile):
            assert (ROOT / src).exists() or src in built, f"{dockerfile} copies {src}"
    # the risk image's context admits exactly its inputs
    ignore = (RISK_DOCKERFILE.parent / "risk.Dockerfile.dockerignore").read_text().splitlines()
    assert sorted(ln[1:] for ln in ignore if ln.startswith("!")) == sorted(_copy_sources(RISK_DOCKERFILE))
    # the build packages before it builds the image that unpacks the package
    commands = _commands(cicd.BUILD_SPEC)
    pack = next(i for i, c in enumerate(commands) if c.startswith("charter workload package optimizer -o dist"))
    assert f"--arch {pkg.DEFAULT_ARCH}" in commands[pack]
    assert pack < next(i for i, c in enumerate(commands) if "risk.Dockerfile" in c)


def test_build_makes_every_image_and_file_the_deploy_uses():
    assert set(cicd.IMAGES) == set(REPOSITORIES)
    build, deploy = _commands(cicd.BUILD_SPEC), _commands(cicd.DEPLOY_SPEC)
    tags = {t for c in build if c.startswith("docker build") for t in re.findall(r'-t "optimizer-([a-z]+):\$TAG"', c)}
    assert tags == set(REPOSITORIES)
    save = next(c for c in build if c.startswith("docker save"))
    assert cicd.IMAGES_TAR in save and all(f"optimizer-{r}:$TAG" in save for r in REPOSITORIES)
    assert any(cicd.TAG_FILE in c for c in build)
    text = "\n".join(deploy)
    for produced in (cicd.IMAGES_TAR, cicd.TAG_FILE):
        assert produced in text
    assert f"for image in {' '.join(REPOSITORIES)}" in text or set(REPOSITORIES) <= set(text.split())
    # the repositories exist before anything pushes: the registry stack is deployed first (issue #26, 3)
    deploys = [i for i, c in enumerate(deploy) if c.startswith("charter workload deploy")]
    push = next(i for i, c in enumerate(deploy) if "docker push" in c)
    first, last = (shlex.split(deploy[i]) for i in (deploys[0], deploys[-1]))
    assert deploys[0] < push < deploys[-1]
    assert _arg(first, "--stacks") == "registry"
    # the last deploy uploads the build's zips itself, once the code bucket exists: no `aws s3 cp`
    assert not any(c.startswith("aws s3") for c in deploy)
    assert _arg(last, "--artifacts") == "dist" and _arg(last, "--image-tag") == "$TAG"
    help_text = runner.invoke(app, ["workload", "deploy", "--help"], terminal_width=200).output
    assert all(opt in help_text for opt in ("--artifacts", "--stacks", "--image-tag"))


def test_pipeline_template_carries_the_specs_and_a_docker_daemon_where_images_move():
    from charter.landing_zone.config import load_config
    from charter.workloads.synth import synthesize_workloads

    cfg = load_config(ROOT / "examples" / "small" / "org.yaml")
    stack = next(s for s in synthesize_workloads(cfg, "dev") if s.name == "optimizer-cicd")
    projects = {k: r["Properties"] for k, r in stack.data["Resources"].items() if r["Type"] == "AWS::CodeBuild::Project"}
    assert projects["BuildProject"]["Source"]["BuildSpec"] == cicd.BUILD_SPEC
    deploys = [p for k, p in projects.items() if k.startswith("Deploy")]
    assert len(deploys) == 3 and all(p["Source"]["BuildSpec"] == cicd.DEPLOY_SPEC for p in deploys)
    # the build runs `docker build`/`save`, each deploy `docker load`/`push`: both need the daemon
    assert all(p["Environment"]["PrivilegedMode"] is True for p in projects.values())


def test_the_layer_pins_are_the_versions_the_handlers_are_tested_with():
    """The Lambda layer ships exactly the versions this test environment runs the handlers
    with: a pin that drifts from the suite's would ship code no test ran."""
    import importlib.metadata as md

    pins = {}
    for line in (ROOT / "workloads" / "requirements-layer.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.split("[")[0]] = version
    assert {"numpy", "scipy", "pydantic", "PyJWT", "cryptography"} <= set(pins)
    tested = {name: md.version(name) for name in pins}
    assert tested == pins

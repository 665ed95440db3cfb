"""The embedded AWS is a package of its own: product code neither imports it nor guesses,
from an endpoint URL, that it talks to it (it asks the session factory's capabilities)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: The product: every folder that installs under `charter.`, minus the embedded AWS itself and
#: the CLI floor (the commands, their shared options and the demo are what may start an
#: embedded AWS: `charter.options.aws_sessions` picks --local / --endpoint-url / --profile).
PRODUCT = ("landing_zone", "controls", "evidence", "workloads", "optimizer", "runbooks", "charter")
CLI = ("charter/cli.py", "charter/commands/", "charter/options.py", "charter/demo.py", "charter/local/")
#: The session factory may look at its own endpoint (it sends requests there).
FACTORY = ("charter/aws.py",)
#: Where requests go, never what answers: the SDK's own rule that AWS_ENDPOINT_URL names the
#: endpoint when nothing else does.
ROUTING = {"charter/options.py": "AWS_ENDPOINT_URL is the endpoint when no flag names one, as for every SDK client; "
                                 "what answers there states its capabilities (charter.local.aws_sessions)"}


def _modules(skip: tuple[str, ...]) -> list[Path]:
    found = []
    for folder in PRODUCT:
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if not rel.startswith(skip) and "/container/" not in rel:
                found.append(path)
    return found


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "charter":
                names.update(f"charter.{a.name}" for a in node.names)
    return names


def test_no_product_module_imports_the_embedded_aws() -> None:
    offenders = []
    for path in _modules(CLI):
        found = {n for n in _imports(ast.parse(path.read_text())) if n == "charter.local" or n.startswith("charter.local.")}
        if found:
            offenders.append(f"{path.relative_to(REPO)}: {sorted(found)}")
    assert offenders == []


def _tests_on_endpoint(tree: ast.AST) -> list[int]:
    """Lines where a condition looks at a session's endpoint URL (`x.endpoint_url`) or at
    AWS_ENDPOINT_URL, i.e. decides behaviour by where requests go."""
    lines = []

    def mentions(node: ast.AST) -> bool:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Attribute) and sub.attr == "endpoint_url":
                return True
            if isinstance(sub, ast.Constant) and sub.value == "AWS_ENDPOINT_URL":
                return True
        return False

    for node in ast.walk(tree):
        tests = []
        if isinstance(node, ast.If | ast.IfExp | ast.While | ast.Assert):
            tests.append(node.test)
        elif isinstance(node, ast.BoolOp):
            tests.extend(node.values)
        elif isinstance(node, ast.Compare):
            tests.append(node)
        elif isinstance(node, ast.comprehension):
            tests.extend(node.ifs)
        if any(mentions(t) for t in tests):
            lines.append(node.lineno)
    return sorted(set(lines))


def test_no_product_code_decides_behaviour_by_an_endpoint_url() -> None:
    offenders = []
    for path in _modules(FACTORY + ("charter/local/",)):
        if path.relative_to(REPO).as_posix() in ROUTING:
            continue
        for line in _tests_on_endpoint(ast.parse(path.read_text())):
            offenders.append(f"{path.relative_to(REPO)}:{line}")
    assert offenders == [], "ask sessions.capabilities instead"


def test_the_checker_sees_an_endpoint_test() -> None:
    """The two checks above can fail: they find what they look for in a sample."""
    sample = ast.parse("if sessions.endpoint_url is not None:\n    pass\nx = 1 if os.environ.get('AWS_ENDPOINT_URL') else 2\n"
                       "from charter.local import LocalAws\n")
    assert _tests_on_endpoint(sample) == [1, 3]
    assert "charter.local" in _imports(sample)


def test_the_patches_refuse_a_moto_they_were_not_made_for(monkeypatch) -> None:
    """The patches change moto's internals: on another version they could answer unlike AWS
    without saying so, so the embedded AWS refuses to start there (unless asked to, to run
    tests/local/test_moto_patches.py against a candidate upgrade)."""
    import moto
    import pytest

    from charter.local import patches

    monkeypatch.delenv(patches.UPGRADE_ENV, raising=False)
    monkeypatch.setattr(moto, "__version__", "5.9.9")
    with pytest.raises(patches.MotoVersionError, match="moto 5.2.1.*5.9.9"):
        patches.check_version()
    monkeypatch.setenv(patches.UPGRADE_ENV, "1")
    patches.check_version()
    # and the pin in pyproject.toml is the version the patches name
    text = (REPO / "pyproject.toml").read_text()
    assert f'"moto[server]=={patches.MOTO_VERSION}"' in text

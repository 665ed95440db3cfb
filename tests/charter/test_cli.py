"""The `charter` CLI as a user runs it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"


def charter(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "charter.cli", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=300)


def test_help_lists_commands_with_examples() -> None:
    result = charter("--help")
    assert result.returncode == 0
    for command in ("init", "validate", "schema", "synth", "lint"):
        assert command in result.stdout
    assert "Example" in charter("synth", "--help").stdout


def test_validate_ok_and_bad(tmp_path: Path) -> None:
    assert charter("validate", "-c", str(SMALL)).returncode == 0
    bad = tmp_path / "org.yaml"
    bad.write_text(SMALL.read_text().replace("home_region: us-east-1", "home_region: mars-1"))
    result = charter("validate", "-c", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{bad}:" in result.stderr and "organization.home_region" in result.stderr


def test_init_then_validate_and_no_overwrite(tmp_path: Path) -> None:
    assert charter("init", "org.yaml", cwd=tmp_path).returncode == 0
    assert charter("validate", "-c", "org.yaml", cwd=tmp_path).returncode == 0
    again = charter("init", "org.yaml", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr and "Traceback" not in again.stderr


def test_schema_is_json_schema() -> None:
    result = charter("schema")
    schema = json.loads(result.stdout)
    assert {"organization", "accounts", "baseline", "limits"} <= set(schema["properties"])
    assert "organization" in schema["required"]


def test_synth_writes_templates_and_plan(tmp_path: Path) -> None:
    result = charter("synth", "-c", str(SMALL), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    names = [s["name"] for s in plan["stacks"]]
    assert "organization" in names
    for stack in plan["stacks"]:
        assert (tmp_path / "out" / stack["file"]).exists()
        assert stack["upload"] in ("inline", "s3") and len(stack["sha256"]) == 64
        assert stack["deployment"]["regions"]


def test_lint_without_synth_is_usage_error(tmp_path: Path) -> None:
    result = charter("lint", str(tmp_path / "missing"))
    assert result.returncode == 2 and "charter synth" in result.stderr and "Traceback" not in result.stderr


def test_unknown_command_is_usage_error() -> None:
    result = charter("frobnicate")
    assert result.returncode == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["synth", "-c", "/nonexistent/org.yaml"], ["validate", "-c", str(REPO)]])
def test_bad_paths_are_clear(args: list[str]) -> None:
    result = charter(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "fix:" in result.stderr


def test_ci_runs_exactly_the_readme_test_line() -> None:
    """.ci/run extracts the README's test line; it must exist once, install the test extras at
    the pinned versions, lint and run the suite, and fail on the first step that fails."""
    readme = (REPO / "README.md").read_text().splitlines()
    lines = [ln for ln in readme if ln.endswith("# tests")]
    assert len(lines) == 1
    steps = lines[0].split(" && ")
    assert [s.split()[0:3] for s in steps[-2:]] == [["ruff", "check", "."], ["python", "-m", "pytest"]]
    assert steps[-3].endswith("pip install -c constraints.txt -e '.[test]'")
    assert (REPO / "constraints.txt").is_file()
    run = (REPO / ".ci" / "run").read_text()
    assert 'grep -E "# tests$" README.md' in run and "set -euo pipefail" in run

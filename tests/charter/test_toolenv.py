"""checkov runs in an environment of its own: Charter's is free of its pins, its JSON report is
read whatever shape checkov gives it, and a checkov that cannot run is a message, not a traceback."""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version
from typer.testing import CliRunner

from charter.cli import app
from charter.toolenv import CHECKOV_VERSION, ToolError, ensure_checkov, parse_report

REPO = Path(__file__).resolve().parents[2]


def test_charters_environment_is_not_held_to_checkovs_pins() -> None:
    # checkov pins boto3==1.35.49; Charter does not depend on it (it runs in its own environment),
    # so Charter runs a current SDK and the SageMaker SDK v3 beside it
    assert not [r for r in md.requires("charter") or [] if r.lower().startswith("checkov")]
    assert Version(md.version("boto3")) >= Version("1.40")
    assert importlib.util.find_spec("sagemaker") is not None


def test_the_pins_install_the_checkov_charter_was_linted_with() -> None:
    pins = (REPO / "charter" / "toolenv_checkov.txt").read_text().splitlines()
    assert f"checkov=={CHECKOV_VERSION}" in pins
    reqs = [p for p in pins if p and not p.startswith("#")]
    assert all("==" in p for p in reqs)  # exact pins: installed with --no-deps, nothing resolved
    assert "boto3==1.35.49" in reqs  # checkov's own pin lives here, not in Charter's environment


def _failed(check: str, resource: str, path: str) -> dict:
    return {"check_id": check, "check_name": "n", "resource": resource, "file_path": path, "file_line_range": [3, 9]}


def test_report_shapes_one_framework_many_and_nothing_found() -> None:
    one = {"check_type": "cloudformation", "results": {"failed_checks": [_failed("CKV_AWS_18", "AWS::S3::Bucket.B", "/a")],
                                                       "passed_checks": [{"check_id": "CKV_AWS_19"}] * 4}}
    result = parse_report(json.dumps(one))
    assert [f["check_id"] for f in result.failed] == ["CKV_AWS_18"] and len(result.passed) == 4
    many = parse_report(json.dumps([one, {"results": {"passed_checks": [{"check_id": "CKV_DOCKER_2"}]}}]))
    assert len(many.failed) == 1 and len(many.passed) == 5
    # checkov prints a bare summary when the files hold nothing it checks
    empty = parse_report(json.dumps({"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0}))
    assert empty.failed == [] and empty.passed == []


def test_output_that_is_not_json_is_an_error_naming_checkov() -> None:
    with pytest.raises(ToolError, match="checkov's output is not JSON"):
        parse_report("Traceback (most recent call last):")


def test_a_missing_override_is_a_message_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTER_CHECKOV", str(tmp_path / "no-checkov"))
    with pytest.raises(ToolError) as info:
        ensure_checkov()
    assert "CHARTER_CHECKOV" in info.value.render() and "fix:" in info.value.render()
    # through the CLI: exit 2 and the message, no traceback
    out = tmp_path / "out"
    out.mkdir()
    (out / "t.yaml").write_text("Resources:\n  B:\n    Type: AWS::SNS::Topic\n")
    result = subprocess.run([sys.executable, "-m", "charter.cli", "lint", str(out)], capture_output=True, text=True,
                            env={**os.environ, "CHARTER_CHECKOV": str(tmp_path / "no-checkov")}, timeout=600)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no-checkov: no such file" in result.stderr and "Traceback" not in result.stderr


def test_tools_shows_where_checkov_lives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHARTER_CHECKOV", raising=False)
    monkeypatch.setenv("CHARTER_TOOLS_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["tools"])
    assert result.exit_code == 0
    assert f"checkov {CHECKOV_VERSION}: not installed" in result.output and str(tmp_path) in result.output

"""`charter demo` end to end on the embedded AWS: it leaves the HTML matrix, a verified
auditor package and the runbooks, and its summary names what it did."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_demo_runs_the_whole_flow(tmp_path: Path, small_config, small_config_path) -> None:
    from charter.demo import Demo
    from evidence.export import verify_package

    out = tmp_path / "demo"
    result = Demo(small_config, small_config_path, out).run()

    steps = [s.name for s in result.steps]
    assert steps == ["validate", "synth", "lint", "deploy landing zone", "control matrix", "collect evidence",
                     "verify evidence", "access review", "optimizer workload", "export auditor package",
                     "runbooks and docs"]
    facts = result.facts
    assert facts["lint_findings"] == 0
    assert facts["accounts"] >= len(small_config.accounts)
    assert facts["criteria_covered"] == 61
    assert facts["evidence_items"] > 0 and facts["verified"] is True
    assert facts["revocations_verified"] >= 1
    assert facts["job"]["status"] == "SUCCEEDED"

    matrix = result.paths["control matrix"].read_text()
    assert "CC6.1" in matrix and "PI1.5" in matrix
    package = result.paths["auditor package"]
    assert verify_package(package).ok
    with zipfile.ZipFile(package) as z:
        assert {"index.html", "evidence.xlsx"} <= set(z.namelist())
    assert (out / "runbooks" / "incident-response.html").exists()
    assert (out / "docs" / "architecture.svg").exists()

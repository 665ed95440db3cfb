"""`charter controls show ID` and `charter controls --store`: one control joined from the
catalog, the registries and synth; the matrix joined with the latest evidence run."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evidence"))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """One sealed run: LOG-01's and IAM-01's items include failures, DAT-01's all pass."""
    from evstore_helpers import run_artifacts

    from charter.evidence.manifest import Scope
    from charter.evidence.signing import LocalSigner
    from charter.evidence.store import EvidenceStore, LocalBackend

    root = tmp_path_factory.mktemp("controls-store")
    EvidenceStore(LocalBackend(root / "ev")).write_run(run_artifacts(datetime(2026, 11, 1, tzinfo=UTC)),
                                                       LocalSigner.for_directory(root / "k"), Scope())
    return root / "ev"


def _json(args: list[str]) -> dict:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_show_joins_catalog_registries_and_synth(small_config_path: Path) -> None:
    v = _json(["controls", "show", "LOG-01", "-c", str(small_config_path), "--format", "json"])
    assert [c["id"] for c in v["criteria"]] == ["CC7.2", "CC7.3", "CC4.1", "CC2.1"]
    assert v["builders"] == ["cloudtrail", "log_archive"] and v["evaluated_by"] == ["config_rules"]
    assert "MULTI_REGION_CLOUD_TRAIL_ENABLED" in v["config_rules"]
    assert v["collector_checks"] == ["cloudtrail.check_trails", "config.rule_check[LOG-01]"]
    assert v["runbook"] == "incident-response" and v["status"] == "implemented"
    assert "cloudtrail/OrganizationTrail" in {r["resource"] for r in v["resources"]}
    assert "latest_evidence" not in v  # no store given


def test_show_lists_the_scp_statements_for_the_org(small_config_path: Path) -> None:
    v = _json(["controls", "show", "LOG-02", "-c", str(small_config_path), "-f", "json"])
    assert v["scp_guardrails"] == ["protect-cloudtrail"]
    assert [s["sid"] for s in v["scp_statements"]] == ["LOG02ProtectCloudTrail"]


def test_show_text_without_a_config(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./org.yaml: the declared links only
    result = CliRunner().invoke(app, ["controls", "show", "iam-01"])
    assert result.exit_code == 0, result.output
    assert "IAM-01" in result.output and "IAM_PASSWORD_POLICY" in result.output
    assert "config.rule_check[IAM-01]" in result.output and "status" not in result.output


def test_show_unknown_id_is_exit_2() -> None:
    result = CliRunner().invoke(app, ["controls", "show", "LOG-99"])
    assert result.exit_code != 0
    assert "unknown control id 'LOG-99'" in result.exception.render()


def test_matrix_and_show_join_the_latest_evidence(small_config_path: Path, store: Path) -> None:
    m = _json(["controls", "-c", str(small_config_path), "--store", str(store), "--format", "json"])
    log01 = m["controls"]["LOG-01"]
    assert log01["status"] == "failing" and log01["latest_evidence"]["status"] == "failing"
    assert log01["reason"].startswith("latest evidence (run ")
    assert m["controls"]["DAT-01"]["status"] == "implemented"
    assert m["controls"]["DAT-01"]["latest_evidence"]["status"] == "passing"
    # No control is shown implemented while its latest evidence fails.
    assert [c for c, s in m["controls"].items()
            if s["status"] == "implemented" and (s["latest_evidence"] or {}).get("status") == "failing"] == []
    v = _json(["controls", "show", "LOG-01", "-c", str(small_config_path), "--store", str(store), "-f", "json"])
    assert v["status"] == "failing" and v["latest_evidence"]["failed"] >= 1

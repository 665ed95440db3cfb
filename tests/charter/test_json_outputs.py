"""`--output json` and `lint --format sarif`: what scripts read, checked against the documented schemas."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from charter.schemas import models, schema, schema_file

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"
SARIF_SCHEMA = REPO / "tests" / "landing_zone" / "sarif-schema-2.1.0.json"


def charter(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "charter.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def _valid(command: str, document: object) -> None:
    jsonschema.validate(document, json.loads(schema_file(command).read_text()))


@pytest.mark.parametrize("command", sorted(models()))
def test_schema_files_are_the_models(command: str) -> None:
    """The committed schema is what the model says (regenerate with `python -m charter.schemas`)."""
    assert json.loads(schema_file(command).read_text()) == json.loads(json.dumps(schema(command), sort_keys=True))


def test_validate_json() -> None:
    result = charter("validate", "-c", str(SMALL), "--output", "json")
    doc = json.loads(result.stdout)
    _valid("validate", doc)
    assert doc["schema"] == "charter/validate/v1" and doc["accounts"] == 6 and doc["valid"] is True


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    assert charter("synth", "-c", str(SMALL), "-o", str(out)).returncode == 0
    return out


def test_plan_json_totals_and_detailed_exitcode(synthesized: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(synthesized, out)
    result = charter("plan", "-c", str(SMALL), "-o", str(out), "--offline", "--no-synth", "--output", "json",
                     "--detailed-exitcode")
    assert result.returncode == 2, result.stderr  # changes: exit 2
    doc = json.loads(result.stdout)
    _valid("plan", doc)
    assert doc["preflight"]["denials"] == [] and doc["preflight"]["needs"] > 1000  # checked as `charter preflight`
    changes = doc["changes"]
    assert len({json.dumps(c, sort_keys=True) for c in changes}) == len(changes)  # each change once
    stacksets = [c for c in changes if c["area"] == "stackset" and c["action"] == "create"]
    assert not [c for c in stacksets if any(d.startswith("instances") for d in c["details"])]
    assert sum(doc["totals"].values()) == len(changes)
    assert doc["totals"]["add"] == sum(1 for c in changes if c["action"] == "create" and c["area"] != "stack-instances")
    text = charter("plan", "-c", str(SMALL), "-o", str(out), "--offline", "--no-synth")
    assert text.returncode == 0
    assert (f"Plan: {doc['totals']['add']} to add, {doc['totals']['change']} to change, "
            f"{doc['totals']['destroy']} to destroy.") in text.stdout
    missing = charter("plan", "-c", str(tmp_path / "none.yaml"), "-o", str(out), "--offline", "--detailed-exitcode")
    assert missing.returncode == 1 and "CHARTER-100" in missing.stderr  # an error: 1, as terraform


def test_lint_sarif_validates_against_sarif_2_1_0(tmp_path: Path) -> None:
    """A template with a cfn-lint error and a checkov failure: both as SARIF results; json as its schema."""
    bad = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketNam": "x"}}}}
    (tmp_path / "bad.yaml").write_text(json.dumps(bad))  # JSON is YAML
    result = charter("lint", str(tmp_path), "--format", "sarif", "--regions", "us-east-1")
    assert result.returncode == 1, result.stderr  # findings
    sarif = json.loads(result.stdout)
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    runs = {r["tool"]["driver"]["name"]: r for r in sarif["runs"]}
    assert runs["cfn-lint"]["results"] and runs["checkov"]["results"]
    for run in sarif["runs"]:
        rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
        for res in run["results"]:
            assert rules[res["ruleIndex"]] == res["ruleId"]
            assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("bad.yaml")
    as_json = charter("lint", str(tmp_path), "--format", "json", "--regions", "us-east-1")
    doc = json.loads(as_json.stdout)
    _valid("lint", doc)
    assert doc["ok"] is False and {f["tool"] for f in doc["findings"]} == {"cfn-lint", "checkov"}
    unknown = charter("lint", str(tmp_path), "--format", "xml")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr and "xml" in unknown.stderr


def test_evidence_verify_json(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tests" / "evidence"))
    from datetime import UTC, datetime

    from evstore_helpers import run_artifacts

    from charter.evidence.manifest import Scope
    from charter.evidence.signing import LocalSigner
    from charter.evidence.store import EvidenceStore, open_backend

    store = EvidenceStore(open_backend(str(tmp_path / "ev")))
    run = store.open_run(Scope(organization="acme"))
    for art in run_artifacts(datetime(2026, 11, 1, tzinfo=UTC)):
        store.add(run, art)
    store.seal(run, LocalSigner.for_file(tmp_path / "key.pem"), caller_arn="arn")
    good = charter("evidence", "verify", str(tmp_path / "ev"), "--output", "json")
    doc = json.loads(good.stdout)
    _valid("evidence-verify", doc)
    assert good.returncode == 0 and doc["ok"] and doc["problems"] == []
    victim = next((tmp_path / "ev").rglob("*.json.gz"), None) or next(
        p for p in (tmp_path / "ev" / "runs").rglob("*") if p.is_file() and "artifacts" in p.parts)
    victim.write_bytes(victim.read_bytes() + b" ")
    bad = charter("evidence", "verify", str(tmp_path / "ev"), "--output", "json")
    doc = json.loads(bad.stdout)
    _valid("evidence-verify", doc)
    assert bad.returncode == 1 and not doc["ok"] and doc["problems"]


def test_assess_json_is_its_schema() -> None:
    from datetime import UTC, datetime

    from charter.controls.links import default_links
    from charter.evidence.artifact import Artifact, PopulationItem
    from charter.evidence.assessment import judge

    art = Artifact(collector="iam", controls=["IAM-01"], account_id="111111111111", region="us-east-1",
                   collected_at=datetime(2026, 1, 1, tzinfo=UTC), caller_arn="arn", charter_version="t",
                   population=[PopulationItem(id="p", control="IAM-01", result="fail", reason="no policy")])
    result = judge([art], caller_arn="arn", accounts=[("111111111111", "x")], regions=["us-east-1"],
                   assessed_at=datetime(2026, 1, 1, tzinfo=UTC), links=default_links())
    _valid("assess", json.loads(result.model_dump_json()))


def test_controls_json_and_fail_on(tmp_path: Path) -> None:
    result = charter("controls", "-c", str(SMALL), "--output", "json", "--fail-on", "failing,gap",
                     "--access-reviews", str(tmp_path / "none"))
    doc = json.loads(result.stdout)
    _valid("controls", doc)
    flagged = sorted(c for c, s in doc["controls"].items() if s in ("failing", "gap"))
    assert doc["failed"] == flagged and flagged  # IAM-09 fails without a closed access review
    assert result.returncode == 1
    only = charter("controls", "-c", str(SMALL), "--output", "json", "--fail-on", "gap",
                   "--access-reviews", str(tmp_path / "none"))
    assert json.loads(only.stdout)["failed"] == sorted(c for c, s in doc["controls"].items() if s == "gap")
    bad = charter("controls", "-c", str(SMALL), "--fail-on", "broken")
    assert bad.returncode == 2 and "CHARTER-010" in bad.stderr


def test_optimize_json(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("data: {synthetic: {n_assets: 6, n_days: 300}}\nbacktest: {lookback: 60, rebalance_every: 20}\n"
                   "search: {n_trials: 2, n_rungs: 1, workers: 1, n_folds: 2}\n")
    run = charter("optimize", "run", "-c", str(job), "-o", str(tmp_path / "r"), "--no-report", "--output", "json")
    doc = json.loads(run.stdout)
    _valid("optimize-run", doc)
    assert abs(sum(doc["final_weights"].values()) - 1) < 1e-6
    search = charter("optimize", "search", "-c", str(job), "-o", str(tmp_path / "s"), "--no-report", "--output", "json")
    doc = json.loads(search.stdout)
    _valid("optimize-search", doc)
    assert doc["n_trials"] == 2


def test_preflight_json_names_each_denial(tmp_path: Path) -> None:
    seeded = tmp_path / "org.yaml"
    seeded.write_text(SMALL.read_text().replace("scps:\n", "scps:\n  custom:\n    - sid: NoPab\n      control: DAT-01\n"
                                                "      actions: [\"s3:PutAccountPublicAccessBlock\"]\n"
                                                "      targets: [Root]\n", 1))
    result = charter("preflight", "-c", str(seeded), "--output", "json")
    assert result.returncode == 1, result.stderr  # a denial
    doc = json.loads(result.stdout)
    _valid("preflight", doc)
    denied = [d for d in doc["denials"] if d["action"] == "s3:PutAccountPublicAccessBlock"]
    assert denied and all(d["statement"] == "DAT01NoPab" and d["policy_type"] == "scp" for d in denied)

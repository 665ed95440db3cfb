"""The control matrix is computed from what synth emits: implemented, gap (with the reason),
failing, attestation, inherited; suppressions listed; md/csv/json shapes; the CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from troposphere import Template
from troposphere.s3 import Bucket
from typer.testing import CliRunner

from charter.controls.catalog import load_catalog
from charter.controls.matrix import CSV_COLUMNS, MatrixError, compute_matrix, render
from charter.landing_zone.config import load_config_text
from charter.landing_zone.metadata import controls, suppress
from charter.landing_zone.stacks import Deployment, StackSpec
from charter.landing_zone.synth import SynthesizedStack, dump_yaml

#: Baseline features and the switch that turns each off.
FEATURES = ["cloudtrail", "config", "security_hub", "guardduty", "access_analyzer", "macie", "backup", "network",
            "identity"]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def small_text(small_config_path: Path) -> str:
    return small_config_path.read_text()


@pytest.fixture(scope="module")
def small_matrix(small_config, catalog):
    from charter.workloads.synth import synthesize_all_workloads

    return compute_matrix(small_config, catalog, extra_stacks=synthesize_all_workloads(small_config))


def with_setting(text: str, path: str, value: object):
    """The small config with one dotted setting changed, loaded like a user's file."""
    data = yaml.safe_load(text)
    node = data
    *parents, leaf = path.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value
    return load_config_text(yaml.safe_dump(data, sort_keys=False), "org.yaml")


def stack(name: str, *resources, builder: str = "") -> SynthesizedStack:
    t = Template()
    for r in resources:
        t.add_resource(r)
    data = t.to_dict()
    spec = StackSpec(name, t, Deployment(kind="stack", account="management", regions=["us-east-1"]), builder=builder)
    return SynthesizedStack(spec, data, dump_yaml(data))


# -- matrix logic on hand-made stacks ------------------------------------------------------

def test_tagged_resource_makes_a_control_implemented_with_its_suppressions(small_config, catalog) -> None:
    bucket = suppress(controls(Bucket("AccessLogs"), "LOG-05", "ENC-02"), "CKV_AWS_18",
                      "this bucket is the access-log target itself; logging to itself would loop")
    m = compute_matrix(small_config, catalog, stacks=[stack("logs", bucket, builder="log_archive")])
    log05 = m.controls["LOG-05"]
    assert log05.status == "implemented"
    assert [str(r) for r in log05.resources] == ["logs/AccessLogs"]
    assert log05.resources[0].type == "AWS::S3::Bucket" and log05.resources[0].builder == "log_archive"
    assert [(s.check_id, s.logical_id) for s in log05.suppressions] == [("CKV_AWS_18", "AccessLogs")]
    assert "loop" in log05.suppressions[0].reason
    assert m.summary.suppressions == 1
    (sup, cids), = m.suppressions()  # listed once, with every control of the resource
    assert sup.check_id == "CKV_AWS_18" and cids == ["ENC-02", "LOG-05"]
    # Nothing carries LOG-01 in these stacks: a gap that names the builder expected to emit it.
    assert m.controls["LOG-01"].status == "gap"
    assert "LOG-01" in m.controls["LOG-01"].reason and "cloudtrail" in m.controls["LOG-01"].reason
    assert m.summary.gaps["LOG-01"] == m.controls["LOG-01"].reason
    # Attestation and inherited controls keep their kind as status.
    assert m.controls["BCK-04"].status == "attestation"
    assert m.controls["PHY-01"].status == "inherited"


def test_switched_off_feature_is_a_gap_even_if_a_check_still_carries_the_id(small_text, catalog) -> None:
    cfg = with_setting(small_text, "baseline.macie.enabled", False)
    rule = controls(Bucket("StandIn"), "MON-06")  # e.g. a detective Config rule left behind
    m = compute_matrix(cfg, catalog, stacks=[stack("x", rule)])
    assert m.controls["MON-06"].status == "gap"
    assert m.controls["MON-06"].reason == "baseline.macie.enabled is false"
    assert [str(r) for r in m.controls["MON-06"].resources] == ["x/StandIn"]  # still shown to the auditor


def test_a_check_from_another_builder_does_not_implement_a_control(small_config, catalog) -> None:
    rule = controls(Bucket("SecurityHubEnabledRule"), "MON-04", "MON-01")
    hub = controls(Bucket("Hub"), "MON-01")
    m = compute_matrix(small_config, catalog, stacks=[stack("config", rule, hub, builder="config_rules")])
    assert m.controls["MON-04"].status == "gap"
    assert m.controls["MON-04"].reason == "no resource from builder detection carries MON-04 in the synthesized templates"
    assert [str(r) for r in m.controls["MON-04"].resources] == ["config/SecurityHubEnabledRule"]
    assert m.controls["MON-01"].status == "implemented"


def test_empty_list_switch_reason(small_text, catalog) -> None:
    cfg = with_setting(small_text, "baseline.network.interface_endpoints", [])
    m = compute_matrix(cfg, catalog, stacks=[])
    assert m.controls["NET-03"].reason == "baseline.network.interface_endpoints is empty"


def test_excluded_guardrail_gap_names_it(small_text, catalog) -> None:
    cfg = with_setting(small_text, "scps.exclude", ["deny-leave-organization"])
    m = compute_matrix(cfg, catalog)
    assert m.controls["ORG-02"].status == "gap"
    assert "deny-leave-organization" in m.controls["ORG-02"].reason
    assert m.controls["ORG-03"].status == "implemented"


def test_failing_controls_hook(small_config, catalog) -> None:
    reason = "2026-Q3: no closed access-review campaign"
    m = compute_matrix(small_config, catalog, stacks=[], failing_controls={"IAM-09": reason})
    assert m.controls["IAM-09"].status == "failing" and m.controls["IAM-09"].reason == reason
    assert m.summary.failing == {"IAM-09": reason}
    assert "IAM-09" not in m.summary.gaps
    with pytest.raises(MatrixError, match="XYZ-01"):
        compute_matrix(small_config, catalog, stacks=[], failing_controls={"XYZ-01": "nope"})


def test_extra_stacks_hook_and_uncatalogued_ids(small_config, catalog) -> None:
    table = controls(Bucket("Table"), "BCK-03", "WKL-99")
    m = compute_matrix(small_config, catalog, stacks=[], extra_stacks=[stack("wl-data", table)])
    assert [str(r) for r in m.controls["BCK-03"].resources] == ["wl-data/Table"]
    assert m.controls["BCK-03"].status == "implemented"
    assert m.summary.uncatalogued == {"WKL-99": ["wl-data/Table"]}
    assert "wl-data" in m.stacks


# -- the small example ---------------------------------------------------------------------

def test_every_criterion_has_a_control_in_the_matrix(small_matrix) -> None:
    s = small_matrix.summary
    assert s.criteria_total == 61 and s.criteria_with_controls == 61
    assert s.criteria_gap == []
    assert s.criteria_inherited >= 1 and s.criteria_attestation >= 40


def test_at_least_35_criteria_have_an_implemented_automated_control(small_matrix, catalog) -> None:
    auto_rows = [r.id for r in small_matrix.criteria if r.coverage == "automated"]
    possible = {c for ctl in catalog.by_kind("automated") for c in ctl.criteria}
    assert len(auto_rows) >= 35, (
        f"{len(auto_rows)} criteria covered by an implemented automated control; "
        f"catalog maps automated controls to {len(possible)}; gaps: {small_matrix.summary.gaps}")


def test_automated_controls_are_implemented_by_the_builders_that_declare_them(small_matrix, catalog) -> None:
    """`implemented_by.builders` (from `@builder(controls=...)`) is true: the resources come from those builders."""
    wrong = {}
    for c in catalog.by_kind("automated"):
        st = small_matrix.controls[c.id]
        if st.status == "implemented" and st.implemented_by.builders:
            if not {r.builder for r in st.resources} & set(st.implemented_by.builders):
                wrong[c.id] = sorted({r.builder for r in st.resources})
    assert wrong == {}


def test_small_example_has_no_unexpected_gaps(small_matrix) -> None:
    # Inspector is off by default: the only expected gap in the small example.
    assert small_matrix.summary.gaps == {"MON-07": "baseline.inspector.enabled is false"}
    assert small_matrix.summary.uncatalogued == {}


@pytest.mark.parametrize("feature", FEATURES)
def test_switching_a_feature_off_turns_its_controls_into_gaps(feature, small_text, small_matrix, catalog) -> None:
    switch = f"baseline.{feature}.enabled"
    affected = sorted(c.id for c in catalog if switch in c.requires)
    assert affected, f"no control requires {switch}"
    # On (the example's setting): implemented.
    assert {cid: small_matrix.controls[cid].status for cid in affected} == {cid: "implemented" for cid in affected}
    off = compute_matrix(with_setting(small_text, switch, False), catalog)
    for cid in affected:
        assert off.controls[cid].status == "gap", cid
        assert f"{switch} is false" in off.controls[cid].reason, (cid, off.controls[cid].reason)
    # Nothing else lost its implementation.
    # (`off` joins no workload stacks, so the WKL controls are left out of the comparison.)
    others = {cid for cid, c in small_matrix.controls.items()
              if c.status == "implemented" and not cid.startswith("WKL-")} - set(affected)
    assert sorted(cid for cid in others if off.controls[cid].status != "implemented") == []
    # Back on restores them.
    on = compute_matrix(with_setting(small_text, switch, True), catalog)
    assert {cid: on.controls[cid].status for cid in affected} == {cid: "implemented" for cid in affected}


# -- renderings ----------------------------------------------------------------------------

def test_csv_shape(small_matrix) -> None:
    rows = list(csv.DictReader(io.StringIO(render(small_matrix, "csv"))))
    assert list(rows[0]) == CSV_COLUMNS
    assert len(rows) == sum(len(r.controls) for r in small_matrix.criteria)
    assert {r["criterion"] for r in rows} == {r.id for r in small_matrix.criteria}
    assert {r["status"] for r in rows} <= {"implemented", "gap", "failing", "attestation", "inherited"}
    log01 = next(r for r in rows if r["control"] == "LOG-01")
    assert log01["status"] == "implemented" and "/" in log01["resources"] and log01["evidence"] == "cloudtrail config"
    gap = next(r for r in rows if r["control"] == "MON-07")
    assert gap["reason"] == "baseline.inspector.enabled is false"


def test_json_shape(small_matrix) -> None:
    data = json.loads(render(small_matrix, "json"))
    assert set(data) == {"organization", "stacks", "summary", "criteria", "controls"}
    assert len(data["criteria"]) == 61
    assert data["controls"]["LOG-01"]["resources"][0].keys() >= {"stack", "logical_id", "type"}
    assert data["summary"]["controls_total"] == len(data["controls"])


def test_markdown_shape(small_matrix) -> None:
    text = render(small_matrix, "md")
    assert text.startswith("# SOC 2 control matrix — acme\n")
    assert "## Summary" in text and "| 61 of 61 |" in text.replace("with at least one control | ", "| ")
    for crit in small_matrix.criteria:
        assert f"\n| {crit.id} | " in text, crit.id
    assert "| MON-07 | gap | baseline.inspector.enabled is false |" in text


def test_unknown_format() -> None:
    with pytest.raises(MatrixError, match="unknown format"):
        render(None, "pdf")  # type: ignore[arg-type]


# -- the command ---------------------------------------------------------------------------

def test_cli_markdown_to_stdout_and_files(small_config_path: Path, tmp_path: Path) -> None:
    from charter.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["controls", "-c", str(small_config_path)])
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("# SOC 2 control matrix — acme")
    for fmt in ("csv", "json", "html"):
        out = tmp_path / f"matrix.{fmt}"
        res = runner.invoke(app, ["controls", "-c", str(small_config_path), "--format", fmt, "-o", str(out)])
        assert res.exit_code == 0, res.output
        assert out.stat().st_size > 1000
    assert json.loads((tmp_path / "matrix.json").read_text())["organization"] == "acme"


def test_cli_output_into_a_missing_folder_exits_2_with_the_fix(small_config_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "no-such-folder" / "matrix.csv"
    res = subprocess.run([sys.executable, "-m", "charter.cli", "controls", "-c", str(small_config_path),
                          "--format", "csv", "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stdout + res.stderr
    joined = "".join(res.stderr.split())  # the long path wraps anywhere on a narrow terminal
    assert "".join(f"-o {out}: directory {out.parent} does not exist".split()) in joined
    assert "".join(f"mkdir -p {out.parent}".split()) in joined
    assert "Traceback" not in res.stderr and not out.parent.exists()


def test_cli_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "charter.cli", "controls", "-c", str(tmp_path / "missing.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "missing.yaml" in res.stderr


def test_missing_builder_and_tool_reasons(small_config, catalog) -> None:
    from charter.controls.catalog import Catalog
    from charter.controls.links import ControlLinks, Links
    from charter.controls.model import Control

    base = {"title": "A control for the test", "description": "Exists only in this test catalog.",
            "criteria": ["CC6.1"], "kind": "automated", "frequency": "continuous", "owner": "Tester",
            "test_procedure": "Nothing to test here, really.", "population": "No population."}
    ctl = [Control.model_validate({**base, "id": "TST-01"}),
           Control.model_validate({**base, "id": "TST-02", "tooling": ["charter.evidence.collectors.nope"]})]
    cat = Catalog(criteria=catalog.criteria, by_id={c.id: c for c in ctl})
    links = Links(by_control={"TST-01": ControlLinks(builders=["warp_drive"]),
                              "TST-02": ControlLinks(tooling=["charter.evidence.collectors.nope"])}, builders={})
    m = compute_matrix(small_config, cat, stacks=[], links=links)
    assert m.controls["TST-01"].reason == "builder warp_drive is not available"
    assert m.controls["TST-02"].reason == "not installed: charter/evidence/collectors/nope.py"
    assert m.summary.criteria_with_controls == 1 and len(m.summary.criteria_gap) == 61  # no coverage anywhere

"""The catalog is the spine: all 61 criteria, the fixed control ids, and nothing dangling.

The referential-integrity tests are strict on purpose: a builder, collector or runbook the
catalog names must exist, so a renamed or missing part fails here, not in an audit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from charter.controls.catalog import CatalogError, load_catalog
from charter.controls.matrix import config_value

REPO = Path(__file__).resolve().parents[2]

#: The fixed control ids (/tmp/charter_control_ids.md): builders tag resources with these.
FIXED_IDS = """ORG-01 ORG-02 ORG-03 ORG-04 ORG-05 ORG-06 IAM-01 IAM-02 IAM-03 IAM-04 IAM-05 IAM-06 IAM-07
IAM-08 IAM-09 IAM-10 LOG-01 LOG-02 LOG-03 LOG-04 LOG-05 LOG-06 MON-01 MON-02 MON-03 MON-04 MON-05 MON-06
MON-07 MON-08 MON-09 ENC-01 ENC-02 ENC-03 ENC-04 DAT-01 NET-01 NET-02 NET-03 BCK-01 BCK-02 BCK-03 BCK-04
EVD-01 CHG-01 CHG-02""".split()
FIXED_ATTESTATION = {"BCK-04", "CHG-01"}

COLLECTORS = ("iam cloudtrail config securityhub guardduty kms s3 ebs vpc logs backup dynamodb organizations "
              "stacksets identity_center access_analyzer access_review").split()
RUNBOOKS = ("incident-response security-event-triage disaster-recovery kms-key-management access-review "
            "change-management account-vending account-closure evidence-export break-glass "
            "governance-and-oversight risk-assessment vendor-management security-awareness-and-hr "
            "external-communications privacy-operations processing-integrity data-retention-and-disposal "
            "capacity-and-cost").split()


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_all_61_criteria_by_category(catalog) -> None:
    ids = list(catalog.criteria)
    assert len(ids) == 61 and len(set(ids)) == 61
    by_cat: dict[str, int] = {}
    for c in catalog.criteria.values():
        by_cat[c.category] = by_cat.get(c.category, 0) + 1
    assert by_cat == {"security": 33, "availability": 3, "confidentiality": 2, "processing_integrity": 5,
                      "privacy": 18}
    privacy = [i for i in ids if i.startswith("P") and not i.startswith("PI")]
    assert privacy == ["P1.1", "P2.1", "P3.1", "P3.2", "P4.1", "P4.2", "P4.3", "P5.1", "P5.2", "P6.1", "P6.2",
                       "P6.3", "P6.4", "P6.5", "P6.6", "P6.7", "P7.1", "P8.1"]
    assert [i for i in ids if i.startswith("CC6")] == [f"CC6.{n}" for n in range(1, 9)]


def test_every_fixed_id_is_defined_with_its_kind(catalog) -> None:
    missing = [cid for cid in FIXED_IDS if cid not in catalog]
    assert not missing
    for cid in FIXED_IDS:
        want = "attestation" if cid in FIXED_ATTESTATION else "automated"
        assert catalog.get(cid).kind == want, cid


def test_every_criterion_has_a_control(catalog) -> None:
    assert [c for c in catalog.criteria if not catalog.for_criterion(c)] == []


def test_lookups(catalog) -> None:
    assert catalog.get("LOG-01").runbook == "incident-response"
    from charter.controls.catalog import get_control

    assert get_control("MON-06").requires == ["baseline.macie.enabled"]
    assert "PHY-01" in {c.id for c in catalog.for_criterion("CC6.4")}
    assert catalog.get("PHY-01").kind == "inherited"
    assert catalog.criteria_for(["LOG-01", "MON-05"])[:2] == ["CC2.1", "CC3.2"]
    with pytest.raises(CatalogError, match="unknown control id 'XYZ-99'"):
        catalog.get("XYZ-99")
    with pytest.raises(CatalogError, match="unknown criterion"):
        catalog.for_criterion("CC10.1")
    # Iterating the catalog or its `controls` list yields Control objects (the runbooks use it).
    assert [c.id for c in catalog.controls] == [c.id for c in catalog]


def test_controls_builders_declare_exist_in_the_catalog(catalog) -> None:
    from charter.controls.links import all_builders

    unknown = sorted({(b.name, cid) for b in all_builders().values() for cid in b.tagged() if cid not in catalog})
    assert not unknown


def test_scp_guardrails_serve_automated_controls(catalog) -> None:
    from charter.landing_zone.scp.guardrails import GUARDRAILS

    assert GUARDRAILS
    for g in GUARDRAILS.values():
        assert catalog.get(g.control).kind == "automated", g.id


def test_every_collector_is_registered_and_evidences_a_control(catalog) -> None:
    from charter.evidence.collectors import all_collectors

    found = {c.name: c for c in all_collectors()}
    assert sorted(found) == sorted(COLLECTORS)
    for c in found.values():
        assert c.controls and set(c.controls) <= set(catalog.by_id), c.name
        assert (REPO / "evidence" / "collectors" / f"{c.name}.py").is_file()


def test_runbooks_named_exist(catalog) -> None:
    named = {c.runbook for c in catalog if c.runbook}
    assert named <= set(RUNBOOKS), sorted(named - set(RUNBOOKS))
    missing = sorted(r for r in named if not (REPO / "runbooks" / f"{r}.md.j2").is_file())
    assert not missing, f"runbooks named by the catalog but missing: {missing}"


def test_every_runbook_operates_a_control(catalog) -> None:
    assert set(RUNBOOKS) - {c.runbook for c in catalog} == set()


def test_tooling_modules_exist(catalog) -> None:
    import importlib.util

    for c in catalog:
        for mod in c.tooling:
            assert importlib.util.find_spec(mod) is not None, f"{c.id}: {mod} not installed"


def _off(value: object) -> object:
    """What a user writes in org.yaml to turn a setting off."""
    if isinstance(value, bool):
        return False
    if isinstance(value, list | dict):
        return type(value)()
    return None


def test_requires_are_real_config_switches(catalog, small_config, small_config_path) -> None:
    """Each path a control `requires` is a setting of org.yaml that a user can turn off, and
    turning it off makes every control that requires it a gap naming that setting."""
    import yaml

    from charter.controls.matrix import compute_matrix
    from charter.landing_zone.config import load_config_text

    paths = sorted({p for c in catalog for p in c.requires})
    assert paths, "no control requires a setting"
    data = yaml.safe_load(small_config_path.read_text())
    for path in paths:
        node = data
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _off(config_value(small_config, path))  # raises if org.yaml has no such setting
    off = load_config_text(yaml.safe_dump(data, sort_keys=False), "org.yaml")  # a user can write it
    matrix = compute_matrix(off, catalog)
    for c in catalog:
        for path in c.requires:
            assert not config_value(off, path), path
            assert matrix.controls[c.id].status == "gap", (c.id, path)
            assert path in matrix.controls[c.id].reason, (c.id, matrix.controls[c.id].reason)


def test_every_control_id_synth_emits_is_in_the_catalog(catalog, small_config) -> None:
    from charter.landing_zone.synth import synthesize

    emitted = {cid for s in synthesize(small_config) for cid in s.controls}
    assert emitted, "synth emitted no control ids"
    assert sorted(emitted - set(catalog.by_id)) == []


# -- a broken catalog is reported with the file and the control id -----------------------

def _copy(tmp_path: Path) -> Path:
    dst = tmp_path / "catalog"
    shutil.copytree(REPO / "controls" / "catalog", dst)
    return dst


def test_unknown_criterion_is_named(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    f = d / "log.yaml"
    f.write_text(f.read_text().replace("criteria: [CC7.2]\n", "criteria: [CC7.9]\n", 1))
    with pytest.raises(CatalogError, match=r"log.yaml: LOG-05: unknown criteria CC7.9"):
        load_catalog(d)


def test_duplicate_id_is_named(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    (d / "log2.yaml").write_text((d / "log.yaml").read_text())
    with pytest.raises(CatalogError, match=r"LOG-01: defined in log.yaml and again in log2.yaml"):
        load_catalog(d)


def test_invalid_field_names_the_control(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    f = d / "bck.yaml"
    f.write_text(f.read_text().replace("frequency: quarterly", "frequency: sometimes", 1))
    with pytest.raises(CatalogError, match=r"(?s)bck.yaml: 1 problem.*BCK-04: frequency"):
        load_catalog(d)


def test_attestation_without_runbook_is_rejected(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    f = d / "chg.yaml"
    f.write_text(f.read_text().replace("    runbook: change-management\n", "", 1))
    with pytest.raises(CatalogError, match=r"(?s)CHG-01.*needs the runbook"):
        load_catalog(d)


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    d = _copy(tmp_path)
    (d / "gov.yaml").write_text("family: GOV\ncontrols: [\n")
    with pytest.raises(CatalogError, match=r"gov.yaml:\d+:\d+: not valid YAML"):
        load_catalog(d)


@pytest.mark.parametrize(("kind", "extra", "message"), [
    ("inherited", {"runbook": "vendor-management"}, "needs inherited_from"),
    ("attestation", {"runbook": "risk-assessment", "tooling": ["charter.landing_zone.lint"]}, "cannot be implemented"),
])
def test_kind_rules(kind: str, extra: dict, message: str) -> None:
    from pydantic import ValidationError

    from charter.controls.model import Control

    base = {"id": "TST-01", "title": "A control for the test", "description": "Exists only in this test.",
            "criteria": ["CC6.1"], "kind": kind, "frequency": "annual", "owner": "Tester",
            "test_procedure": "Nothing to test here, really.", "population": "No population."}
    with pytest.raises(ValidationError, match=message):
        Control.model_validate({**base, **extra})

"""The control spine holds: each link is declared once in code and the catalog agrees with it.

Loads every registry (builders of the landing zone and the workloads, collector checks,
the managed Config rule table, the SCP guardrails) and the catalog, synthesizes an org with
every feature on, and asserts no disagreement; then shows each kind of disagreement is
caught, and that an unknown control id fails where it is written.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from charter.controls.catalog import Catalog, UnknownControlError, load_catalog
from charter.controls.links import ControlLinks, Links, disagreements, load_links
from charter.controls.matrix import compute_matrix


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def links(catalog) -> Links:
    return load_links(catalog)


@pytest.fixture(scope="module")
def all_on(small_config_path: Path):
    """The small example with every optional detection feature on (Inspector and Macie are off there)."""
    from charter.landing_zone.config import load_config_text

    data = yaml.safe_load(small_config_path.read_text())
    for feature in ("inspector", "macie"):
        data.setdefault("baseline", {}).setdefault(feature, {})["enabled"] = True
    return load_config_text(yaml.safe_dump(data, sort_keys=False), "org.yaml")


@pytest.fixture(scope="module")
def all_on_stacks(all_on):
    from charter.landing_zone.synth import synthesize
    from charter.workloads.synth import synthesize_all_workloads

    return [*synthesize(all_on), *synthesize_all_workloads(all_on)]


def test_catalog_and_every_registry_agree(catalog, links, all_on_stacks) -> None:
    assert {s.spec.builder for s in all_on_stacks} == set(links.builders), "every builder emits a stack"
    assert disagreements(catalog, links, all_on_stacks) == []


def test_every_link_is_read_from_its_registry(links) -> None:
    log01 = links.get("LOG-01")
    assert "cloudtrail" in log01.builders and "config_rules" in log01.evaluated_by
    assert "MULTI_REGION_CLOUD_TRAIL_ENABLED" in log01.config_rules
    assert {c.collector for c in log01.checks} == {"cloudtrail", "config"}
    assert links.get("LOG-02").scp_guardrails == ["protect-cloudtrail"]
    assert links.get("IAM-01").config_rules == ["IAM_PASSWORD_POLICY"]
    assert "workload_api" in links.get("WKL-01").builders


def test_each_kind_of_disagreement_is_found(catalog, links, all_on_stacks) -> None:
    from charter.controls.model import Control

    base = {"title": "A control for the test", "description": "Exists only in this test catalog.",
            "criteria": ["CC6.1"], "frequency": "continuous", "owner": "Tester",
            "test_procedure": "Nothing to test here, really.", "population": "No population."}
    extra = {"TST-01": Control.model_validate({**base, "id": "TST-01", "kind": "automated"}),
             "BCK-01": catalog.get("BCK-01").model_copy(update={"kind": "attestation", "runbook": "disaster-recovery"})}
    cat = Catalog(criteria=catalog.criteria, by_id={**catalog.by_id, **extra})
    broken = Links(by_control={**links.by_control, "TST-01": ControlLinks()}, builders=links.builders,
                   unknown=[("collector nope", "NOP-01")])
    # A builder's resource that carries an id the builder does not declare, and a declared id no resource carries.
    stack = next(s for s in all_on_stacks if s.spec.builder == "kms")
    moved = type(stack)(stack.spec, yaml.safe_load(yaml.safe_dump(stack.data)), stack.body)
    for res in moved.data["Resources"].values():
        res["Metadata"]["Charter"]["Controls"] = ["LOG-02"]
    found = disagreements(cat, broken, [moved])
    assert found == [
        "collector nope names NOP-01, which the catalog does not define",
        "BCK-01: attestation, but implemented by backup, workload_data",
        "TST-01: automated, but no builder, SCP guardrail or tooling declares it",
        "builder kms: resources carry LOG-02, which it does not declare",
        "builder kms: declares ENC-01, but no resource it emits carries it",
    ]


def test_wkl_control_with_no_tagged_resource_is_a_gap(small_config, catalog, links) -> None:
    """A WKL control is implemented by synthesized workload resources carrying it, nothing else."""
    from charter.workloads.synth import synthesize_all_workloads

    stacks = synthesize_all_workloads(small_config)
    full = compute_matrix(small_config, catalog, extra_stacks=stacks, links=links)
    assert full.controls["WKL-14"].status == "implemented"
    assert {r.builder for r in full.controls["WKL-14"].resources} == {"workload_registry"}
    # The same stacks with WKL-14 taken off every resource: WKL-14 is a gap, the others hold.
    for s in stacks:
        for res in s.data["Resources"].values():
            ids = res["Metadata"]["Charter"]["Controls"]
            if "WKL-14" in ids:
                ids.remove("WKL-14")
    stripped = compute_matrix(small_config, catalog, extra_stacks=stacks, links=links)
    assert stripped.controls["WKL-14"].status == "gap"
    assert stripped.controls["WKL-14"].reason == \
        "no resource from builder workload_registry carries WKL-14 in the synthesized templates"
    assert stripped.controls["WKL-01"].status == "implemented"
    # Without the workload stacks at all, every WKL control is a gap (importing workloads proves nothing).
    lz_only = compute_matrix(small_config, catalog, links=links)
    assert {c.id: c.status for c in lz_only.controls.values() if c.id.startswith("WKL-")} == \
        {c.id: "gap" for c in catalog if c.family == "WKL"}


def test_latest_evidence_failure_makes_an_implemented_control_failing(small_config, catalog, links) -> None:
    from charter.controls.matrix import EvidenceState

    m = compute_matrix(small_config, catalog, links=links, evidence={
        "LOG-01": EvidenceState(status="failing", reason="1 of 4 items failed", run_id="r-7"),
        "LOG-02": EvidenceState(status="passing", reason="", run_id="r-7")})
    assert m.controls["LOG-01"].status == "failing"
    assert m.controls["LOG-01"].reason == "latest evidence (run r-7): 1 of 4 items failed"
    assert m.controls["LOG-02"].status == "implemented" and m.controls["LOG-02"].latest_evidence.status == "passing"


# -- an unknown control id fails where it is written, when it loads -------------------------

def test_unknown_id_in_a_builder_fails_when_builders_load(tmp_path: Path, monkeypatch) -> None:
    from charter.landing_zone import registry

    pkg = tmp_path / "typo_builders"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "typo.py").write_text(textwrap.dedent("""\
        from charter.landing_zone.registry import builder


        @builder("typo", controls=["LOG-01", "LGO-02"], description="A builder with a typo.")
        def build(cfg):
            return []
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_BUILDERS", dict(registry._BUILDERS))
    with pytest.raises(UnknownControlError) as err:
        registry.builders("typo_builders")
    text = err.value.render()
    assert "typo.py:4: builder 'typo' names control id(s) the catalog does not define: LGO-02" in text
    assert "fix: LGO-02: did you mean LOG-02?" in text


def test_unknown_id_in_a_collector_check_fails_at_registration() -> None:
    from charter.evidence.collectors import _REGISTRY, register
    from charter.evidence.collectors.base import Collector

    def check_nothing(snap, ctx):
        return []

    with pytest.raises(UnknownControlError, match=r"test_spine.py:\d+: collector 'typo' check 'check_nothing' "
                                                  r"names control id\(s\) the catalog does not define: MON-99"):
        register(Collector(name="typo", description="typo", fetch=lambda rec, ctx: {},
                           checks=(("MON-99", check_nothing),)))
    assert "typo" not in _REGISTRY


def test_unknown_id_in_a_custom_scp_statement_is_a_config_error(small_config_path: Path) -> None:
    from charter.errors import ConfigError
    from charter.landing_zone.config import load_config_text

    text = small_config_path.read_text()
    data = yaml.safe_load(text)
    data.setdefault("scps", {})["custom"] = [{"sid": "DenyTypo", "control": "ORG-77", "actions": ["s3:DeleteBucket"],
                                             "targets": ["Root"]}]
    with pytest.raises(ConfigError) as err:
        load_config_text(yaml.safe_dump(data, sort_keys=False), "org.yaml")
    [issue] = err.value.issues
    assert issue.path == "scps.custom[0].control" and issue.line > 1
    assert "unknown control id 'ORG-77'" in issue.message
    # A known id is accepted and makes its control implemented by the organization's SCP.
    data["scps"]["custom"][0]["control"] = "NET-03"
    cfg = load_config_text(yaml.safe_dump(data, sort_keys=False), "org.yaml")
    m = compute_matrix(cfg)
    assert any(r.builder == "organization" for r in m.controls["NET-03"].resources)


def test_synth_rejects_a_resource_without_control_metadata(small_config) -> None:
    from troposphere import Template
    from troposphere.sns import Topic

    from charter.landing_zone.metadata import controls
    from charter.landing_zone.registry import Builder
    from charter.landing_zone.stacks import Deployment, StackSpec
    from charter.landing_zone.synth import ControlMetadataError, synthesize

    def build(cfg):
        t = Template()
        t.add_resource(controls(Topic("Tagged"), "MON-08"))
        t.add_resource(controls(Topic("Stray"), "LOG-02"))
        t.add_resource(Topic("Bare"))
        return [StackSpec("odd", t, Deployment(kind="stack", account="management", regions=["us-east-1"]))]

    odd = Builder("odd", ("MON-08",), "A builder with untagged resources.", build, __name__)
    with pytest.raises(ControlMetadataError) as err:
        synthesize(small_config, {"odd": odd})
    text = err.value.render()
    assert "odd/Bare (AWS::SNS::Topic) carries no control id" in text
    assert "odd/Stray carries LOG-02, which builder 'odd' does not declare" in text
    assert "Tagged" not in text


def test_collector_criteria_come_from_the_catalog(catalog) -> None:
    from charter.evidence.collectors.base import criteria_for

    assert criteria_for(["LOG-01"]) == catalog.criteria_for(["LOG-01"])
    assert "CC2.1" in criteria_for(["LOG-01"])  # the fixed table the collectors kept had lost it

"""Golden files for the small example: a reviewer sees every template change in the diff.

Regenerate after an intended change with `python -m pytest tests/landing_zone/test_synth_golden.py --update-golden`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.landing_zone.synth import build_plan, synthesize, write_output

GOLDEN = Path(__file__).resolve().parent / "golden" / "small"


@pytest.fixture(scope="module")
def small_output(small_config, small_config_path, tmp_path_factory) -> Path:
    stacks = synthesize(small_config)
    out = tmp_path_factory.mktemp("synth-small")
    write_output(stacks, build_plan(small_config, stacks, small_config_path.read_text()), out)
    return out


def test_templates_match_golden(small_output: Path, update_golden: bool) -> None:
    produced = {p.name: p.read_text() for p in sorted(small_output.glob("*.yaml"))}
    if update_golden:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for stale in GOLDEN.glob("*.yaml"):
            stale.unlink()
        for name, text in produced.items():
            (GOLDEN / name).write_text(text)
    expected = {p.name: p.read_text() for p in sorted(GOLDEN.glob("*.yaml"))}
    assert sorted(produced) == sorted(expected), "stacks changed; re-run with --update-golden if intended"
    for name, text in produced.items():
        assert text == expected[name], f"{name} differs from golden; re-run with --update-golden if intended"


def test_plan_hashes_match_golden_templates(small_output: Path) -> None:
    import hashlib

    plan = json.loads((small_output / "plan.json").read_text())
    for stack in plan["stacks"]:
        body = (small_output / stack["file"]).read_bytes()
        assert stack["sha256"] == hashlib.sha256(body).hexdigest()
        assert stack["bytes"] == len(body)


def test_synth_is_deterministic(small_config) -> None:
    first = {s.name: s.sha256 for s in synthesize(small_config)}
    second = {s.name: s.sha256 for s in synthesize(small_config)}
    assert first == second


def test_every_resource_carries_control_ids(small_config) -> None:
    for stack in synthesize(small_config):
        for logical_id, res in stack.data["Resources"].items():
            controls = res.get("Metadata", {}).get("Charter", {}).get("Controls", [])
            assert controls, f"{stack.name}/{logical_id} has no Metadata.Charter.Controls"


def test_organization_stack_shape(small_config) -> None:
    org = next(s for s in synthesize(small_config) if s.name == "organization")
    resources = org.data["Resources"]
    ous = {r["Properties"]["Name"]: r for r in resources.values() if r["Type"] == "AWS::Organizations::OrganizationalUnit"}
    assert set(ous) == {"Security", "Workloads", "Prod", "NonProd", "Suspended"}
    assert ous["Prod"]["Properties"]["ParentId"] == {"Ref": "OuWorkloads"}
    # member accounts are made through the Organizations API, not resources of the template
    assert not [r for r in resources.values() if r["Type"] == "AWS::Organizations::Account"]
    policies = [r for r in resources.values() if r["Type"] == "AWS::Organizations::Policy"]
    assert all(p["Properties"]["Type"] == "SERVICE_CONTROL_POLICY" for p in policies)
    assert {"ORG-02", "LOG-02", "ORG-05"} <= {c for p in policies for c in p["Metadata"]["Charter"]["Controls"]}

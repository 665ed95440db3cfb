"""Scale: a grown organization is valid and reproducible, and `examples/huge` (5,000 accounts,
OUs 5 deep, 4 regions) synthesizes with every template within CloudFormation's limits."""

from __future__ import annotations

import importlib.util
import ipaddress
from pathlib import Path

import pytest

from charter.config.grow import grow, to_yaml
from charter.landing_zone.config import load_config, load_config_text
from charter.landing_zone.limits import check_stacks
from charter.landing_zone.synth import Plan, build_plan, synthesize, write_output

REPO = Path(__file__).resolve().parents[2]
LARGE = REPO / "examples" / "large" / "org.yaml"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_huge", REPO / "examples" / "generate_huge.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_grown_config_is_valid_reproducible_and_shaped_as_asked() -> None:
    base = load_config(LARGE)
    cfg = grow(base, 400, depth=5, regions=4)
    text = to_yaml(cfg)
    assert to_yaml(grow(base, 400, depth=5, regions=4)) == text, "same arguments, same bytes"
    again = load_config_text(text)  # every check of `charter validate` passes
    assert again == cfg
    assert len(cfg.accounts) == 400 and max(cfg.ou_depths().values()) == 5
    assert cfg.organization.governed_regions[:3] == base.organization.governed_regions
    assert len(cfg.organization.governed_regions) == 4
    assert cfg.accounts[:len(base.accounts)] == base.accounts and cfg.ous[:len(base.ous)] == base.ous
    added = cfg.accounts[len(base.accounts):]
    assert all(a.network and ipaddress.IPv4Network(a.network.cidr).prefixlen == 22 for a in added)
    assert {a.environment for a in added} == {"prod", "staging", "dev"}
    # the guardrails reach the added OU tree as they reach the base's
    assert "Teams" in cfg.scps.targets
    # accounts sit in the deepest OUs
    depths = cfg.ou_depths()
    assert {depths[a.ou] for a in added} == {5}


@pytest.mark.slow
def test_the_huge_example_synthesizes_within_every_limit(tmp_path: Path) -> None:
    text = _generator().generate()
    assert text == _generator().generate(), "the generator is reproducible"
    config = tmp_path / "org.yaml"
    config.write_text(text)
    cfg = load_config(config)
    assert len(cfg.accounts) == 5000 and max(cfg.ou_depths().values()) == 5
    assert len(cfg.organization.governed_regions) == 4
    stacks = synthesize(cfg)
    assert check_stacks(cfg, stacks) == []
    for s in stacks:
        data = s.data
        assert len(data["Resources"]) <= 500 and len(data.get("Parameters", {})) <= 200, s.name
        assert len(data.get("Outputs", {})) <= 200 and len(s.body.encode()) <= 1_000_000, s.name
    write_output(stacks, build_plan(cfg, stacks, text), tmp_path / "out")
    plan = Plan.read(tmp_path / "out")
    names = {p.name for p in plan.stacks}
    assert "organization" in names and "identity" in names
    identity = next(p for p in plan.stacks if p.name == "identity")
    assert identity.resources == len(cfg.baseline.identity.permission_sets)
    assigned = {a for g in identity.facts["assignments"] for a in g["accounts"]}
    assert len(assigned) > 4900  # every workload account gets its environment's grants
    network = next(p for p in plan.stacks if p.name == "network")
    assert len(network.deployment.parameter_overrides) > 4900  # one VPC per workload account, one template

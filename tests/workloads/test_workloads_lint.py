"""Every optimizer stack of every environment: 0 cfn-lint findings, 0 checkov failures,
every resource tagged with its controls, and suppressions only with a written reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.landing_zone.config import load_config
from charter.landing_zone.lint import Linter, suppressions_in
from charter.workloads.synth import synthesize_workloads

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"
ENVS = ("dev", "staging", "prod")


@pytest.fixture(scope="session")
def wl_linter() -> Linter:
    cfg = load_config(EXAMPLE)
    return Linter([*cfg.organization.governed_regions])


@pytest.fixture(scope="module")
def wl_stacks():
    cfg = load_config(EXAMPLE)
    return [s for env in ENVS for s in synthesize_workloads(cfg, env)]


def test_workloads_every_env_has_every_stack(wl_stacks):
    names = {s.name for s in wl_stacks}
    for env in ENVS:
        for part in ("data-dr", "data", "secrets", "sagemaker", "compute", "bedrock", "api", "edge", "monitoring",
                     "cost", "cicd-target"):
            assert f"optimizer-{env}-{part}" in names
    assert "optimizer-cicd" in names  # the single pipeline, emitted once


@pytest.mark.slow
def test_workloads_cfn_lint_clean(wl_linter, wl_stacks):
    findings = [f.render() for s in wl_stacks for f in wl_linter.cfn_lint(s.name, s.data)]
    assert findings == []


@pytest.mark.slow
def test_workloads_checkov_clean(wl_linter, wl_stacks, tmp_path):
    files = []
    for s in wl_stacks:
        path = tmp_path / f"{s.name}.yaml"
        path.write_text(s.body)
        files.append(path)
    findings, passed = wl_linter.checkov(files)
    assert [f.render() for f in findings] == []
    assert passed > 1000  # checkov really evaluated the templates


def test_workloads_every_resource_carries_wkl_controls(wl_stacks):
    for s in wl_stacks:
        for lid, res in s.data["Resources"].items():
            ids = res.get("Metadata", {}).get("Charter", {}).get("Controls", [])
            assert ids, f"{s.name}/{lid} has no control ids"
    controls = {c for s in wl_stacks for c in s.controls}
    assert {f"WKL-{n:02d}" for n in range(1, 15)} <= controls


def test_workloads_suppressions_are_justified_and_few(wl_stacks):
    sups = [sup for s in wl_stacks for sup in suppressions_in(s.name, s.data)]
    boundary = {"CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111"}
    assert {sup.rule for sup in sups} == {"CKV_AWS_115", "CKV_AWS_59"} | boundary
    # checkov reads the permissions boundary (a ceiling) as a grant: suppressed there and only there
    assert {sup.resource for sup in sups if sup.rule in boundary} == {"DeployBoundary"}
    assert all(len(sup.reason) > 60 for sup in sups)
    # the only function with reserved concurrency (the aggregator) needs no suppression
    assert not any(sup.resource == "AggregatorFunction" for sup in sups)


def test_workloads_templates_fit_cloudformation_limits(wl_stacks):
    for s in wl_stacks:
        assert len(s.data["Resources"]) <= 500
        assert len(s.body.encode()) <= 1_000_000

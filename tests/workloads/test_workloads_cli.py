"""`charter workload synth|plan|deploy` end to end (deploy against the embedded AWS)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import app
from landing_zone.config import load_config
from landing_zone.synth import Plan

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"
runner = CliRunner()


def test_workloads_cli_synth_writes_templates_and_plan(tmp_path):
    out = tmp_path / "wl"
    result = runner.invoke(app, ["workload", "synth", "optimizer", "--env", "staging", "-c", str(EXAMPLE),
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    plan = Plan.read(out)
    assert {s.name for s in plan.stacks} >= {"optimizer-staging-compute", "optimizer-staging-edge"}
    edge = next(s for s in plan.stacks if s.name == "optimizer-staging-edge")
    assert edge.deployment.regions == ["us-east-1"] and edge.deployment.account == "staging"
    dr = next(s for s in plan.stacks if s.name == "optimizer-staging-data-dr")
    assert dr.deployment.regions == ["us-west-2"]
    compute = next(s for s in plan.stacks if s.name == "optimizer-staging-compute")
    assert compute.upload == "s3"  # over 51,200 bytes: deploy sends it through the template bucket
    assert (out / "optimizer-staging-compute.yaml").exists()


def test_workloads_cli_rejects_unknown_env_and_workload(tmp_path):
    result = runner.invoke(app, ["workload", "synth", "optimizer", "--env", "qa", "-c", str(EXAMPLE)])
    assert result.exit_code != 0
    assert "not a workload environment" in str(result.exception)
    result = runner.invoke(app, ["workload", "synth", "pricing", "--env", "dev", "-c", str(EXAMPLE)])
    assert "unknown workload" in str(result.exception)


def test_workloads_controls_hook_returns_synthesized_stacks():
    from controls.matrix import compute_matrix
    from workloads.synth import synthesize_all_workloads

    cfg = load_config(EXAMPLE)
    stacks = synthesize_all_workloads(cfg)
    assert all(s.spec.builder.startswith("workloads.stacks.") for s in stacks)
    matrix = compute_matrix(cfg, stacks=[], extra_stacks=stacks)
    wkl = {cid: st for cid, st in matrix.controls.items() if cid.startswith("WKL-")}
    assert len(wkl) == 14 and all(st.status == "implemented" and st.resources for st in wkl.values())
    # without a workloads section the same controls are gaps that say why
    bare = cfg.model_copy(update={"workloads": type(cfg.workloads)()})
    assert synthesize_all_workloads(bare) == []
    gap = compute_matrix(bare, stacks=[]).controls["WKL-01"]
    assert gap.status == "gap" and "workloads.optimizer is not set" in gap.reason


@pytest.fixture
def small_parts(monkeypatch):
    """Deploy only the stacks moto's CloudFormation can build end to end (it has no Lambda
    aliases, Bedrock or WAF), which is what the embedded AWS is for: the deploy path."""
    import workloads.synth as wsynth

    keep = {"data-dr", "data", "cost"}
    monkeypatch.setattr(wsynth, "PARTS", tuple(p for p in wsynth.PARTS if p.name in keep))
    monkeypatch.setattr(wsynth, "TARGET_PART", wsynth.TARGET_PART)
    warnings.filterwarnings("ignore", module=r"moto\..*")


def test_workloads_deploy_local_creates_stacks_in_the_env_account(tmp_path, small_parts):
    from charter.local import LocalAws
    from workloads.deploy import deploy_workload

    cfg = load_config(EXAMPLE)
    with LocalAws() as aws:
        sessions = aws.sessions()
        result = deploy_workload(cfg, "dev", sessions, tmp_path / "wl", local=True)
        assert result.ok, result.failures
        created = [c.target for c in result.changes if c.area == "stack" and c.action == "create"]
        assert any("charter-optimizer-dev-data (dev/us-east-1)" in t for t in created)
        assert any("charter-optimizer-dev-data-dr (dev/us-west-2)" in t for t in created)
        org = sessions.client("organizations")
        dev_id = next(a["Id"] for a in org.list_accounts()["Accounts"] if a["Name"] == "dev")
        ddb = sessions.client("dynamodb", account_id=dev_id, role_name="OrganizationAccountAccessRole")
        tables = ddb.list_tables()["TableNames"]
        assert {"acme-dev-optimizer-jobs", "acme-dev-optimizer-strategies", "acme-dev-optimizer-cache",
                "acme-dev-optimizer-connections"} <= set(tables)
        # a second deploy changes nothing (hash tags on the stacks)
        again = deploy_workload(cfg, "dev", sessions, tmp_path / "wl", local=True)
        assert again.ok, again.failures
        assert not [c for c in again.changes if c.area == "stack" and c.action in ("create", "update")
                    and "local-landing-zone" not in c.target]

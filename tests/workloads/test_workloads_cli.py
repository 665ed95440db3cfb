"""`charter workload synth|plan|deploy` end to end (deploy against the embedded AWS)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import app
from charter.landing_zone.config import load_config
from charter.landing_zone.synth import Plan

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
    assert result.exit_code == 2  # a usage error: --env takes dev, staging or prod
    assert "'qa' is not one of 'dev', 'staging', 'prod'" in " ".join(result.output.replace("│", " ").split())
    result = runner.invoke(app, ["workload", "synth", "pricing", "--env", "dev", "-c", str(EXAMPLE)])
    assert "unknown workload" in str(result.exception)


@pytest.mark.slow
def test_workloads_controls_hook_returns_synthesized_stacks():
    from charter.controls.matrix import compute_matrix
    from charter.workloads.synth import synthesize_all_workloads

    cfg = load_config(EXAMPLE)
    stacks = synthesize_all_workloads(cfg)
    assert all(s.spec.builder.startswith("workload_") for s in stacks)
    matrix = compute_matrix(cfg, stacks=[], extra_stacks=stacks)
    wkl = {cid: st for cid, st in matrix.controls.items() if cid.startswith("WKL-")}
    assert len(wkl) == 14 and all(st.status == "implemented" and st.resources for st in wkl.values())
    # without a workloads section the same controls are gaps that say why
    bare = cfg.model_copy(update={"workloads": type(cfg.workloads)()})
    assert synthesize_all_workloads(bare) == []
    gap = compute_matrix(bare, stacks=[]).controls["WKL-01"]
    assert gap.status == "gap" and "workloads.optimizer is not set" in gap.reason


@pytest.mark.e2e
@pytest.mark.slow
def test_workloads_deploy_local_creates_stacks_in_the_env_account(tmp_path):
    """`charter workload deploy --local` on its own: the embedded AWS starts without the
    landing zone, so stand-ins provide exactly the exports each region's stacks import, and
    every stack of the environment deploys (`charter demo` deploys them on the landing
    zone's real exports instead, see tests/e2e/test_e2e_demo.py)."""
    import json

    from moto.moto_api._internal.models import moto_api_backend

    from charter.local import LocalAws
    from charter.workloads.deploy import LOCAL_EXPORTS_STACK, deploy_workload

    warnings.filterwarnings("ignore", module=r"moto\..*")
    cfg = load_config(EXAMPLE)
    # moto's backends live in the process: start without a landing zone whatever ran before
    moto_api_backend.reset()
    with LocalAws() as aws:
        sessions = aws.sessions()
        result = deploy_workload(cfg, "dev", sessions, tmp_path / "wl", local=True)
        assert result.ok, result.failures
        created = [c.target for c in result.changes if c.area == "stack" and c.action == "create"]
        for ps in result.plan.stacks:
            for region in ps.deployment.regions:
                assert any(f"{ps.stack_name} (dev/{region})" in t for t in created), ps.stack_name
        org = sessions.client("organizations")
        dev_id = next(a["Id"] for a in org.list_accounts()["Accounts"] if a["Name"] == "dev")
        ddb = sessions.client("dynamodb", account_id=dev_id, role_name="OrganizationAccountAccessRole")
        tables = ddb.list_tables()["TableNames"]
        assert {"acme-dev-optimizer-jobs", "acme-dev-optimizer-strategies", "acme-dev-optimizer-cache",
                "acme-dev-optimizer-connections"} <= set(tables)
        statuses = {}
        for ps in result.plan.stacks:
            for region in ps.deployment.regions:
                cfn = sessions.client("cloudformation", region=region, account_id=dev_id,
                                      role_name="OrganizationAccountAccessRole")
                statuses[ps.stack_name] = cfn.describe_stacks(StackName=ps.stack_name)["Stacks"][0]["StackStatus"]
        # the data stack is updated once the edge stack's distribution exists (its bucket policy names it)
        assert statuses.pop("charter-optimizer-dev-data") == "UPDATE_COMPLETE"
        assert set(statuses.values()) == {"CREATE_COMPLETE"}, statuses
        # stand-ins only for what each region imports: the DR region's data stack imports the
        # key alone, so no stand-in VPC is made there
        stand_ins = {}
        for region in ("us-east-1", "us-west-2"):
            cfn = sessions.client("cloudformation", region=region, account_id=dev_id,
                                  role_name="OrganizationAccountAccessRole")
            body = cfn.get_template(StackName=LOCAL_EXPORTS_STACK)["TemplateBody"]
            body = body if isinstance(body, dict) else json.loads(body)
            stand_ins[region] = sorted(o["Export"]["Name"] for o in body["Outputs"].values())
        assert stand_ins == {"us-east-1": ["charter-kms-key-arn", "charter-private-subnet-ids", "charter-vpc-id"],
                             "us-west-2": ["charter-kms-key-arn"]}
        # a second deploy changes nothing (hash tags on the stacks)
        again = deploy_workload(cfg, "dev", sessions, tmp_path / "wl", local=True)
        assert again.ok, again.failures
        assert not [c for c in again.changes if c.area == "stack" and c.action in ("create", "update")
                    and "local-landing-zone" not in c.target]
    moto_api_backend.reset()  # leave no stand-in exports behind for the next embedded AWS of this process


@pytest.mark.e2e
@pytest.mark.slow
def test_serve_stops_cleanly_on_sigterm(tmp_path, spawn):
    """docker stop / systemd / a CI timeout send SIGTERM: the server, its job workers and the
    embedded AWS stop as on Ctrl-C, with nothing left running and no traceback."""
    import signal
    import sys
    from pathlib import Path

    config = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"
    child = spawn([sys.executable, "-m", "charter.cli", "workload", "serve", "-c", str(config), "--port", "0",
                   "--local"], cwd=tmp_path)
    seen = ""
    while "jobs table" not in seen:
        line = child.readline(timeout=600)  # synth, embedded AWS and workers start: minutes under load
        assert line, seen  # the server ended before it was ready
        seen += line
    child.proc.send_signal(signal.SIGTERM)
    code, _, err = child.finish(timeout=300)  # the `spawn` fixture kills it if it does not stop
    assert "Traceback" not in err and "leaked" not in err, err
    assert code in (0, 1, 130), (code, err)

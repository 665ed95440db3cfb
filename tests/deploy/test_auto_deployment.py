"""Which StackSets AWS deploys to a new account by itself (issue #26, 11).

AWS auto-deploys per OU, ignoring account filters and in no order: an environment's StackSets
(filtered to its accounts) and anything that depends on another StackSet must reach a new
account through `charter deploy`, wave by wave; only independent whole-OU StackSets auto-deploy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.landing_zone.config import load_config
from charter.landing_zone.deploy.autodeploy import auto_deployment, auto_deploys
from charter.landing_zone.synth import build_plan, synthesize

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module", params=["small", "large"])
def synthesized(request):
    cfg = load_config(EXAMPLES / request.param / "org.yaml")
    stacks = synthesize(cfg)
    return build_plan(cfg, stacks), {s.name: s.body for s in stacks}


@pytest.fixture(scope="module")
def plan(synthesized):
    return synthesized[0]


def test_environment_stacksets_never_auto_deploy(plan):
    by_name = {s.name: s for s in plan.stacks}
    env_sets = [s for s in plan.stacks if s.name.startswith(("kms-", "backup-")) and s.name != "kms-management"]
    assert len(env_sets) >= 4
    for s in env_sets:
        assert s.deployment.target_accounts, s.name  # filtered to the environment's accounts
        assert not auto_deploys(plan, s) and auto_deployment(plan, s) == {"Enabled": False}
    # what imports an environment's key waits for charter deploy too (no order among auto-deployments)
    for name in ("account-baseline", "network"):
        if name in by_name:
            assert not auto_deploys(plan, by_name[name]), name


def test_independent_whole_ou_stacksets_still_auto_deploy(plan, synthesized):
    auto = {s.name for s in plan.stacks if auto_deploys(plan, s)}
    # nothing a new account receives by itself needs another stack's export first
    assert all("ImportValue" not in synthesized[1][name] for name in auto)
    assert "detection-member" in auto
    for name in auto:
        s = next(p for p in plan.stacks if p.name == name)
        assert s.deployment.permission_model == "SERVICE_MANAGED" and not s.deployment.target_accounts
        kinds = {p.name: p.deployment.kind for p in plan.stacks}
        assert all(kinds.get(d) != "stackset" for d in s.deployment.depends_on)
    assert auto_deployment(plan, next(s for s in plan.stacks if s.name == "detection-member")) == {
        "Enabled": True, "RetainStacksOnAccountRemoval": False}

"""Deploy order inside a wave (depends_on as a topological order) and API-step phases."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from charter.landing_zone.config import load_config
from charter.landing_zone.deploy import engine
from charter.landing_zone.deploy.api_steps import split_phases
from charter.landing_zone.deploy.journal import Journal
from charter.landing_zone.deploy.run import Run
from charter.landing_zone.stacks import Deployment
from charter.landing_zone.synth import Plan, PlannedStack

REPO = Path(__file__).resolve().parents[2]


def planned(name: str, *depends_on: str, order: int = 30, steps: list[dict[str, Any]] | None = None) -> PlannedStack:
    return PlannedStack(name=name, stack_name=f"charter-{name}", file=f"{name}.yaml", builder="t",
                        deployment=Deployment(kind="stack", account="management", regions=["us-east-1"], order=order,
                                              depends_on=list(depends_on)),
                        sha256="", bytes=0, resources=0, upload="", controls=[],
                        facts={"api_steps": steps} if steps else {})


@pytest.fixture
def run(tmp_path: Path) -> Run:
    cfg = load_config(REPO / "examples" / "small" / "org.yaml")
    plan = Plan(organization="acme", home_region="us-east-1", governed_regions=["us-east-1"], config_sha256="",
                stacks=[])
    return Run(cfg=cfg, sessions=None, plan=plan, out_dir=tmp_path, journal=Journal())


def test_a_stack_starts_only_after_what_it_depends_on_in_the_same_wave(run: Run, monkeypatch) -> None:
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def fake(run: Run, ps: PlannedStack) -> None:
        with lock:
            events.append(("start", ps.name))
        time.sleep(0.05 if ps.name.startswith("kms") else 0.01)
        with lock:
            events.append(("end", ps.name))

    monkeypatch.setattr(engine, "_deploy_one", fake)
    stacks = [planned("network", "account-baseline"), planned("account-baseline", "kms-dev", "kms-prod"),
              planned("kms-dev"), planned("kms-prod"), planned("other", "log-archive")]  # log-archive: earlier wave
    engine._deploy_wave(run, stacks, max_workers=4)
    at = {e: i for i, e in enumerate(events)}
    assert at[("start", "account-baseline")] > max(at[("end", "kms-dev")], at[("end", "kms-prod")])
    assert at[("start", "network")] > at[("end", "account-baseline")]
    # independent stacks still run in parallel with the first ones
    assert at[("start", "other")] < at[("end", "kms-dev")]
    assert run.failures == []


def test_a_failed_dependency_in_the_same_wave_skips_the_dependent(run: Run, monkeypatch) -> None:
    calls: list[str] = []

    def fake_stack(run: Run, tpl: Any) -> bool:
        calls.append(tpl.planned.name)
        return tpl.planned.name != "kms-dev"

    monkeypatch.setattr(engine, "load", lambda run, ps: type("T", (), {"planned": ps})())
    monkeypatch.setattr(engine, "ensure_assets", lambda run, tpl: None)
    monkeypatch.setattr(engine, "deploy_stack", fake_stack)
    engine._deploy_wave(run, [planned("account-baseline", "kms-dev"), planned("kms-dev")], max_workers=2)
    assert calls == ["kms-dev"]
    assert run.failures == ["charter-account-baseline: skipped, depends on kms-dev which failed"]


def test_a_dependency_cycle_is_reported_not_deadlocked(run: Run, monkeypatch) -> None:
    monkeypatch.setattr(engine, "_deploy_one", lambda run, ps: None)
    engine._deploy_wave(run, [planned("a", "b"), planned("b", "a"), planned("c")], max_workers=2)
    assert len(run.failures) == 2
    assert all("cycle" in f for f in run.failures)
    assert run.failed_stacks == {"a", "b"}


def test_steps_default_to_before_and_after_steps_wait_for_a_good_stack(run: Run, monkeypatch) -> None:
    before = {"service": "organizations", "operation": "EnableAWSServiceAccess", "parameters": {}}
    after = {"service": "guardduty", "operation": "CreateMembers", "parameters": {}, "phase": "after"}
    assert split_phases([after, before]) == ([before], [after])
    with pytest.raises(ValueError, match="phase"):
        split_phases([{**before, "phase": "later"}])

    order: list[str] = []
    ok = {"value": True}
    monkeypatch.setattr(engine, "load", lambda run, ps: type("T", (), {"planned": ps})())
    monkeypatch.setattr(engine, "ensure_assets", lambda run, tpl: None)
    monkeypatch.setattr(engine, "run_steps", lambda run, stack, steps: order.extend(s["operation"] for s in steps))
    monkeypatch.setattr(engine, "deploy_stack", lambda run, tpl: order.append("stack") or ok["value"])
    engine._deploy_one(run, planned("detection", steps=[after, before]))
    assert order == ["EnableAWSServiceAccess", "stack", "CreateMembers"]
    order.clear()
    ok["value"] = False
    engine._deploy_one(run, planned("detection", steps=[after, before]))
    assert order == ["EnableAWSServiceAccess", "stack"]  # the members wait for a deploy that fixes the stack

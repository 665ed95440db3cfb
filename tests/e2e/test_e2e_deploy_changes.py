"""End to end on the embedded AWS, through `deploy` and the `charter deploy` CLI: what real AWS
exercises after the first deploy.

- A config change reaches AWS on the next deploy: the StackSets whose template changed are
  updated (and with them every instance's stack in its account), the stacks too, and a
  deploy after that changes nothing.
- A stack that cannot be created is reported by its root cause (the first resource that
  failed, with AWS's reason), not by a resource cancelled because of it; once the cause is
  removed, the next deploy replaces the rolled-back stack.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sample_plan import write_sample_plan
from stackset_roles import make_stackset_role, make_stackset_roles

from charter.aws import SessionFactory
from charter.landing_zone.config import load_config, load_config_text
from charter.landing_zone.deploy import deploy
from charter.local import LocalAws
from charter.naming import (
    MEMBER_ACCESS_ROLE,
    STACKSET_ADMIN_ROLE,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"
READS = ("Describe", "List", "Get")
#: the KMS keys (StackSets, one per environment), the log archive and the organization trail (stacks)
BUILDERS = ["organization", "kms", "log_archive", "cloudtrail"]


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    # AWS-managed IAM policies cost moto seconds per account; nothing here attaches one
    saved = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "false"
    try:
        with LocalAws() as server:
            yield server
            _reset(server)  # later tests in this process get backends built with their own setting
    finally:
        os.environ.pop("MOTO_IAM_LOAD_MANAGED_POLICIES", None)
        if saved is not None:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = saved


def _reset(server: LocalAws) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")).read()


def _changed(path: Path, **baseline: Any) -> Path:
    """The small example with baseline settings changed, written where a user keeps org.yaml."""
    data = yaml.safe_load(SMALL.read_text())
    data.setdefault("baseline", {}).update(baseline)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    load_config_text(path.read_text(), str(path))  # valid, as a user's edit must be
    return path


def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from charter.cli import main

    monkeypatch.setattr(sys, "argv", ["charter", *args])
    monkeypatch.setenv("COLUMNS", "250")  # one change per line, as a wide terminal shows it
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def cfn_template(sessions: SessionFactory, stackset: str) -> str:
    return sessions.client("cloudformation").describe_stack_set(StackSetName=stackset)["StackSet"]["TemplateBody"]


def _mutating(calls: list[str]) -> list[str]:
    return [c for c in calls if not c.startswith(READS) and c != "AssumeRole"]


def test_a_config_change_updates_stacksets_and_stacks_in_place(aws: LocalAws, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    _reset(aws)
    sessions = aws.sessions()
    make_stackset_roles(sessions)  # as AWS's template makes them for self-managed StackSets
    small = load_config(SMALL)
    out = tmp_path / "out"
    write_sample_plan(small, out, builders=BUILDERS, management=False)
    first = deploy(small, out, sessions)
    assert first.failures == []
    kms_stacksets = sorted(f"charter-kms-{a.environment}" for a in small.accounts) + ["charter-kms-management"]

    # the user keeps keys for 180 days between rotations and logs for 10 years
    config = _changed(tmp_path / "org.yaml", kms_rotation_days=180, log_retention_days=3653)
    changed = load_config(config)
    write_sample_plan(changed, out, builders=BUILDERS, management=False)
    # `charter plan` against AWS shows the same updates first, per control, and changes nothing
    code, stdout, stderr = _cli(monkeypatch, capsys, "plan", "-c", str(config), "-o", str(out), "--no-synth",
                                "--endpoint-url", aws.endpoint_url)
    assert code == 0, stdout + stderr
    assert stdout.startswith("plan against AWS:") and "update stackset" in stdout, stdout
    assert "update   stack charter-cloudtrail (management/us-east-1)" in stdout
    assert "LOG-01, LOG-04: ~ TrailLogGroup" in stdout  # the controls whose resources change
    assert "RotationPeriodInDays: 180" not in cfn_template(sessions, "charter-kms-prod")
    code, stdout, stderr = _cli(monkeypatch, capsys, "deploy", "-c", str(config), "-o", str(out), "--no-synth",
                                "--endpoint-url", aws.endpoint_url, "-v")
    assert code == 0, stdout + stderr
    lines = stdout.splitlines()
    updated = {line.split()[2] for line in lines if line.startswith("update ")}
    # the log archive's DR replica follows too: its key's rotation and its lifecycle are the archive's
    assert updated == {"charter-cloudtrail", "charter-log-archive", "charter-log-archive-replica",
                       *set(kms_stacksets)}, stdout
    assert "charter-cloudtrail (management/us-east-1)" in stdout  # where each stack was updated
    assert not [line for line in lines if line.startswith(("create ", "delete "))], stdout  # in place

    # the StackSets carry the new template, and so does every instance's stack in its account
    accounts = {a["Name"]: a["Id"] for a in sessions.client("organizations").list_accounts()["Accounts"]}
    for name in kms_stacksets:
        assert "RotationPeriodInDays: 180" in cfn_template(sessions, name), name
    prod = sessions.client("cloudformation", region="us-west-2", account_id=accounts["prod"],
                           role_name=MEMBER_ACCESS_ROLE)
    [instance] = [s for s in prod.describe_stacks()["Stacks"] if s["StackName"].startswith("StackSet-charter-kms-prod-")]
    assert instance["StackStatus"] == "UPDATE_COMPLETE"
    assert "RotationPeriodInDays: 180" in prod.get_template(StackName=instance["StackId"])["TemplateBody"]
    # the stack update reached its resource: the trail's log group keeps 10 years now
    groups = sessions.client("logs").describe_log_groups(logGroupNamePrefix="/charter/")["logGroups"]
    assert [g["retentionInDays"] for g in groups if g["logGroupName"].endswith("organization-trail")] == [3653]

    # and a deploy after that has nothing left to change
    calls: list[str] = []
    sessions.on_client.append(lambda c: c.meta.events.register("before-call", lambda model, **_: calls.append(
        model.name)))
    again = deploy(changed, out, sessions)
    assert again.failures == [] and again.changes == []
    assert calls and _mutating(calls) == []


def test_a_failed_stack_is_reported_by_its_root_cause_and_replaced_once_it_is_fixed(
        aws: LocalAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _reset(aws)
    sessions = aws.sessions()
    # someone made the StackSet administration role by hand (AWS's documented way) before
    # Charter's stack that makes it: the stack cannot create a role of that name
    make_stackset_role(sessions, STACKSET_ADMIN_ROLE, permissions=False)
    small = load_config(SMALL)
    out = tmp_path / "out"
    write_sample_plan(small, out, builders=["organization", "identity"], management=False)
    cause = (f"charter-stackset-roles/management/us-east-1/StackSetAdministrationRole: EntityAlreadyExists: "
             f"Role with name {STACKSET_ADMIN_ROLE} already exists.")

    code, stdout, stderr = _cli(monkeypatch, capsys, "deploy", "-c", str(SMALL), "-o", str(out), "--no-synth",
                                "--endpoint-url", aws.endpoint_url)
    assert code == 1, stdout + stderr
    assert "Traceback" not in stderr
    assert "2 failed" in stderr and "the next `charter deploy` resumes" in stderr
    assert cause in stderr.replace("\n", "")
    assert "charter-identity-roles-management: skipped, depends on stackset-roles which failed" in stderr
    cfn = sessions.client("cloudformation")
    assert cfn.describe_stacks(StackName="charter-stackset-roles")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"

    # On AWS, resources being created beside the one that failed end CREATE_FAILED too,
    # "Resource creation cancelled", and later: the newest failure is not the cause.
    def cancelled_sibling(parsed: dict[str, Any], **_: Any) -> None:
        events = parsed.get("StackEvents", [])
        if events and events[0].get("StackName") == "charter-stackset-roles":
            events.insert(0, {**events[0], "EventId": "cancelled-sibling", "LogicalResourceId": "StackSetExecutionRole",
                              "ResourceType": "AWS::IAM::Role", "ResourceStatus": "CREATE_FAILED",
                              "ResourceStatusReason": "Resource creation cancelled",
                              "Timestamp": datetime.now(UTC)})

    def hook(client: Any) -> None:
        if client.meta.service_model.service_name == "cloudformation":
            client.meta.events.register("after-call.cloudformation.DescribeStackEvents", cancelled_sibling)

    sessions.on_client.append(hook)
    again = deploy(small, out, sessions)  # the rolled-back stack is replaced, and fails the same way
    sessions.on_client.remove(hook)
    assert again.failures[0] == cause
    assert not [f for f in again.failures if "cancelled" in f]

    # the cause removed, the next deploy deletes the rolled-back stack and creates it anew
    sessions.client("iam").delete_role(RoleName=STACKSET_ADMIN_ROLE)
    fixed = deploy(small, out, sessions)
    assert fixed.failures == []
    assert [(c.action, c.target) for c in fixed.changes if c.area == "stack"] == [
        ("delete", "charter-stackset-roles (management/us-east-1)"),
        ("create", "charter-stackset-roles (management/us-east-1)")]
    assert cfn.describe_stacks(StackName="charter-stackset-roles")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert sessions.client("iam").get_role(RoleName=STACKSET_ADMIN_ROLE)["Role"]["RoleName"] == STACKSET_ADMIN_ROLE

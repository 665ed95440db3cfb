"""A deploy killed with SIGKILL during its StackSet phase, then resumed, ends exactly where a
clean deploy ends: the same accounts, OUs, SCPs, StackSets and stack instances, no
duplicate instance or stack, and a third run that changes nothing.

`charter deploy --endpoint-url` runs as a child process against the embedded AWS in this
process; the test watches the embedded AWS's StackSet operations and kills the child at
three points: the first operation submitted (early), half of the StackSets with one
(middle), every StackSet with one (late). The killed child's operations keep running in
the embedded AWS, as they would on AWS; the resumed deploy waits for them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from charter.landing_zone.config import load_config
from charter.landing_zone.synth import build_plan, synthesize
from charter.local import LOCAL_MANAGEMENT_ACCOUNT, LocalAws

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "examples" / "small" / "org.yaml"
#: A safety net against a hang, never an assertion about speed.
PATIENCE_SECONDS = 900


@pytest.fixture(scope="module")
def server() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


def _reset(server: LocalAws) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{server.endpoint_url}/moto-api/reset", method="POST")).read()


def _stacksets() -> list[Any]:
    from moto.cloudformation import cloudformation_backends

    home = load_config(CONFIG).organization.home_region
    return [s for s in list(cloudformation_backends[LOCAL_MANAGEMENT_ACCOUNT][home].stacksets.values())
            if s.status == "ACTIVE"]


def _with_operations() -> int:
    return sum(1 for s in _stacksets() if getattr(s, "charter_operations", None))


def _deploy(server: LocalAws, out: Path, kill_when: Callable[[], bool] | None = None) -> int | None:
    """`charter deploy` in a child process; SIGKILLed as soon as `kill_when()` holds. Returns
    its exit code, or None when it was killed."""
    cmd = [sys.executable, "-m", "charter.cli", "deploy", "-c", str(CONFIG), "-o", str(out),
           "--endpoint-url", server.endpoint_url]
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + PATIENCE_SECONDS
        while child.poll() is None and time.monotonic() < deadline:
            if kill_when is not None and kill_when():
                child.send_signal(signal.SIGKILL)
                child.wait()
                return None
            time.sleep(0.02)
        assert child.poll() is not None, "deploy did not finish"
        assert kill_when is None, f"deploy finished before the kill point (exit {child.returncode})"
        return child.returncode
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        if child.stderr is not None:
            child.stderr.close()


def _state(server: LocalAws) -> dict[str, Any]:
    """Everything the deploy made, by name (account ids differ between organizations)."""
    sessions = server.sessions()
    org = sessions.client("organizations")
    root = org.list_roots()["Roots"][0]["Id"]
    paths, queue, accounts = {root: "Root"}, [root], {}
    while queue:
        parent = queue.pop(0)
        for ou in org.list_organizational_units_for_parent(ParentId=parent)["OrganizationalUnits"]:
            paths[ou["Id"]] = f"{paths[parent]}/{ou['Name']}"
            queue.append(ou["Id"])
        for acct in org.list_accounts_for_parent(ParentId=parent)["Accounts"]:
            accounts[acct["Id"]] = (acct["Name"], acct["Email"], paths[parent])
    names = {aid: a[0] for aid, a in accounts.items()}
    organization = org.describe_organization()["Organization"]["Id"]
    ids = {**names, **paths, organization: "<organization>"}

    def by_name(value: str) -> str:  # ids differ from one organization to the next; names do not
        for ident, name in ids.items():
            value = value.replace(ident, name)
        return value

    scps = []
    for policy in org.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]:
        content = org.describe_policy(PolicyId=policy["Id"])["Policy"]["Content"]
        targets = sorted(paths.get(t["TargetId"]) or names.get(t["TargetId"], t["TargetId"])
                         for t in org.list_targets_for_policy(PolicyId=policy["Id"])["Targets"])
        scps.append((policy["Name"], json.dumps(json.loads(content), sort_keys=True), tuple(targets)))
    cfn = sessions.client("cloudformation")
    stacksets, instances = [], []
    for summary in cfn.list_stack_sets(Status="ACTIVE")["Summaries"]:
        name = summary["StackSetName"]
        described = cfn.describe_stack_set(StackSetName=name)["StackSet"]
        tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
        parameters = tuple(sorted((p["ParameterKey"], by_name(p.get("ParameterValue", "")))
                                  for p in described.get("Parameters", [])))
        stacksets.append((name, described.get("PermissionModel"), tags.get("charter:template-sha256"), parameters))
        for inst in cfn.list_stack_instances(StackSetName=name)["Summaries"]:
            full = cfn.describe_stack_instance(StackSetName=name, StackInstanceAccount=inst["Account"],
                                               StackInstanceRegion=inst["Region"])["StackInstance"]
            overrides = tuple(sorted((p["ParameterKey"], by_name(p.get("ParameterValue", "")))
                                     for p in full.get("ParameterOverrides", [])))
            instances.append((name, names.get(inst["Account"], inst["Account"]), inst["Region"], inst["Status"],
                              overrides))
    stacks = Counter()  # every instance's stack in its account, by StackSet (uuid suffix dropped)
    for aid, name in names.items():
        for region in load_config(CONFIG).organization.governed_regions:
            member = (sessions.client("cloudformation", region=region) if aid == LOCAL_MANAGEMENT_ACCOUNT else
                      sessions.client("cloudformation", region=region, account_id=aid,
                                      role_name="OrganizationAccountAccessRole"))
            for stack in member.describe_stacks()["Stacks"]:
                if stack["StackName"].startswith("StackSet-") and stack["StackStatus"] != "DELETE_COMPLETE":
                    stacks[(stack["StackName"].rsplit("-", 5)[0], name, region, stack["StackStatus"])] += 1
    return {"accounts": sorted(accounts.values()), "ous": sorted(paths.values()), "scps": sorted(scps),
            "stacksets": sorted(stacksets), "instances": sorted(instances), "stacks": sorted(stacks.items())}


@pytest.fixture(scope="module")
def clean(server: LocalAws, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    _reset(server)
    assert _deploy(server, tmp_path_factory.mktemp("clean")) == 0
    state = _state(server)
    _reset(server)
    return state


def _total_stacksets() -> int:
    cfg = load_config(CONFIG)
    return sum(1 for s in build_plan(cfg, synthesize(cfg), "").stacks if s.deployment.kind == "stackset")


@pytest.mark.parametrize("point", ["early", "middle", "late"])
def test_a_deploy_killed_in_its_stackset_phase_resumes_to_the_clean_end_state(
        server: LocalAws, clean: dict[str, Any], tmp_path: Path, point: str) -> None:
    total = _total_stacksets()
    when = {"early": lambda: _with_operations() >= 1,
            "middle": lambda: _with_operations() >= total // 2,
            "late": lambda: _with_operations() >= total}[point]
    _reset(server)
    try:
        assert _deploy(server, tmp_path, when) is None  # killed where asked
        assert _deploy(server, tmp_path) == 0  # resumed: finishes with no failure
        resumed = _state(server)
        for key in clean:
            extra = [x for x in resumed[key] if x not in clean[key]]
            missing = [x for x in clean[key] if x not in resumed[key]]
            assert (extra, missing) == ([], []), f"{key}: only after the kill {extra}; only in the clean deploy {missing}"
        instances = Counter((s, a, r) for s, a, r, *_ in resumed["instances"])
        assert max(instances.values()) == 1, "a duplicate stack instance"
        assert all(count == 1 for _, count in resumed["stacks"]), "a duplicate instance stack"
        # a third run finds nothing to do
        from charter.landing_zone.deploy import deploy

        third = deploy(load_config(CONFIG), tmp_path, server.sessions())
        assert third.failures == [] and third.changes == []
    finally:
        _reset(server)

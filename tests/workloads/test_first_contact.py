"""Workload stacks read against AWS's semantics, not only cfn-lint's (issue #26).

Each test names the AWS behaviour the stack must respect; they all ran red on the stacks
before the fix.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from charter.workloads.synth import synthesize_workloads


@pytest.fixture(scope="module")
def prod(small_config) -> dict[str, dict[str, Any]]:
    return {s.name.removeprefix("optimizer-prod-"): s.data for s in synthesize_workloads(small_config, "prod")}


def of_type(data: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in data["Resources"].items() if r["Type"] == kind}


# -- 6: Cost Anomaly Detection -------------------------------------------------------------

def test_anomaly_monitor_is_not_the_accounts_one_services_monitor(prod):
    """AWS allows one DIMENSIONAL/SERVICE monitor per account and creates one itself in new
    accounts: a second CreateAnomalyMonitor of that kind fails the cost stack. The stack's
    monitor is a customer-managed (CUSTOM) one over the workload's own cost-allocation tag,
    of which an account may hold many, and the subscription alerts on it."""
    monitors = of_type(prod["cost"], "AWS::CE::AnomalyMonitor")
    assert len(monitors) == 1
    (logical, monitor), = monitors.items()
    p = monitor["Properties"]
    assert p["MonitorType"] == "CUSTOM" and "MonitorDimension" not in p
    spec = json.loads(p["MonitorSpecification"])
    assert spec == {"Tags": {"Key": "CostCenter", "Values": ["optimizer-prod"], "MatchOptions": ["EQUALS"]}}
    # the tag the monitor watches is the one every resource of the workload carries
    tagged = [r for stack in prod.values() for r in stack["Resources"].values()
              if isinstance(r.get("Properties", {}).get("Tags"), list)
              and {"Key": "CostCenter", "Value": "optimizer-prod"} in r["Properties"]["Tags"]]
    assert len(tagged) > 50
    sub = next(iter(of_type(prod["cost"], "AWS::CE::AnomalySubscription").values()))["Properties"]
    assert sub["MonitorArnList"] == [{"Ref": logical}]

"""The evidence run's state machine in the evidence_store stack: a Distributed Map over account
batches with the org.yaml settings, retries on Lambda's throttling, a role that may do only
what the run needs, logs to an encrypted group and X-Ray tracing."""

from __future__ import annotations

import json
from typing import Any

from charter.landing_zone.builders.evidence_statemachine import definition
from charter.landing_zone.config import load_config

EXAMPLE = "examples/small/org.yaml"


def _resources() -> dict[str, Any]:
    from charter.landing_zone.builders.evidence_store import build

    spec = next(s for s in build(load_config(EXAMPLE)) if s.name == "evidence-store")
    return json.loads(spec.template.to_json())["Resources"]


def _statements(role: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}


def test_the_map_is_distributed_bounded_and_tolerates_the_configured_failures() -> None:
    cfg = load_config(EXAMPLE)
    cfg = cfg.model_copy(update={"baseline": cfg.baseline.model_copy(update={
        "evidence_run": cfg.baseline.evidence_run.model_copy(update={"max_concurrency": 7,
                                                                     "tolerated_failure_percent": 2.5})})})
    doc = definition(cfg, step_arn="step", batch_arn="batch")
    collect = doc["States"]["Collect"]
    assert collect["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert (collect["MaxConcurrency"], collect["ToleratedFailurePercentage"]) == (7, 2.5)
    assert collect["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    # no Catch that would turn lost items into a success that cannot be redriven
    assert "Catch" not in collect
    tasks = [doc["States"]["Plan"], doc["States"]["Seal"], *collect["ItemProcessor"]["States"].values()]
    for task in tasks:
        assert "Lambda.TooManyRequestsException" in task["Retry"][0]["ErrorEquals"]
    assert collect["ItemProcessor"]["States"]["CollectBatch"]["Parameters"]["FunctionName"] == "batch"


def test_the_state_machine_logs_encrypted_traces_and_its_role_is_least_privilege() -> None:
    res = _resources()
    machine = res["RunStateMachine"]["Properties"]
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    group = machine["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]
    assert group == {"Fn::GetAtt": ["RunStateMachineLogGroup", "Arn"]}
    assert "KmsKeyId" in res["RunStateMachineLogGroup"]["Properties"]
    sids = _statements(res["RunStateMachineRole"])
    assert sids["DistributedMapChildren"]["Action"] == ["states:StartExecution"]
    assert sids["DistributedMapChildren"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:acme-evidence-run"}]
    invoked = sids["InvokeRunFunctions"]["Resource"]
    assert {"Fn::GetAtt": ["RunBatchFunction", "Arn"]} in invoked and {"Fn::GetAtt": ["RunStepFunction", "Arn"]} in invoked
    assert {"Fn::GetAtt": ["CollectorFunction", "Arn"]} not in invoked
    assert sids["ReadItems"]["Action"] == ["s3:GetObject"]
    actions = {a for s in sids.values() for a in s["Action"]}
    assert not any(a.startswith(("s3:Put", "s3:Delete", "iam:", "sts:")) for a in actions)
    trust = res["RunStateMachineRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "states.amazonaws.com"}


def test_the_batch_function_runs_as_the_collector_with_reserved_concurrency_equal_to_the_map() -> None:
    res = _resources()
    batch = res["RunBatchFunction"]["Properties"]
    assert batch["Handler"] == "charter.evidence.orgscale.batch_handler"
    assert batch["Role"] == {"Fn::GetAtt": ["CollectorRole", "Arn"]}
    assert batch["ReservedConcurrentExecutions"] == load_config(EXAMPLE).baseline.evidence_run.max_concurrency
    assert batch["Timeout"] == 900
    # the collector may write the run functions' logs and read the run's own Map Runs
    sids = _statements(res["CollectorRole"])
    logs = sids["WriteOwnLogs"]["Resource"]
    assert len(logs) == 3
    assert "states:ListMapRuns" in sids["ReadEvidenceRunFailures"]["Action"]
    schedule_role = res["RunScheduleRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert schedule_role == [{"Sid": "StartEvidenceRun", "Effect": "Allow", "Action": ["states:StartExecution"],
                              "Resource": [{"Ref": "RunStateMachine"}]}]

"""The evidence stack's state machine on the embedded AWS: a 30-account organization read as
six Distributed Map items, where one account's evidence reader cannot be assumed and one
item runs past its Lambda's timeout.

The stack is deployed through CloudFormation (its functions run from the built code asset,
the state machine as its own role, with permissions enforced). To keep the run to about a
minute on two shared cores, executions read two collectors (kms, s3) in the home region
(the input narrows the scope as an operator's would) and the batch function's timeout is
lowered to 40 s; the slow account's KMS answers after 90 s while the fault is on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from orgscale_kit import config, deploy_evidence_stack, organization, readers, wait_execution

from charter.evidence.fanout import AccountRef, collect_all
from charter.evidence.orgscale import attempts_prefix, items_path
from charter.evidence.signing import load_public_key
from charter.evidence.store import EvidenceStore, S3Backend
from charter.evidence.verify import verify
from charter.landing_zone.builders.evidence_statemachine import batch_function_name
from charter.local import LOCAL_MANAGEMENT_ACCOUNT, LocalAws

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCOPE = {"collectors": ["kms", "s3"], "regions": ["us-east-1"]}
BATCH_TIMEOUT = 40
#: past the runtime's hard stop (Lambda's 10 s init + the timeout + 5 s grace): the call never
#: returns in time, whatever the load
FAULT_SECONDS = 90
#: how the item's failure is named: Lambda killed it at its timeout, or (under load, when other
#: units finished after the handler's own deadline) the batch stopped itself before that
TIMED_OUT = ("Sandbox.Timedout", "BatchOutOfTimeError")


class World:
    def __init__(self, sessions: Any, cfg: Any, outputs: dict[str, str], members: list[str], no_reader: str,
                 slow: str, fault: threading.Event) -> None:
        self.sessions, self.cfg, self.outputs = sessions, cfg, outputs
        self.members, self.no_reader, self.slow, self.fault = members, no_reader, slow, fault
        self.sfn = sessions.client("stepfunctions")
        self.store = EvidenceStore(S3Backend(sessions.client("s3"), outputs["EvidenceBucketName"]))

    def start(self) -> dict[str, Any]:
        arn = self.sfn.start_execution(stateMachineArn=self.outputs["EvidenceRunStateMachineArn"],
                                       input=json.dumps(SCOPE))["executionArn"]
        return wait_execution(self.sfn, arn)

    def why(self, described: dict[str, Any]) -> str:
        """The execution's cause and its failed items' errors (for a failing assertion)."""
        lines = [f"{described.get('error')}: {described.get('cause')}"]
        for run in self.sfn.list_map_runs(executionArn=described["executionArn"])["mapRuns"]:
            for child in self.sfn.list_executions(mapRunArn=run["mapRunArn"], statusFilter="FAILED")["executions"]:
                d = self.sfn.describe_execution(executionArn=child["executionArn"])
                lines.append(f"{d.get('error')}: {str(d.get('cause'))[:600]}")
        return "\n".join(lines)

    def batches(self, run_id: str) -> dict[str, list[str]]:
        items = json.loads(self.store.backend.get(items_path(run_id)))
        return {i["batch"]: [a["id"] for a in i["accounts"]] for i in items}

    def public_key(self) -> Any:
        kms = self.sessions.client("kms")
        return load_public_key(kms.get_public_key(KeyId=self.outputs["SigningKeyArn"])["PublicKey"], "kms")


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    from moto.kms.models import KmsBackend

    fault = threading.Event()
    slow_account: list[str] = []
    original = KmsBackend.list_keys

    def list_keys(self):  # the fault: this account's KMS stops answering in time
        if fault.is_set() and slow_account and self.account_id == slow_account[0]:
            time.sleep(FAULT_SECONDS)
        return original(self)

    KmsBackend.list_keys = list_keys
    try:
        with LocalAws() as server:
            sessions = server.sessions()
            cfg = config(batch_accounts=5, max_concurrency=4, tolerated_failure_percent=20)
            org_id, members = organization(sessions, 29)
            ordered = sorted([LOCAL_MANAGEMENT_ACCOUNT, *members])
            # a member of the first batch and one of the fourth (the management account keeps its reader)
            no_reader = next(a for a in ordered[:5] if a != LOCAL_MANAGEMENT_ACCOUNT)
            slow = next(a for a in ordered[15:20] if a != LOCAL_MANAGEMENT_ACCOUNT)
            readers(sessions, cfg, org_id, [m for m in members if m != no_reader])
            outputs = deploy_evidence_stack(sessions, cfg, org_id)
            sessions.client("lambda").update_function_configuration(FunctionName=batch_function_name(cfg),
                                                                    Timeout=BATCH_TIMEOUT)
            slow_account.append(slow)
            yield World(sessions, cfg, outputs, members, no_reader, slow, fault)
    finally:
        KmsBackend.list_keys = original


def _key(a: Any) -> tuple[str, str, str]:
    return a.collector, a.account_id, a.region


def _judged(artifact: Any) -> tuple[str, list[tuple[str, str, str]]]:
    return artifact.kind, sorted((p.id, p.control, p.result) for p in artifact.population)


def test_a_run_with_a_missing_role_and_a_timed_out_item_seals_both_as_gaps_naming_their_cause(world: World) -> None:
    world.fault.set()
    try:
        described = world.start()
    finally:
        world.fault.clear()
    assert described["status"] == "SUCCEEDED", world.why(described)
    sealed = json.loads(described["output"])["sealed"]
    run_id = sealed["run_id"]
    manifest = next(m for m in world.store.manifests() if m.run_id == run_id)
    artifacts = {e.path: world.store.backend.get(e.path) for e in manifest.artifacts}
    from charter.evidence.artifact import Artifact

    stored = [Artifact.model_validate_json(b) for b in artifacts.values()]
    batches = world.batches(run_id)
    assert len(batches) == 6 and sum(len(a) for a in batches.values()) == 30
    slow_batch = next(b for b, ids in batches.items() if world.slow in ids)

    # the account whose reader cannot be assumed: every unit a gap naming the role
    denied = [a for a in stored if a.account_id == world.no_reader]
    assert denied and all(a.kind == "gap" and "CharterEvidenceReader" in (a.error or "") for a in denied)
    # the timed-out item: the slow account's KMS is a gap naming Lambda's timeout and the batch
    slow_kms = [a for a in stored if a.account_id == world.slow and a.collector == "kms"]
    assert [a.kind for a in slow_kms] == ["gap"]
    assert any(t in slow_kms[0].error for t in TIMED_OUT) and slow_batch in slow_kms[0].error
    # every planned unit of the organization has its artifact
    units = {_key(a) for a in stored}
    every = {(c, acct, "us-east-1") for acct in [LOCAL_MANAGEMENT_ACCOUNT, *world.members] for c in ("kms", "s3")}
    assert every <= units

    # the other accounts' artifacts are what a direct collection of them reads
    others = [a for a in [LOCAL_MANAGEMENT_ACCOUNT, *world.members]
              if a != world.no_reader and a not in batches[slow_batch]]
    assert len(others) == 24
    from charter.aws import acting_as
    from charter.naming import EVIDENCE_OPERATOR_ROLE

    direct = list(collect_all(acting_as(world.sessions, EVIDENCE_OPERATOR_ROLE), world.cfg,
                              [AccountRef(a, a) for a in others], max_workers=4, **SCOPE))
    by_unit: dict[tuple[str, str, str], list[Any]] = {}
    for a in stored:
        if a.account_id in others:
            by_unit.setdefault(_key(a), []).append(_judged(a))
    expected: dict[tuple[str, str, str], list[Any]] = {}
    for a in direct:
        expected.setdefault(_key(a), []).append(_judged(a))
    assert by_unit == expected

    report = verify(world.store.backend, trusted_keys=[world.public_key()])
    assert report.ok, [p.render() for p in report.problems]


def test_beyond_the_tolerance_the_run_fails_unsealed_and_a_redrive_collects_only_the_failed_item(world: World) -> None:
    sm = world.outputs["EvidenceRunStateMachineArn"]
    definition = json.loads(world.sfn.describe_state_machine(stateMachineArn=sm)["definition"])
    definition["States"]["Collect"]["ToleratedFailurePercentage"] = 0
    world.sfn.update_state_machine(stateMachineArn=sm, definition=json.dumps(definition))
    sealed_before = len(world.store.manifests())

    world.fault.set()
    try:
        failed = world.start()
    finally:
        world.fault.clear()
    assert failed["status"] == "FAILED"
    assert failed["error"] == "States.ExceedToleratedFailureThreshold"
    assert failed["redriveStatus"] == "REDRIVABLE"
    assert len(world.store.manifests()) == sealed_before  # nothing sealed
    run_id = next(iter(world.store.open_runs()[-1:]))
    runs = world.sfn.list_map_runs(executionArn=failed["executionArn"])["mapRuns"]
    children = world.sfn.list_executions(mapRunArn=runs[0]["mapRunArn"], statusFilter="FAILED")["executions"]
    assert len(children) == 1
    child = world.sfn.describe_execution(executionArn=children[0]["executionArn"])
    assert child["error"] in TIMED_OUT
    # the item's events are its own execution's, as on AWS; the parent records the Map Run
    child_events = [e["type"] for e in world.sfn.get_execution_history(executionArn=child["executionArn"])["events"]]
    assert child_events[0] == "ExecutionStarted" and child_events[-1] == "ExecutionFailed" and "TaskFailed" in child_events
    parent_events = [e["type"] for e in world.sfn.get_execution_history(executionArn=failed["executionArn"])["events"]]
    assert "MapRunFailed" in parent_events and parent_events.count("TaskScheduled") == 1  # Plan only
    slow_batch = json.loads(child["input"])["batch"]
    listed_before = set(world.store.backend.list(f"runs/{run_id}/artifacts/"))

    world.sfn.redrive_execution(executionArn=failed["executionArn"])
    done = wait_execution(world.sfn, failed["executionArn"])
    assert done["status"] == "SUCCEEDED", world.why(done)
    assert done["redriveCount"] == 1
    assert json.loads(done["output"])["plan"]["run_id"] == run_id

    # only the failed item ran again, and it stored only what its first attempt had not
    for batch in world.batches(run_id):
        attempts = world.store.backend.list(attempts_prefix(run_id, batch))
        assert len(attempts) == (2 if batch == slow_batch else 1), batch
    manifest = world.store.manifests()[-1]
    assert manifest.run_id == run_id and len(world.store.manifests()) == sealed_before + 1
    paths = [e.path for e in manifest.artifacts]
    assert set(paths) >= listed_before
    triples = [(*p.split("/")[3:5], p.split("/")[5].split(".")[0]) for p in paths if ".gap-" not in p]
    assert len(triples) == len(set(triples))  # no unit stored twice
    by_account = {(e.collector, e.account_id): e.kind for e in manifest.artifacts}
    assert by_account[("kms", world.slow)] == "evidence"
    assert by_account[("kms", world.no_reader)] == "gap"
    report = verify(world.store.backend, trusted_keys=[world.public_key()])
    assert report.ok, [p.render() for p in report.problems]

"""The evidence run's tasks on a local store: a re-run batch never stores a unit twice, and the
seal turns a failed batch's unread units into gaps naming the cause, or refuses to seal past
the tolerated failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from evstore_helpers import artifact

from charter.evidence.manifest import Scope
from charter.evidence.orgscale import (
    RunIncompleteError,
    attempts_prefix,
    batch_record_path,
    collect_batch,
    items_path,
    seal,
)
from charter.evidence.signing import LocalSigner
from charter.evidence.store import EvidenceStore, LocalBackend
from charter.evidence.verify import verify
from charter.landing_zone.config import load_config

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"
A, B, C = "111111111111", "222222222222", "333333333333"


def _item(run_id: str, batch: str, accounts: list[str]) -> dict[str, Any]:
    return {"run_id": run_id, "batch": batch, "regions": ["us-east-1"], "collectors": ["iam", "s3"],
            "management_account_id": "999999999999",
            "accounts": [{"id": a, "name": a, "environment": None, "email": None, "status": "ACTIVE"} for a in accounts]}


class Collect:
    """`collect_all`'s contract for the test: yields each (collector, account) unit not in
    `skip`, and fails after `fail_after` units when asked to (a Lambda dying mid-batch)."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.fail_after = fail_after
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, sessions, cfg, accounts, *, regions, collectors, max_workers, skip, sources):
        done = 0
        for acct in accounts:
            for collector in collectors:
                unit = (collector, acct.id, regions[0])
                if unit in skip:
                    continue
                if self.fail_after is not None and done == self.fail_after:
                    raise TimeoutError("killed")
                self.asked.append(unit)
                done += 1
                yield artifact(collector, acct.id, regions[0])


@pytest.fixture()
def store(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(LocalBackend(tmp_path / "store"))


def _open(store: EvidenceStore, items: list[dict[str, Any]]) -> str:
    run = store.open_run(Scope(organization="acme"), resume=False)
    for item in items:
        item["run_id"] = run.run_id
    store.backend.put(items_path(run.run_id), json.dumps(items).encode())
    return run.run_id


def test_a_rerun_batch_stores_only_what_its_first_attempt_did_not(store: EvidenceStore) -> None:
    cfg = load_config(CONFIG)
    item = _item("", "b00000", [A, B])
    run_id = _open(store, [item])
    with pytest.raises(TimeoutError):
        collect_batch(store, None, cfg, item, collect=Collect(fail_after=3))
    again = Collect()
    answer = collect_batch(store, None, cfg, item, collect=again)
    assert again.asked == [("s3", B, "us-east-1")] and answer["stored"] == 1 and answer["skipped"] == 3
    assert len(store.backend.list(attempts_prefix(run_id, "b00000"))) == 2
    third = Collect()
    assert collect_batch(store, None, cfg, item, collect=third)["already"] is True and third.asked == []
    stored = store.backend.list(f"runs/{run_id}/artifacts/")
    assert len(stored) == 4 and not any(".2.json" in p for p in stored)
    record = json.loads(store.backend.get(batch_record_path(run_id, "b00000")))
    assert len(record["entries"]) == 1  # this attempt's; the first attempt's are hashed at sealing


def test_the_seal_names_a_failed_batch_and_refuses_past_the_tolerance(store: EvidenceStore, tmp_path: Path) -> None:
    cfg = load_config(CONFIG)
    items = [_item("", "b00000", [A]), _item("", "b00001", [B]), _item("", "b00002", [C])]
    run_id = _open(store, items)
    collect_batch(store, None, cfg, items[0], collect=Collect())
    collect_batch(store, None, cfg, items[2], collect=Collect())
    signer = LocalSigner.for_directory(tmp_path / "key")
    why = {"b00001": "Sandbox.Timedout: Task timed out after 900.00 seconds"}
    with pytest.raises(RunIncompleteError) as refused:
        seal(store, cfg, signer, run_id=run_id, tolerated_failure_percent=20, failures=why)
    assert "b00001 (Sandbox.Timedout" in refused.value.message and store.manifests() == []

    sealed = seal(store, cfg, signer, run_id=run_id, tolerated_failure_percent=34, failures=why)
    assert sealed["failed_batches"] == ["b00001"] and sealed["gaps"] == 2
    manifest = store.manifests()[0]
    gaps = [json.loads(store.backend.get(e.path)) for e in manifest.artifacts if e.kind == "gap"]
    assert {(g["collector"], g["account_id"]) for g in gaps} == {("iam", B), ("s3", B)}
    assert all("b00001" in g["error"] and "Task timed out" in g["error"] for g in gaps)
    assert verify(store.backend).ok
    # a retried Seal after the manifest was written seals nothing again
    assert seal(store, cfg, signer, run_id=run_id, tolerated_failure_percent=34, failures=why)["already"] is True
    assert len(store.manifests()) == 1

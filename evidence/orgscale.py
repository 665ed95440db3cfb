"""Continuous evidence at organization scale: the Lambda tasks of the evidence state machine.

One scheduled Lambda (`continuous.handler`) reads the whole organization in one 15-minute
invocation: enough for a few dozen accounts. At hundreds or thousands, the evidence stack's
state machine (`landing_zone/builders/evidence_statemachine.py`) splits a run into
account batches and runs them on a Step Functions Distributed Map:

    Plan ──► Collect (Distributed Map over account batches: CollectBatch per item) ──► Seal

- `step` (function `<org>-evidence-run`), `{"step": "plan"}`: opens the run (one per
  execution, so a retried Plan reuses it), lists the organization's accounts and writes the
  batches as a JSON array to `orchestration/<run_id>/items.json` in the evidence bucket: the
  Map's ItemReader reads it there (the state's payload limit, 256 KiB, would not hold 5,000
  accounts inline).
- `collect_batch` (function `<org>-evidence-batch`): the same collectors (`fanout.collect_all`)
  for one batch, each artifact written into the run's store prefix. Idempotent per (run,
  collector, account, region): a re-run item (Lambda retry, Map redrive) first lists what an
  earlier attempt of the batch stored and collects only the rest, so no unit is stored twice.
  A finished batch writes `orchestration/<run_id>/batches/<batch>.json` (the manifest
  entries of its artifacts, so sealing need not read 500,000 artifacts back).
- `step`, `{"step": "seal"}`: asks Step Functions why each failed item failed (the Map Run's
  FAILED/TIMED_OUT/ABORTED child executions: their input names the batch, DescribeExecution
  the error and cause, such as Lambda's "Task timed out"); every planned unit of a batch that
  did not finish becomes a gap artifact naming that cause; the run is sealed (manifest,
  chain, KMS signature).
  If more batches failed than `tolerated_failure_percent` allows, nothing is sealed (the
  run stays open and the execution fails, to be redriven once the fault is cleared).

The `orchestration/` objects are outside `runs/`: bookkeeping of the executions, not
evidence; the bucket's Object Lock keeps them as it keeps everything.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any

from charter import __version__ as CHARTER_VERSION
from charter.evidence.artifact import Artifact, utcnow
from charter.evidence.errors import EvidenceError
from charter.evidence.manifest import Entry, Scope, canonical
from charter.evidence.store import EvidenceStore, MissingObject, Run, run_prefix

log = logging.getLogger("charter.evidence")

ORCHESTRATION = "orchestration/"
#: Accounts per Map item. An account-region reads about 29 APIs; at 17 regions and 10
#: accounts an item makes ~5,000 calls, a few minutes with 16 threads: far inside Lambda's
#: 15 minutes, and few enough items (500 at 5,000 accounts) to keep transitions cheap.
DEFAULT_BATCH_ACCOUNTS = 10
DEFAULT_TOLERATED_FAILURE_PERCENT = 10.0
#: Stop storing when less than this (or 15% of a shorter timeout) is left of a batch's
#: invocation: the batch then fails cleanly (BatchOutOfTime) instead of being killed
#: mid-write, and a redrive resumes it.
BATCH_SAFETY_SECONDS = 60


class RunIncompleteError(EvidenceError):
    """More batches failed than the tolerated percentage: the run is not sealed."""

    code = "CHARTER-481"
    fix = "Clear the cause named for each failed batch, then redrive the execution (aws stepfunctions redrive-execution)."


class BatchOutOfTimeError(EvidenceError):
    """A batch ran out of its Lambda time before every unit was read."""

    code = "CHARTER-482"
    fix = "Redrive the execution (the batch resumes where it stopped), or lower batch_accounts in org.yaml."


# -- paths --------------------------------------------------------------------------------

def items_path(run_id: str) -> str:
    return f"{ORCHESTRATION}{run_id}/items.json"


def batch_record_path(run_id: str, batch: str) -> str:
    return f"{ORCHESTRATION}{run_id}/batches/{batch}.json"


def attempts_prefix(run_id: str, batch: str) -> str:
    return f"{ORCHESTRATION}{run_id}/attempts/{batch}/"


def execution_path(execution: str) -> str:
    return f"{ORCHESTRATION}executions/{execution}.json"


# -- the run ------------------------------------------------------------------------------

def load_run(store: EvidenceStore, run_id: str) -> Run:
    """An open run by id (its scope and start from run.json)."""
    try:
        info = json.loads(store.backend.get(run_prefix(run_id) + "run.json"))
    except MissingObject:
        raise EvidenceError(f"{store.backend.url}: run {run_id} does not exist",
                            hint="start a new execution; the items of an execution name the run its Plan opened") from None
    return Run(run_id, Scope.model_validate(info["scope"]), info["started_at"])


def plan(store: EvidenceStore, sessions: Any, cfg: Any, *, execution: str, accounts: list[str] | None = None,
         regions: list[str] | None = None, collectors: list[str] | None = None,
         batch_accounts: int = DEFAULT_BATCH_ACCOUNTS) -> dict[str, Any]:
    """Open the execution's run and write its batches for the Map's ItemReader."""
    from charter.evidence.fanout import AccountRef, _match, discover_accounts

    existing = _get_json(store, execution_path(execution))
    if existing is not None:  # a retried Plan: the same run and items
        return existing
    if accounts:
        refs = []
        for account_id in accounts:
            name, env = _match(cfg, account_id, account_id, None)
            refs.append(AccountRef(account_id, name, env))
    else:
        refs = [a for a in discover_accounts(sessions, cfg) if a.status == "ACTIVE"]
    try:
        mgmt = sessions.client("organizations").describe_organization()["Organization"]["MasterAccountId"]
    except Exception:  # noqa: BLE001 - org.yaml's id is the fallback, as in collect_all
        mgmt = cfg.organization.management_account_id
    scope = Scope(organization=cfg.organization.name, accounts=sorted(accounts) if accounts else None,
                  regions=sorted(regions) if regions else None, collectors=sorted(collectors) if collectors else None)
    run = store.open_run(scope, resume=False)
    size = max(1, int(batch_accounts))
    refs = sorted(refs, key=lambda a: a.id)
    items = [{"run_id": run.run_id, "batch": f"b{n // size:05d}", "accounts": [asdict(a) for a in refs[n:n + size]],
              "regions": regions, "collectors": collectors, "management_account_id": mgmt}
             for n in range(0, len(refs), size)]
    store.backend.put(items_path(run.run_id), canonical(items))
    bucket, key = _location(store, items_path(run.run_id))
    answer = {"run_id": run.run_id, "batches": len(items), "accounts": len(refs), "items": {"Bucket": bucket, "Key": key}}
    store.backend.put(execution_path(execution), canonical(answer))
    return answer


def _location(store: EvidenceStore, path: str) -> tuple[str, str]:
    bucket = getattr(store.backend, "bucket", "")
    prefix = getattr(store.backend, "prefix", "")
    return bucket, prefix + path


def _get_json(store: EvidenceStore, path: str) -> Any:
    try:
        return json.loads(store.backend.get(path))
    except MissingObject:
        return None


def _refs(item: dict[str, Any]) -> list[Any]:
    from charter.evidence.fanout import AccountRef

    return [AccountRef(**a) for a in item["accounts"]]


def _unit_key(collector: str, account: str, region: str) -> tuple[str, str, str]:
    from charter.evidence.store import _part

    return _part(collector), _part(account), _part(region)


def _stored_units(store: EvidenceStore, run: Run, item: dict[str, Any]) -> dict[str, Entry | None]:
    """Artifact paths an earlier attempt of this batch stored (evidence and gaps)."""
    ids = {a["id"] for a in item["accounts"]}
    out: dict[str, Entry | None] = {}
    for path in store.backend.list(run.prefix + "artifacts/"):
        parts = path[len(run.prefix + "artifacts/"):].split("/")
        if len(parts) == 3 and parts[1] in ids and not parts[2].startswith("."):
            out[path] = None
    return out


def collect_batch(store: EvidenceStore, sessions: Any, cfg: Any, item: dict[str, Any], *,
                  deadline: float | None = None, max_workers: int = 16, sources: dict[str, Any] | None = None,
                  collect: Any = None) -> dict[str, Any]:
    """Read one batch of accounts into the run; see the module docstring."""
    from charter.evidence.continuous import _sources, collect_all_fn

    run_id, batch = item["run_id"], item["batch"]
    done = _get_json(store, batch_record_path(run_id, batch))
    if done is not None:  # this batch finished in an earlier attempt
        return {"batch": batch, "stored": 0, "skipped": len(done["entries"]), "gaps": 0, "already": True}
    run = load_run(store, run_id)
    earlier = bool(store.backend.list(attempts_prefix(run_id, batch)))
    store.backend.put(attempts_prefix(run_id, batch) + f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.json",
                      canonical({"started_at": utcnow().isoformat()}))
    skip: set[tuple[str, str, str]] = set()
    if earlier:  # a retry or a redrive: what was stored stays, and is not read again
        for path in _stored_units(store, run, item):
            collector, account, file = path[len(run.prefix + "artifacts/"):].split("/")
            skip.add((collector, account, file.split(".")[0]))
    collect = collect or collect_all_fn()
    collectors = item.get("collectors")
    stream = collect(sessions, cfg, _refs(item), regions=item.get("regions"), collectors=collectors,
                     max_workers=max_workers, skip=frozenset(skip),
                     sources={**(sources or {}), **_sources(store, collectors)})
    stored = gaps = 0
    try:
        for artifact in stream:
            if _unit_key(artifact.collector, artifact.account_id, artifact.region) in skip:
                continue
            store.add(run, artifact)
            stored += 1
            gaps += artifact.kind == "gap"
            if deadline is not None and time.monotonic() > deadline:
                raise BatchOutOfTimeError(f"batch {batch} of run {run_id}: out of time after {stored} artifacts")
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    entries = sorted(run.written.values(), key=lambda e: e.path)
    store.backend.put(batch_record_path(run_id, batch),
                      canonical({"batch": batch, "entries": [e.model_dump(mode="json") for e in entries]}))
    return {"batch": batch, "stored": stored, "skipped": len(skip), "gaps": gaps}


def _cause(record: dict[str, Any]) -> str:
    """A failure's cause in a line: Lambda's errorMessage when the cause is its JSON payload."""
    cause = record.get("cause", "")
    try:
        payload = json.loads(cause)
        if isinstance(payload, dict) and payload.get("errorMessage"):
            cause = str(payload["errorMessage"])
    except ValueError:
        pass
    return f"{record.get('error') or 'error'}: {cause}".strip().rstrip(":")


def failed_items(sfn: Any, execution_arn: str) -> dict[str, str]:
    """Batch -> why its item failed, from the execution's Map Runs (Step Functions' own record:
    a Lambda killed at its timeout cannot say so itself)."""
    from charter.aws import paginate

    out: dict[str, str] = {}
    for run in paginate(sfn, "list_map_runs", "mapRuns", executionArn=execution_arn).items:
        for status in ("FAILED", "TIMED_OUT", "ABORTED"):
            for child in paginate(sfn, "list_executions", "executions", mapRunArn=run["mapRunArn"],
                                  statusFilter=status).items:
                described = sfn.describe_execution(executionArn=child["executionArn"])
                try:
                    batch = json.loads(described.get("input") or "{}").get("batch")
                except ValueError:
                    batch = None
                if batch:
                    out[batch] = _cause({"error": described.get("error") or status, "cause": described.get("cause", "")})
    return out


def seal(store: EvidenceStore, cfg: Any, signer: Any, *, run_id: str, tolerated_failure_percent: float,
         failures: dict[str, str] | None = None, caller_arn: str = "") -> dict[str, Any]:
    """Gaps for what failed batches did not store, then the run's manifest (see the module docstring)."""
    from charter.evidence.collectors.base import criteria_for
    from charter.evidence.fanout import FanOut

    sealed = _get_json(store, run_prefix(run_id) + "sealed.json")
    if sealed is not None:  # a retried Seal after the manifest was written
        return {"run_id": run_id, "sealed": True, "sequence": sealed["sequence"],
                "manifest_sha256": sealed["manifest_sha256"], "already": True}
    run = load_run(store, run_id)
    items = _get_json(store, items_path(run_id)) or []
    failures = failures or {}
    finished: dict[str, dict[str, Any]] = {}
    failed_items = []
    for item in items:
        record = _get_json(store, batch_record_path(run_id, item["batch"]))
        if record is None:
            failed_items.append(item)
        else:
            finished[item["batch"]] = record
    percent = 100.0 * len(failed_items) / len(items) if items else 0.0
    if percent > tolerated_failure_percent:
        names = ", ".join(f"{i['batch']} ({failures.get(i['batch'], 'not finished')})"
                          for i in failed_items[:10])
        raise RunIncompleteError(f"run {run_id}: {len(failed_items)} of {len(items)} batches failed ({percent:.1f}% > "
                                 f"{tolerated_failure_percent:g}% tolerated): {names}")
    for record in finished.values():
        for raw in record["entries"]:
            entry = Entry.model_validate(raw)
            run.written[entry.path] = entry
    stored = set()
    for path in store.backend.list(run.prefix + "artifacts/"):
        parts = path[len(run.prefix + "artifacts/"):].split("/")
        if len(parts) == 3:
            stored.add((parts[0], parts[1], parts[2].split(".")[0]))
    started = datetime.fromisoformat(run.started_at)
    gaps = 0
    for item in failed_items:
        why = (f"the state machine's item for batch {item['batch']} failed: {failures[item['batch']]}"
               if item["batch"] in failures else
               f"the state machine's item for batch {item['batch']} did not finish (no failure recorded by Step Functions)")
        fan = FanOut(None, cfg, _refs(item), regions=item.get("regions"), collectors=item.get("collectors"),
                     management_account_id=item.get("management_account_id"), now=started)
        for unit in fan.plan():
            t = unit.target
            if _unit_key(unit.collector.name, t.account_id, t.region) in stored:
                continue  # the failed attempt stored this unit before it failed
            controls = unit.collector.controls
            gap = Artifact(kind="gap", collector=unit.collector.name, controls=controls, criteria=criteria_for(controls),
                           account_id=t.account_id, account_name=t.account_name, region=t.region,
                           # the run's start, not now: a retried Seal writes the same bytes again (a no-op)
                           collected_at=started, caller_arn=caller_arn, charter_version=CHARTER_VERSION,
                           error=f"{t.account_id}/{t.region}: {why}; fix: clear the cause and redrive the "
                                 "execution, or wait for the next scheduled run")
            store.add(run, gap)
            gaps += 1
    manifest = store.seal(run, signer, caller_arn=caller_arn)
    return {"run_id": run_id, "sealed": True, "sequence": manifest.sequence, "artifacts": len(manifest.artifacts),
            "manifest_sha256": manifest.sha256, "failed_batches": [i["batch"] for i in failed_items], "gaps": gaps}


# -- the Lambda entry points ----------------------------------------------------------------

def _environment() -> tuple[Any, Any, EvidenceStore]:
    from charter.aws import SessionFactory
    from charter.evidence.continuous import _load_config
    from charter.evidence.store import S3Backend

    cfg = _load_config()
    sessions = SessionFactory(region=os.environ.get("AWS_REGION") or cfg.organization.home_region)
    store = EvidenceStore(S3Backend(sessions.client("s3"), os.environ["EVIDENCE_BUCKET"],
                                    os.environ.get("EVIDENCE_PREFIX", "")))
    return cfg, sessions, store


def step(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The state machine's Plan and Seal tasks (`event["step"]`)."""
    cfg, sessions, store = _environment()
    kind = event.get("step")
    if kind == "plan":
        given = event.get("input") or {}
        return plan(store, sessions, cfg, execution=str(event["execution"]), accounts=given.get("accounts"),
                    regions=given.get("regions"), collectors=given.get("collectors"),
                    batch_accounts=int(os.environ.get("BATCH_ACCOUNTS", DEFAULT_BATCH_ACCOUNTS)))
    if kind == "seal":
        from charter.evidence.signing import KmsSigner

        signer = KmsSigner(sessions.client("kms"), os.environ["SIGNING_KEY_ID"])
        tolerated = float(os.environ.get("TOLERATED_FAILURE_PERCENT", DEFAULT_TOLERATED_FAILURE_PERCENT))
        failures = failed_items(sessions.client("stepfunctions"), event["execution_arn"]) if event.get("execution_arn") else {}
        result = seal(store, cfg, signer, run_id=event["run_id"], tolerated_failure_percent=tolerated,
                      failures=failures, caller_arn=sessions.caller_arn())
        log.info("evidence run sealed: %s", result)
        return result
    raise EvidenceError(f"unknown step {kind!r}", hint="the state machine sends plan or seal")


def batch_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Map's item: one batch of accounts (`collect_batch`)."""
    from charter.evidence.continuous import _load_sources

    cfg, sessions, store = _environment()
    deadline = None
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        left = remaining() / 1000
        deadline = time.monotonic() + left - min(BATCH_SAFETY_SECONDS, 0.15 * left)
    result = collect_batch(store, sessions, cfg, event, deadline=deadline, sources=_load_sources())
    log.info("evidence batch: %s", result)
    return result

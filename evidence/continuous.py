"""Collection into the store: one function for `charter evidence collect` and the scheduled Lambda.

`collect_to_store` opens (or resumes) a run, streams every artifact `collect_all` yields
into the store as it arrives, and seals the run: manifest, chain link, signature. If it
stops early (Ctrl-C, an exception, the Lambda's time running out) the run stays open and
the next call with the same scope resumes it: artifacts already stored are not collected
again.

`handler` is the Lambda entry point the evidence_store stack schedules (EventBridge,
`baseline.evidence_schedule`). Its environment (set by the stack):

    EVIDENCE_BUCKET    the Object Lock evidence bucket
    EVIDENCE_PREFIX    key prefix inside it (default: none)
    SIGNING_KEY_ID     the asymmetric KMS key (alias or ARN) that signs manifests
    CHARTER_CONFIG     path of the config inside the code package (default: org.json, the
                       validated config `charter deploy` writes)

The code package (an S3 asset `charter deploy` uploads) holds exactly the modules this
handler imports (its import closure: the evidence package and the ground floor's config
model and naming contract, nothing of the landing zone), the third-party packages the Lambda
runtime lacks (pydantic, PyYAML, cryptography), org.yaml and `evidence-sources.json` (the SCP statements
org.yaml expects, computed by deploy) at its root.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charter.errors import CharterError
from charter.evidence.artifact import Artifact
from charter.evidence.errors import CollectError
from charter.evidence.manifest import Manifest, Scope
from charter.evidence.signing import Signer
from charter.evidence.store import EvidenceStore, Run

log = logging.getLogger("charter.evidence")

#: Stop reading new artifacts when less than this is left of a Lambda invocation: the
#: manifest still has to be written and signed, and the next invocation resumes the run.
LAMBDA_SAFETY_SECONDS = 90

CollectFn = Callable[..., Iterator[Artifact]]


@dataclass
class CollectResult:
    run: Run
    manifest: Manifest | None  # None when the run was left open (time ran out / interrupted)
    stored: int = 0
    skipped: int = 0  # already stored by an earlier pass of this run
    gaps: list[Artifact] = field(default_factory=list)

    @property
    def sealed(self) -> bool:
        return self.manifest is not None


def collect_all_fn() -> CollectFn:
    """`evidence.fanout.collect_all`, imported when needed (it loads every collector)."""
    try:
        from charter.evidence.fanout import collect_all
    except ModuleNotFoundError as exc:
        if exc.name not in ("charter.evidence.fanout", "charter.evidence.collectors"):
            raise
        raise CollectError("the evidence collectors are not installed (evidence.fanout is missing)",
                           hint="install Charter with its evidence package, or update to a release that has it") from None
    return collect_all


def _call_collect(collect: CollectFn, sessions: Any, cfg: Any, run: Run, *, accounts: list[str] | None,
                  regions: list[str] | None, collectors: list[str] | None, max_workers: int | None,
                  progress: Callable[..., None] | None, processes: int = 1,
                  sources: dict[str, Any] | None = None, role_name: str | None = None) -> Iterator[Artifact]:
    """Call collect_all with the keywords it accepts: `skip` (triples already stored) lets a
    resumed run avoid even reading them; without it they are read and not stored again."""
    params = inspect.signature(collect).parameters
    kwargs: dict[str, Any] = {"regions": regions, "collectors": collectors}
    if max_workers is not None and "max_workers" in params:
        kwargs["max_workers"] = max_workers
    if sources and "sources" in params:
        kwargs["sources"] = sources
    if role_name is not None and "role_name" in params:  # "": the caller reads its own account
        kwargs["role_name"] = role_name
    if processes != 1 and "processes" in params:
        kwargs["processes"] = processes
    if progress is not None and "progress" in params:
        kwargs["progress"] = progress
    if "skip" in params and run.done:
        kwargs["skip"] = frozenset(run.done)
    return collect(sessions, cfg, accounts, **kwargs)


def _account_id(account: Any) -> str:
    """collect_all takes ids, (id, name) pairs or AccountRefs; a run's scope records the id."""
    if isinstance(account, str):
        return account
    if isinstance(account, tuple | list):
        return str(account[0])
    return str(getattr(account, "id", account))


def _sources(store: EvidenceStore, collectors: list[str] | None) -> dict[str, Any]:
    """What collectors read from the store itself, fetched once before the run."""
    if collectors is not None and "access_review" not in collectors:
        return {}
    from charter.evidence.access_review.ledger import read_campaigns

    try:
        return {"access_review": read_campaigns(store)}
    except CharterError as exc:  # e.g. S3 refused: the access_review unit becomes a gap naming it
        return {"access_review": {"store": store.backend.url, "error": exc.message}}


def collect_to_store(store: EvidenceStore, sessions: Any, cfg: Any, signer: Signer, *,
                     accounts: list[Any] | None = None, regions: list[str] | None = None,
                     collectors: list[str] | None = None, resume: bool = True, max_workers: int | None = None,
                     processes: int = 1, progress: Callable[..., None] | None = None, on_artifact: Callable[[Artifact, bool], None] | None = None,
                     deadline: float | None = None, caller_arn: str = "",
                     collect: CollectFn | None = None, sources: dict[str, Any] | None = None,
                     role_name: str | None = None) -> CollectResult:
    """Collect into a (new or resumed) run and seal it. `deadline` is a `time.monotonic()`
    value after which no further artifact is read and the run is left open. `sources`: what
    the collectors compare with that is not in the accounts (by collector name: the SCP
    statements org.yaml expects, from the landing zone); the store adds the access reviews."""
    collect = collect or collect_all_fn()
    scope = Scope(organization=cfg.organization.name, accounts=sorted(_account_id(a) for a in accounts) if accounts else None,
                  regions=sorted(regions) if regions else None, collectors=sorted(collectors) if collectors else None)
    run = store.open_run(scope, resume=resume)
    result = CollectResult(run=run, manifest=None)
    stream = _call_collect(collect, sessions, cfg, run, accounts=accounts, regions=regions, collectors=collectors,
                           max_workers=max_workers, progress=progress, processes=processes,
                           sources={**(sources or {}), **_sources(store, collectors)}, role_name=role_name)
    try:
        for artifact in stream:
            path = store.add(run, artifact)
            if path is None:
                result.skipped += 1
            else:
                result.stored += 1
                if artifact.kind == "gap":
                    result.gaps.append(artifact)
            if on_artifact:
                on_artifact(artifact, path is not None)
            if deadline is not None and time.monotonic() > deadline:
                log.warning("time is running out: run %s left open after %d artifacts; the next invocation "
                            "resumes it", run.run_id, result.stored)
                return result
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    if not run.written and not run.done and not store.backend.list(run.prefix + "artifacts/"):
        from charter.evidence.errors import EmptyOrganizationError

        raise EmptyOrganizationError(
            f"nothing was collected for {cfg.organization.name}: no account or region yielded evidence "
            f"(run {run.run_id} left open)",
            hint="check that the organization is deployed and --accounts/--regions match it")
    result.manifest = store.seal(run, signer, caller_arn=caller_arn)
    return result


# -- the Lambda -----------------------------------------------------------------------------

#: Beside org.yaml in the code package: what the collectors compare with that the landing
#: zone decides (the expected SCP statements), written by deploy.
SOURCES_FILE = "evidence-sources.json"


def _config_path() -> Path:
    path = Path(os.environ.get("CHARTER_CONFIG", "org.json"))
    if not path.is_absolute():
        path = Path(os.environ.get("LAMBDA_TASK_ROOT", ".")) / path
    return path


def _load_config() -> Any:
    """The deployed config: JSON that `charter deploy` validated and wrote into the package,
    read with the model alone (the loader's cross-checks need the landing zone's guardrails,
    which the package does not hold)."""
    from charter.config.model import OrgConfig

    path = _config_path()
    try:
        return OrgConfig.model_validate_json(path.read_text())
    except (OSError, ValueError) as exc:
        raise CollectError(f"{path}: not the config charter deploy writes ({type(exc).__name__}: {exc})"[:500],
                           hint="redeploy the evidence store (`charter deploy`) so the package holds org.json") from None


def _load_sources() -> dict[str, Any]:
    import json

    path = _config_path().with_name(SOURCES_FILE)
    return json.loads(path.read_text()) if path.is_file() else {}


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    """Scheduled collection for the whole organization into the S3 store.

    Returns a summary; raises (so Lambda retries and, after that, the DLQ receives the
    event) only when collection could not run at all. Account/region failures are gaps.
    """
    from charter.aws import SessionFactory
    from charter.evidence.signing import KmsSigner
    from charter.evidence.store import S3Backend

    event = event or {}
    cfg = _load_config()
    region = os.environ.get("AWS_REGION") or cfg.organization.home_region
    sessions = SessionFactory(region=region)
    bucket = os.environ["EVIDENCE_BUCKET"]
    store = EvidenceStore(S3Backend(sessions.client("s3"), bucket, os.environ.get("EVIDENCE_PREFIX", "")))
    signer = KmsSigner(sessions.client("kms"), os.environ["SIGNING_KEY_ID"])
    deadline = None
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        deadline = time.monotonic() + remaining() / 1000 - LAMBDA_SAFETY_SECONDS
    result = collect_to_store(store, sessions, cfg, signer, accounts=event.get("accounts"),
                              regions=event.get("regions"), collectors=event.get("collectors"),
                              deadline=deadline, caller_arn=sessions.caller_arn(), sources=_load_sources())
    summary = {"run_id": result.run.run_id, "sealed": result.sealed, "stored": result.stored,
               "skipped": result.skipped, "gaps": len(result.gaps), "store": store.backend.url}
    if result.manifest is not None:
        summary |= {"sequence": result.manifest.sequence, "artifacts": len(result.manifest.artifacts),
                    "manifest_sha256": result.manifest.sha256}
    log.info("evidence collection: %s", summary)
    return summary


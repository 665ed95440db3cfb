"""The compliance dashboard's view of an evidence store: criterion -> control -> evidence.

What the console's compliance face shows, computed from the signed manifests and the
control catalog (never written by hand), in the shapes its JSON API serves:

- `summarize(store)`: the 61 criteria, each control's status from its latest evidence
  (passing, failing, gap, attestation due, inherited), coverage per criteria group, the
  trend over every sealed run, the store's verification state and the access-review
  campaigns per quarter and reviewer;
- `artifact_detail(store, path)`: one artifact for the drill-down, re-hashed against the
  manifest that sealed it, with every population item's result and reason.

A control's status comes from the newest run that holds evidence for it (collection
runs and access-review runs are sealed separately, so "the latest run" differs per
control). Failures are attributed per control: an artifact that serves several controls
and has failures is read to see which control's items failed (artifacts are immutable, so
each is read once per process). The trend point of run N is the status every control had
once runs 1..N were sealed.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from charter.evidence.artifact import Artifact
from charter.evidence.collectors import collectors_for
from charter.evidence.errors import StoreNotFoundError
from charter.evidence.manifest import Entry, Manifest, sha256_hex
from charter.evidence.store import EvidenceStore, MissingObject

Status = Literal["passing", "failing", "gap", "attestation_due", "inherited"]
#: Worst first: a criterion takes the worst status of its controls.
SEVERITY: tuple[Status, ...] = ("failing", "gap", "attestation_due", "passing", "inherited")
#: How long an attestation stays current, by the catalog's frequency; older ones are due again.
ATTESTATION_VALID = {"daily": timedelta(days=2), "continuous": timedelta(days=2), "quarterly": timedelta(days=92),
                     "annual": timedelta(days=366)}
MAX_ITEMS = 2000
MAX_PROBLEMS = 50


class EvidenceRef(BaseModel):
    path: str
    kind: str
    collector: str
    account_id: str
    account_name: str = ""
    region: str
    collected_at: datetime
    passed: int
    failed: int
    not_applicable: int


class ControlState(BaseModel):
    id: str
    title: str
    kind: str
    frequency: str
    owner: str
    criteria: list[str]
    status: Status
    reason: str
    run_id: str | None = None
    sequence: int | None = None
    as_of: datetime | None = None
    passed: int = 0
    failed: int = 0
    gaps: int = 0
    evidence: list[EvidenceRef] = Field(default_factory=list)


class CriterionState(BaseModel):
    id: str
    title: str
    group: str
    category: str
    status: Status
    controls: list[str]


class FamilyCoverage(BaseModel):
    group: str
    criteria: int
    passing: int = 0
    failing: int = 0
    gap: int = 0
    attestation_due: int = 0
    inherited: int = 0


class TrendPoint(BaseModel):
    sequence: int
    run_id: str
    sealed_at: datetime
    passing: int
    failing: int
    gap: int
    attestation_due: int
    inherited: int
    criteria_passing: int


class Problem(BaseModel):
    item: str
    kind: str
    detail: str


class Verification(BaseModel):
    ok: bool
    summary: str
    problem_count: int
    problems: list[Problem]
    warnings: list[str]
    manifests: int
    artifacts: int
    last_run: str | None
    last_sealed_at: datetime | None
    last_sha256: str
    keys: list[str]
    checked_at: datetime


class ReviewerState(BaseModel):
    reviewer: str
    rows: int
    returned: bool
    recorded_at: str | None = None
    revocations: int = 0
    verified: int = 0


class CampaignState(BaseModel):
    quarter: str
    id: str
    status: Literal["open", "closed"]
    started_at: datetime | None = None
    closed_at: datetime | None = None
    reviewers: list[ReviewerState]
    revocations: int = 0
    verified: int = 0
    exceptions: list[str] = Field(default_factory=list)


class RunRef(BaseModel):
    sequence: int
    run_id: str
    sealed_at: datetime
    artifacts: int


class ComplianceSummary(BaseModel):
    store: str
    generated_at: datetime
    latest_run: RunRef | None
    counts: dict[str, int]
    criteria: list[CriterionState]
    controls: dict[str, ControlState]
    families: list[FamilyCoverage]
    trend: list[TrendPoint]
    verification: Verification
    campaigns: list[CampaignState]


class PopulationRow(BaseModel):
    id: str
    control: str
    result: str
    reason: str


class ArtifactDetail(BaseModel):
    path: str
    sequence: int
    run_id: str
    sha256: str
    intact: bool
    kind: str
    collector: str
    controls: list[str]
    criteria: list[str]
    account_id: str
    account_name: str
    region: str
    collected_at: datetime
    caller_arn: str
    error: str | None
    counts: dict[str, int]
    items: list[PopulationRow]
    items_total: int
    calls: list[dict[str, Any]]


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class _Attribution:
    """Per-control (passed, failed) of an entry; multi-control entries with failures are
    read once (keyed by hash: stored artifacts never change)."""

    def __init__(self, store: EvidenceStore) -> None:
        self.store = store
        self.cache: dict[str, dict[str, tuple[int, int]]] = {}

    def __call__(self, entry: Entry, control: str) -> tuple[int, int]:
        if len(entry.controls) == 1 or entry.results.failed == 0:
            if entry.results.failed == 0:
                # passes split across controls are not needed exactly: any pass counts as evidence
                return entry.results.passed, 0
            return entry.results.passed, entry.results.failed
        split = self.cache.get(entry.sha256)
        if split is None:
            counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            try:
                artifact = Artifact.model_validate_json(self.store.backend.get(entry.path))
                for item in artifact.population:
                    if item.result == "pass":
                        counts[item.control][0] += 1
                    elif item.result == "fail":
                        counts[item.control][1] += 1
                split = {c: (v[0], v[1]) for c, v in counts.items()}
            except (MissingObject, ValueError):  # verify reports it; here the entry's totals stand
                split = {c: (entry.results.passed, entry.results.failed) for c in entry.controls}
            self.cache[entry.sha256] = split
        return split.get(control, (0, 0))


def _catalog() -> Any:
    from charter.controls.catalog import default_catalog

    return default_catalog()


def _control_state(control: Any, latest: tuple[Manifest, list[Entry]] | None, attribute: _Attribution,
                   now: datetime) -> ControlState:
    base = dict(id=control.id, title=control.title, kind=control.kind, frequency=control.frequency,
                owner=control.owner, criteria=list(control.criteria))
    if control.kind == "inherited":
        return ControlState(**base, status="inherited",
                            reason=f"inherited from {control.inherited_from or 'the provider'} (its SOC 2 report)")
    if latest is None:
        if control.kind == "attestation":
            return ControlState(**base, status="attestation_due", reason=f"no {control.frequency} attestation "
                                "in the store yet (see its runbook)")
        collectors = [c.name for c in collectors_for(control.id)]
        return ControlState(**base, status="gap", reason="no evidence collected for this control yet"
                            + (f" (collectors: {', '.join(collectors)})" if collectors else ""))
    manifest, entries = latest
    passed = failed = gaps = 0
    for e in entries:
        if e.kind == "gap":
            gaps += 1
            continue
        p, f = attribute(e, control.id)
        passed, failed = passed + p, failed + f
    as_of = max(e.collected_at for e in entries)
    refs = [EvidenceRef(path=e.path, kind=e.kind, collector=e.collector, account_id=e.account_id,
                        account_name=e.account_name, region=e.region, collected_at=e.collected_at,
                        passed=e.results.passed, failed=e.results.failed, not_applicable=e.results.not_applicable)
            for e in sorted(entries, key=lambda e: (-(e.results.failed > 0), e.kind != "gap", e.path))]
    state = ControlState(**base, status="passing", reason="", run_id=manifest.run_id, sequence=manifest.sequence,
                         as_of=as_of, passed=passed, failed=failed, gaps=gaps, evidence=refs)
    if failed:
        state.status, state.reason = "failing", f"{failed} item(s) failed in run {manifest.run_id}"
    elif gaps:
        state.status, state.reason = "gap", f"{gaps} account/region(s) could not be read in run {manifest.run_id}"
    elif control.kind == "attestation" and now - as_of > ATTESTATION_VALID.get(control.frequency, timedelta.max):
        state.status, state.reason = "attestation_due", (f"last attested {as_of:%Y-%m-%d}; "
                                                         f"{control.frequency} attestation due")
    else:
        state.reason = f"{passed} item(s) passed in run {manifest.run_id}"
    return state


def _worst(statuses: list[Status]) -> Status:
    return min(statuses, key=SEVERITY.index) if statuses else "gap"


def _criteria(catalog: Any, controls: dict[str, ControlState]) -> list[CriterionState]:
    from charter.evidence.export import criterion_order

    out = []
    for cid in sorted(catalog.criteria, key=criterion_order):
        crit = catalog.criteria[cid]
        ids = [c.id for c in catalog.for_criterion(cid)]
        out.append(CriterionState(id=cid, title=crit.title, group=crit.group, category=crit.category,
                                  status=_worst([controls[i].status for i in ids]), controls=ids))
    return out


def _families(criteria: list[CriterionState]) -> list[FamilyCoverage]:
    groups: dict[str, FamilyCoverage] = {}
    for c in criteria:
        fam = groups.setdefault(c.group, FamilyCoverage(group=c.group, criteria=0))
        fam.criteria += 1
        setattr(fam, c.status, getattr(fam, c.status) + 1)
    return list(groups.values())


def _verification(store: EvidenceStore) -> Verification:
    from charter.evidence.verify import verify

    report = verify(store.backend)
    return Verification(
        ok=report.ok, summary=report.summary(), problem_count=len(report.problems),
        problems=[Problem(item=p.item, kind=p.kind, detail=p.detail) for p in report.problems[:MAX_PROBLEMS]],
        warnings=list(report.warnings), manifests=report.manifests, artifacts=report.artifacts,
        last_run=report.last.run_id if report.last else None,
        last_sealed_at=report.last.sealed_at if report.last else None, last_sha256=report.last_sha256,
        keys=sorted(report.keys), checked_at=_now())


def _campaigns(store: EvidenceStore) -> list[CampaignState]:
    """Each quarter's campaign from its sealed snapshot (who reviews how many accesses) and,
    once closed, its report (who returned their workbook, revocations verified)."""
    from charter.evidence.access_review.ledger import read_campaigns

    found = read_campaigns(store)
    by_quarter: dict[str, dict[str, Artifact]] = defaultdict(dict)
    for ref in found["read"]:
        try:
            art = Artifact.model_validate_json(store.backend.get(ref["path"]))
        except (MissingObject, ValueError):
            continue
        by_quarter[str(art.raw.get("quarter", ""))]["report" if art.kind == "campaign" else "snapshot"] = art
    out = []
    for c in found["campaigns"]:
        arts = by_quarter.get(c["quarter"], {})
        snapshot, report = arts.get("snapshot"), arts.get("report")
        rows: Counter[str] = Counter()
        for item in snapshot.population if snapshot else []:
            rows[str(item.attributes.get("reviewer", "?"))] += 1
        revs: dict[str, list[bool]] = defaultdict(list)
        recorded: dict[str, str | None] = {}
        raw = report.raw if report else {}
        for r in raw.get("revocations", []):
            revs[str(r.get("reviewer", "?"))].append(bool(r.get("verified")))
        for r in raw.get("reviewers", []):
            recorded[str(r.get("reviewer"))] = r.get("recorded_at")
            rows.setdefault(str(r.get("reviewer")), int(r.get("rows", 0)))
        reviewers = [ReviewerState(reviewer=name, rows=n, returned=bool(recorded.get(name)),
                                   recorded_at=recorded.get(name), revocations=len(revs[name]),
                                   verified=sum(revs[name])) for name, n in sorted(rows.items())]
        out.append(CampaignState(
            quarter=c["quarter"], id=c["id"], status=c["status"],
            started_at=raw.get("started_at") or (snapshot.collected_at if snapshot else None),
            closed_at=c["closed_at"], reviewers=reviewers, revocations=sum(len(v) for v in revs.values()),
            verified=sum(sum(v) for v in revs.values()), exceptions=list(raw.get("exceptions", []))))
    return sorted(out, key=lambda c: c.quarter, reverse=True)


def summarize(store: EvidenceStore, *, now: datetime | None = None, catalog: Any = None,
              attribution: Callable[[Entry, str], tuple[int, int]] | None = None) -> ComplianceSummary:
    """The dashboard's summary of `store` (see the module docstring)."""
    catalog = catalog or _catalog()
    now = now or _now()
    manifests = store.manifests()
    if not manifests and not store.backend.list():
        raise StoreNotFoundError(f"{store.backend.url}: holds no evidence (no manifests, no runs)",
                                 hint="run `charter evidence collect` (or `charter demo`) first, or pass the right --store")
    attribute = attribution or _Attribution(store)
    # control -> (manifest, its entries for the control) of the newest run with evidence for it
    latest: dict[str, tuple[Manifest, list[Entry]]] = {}
    trend: list[TrendPoint] = []
    for m in sorted(manifests, key=lambda m: m.sequence):
        per_control: dict[str, list[Entry]] = defaultdict(list)
        for e in m.artifacts:
            for c in e.controls:
                per_control[c].append(e)
        for c, entries in per_control.items():
            latest[c] = (m, entries)
        states = {c.id: _control_state(c, latest.get(c.id), attribute, m.sealed_at) for c in catalog}
        counts = Counter(s.status for s in states.values())
        crit = _criteria(catalog, states)
        trend.append(TrendPoint(sequence=m.sequence, run_id=m.run_id, sealed_at=m.sealed_at,
                                passing=counts["passing"], failing=counts["failing"], gap=counts["gap"],
                                attestation_due=counts["attestation_due"], inherited=counts["inherited"],
                                criteria_passing=sum(1 for c in crit if c.status in ("passing", "inherited"))))
    controls = {c.id: _control_state(c, latest.get(c.id), attribute, now) for c in catalog}
    criteria = _criteria(catalog, controls)
    counts = Counter(s.status for s in controls.values())
    last = manifests[-1] if manifests else None
    return ComplianceSummary(
        store=store.backend.url, generated_at=now,
        latest_run=RunRef(sequence=last.sequence, run_id=last.run_id, sealed_at=last.sealed_at,
                          artifacts=len(last.artifacts)) if last else None,
        counts={s: counts.get(s, 0) for s in SEVERITY}, criteria=criteria, controls=controls,
        families=_families(criteria), trend=trend, verification=_verification(store), campaigns=_campaigns(store))


def artifact_detail(store: EvidenceStore, path: str) -> ArtifactDetail:
    """One sealed artifact, checked against its manifest's hash. `MissingObject` when no
    sealed manifest lists `path` (only sealed evidence is shown)."""
    for m in reversed(store.manifests()):
        entry = next((e for e in m.artifacts if e.path == path), None)
        if entry is not None:
            break
    else:
        raise MissingObject(path)
    data = store.backend.get(path)
    art = Artifact.model_validate_json(data)
    order = {"fail": 0, "pass": 1, "not_applicable": 2}
    items = sorted(art.population, key=lambda p: (order.get(p.result, 3), p.control, p.id))
    counts = Counter(p.result for p in art.population)
    return ArtifactDetail(
        path=path, sequence=m.sequence, run_id=m.run_id, sha256=entry.sha256, intact=sha256_hex(data) == entry.sha256,
        kind=art.kind, collector=art.collector, controls=art.controls, criteria=art.criteria,
        account_id=art.account_id, account_name=art.account_name, region=art.region, collected_at=art.collected_at,
        caller_arn=art.caller_arn, error=art.error,
        counts={k: counts.get(k, 0) for k in ("pass", "fail", "not_applicable")},
        items=[PopulationRow(id=p.id, control=p.control, result=p.result, reason=p.reason) for p in items[:MAX_ITEMS]],
        items_total=len(items),
        calls=[c.model_dump(mode="json") for c in art.calls])


class SummaryCache:
    """`summarize` once per state of the store: recomputed when its manifests change
    (a new sealed run), so a console that stays open shows new runs without re-verifying
    the whole store on every page load."""

    def __init__(self, store: EvidenceStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._key: tuple[str, ...] | None = None
        self._value: ComplianceSummary | None = None
        self._attribution = _Attribution(store)

    def get(self) -> ComplianceSummary:
        with self._lock:
            key = tuple(self.store.manifest_paths()) + tuple(self.store.backend.list("access-reviews/"))
            if self._value is None or key != self._key:
                self._value = summarize(self.store, attribution=self._attribution)
                self._key = key
            return self._value

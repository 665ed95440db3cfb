"""The campaign's life: start (snapshot + workbooks), record (decisions), status, close.

State lives in one folder per quarter (`.charter/access-reviews/2026Q4/`): the campaign,
its snapshot, the workbooks sent out, the decisions recorded and, once closed, the report.
Every step only adds files, so an interrupted step can be re-run and nothing recorded is
lost. The snapshot and the report also go into the evidence store as artifacts.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import botocore.exceptions

from charter import __version__
from charter.aws import SessionFactory, error_message
from charter.config.model import OrgConfig
from charter.evidence.artifact import Artifact, PopulationItem, utcnow
from charter.naming import EVIDENCE_READER_ROLE, MEMBER_ACCESS_ROLE

from .errors import AccessReviewError, CampaignNotFoundError, CloseRefused, WorkbookRejected
from .model import (
    QUARTER,
    Campaign,
    CampaignReport,
    Decision,
    ReviewerDecisions,
    Revocation,
    Snapshot,
    row_hash,
)
from .revoke import revoke
from .snapshot import take_snapshot
from .workbook import DECISIONS, read_workbook, write_workbook

DEFAULT_STATE_DIR = Path(".charter") / "access-reviews"
CONTROL = "IAM-09"
CRITERIA = ["CC6.2", "CC6.3", "CC1.5"]


def _slug(reviewer: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", reviewer.lower()).strip("-")


@dataclass
class CampaignFolder:
    root: Path

    @classmethod
    def for_quarter(cls, state_dir: Path, quarter: str) -> CampaignFolder:
        if not QUARTER.match(quarter):
            raise AccessReviewError(f"'{quarter}' is not a quarter", hint="write it as YYYYQn, e.g. 2026Q4")
        return cls(Path(state_dir) / quarter)

    campaign = property(lambda self: self.root / "campaign.json")
    snapshot = property(lambda self: self.root / "snapshot.json")
    report = property(lambda self: self.root / "report.json")

    def workbook(self, reviewer: str) -> Path:
        return self.root / "workbooks" / f"{_slug(reviewer)}.xlsx"

    def decisions(self, reviewer: str) -> Path:
        return self.root / "decisions" / f"{_slug(reviewer)}.json"

    def load(self) -> tuple[Campaign, Snapshot]:
        if not self.campaign.exists():
            raise CampaignNotFoundError(f"no campaign for {self.root.name} in {self.root.parent}",
                                        hint=f"start it with `charter access-review start --quarter {self.root.name}`")
        return (Campaign.model_validate_json(self.campaign.read_text()),
                Snapshot.model_validate_json(self.snapshot.read_text()))

    def recorded(self, reviewer: str) -> ReviewerDecisions | None:
        path = self.decisions(reviewer)
        return ReviewerDecisions.model_validate_json(path.read_text()) if path.exists() else None

    def write(self, path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)  # atomic: an interrupted write never leaves half a file


def start(sessions: SessionFactory, cfg: OrgConfig, quarter: str, state_dir: Path = DEFAULT_STATE_DIR, *,
          accounts=None, progress: Callable[[str], None] | None = None) -> tuple[Campaign, Snapshot, list[Path]]:
    folder = CampaignFolder.for_quarter(state_dir, quarter)
    if folder.campaign.exists():
        raise AccessReviewError(f"the {quarter} campaign already exists in {folder.root}",
                                hint="record workbooks with `charter access-review record FILE.xlsx`, "
                                     "or see `charter access-review status`")
    snapshot = take_snapshot(sessions, cfg, accounts, progress=progress)
    snapshot_json = snapshot.model_dump_json(indent=1)
    # a random part: two campaigns over identical snapshots must still not accept each other's workbooks
    campaign = Campaign(id=f"{cfg.organization.name}-{quarter}-{secrets.token_hex(4)}",
                        quarter=quarter, started_at=utcnow(),
                        snapshot_sha256=hashlib.sha256(snapshot_json.encode()).hexdigest())
    folder.write(folder.snapshot, snapshot_json)
    paths = [write_workbook(folder.workbook(reviewer), campaign_id=campaign.id, quarter=quarter, reviewer=reviewer,
                            rows=snapshot.for_reviewer(reviewer)) for reviewer in snapshot.reviewers]
    folder.write(folder.campaign, campaign.model_dump_json(indent=1))  # last: a crash before it leaves no campaign
    return campaign, snapshot, paths


def record(path: Path, state_dir: Path = DEFAULT_STATE_DIR) -> ReviewerDecisions:
    """Import one reviewer's decisions; reject a workbook with edited or missing rows."""
    book = read_workbook(path)
    if not QUARTER.match(book.quarter):
        raise WorkbookRejected(str(path), ["the hidden 'Campaign' sheet is missing or edited (no quarter)"])
    folder = CampaignFolder.for_quarter(state_dir, book.quarter)
    campaign, snapshot = folder.load()
    if campaign.status == "closed":
        raise AccessReviewError(f"the {campaign.quarter} campaign is closed; decisions can no longer change",
                                hint="start the next quarter's campaign")
    if book.campaign_id != campaign.id:
        raise WorkbookRejected(str(path), [f"workbook belongs to campaign '{book.campaign_id}', "
                                           f"the {campaign.quarter} campaign is '{campaign.id}'"])
    if book.reviewer not in snapshot.reviewers:
        raise WorkbookRejected(str(path), [f"reviewer '{book.reviewer}' is not a reviewer of {campaign.id}"])
    expected = {row.row_id: row for row in snapshot.for_reviewer(book.reviewer)}
    problems: list[str] = []
    decisions: list[Decision] = []
    seen: set[str] = set()
    for wrow in book.rows:
        rid = str(wrow.cells.get("row_id") or "")
        where = f"row {wrow.line}" + (f" ({rid})" if rid else "")
        original = expected.get(rid)
        if original is None:
            problems.append(f"{where}: not in {book.reviewer}'s snapshot (added, or its row_id was edited)")
            continue
        if rid in seen:
            problems.append(f"{where}: appears twice")
            continue
        seen.add(rid)
        cells = original.cells()
        edited = [col for col, value in wrow.cells.items() if ("" if value is None else str(value)) != cells[col]]
        if edited or wrow.stored_hash != row_hash(cells):
            problems.append(f"{where}: snapshot cells edited ({', '.join(edited) or 'row_hash'}) — "
                            f"{original.principal} / {original.access}")
            continue
        if wrow.decision not in DECISIONS:
            problems.append(f"{where}: " + (f"decision '{wrow.decision}' is not keep, revoke or modify"
                                            if wrow.decision else "no decision") +
                            f" — {original.principal} / {original.access}")
            continue
        if wrow.decision == "modify" and not wrow.comment:
            problems.append(f"{where}: 'modify' needs a comment saying what to change")
            continue
        decisions.append(Decision(row_id=rid, decision=wrow.decision, comment=wrow.comment))
    for rid in sorted(set(expected) - seen):
        problems.append(f"row_id {rid}: missing from the workbook — {expected[rid].principal} / {expected[rid].access}")
    if problems:
        raise WorkbookRejected(str(path), problems)
    recorded = ReviewerDecisions(reviewer=book.reviewer, recorded_at=utcnow(),
                                 workbook_sha256=hashlib.sha256(path.read_bytes()).hexdigest(), decisions=decisions)
    folder.write(folder.decisions(book.reviewer), recorded.model_dump_json(indent=1))
    return recorded


@dataclass
class ReviewerStatus:
    reviewer: str
    rows: int
    recorded: bool
    counts: dict[str, int]


def status(quarter: str, state_dir: Path = DEFAULT_STATE_DIR) -> tuple[Campaign, list[ReviewerStatus]]:
    folder = CampaignFolder.for_quarter(state_dir, quarter)
    campaign, snapshot = folder.load()
    out = []
    for reviewer in snapshot.reviewers:
        rec = folder.recorded(reviewer)
        counts = Counter(d.decision for d in rec.decisions) if rec else Counter()
        out.append(ReviewerStatus(reviewer, len(snapshot.for_reviewer(reviewer)), rec is not None, dict(counts)))
    return campaign, out


def pending_revocations(quarter: str, state_dir: Path = DEFAULT_STATE_DIR) -> list[Revocation]:
    """The revoke decisions of a campaign whose every reviewer has recorded (the dry-run list)."""
    folder = CampaignFolder.for_quarter(state_dir, quarter)
    campaign, snapshot = folder.load()
    missing = [r for r in snapshot.reviewers if snapshot.for_reviewer(r) and folder.recorded(r) is None]
    if missing:
        raise CloseRefused(f"{len(missing)} reviewer(s) have not returned their workbook: " + ", ".join(missing),
                           hint="record them with `charter access-review record FILE.xlsx` before closing")
    rows = snapshot.by_id()
    out = []
    for reviewer in snapshot.reviewers:
        rec = folder.recorded(reviewer)
        for d in rec.decisions if rec else []:
            if d.decision == "revoke":
                row = rows[d.row_id]
                out.append(Revocation(row_id=d.row_id, account_id=row.account_id, principal=row.principal,
                                      access_type=row.access_type, access=row.access, reviewer=reviewer,
                                      comment=d.comment))
    return out


def close(sessions: SessionFactory, cfg: OrgConfig, quarter: str, state_dir: Path = DEFAULT_STATE_DIR, *,
          apply: bool = False, write_role: str = MEMBER_ACCESS_ROLE, read_role: str = EVIDENCE_READER_ROLE,
          read_sessions: SessionFactory | None = None,
          progress: Callable[[str], None] | None = None) -> CampaignReport:
    """Verify every revoke took effect (carrying them out first with `apply`); write the report.

    Revocations use `sessions` (the caller, assuming `write_role`); the verifying snapshot
    reads through `read_sessions` when given (the evidence operator, whom the read-only
    role trusts).

    Raises CloseRefused, with the campaign left open, when any revocation is not in effect.
    """
    folder = CampaignFolder.for_quarter(state_dir, quarter)
    campaign, snapshot = folder.load()
    if campaign.status == "closed":
        raise AccessReviewError(f"the {quarter} campaign is already closed", hint=f"its report is {folder.report}")
    revocations = pending_revocations(quarter, state_dir)
    rows = snapshot.by_id()
    if apply:
        for rev in revocations:
            if progress:
                progress(f"revoking {rev.principal} {rev.access_type} {rev.access} in {rev.account_id}")
            try:
                revoke(sessions, rows[rev.row_id], role=write_role)
                rev.applied = True
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, ValueError) as exc:
                rev.error = error_message(exc)
    after = take_snapshot(read_sessions or sessions, cfg, snapshot.accounts, read_role=read_role, progress=progress)
    still_there = after.by_id()
    unreadable = {g["account_id"] for g in after.gaps}
    for rev in revocations:
        rev.verified = rev.row_id not in still_there and rev.account_id not in unreadable
    unverified = [r for r in revocations if not r.verified]
    if unverified:
        lines = [f"{r.account_id}: {r.principal} {r.access_type} {r.access}: "
                 + (r.error or ("account unreadable" if r.account_id in unreadable else "still present"))
                 for r in unverified]
        raise CloseRefused(f"{len(unverified)} revocation(s) not in effect, campaign stays open:\n  " + "\n  ".join(lines),
                           hint="run `charter access-review close --apply` to carry them out, or fix the errors shown")
    exceptions = [f"modify requested for {rows[d.row_id].principal} / {rows[d.row_id].access} "
                  f"({reviewer}): {d.comment}"
                  for reviewer in snapshot.reviewers for d in (folder.recorded(reviewer).decisions
                                                                if folder.recorded(reviewer) else [])
                  if d.decision == "modify"]
    exceptions += [f"account {g['account_name']} ({g['account_id']}) could not be read: {g['error']}"
                   for g in snapshot.gaps]
    decisions = Counter(d.decision for r in snapshot.reviewers if folder.recorded(r)
                        for d in folder.recorded(r).decisions)
    report = CampaignReport(
        campaign_id=campaign.id, quarter=quarter, started_at=campaign.started_at, closed_at=utcnow(),
        reviewers=[{"reviewer": r, "rows": len(snapshot.for_reviewer(r)),
                    "recorded_at": folder.recorded(r).recorded_at.isoformat() if folder.recorded(r) else None}
                   for r in snapshot.reviewers],
        decisions=dict(decisions), revocations=revocations, exceptions=exceptions,
        snapshot_sha256=campaign.snapshot_sha256, verification_snapshot_taken_at=after.taken_at,
    )
    folder.write(folder.report, report.model_dump_json(indent=1))
    closed = campaign.model_copy(update={"status": "closed", "closed_at": report.closed_at})
    folder.write(folder.campaign, closed.model_dump_json(indent=1))
    return report


def snapshot_artifact(snapshot: Snapshot, quarter: str, home_region: str) -> Artifact:
    """The campaign's snapshot as evidence: the full population of accesses reviewed."""
    return Artifact(
        kind="evidence", collector="access_review", controls=[CONTROL], criteria=CRITERIA,
        account_id="organization", account_name=f"access review {quarter}", region=home_region,
        collected_at=snapshot.taken_at, caller_arn=snapshot.caller_arn, charter_version=__version__,
        calls=snapshot.calls,
        population=[PopulationItem(id=f"{r.account_id}/{r.principal_type}/{r.principal}/{r.access_type}/{r.access}",
                                   control=CONTROL, result="not_applicable", reason="under review",
                                   attributes={"row_id": r.row_id, "reviewer": r.reviewer, "flags": r.flags})
                    for r in snapshot.rows],
        raw={"quarter": quarter, "excluded": snapshot.excluded, "gaps": snapshot.gaps, "notes": snapshot.notes},
    )


def report_artifact(report: CampaignReport, caller_arn: str, home_region: str) -> Artifact:
    """The closed campaign as evidence: each revocation verified is a passing item."""
    return Artifact(
        kind="campaign", collector="access_review", controls=[CONTROL], criteria=CRITERIA,
        account_id="organization", account_name=f"access review {report.quarter}", region=home_region,
        collected_at=report.closed_at, caller_arn=caller_arn, charter_version=__version__,
        population=[PopulationItem(id=f"{r.account_id}/{r.principal}/{r.access_type}/{r.access}", control=CONTROL,
                                   result="pass" if r.verified else "fail",
                                   reason="revocation verified by re-snapshot" if r.verified else (r.error or "present"),
                                   attributes={"reviewer": r.reviewer, "applied": r.applied})
                    for r in report.revocations],
        raw=json.loads(report.model_dump_json()),
    )

"""Access review (management account): every due quarter has a closed campaign (IAM-09).

The population is the quarters due since the organization's review programme began (the
first campaign's quarter); a quarter without a closed campaign fails. The sources are the
campaign records `charter access-review` keeps (`CHARTER_ACCESS_REVIEW_DIR`, default
`.charter/access-reviews`) and the campaigns sealed into the evidence store, which the
collection reads before the run (`evidence.access_review.ledger`, passed as
`Context.sources["access_review"]`): the scheduled collector in the audit account has only
the latter. The reviews themselves read AWS; this check reads what they concluded.
"""

from __future__ import annotations

import os
from pathlib import Path

from charter.evidence.access_review.coverage import missing_quarters, quarter_of
from charter.evidence.access_review.model import QUARTER, Campaign
from charter.evidence.collectors import register
from charter.evidence.collectors.base import Collector, Context, Recorder, Snapshot, item
from charter.evidence.errors import CampaignSourceError

STATE_DIR_ENV = "CHARTER_ACCESS_REVIEW_DIR"


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV, ".charter/access-reviews"))


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    campaigns: dict[str, dict] = {}
    root = state_dir()
    for path in sorted(root.glob("*/campaign.json")) if root.is_dir() else []:
        if QUARTER.match(path.parent.name):
            c = Campaign.model_validate_json(path.read_text())
            campaigns[c.quarter] = {"quarter": c.quarter, "status": c.status, "id": c.id,
                                    "closed_at": c.closed_at.isoformat() if c.closed_at else None}
    snapshot: Snapshot = {"source": str(root)}
    stored = ctx.sources.get("access_review")
    if stored is not None:
        if stored.get("error"):
            # judging without the store would report closed quarters as missing: a gap instead
            raise CampaignSourceError(f"access-review campaigns in {stored.get('store')}: {stored['error']}")
        snapshot["store"] = {k: stored[k] for k in ("store", "read", "rejected")}
        for c in stored["campaigns"]:
            known = campaigns.get(c["quarter"])
            if known is None or (c["status"] == "closed" and known["status"] != "closed"):
                campaigns[c["quarter"]] = c  # a campaign closed elsewhere counts as closed here
    snapshot["campaigns"] = [campaigns[q] for q in sorted(campaigns)]
    return snapshot


def check_quarters(snap: Snapshot, ctx: Context) -> list:
    campaigns = snap["campaigns"]
    closed = {c["quarter"] for c in campaigns if c["status"] == "closed"}
    if not campaigns:
        return [item("access-review/none", "IAM-09", False,
                     "no access-review campaign has been run; start one with `charter access-review start`")]
    since = min(c["quarter"] for c in campaigns)
    today = ctx.now.date()
    items = [item(f"access-review/{q}", "IAM-09", False, f"{q} has no closed access-review campaign")
             for q in missing_quarters(closed, since=since, today=today)]
    items += [item(f"access-review/{q}", "IAM-09", True, f"{q} campaign closed with revocations verified")
              for q in sorted(closed)]
    current = quarter_of(today)
    if current not in closed and any(c["quarter"] == current for c in campaigns):
        items.append(item(f"access-review/{current}", "IAM-09", "not_applicable",
                          f"{current} campaign in progress (due at quarter end)"))
    return items


COLLECTOR = register(Collector(
    calls=(),
    name="access_review", scope="global", management_only=True, services=(),
    description="Quarterly access-review campaigns closed, none skipped",
    fetch=fetch, checks=(("IAM-09", check_quarters),), landing_zone=("IAM-09",),
))

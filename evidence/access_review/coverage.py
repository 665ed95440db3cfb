"""Which quarters lack a closed campaign: SOC2 wants every quarter reviewed, none skipped.

The quarter in progress is not due yet; every earlier quarter since the first one that
should have been reviewed must have a closed campaign.
"""

from __future__ import annotations

from datetime import date

from .model import QUARTER


def quarter_of(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def _index(quarter: str) -> int:
    match = QUARTER.match(quarter)
    if not match:
        raise ValueError(f"not a quarter: {quarter}")
    return int(match.group(1)) * 4 + int(match.group(2)) - 1


def _name(index: int) -> str:
    return f"{index // 4}Q{index % 4 + 1}"


def missing_quarters(closed: set[str], *, since: str, today: date) -> list[str]:
    """Quarters from `since` up to (not including) today's quarter without a closed campaign."""
    due_until = _index(quarter_of(today))
    return [_name(i) for i in range(_index(since), due_until) if _name(i) not in closed]


def failing_from_state(state_dir, today: date) -> dict[str, str]:
    """IAM-09's failure for the control matrix, from the campaigns kept in `state_dir`:
    a due quarter without a closed campaign, or no campaign at all."""
    from pathlib import Path

    from .model import Campaign

    campaigns = [Campaign.model_validate_json(p.read_text()) for p in sorted(Path(state_dir).glob("*/campaign.json"))
                 if QUARTER.match(p.parent.name)]
    if not campaigns:
        return {"IAM-09": f"no access-review campaign recorded in {state_dir}; "
                          "run `charter access-review start --quarter YYYYQn`"}
    closed = {c.quarter for c in campaigns if c.status == "closed"}
    missing = missing_quarters(closed, since=min(c.quarter for c in campaigns), today=today)
    if missing:
        return {"IAM-09": "no closed access-review campaign for " + ", ".join(missing)}
    return {}

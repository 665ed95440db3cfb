"""Monthly budgets from the estimate: what an account is expected to cost, times a headroom.

The optimizer's cost stack sets each workload account's AWS Budget with this instead of a
fixed figure, so the budget follows the templates and the usage assumptions (an added NAT
gateway or more optimizations a month raise it) and alerts mean "more than we planned".
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from charter.config.model import OrgConfig

from .estimate import estimate
from .prices import PriceBook
from .targets import StackLike

ROUND_TO_USD = 10


def account_estimate(cfg: OrgConfig, account: str, stacks: Iterable[StackLike], prices: PriceBook | None = None
                     ) -> tuple[float, int]:
    """(known monthly USD, unknown line count) of everything the stacks put in `account`."""
    est = estimate(cfg, stacks, prices)
    mine = [x for x in est.lines if x.account == account]
    return sum(x.monthly_usd for x in mine if x.monthly_usd is not None), sum(1 for x in mine if x.monthly_usd is None)


def monthly_budget(cfg: OrgConfig, account: str, stacks: Iterable[StackLike], prices: PriceBook | None = None) -> float:
    """The account's estimate times `cost.budget_headroom`, rounded up to $10 (at least $10)."""
    known, _ = account_estimate(cfg, account, stacks, prices)
    budget = known * cfg.cost.budget_headroom
    return float(max(ROUND_TO_USD, math.ceil(budget / ROUND_TO_USD) * ROUND_TO_USD))

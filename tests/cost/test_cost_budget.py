"""The optimizer's budgets follow the estimate of their account, with the headroom as a setting."""

from __future__ import annotations

import math

import pytest
from costkit import small_with

from charter.cost.budget import account_estimate
from charter.landing_zone.synth import synthesize
from charter.workloads.synth import synthesize_workloads


def _budget(cfg, env: str = "dev") -> tuple[float, float]:
    """(the cost stack's budget, the account's estimate over the same stacks)."""
    lz = synthesize(cfg)
    stacks = synthesize_workloads(cfg, env, landing_zone=lz)
    cost = next(s for s in stacks if s.name == f"optimizer-{env}-cost")
    amount = cost.data["Resources"]["MonthlyBudget"]["Properties"]["Budget"]["BudgetLimit"]["Amount"]
    known, unknown = account_estimate(cfg, env, [*lz, *stacks])
    assert unknown == 0
    return amount, known


def test_the_budget_is_the_accounts_estimate_with_headroom_rounded_up_to_ten_dollars():
    amount, known = _budget(small_with())
    assert amount == math.ceil(known * 1.25 / 10) * 10
    doubled, known2 = _budget(small_with("  budget_headroom: 2.5\n"))
    assert known2 == pytest.approx(known) and doubled == math.ceil(known * 2.5 / 10) * 10


def test_more_usage_raises_the_budget():
    base, known = _budget(small_with())
    busier, known2 = _budget(small_with("  environments:\n    dev: {optimizations_per_month: 5000}\n"))
    assert known2 > known and busier > base


def test_an_explicit_budget_wins():
    cfg = small_with(replace=("        processing_max_instances: 4\n",
                              "        processing_max_instances: 4\n        monthly_budget_usd: 750\n"))
    amount, _ = _budget(cfg)
    assert amount == 750

"""Step Functions: the evidence run's state transitions (Standard workflows bill per transition)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ..engine import Res, rule
from ..lines import Line


def evidence_items(cfg: Any) -> int:
    """Map items of one evidence run: the organization's accounts in batches."""
    return max(1, math.ceil(len(cfg.accounts) / cfg.baseline.evidence_run.batch_accounts))


def evidence_run_invocations(r: Res) -> tuple[float, str, str] | None:
    """Invocations per month of the evidence run's functions (started by the state machine, not
    by a rule or permission of their own); None for another function."""
    from .data import _evidence_runs

    handler = str(r.props.get("Handler", ""))
    if not handler.startswith("charter.evidence.orgscale."):
        return None
    runs, why, setting = _evidence_runs(r)
    per = evidence_items(r.cfg) if handler.endswith(".batch_handler") else 2  # Plan and Seal
    return runs * per, f"{why} x {per} invocation(s) per run (the evidence state machine)", setting


@rule("AWS::StepFunctions::StateMachine")
def state_machine(r: Res) -> Iterator[Line]:
    """The evidence run (EVD-01): Plan, the Map, Seal and the end, plus each Map item's task and
    end (`landing_zone/builders/evidence_statemachine.py`), once per scheduled run. Its Lambda
    time is on the functions' own lines."""
    from .data import _evidence_runs

    if "EVD-01" not in r.p.controls:
        return
    items = evidence_items(r.cfg)
    per_run = 4 + 2 * items
    runs, why, setting = _evidence_runs(r)
    yield r.line("Step Functions", "state transitions (Standard)", "states.transitions", runs * per_run,
                 f"{why} x {per_run} transitions ({items} Map items of "
                 f"{r.cfg.baseline.evidence_run.batch_accounts} accounts)", setting)

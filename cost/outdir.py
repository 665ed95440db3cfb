"""Estimates of an output directory (`out/plan.json` and its templates), and the record of the
estimate at the last deploy, so `charter plan` can show what a change does to the bill."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from .estimate import Estimate

PLAN_FILE = "plan.json"
RECORD = Path(".charter") / "cost-deployed.json"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class StoredStack:
    """A planned stack read back from disk, shaped like a synthesized one."""

    name: str
    data: dict[str, Any]
    spec: Any


def read_stacks(out_dir: str | Path) -> list[StoredStack]:
    """The stacks of `out_dir/plan.json` with their templates ([] when there is no plan)."""
    out = Path(out_dir)
    try:
        plan = json.loads((out / PLAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    stacks = []
    for ps in plan.get("stacks", []):
        try:
            data = yaml.load((out / ps["file"]).read_text(encoding="utf-8"), Loader=_Loader)
        except (OSError, yaml.YAMLError, KeyError):
            continue
        stacks.append(StoredStack(ps["name"], data or {}, SimpleNamespace(deployment=SimpleNamespace(**ps["deployment"]))))
    return stacks


def record(out_dir: str | Path, est: Estimate) -> Path:
    """Write the estimate of what was just deployed (per stack) for the next `charter plan`."""
    path = Path(out_dir) / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"monthly_usd": round(est.total, 2), "unknown_lines": len(est.unknown), "prices_as_of": est.prices_as_of,
           "by_stack": {k: round(v, 2) for k, v in est.by("stack").items()}}
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def recorded(out_dir: str | Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((Path(out_dir) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "by_stack" in doc else None


def delta(est: Estimate, before: dict[str, Any] | None) -> tuple[float | None, list[tuple[str, float]]]:
    """(total change, per-stack changes largest first) against a record; (None, []) without one."""
    if before is None:
        return None, []
    now = est.by("stack")
    old: dict[str, float] = before.get("by_stack", {})
    changes = [(name, now.get(name, 0.0) - old.get(name, 0.0)) for name in sorted(set(now) | set(old))]
    changes = [(n, d) for n, d in changes if abs(d) >= 0.005]
    return est.total - float(before.get("monthly_usd", 0.0)), sorted(changes, key=lambda c: -abs(c[1]))

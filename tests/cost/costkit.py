"""Helpers of the cost tests: synthetic stacks shaped like synthesized ones, configs with settings."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from charter.landing_zone.config import load_config_text
from charter.landing_zone.stacks import Deployment

SMALL = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"
LARGE = Path(__file__).resolve().parents[2] / "examples" / "large" / "org.yaml"


def stack(name: str, resources: dict[str, Any], *, parameters: dict[str, Any] | None = None,
          conditions: dict[str, Any] | None = None, **deployment: Any) -> SimpleNamespace:
    """A stack as the estimate reads it: a name, the template as data and its deployment."""
    data: dict[str, Any] = {"Resources": resources}
    if parameters:
        data["Parameters"] = parameters
    if conditions:
        data["Conditions"] = conditions
    dep = Deployment(**{"kind": "stack", "account": "dev", "regions": ["us-east-1"], **deployment})
    return SimpleNamespace(name=name, data=data, spec=SimpleNamespace(deployment=dep))


def res(type_: str, controls: tuple[str, ...] = ("NET-01",), condition: str | None = None, **props: Any) -> dict:
    out: dict[str, Any] = {"Type": type_, "Properties": props, "Metadata": {"Charter": {"Controls": list(controls)}}}
    if condition:
        out["Condition"] = condition
    return out


def small_with(cost: str = "", replace: tuple[str, str] | None = None):
    """examples/small/org.yaml with its `cost:` section replaced by `cost` (YAML lines indented
    under `cost:`), and optionally one text replacement elsewhere."""
    text = SMALL.read_text()
    if replace:
        assert replace[0] in text, replace[0]
        text = text.replace(*replace)
    head = text.split("\ncost:\n", 1)[0]
    return load_config_text(head + "\ncost:\n" + (cost or "  budget_headroom: 1.25\n"), "org.yaml")

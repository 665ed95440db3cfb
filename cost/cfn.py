"""Just enough of CloudFormation's evaluation to know which resources a stack instance creates.

A StackSet instance's resources depend on its parameters (the network template creates
NAT gateways only when `NatMode` is not `none`) and on its region (`IsHomeRegion`). This
evaluates `Conditions` (`Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Not`, `Condition`) and
resolves `Ref` to parameters and pseudo parameters, `Fn::If` and literal values. What it
cannot know before deploy (`Fn::GetAtt`, `Fn::ImportValue`, other stacks' outputs) is
`UNKNOWN`; a condition that depends on something unknown counts as true, so the estimate
errs toward cost, and the line says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
_ACCOUNT_PARAM = re.compile(r"^([A-Z][A-Za-z0-9]*)AccountId$")


def account_parameter(name: str) -> str | None:
    """`LogArchiveAccountId` -> `log-archive` (Charter's context parameters name accounts)."""
    m = _ACCOUNT_PARAM.match(name)
    if not m:
        return None
    return re.sub(r"(?<!^)([A-Z])", r"-\1", m.group(1)).lower()


@dataclass
class Scope:
    """One stack instance: its parameters, account and region."""

    account: str
    region: str
    parameters: Mapping[str, Any]
    conditions: Mapping[str, Any]
    accounts: frozenset[str] = frozenset()
    _cache: dict[str, bool | None] = field(default_factory=dict)

    def ref(self, name: str) -> Any:
        if name == "AWS::Region":
            return self.region
        if name == "AWS::AccountId":
            return self.account
        if name in ("AWS::Partition",):
            return "aws"
        if name in self.parameters:
            value = self.parameters[name]
            if value is not None:
                return value
        who = account_parameter(name)
        if who is not None:
            # the account's name stands in for its id on both sides of a comparison
            return "management" if who == "management" else (who if who in self.accounts else UNKNOWN)
        return UNKNOWN

    def resolve(self, value: Any) -> Any:
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict) and len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self.ref(arg)
            if fn == "Fn::If":
                truth = self.condition(arg[0])
                if truth is None:
                    return UNKNOWN
                return self.resolve(arg[1] if truth else arg[2])
            if fn.startswith("Fn::") or fn == "Condition":
                return UNKNOWN
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return UNKNOWN

    def condition(self, name: str) -> bool | None:
        """True, False, or None when it depends on a value only known after deploy."""
        if name not in self._cache:
            self._cache[name] = None  # a cycle resolves to unknown rather than recursing forever
            self._cache[name] = self._truth(self.conditions.get(name, UNKNOWN))
        return self._cache[name]

    def _truth(self, expr: Any) -> bool | None:
        if isinstance(expr, bool):
            return expr
        if not isinstance(expr, dict) or len(expr) != 1:
            return None
        (fn, arg), = expr.items()
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::Equals":
            a, b = (self.resolve(x) for x in arg)
            if a is UNKNOWN or b is UNKNOWN:
                return None
            return str(a) == str(b)
        if fn == "Fn::Not":
            inner = self._truth(arg[0])
            return None if inner is None else not inner
        if fn in ("Fn::And", "Fn::Or"):
            values = [self._truth(x) for x in arg]
            want = fn == "Fn::Or"
            if want in values:
                return want
            return None if None in values else not want
        return None

"""Wildcards, ARNs and condition operators as IAM matches them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache

ContextValue = str | Sequence[str]
Context = Mapping[str, ContextValue]


@lru_cache(maxsize=65536)
def _regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = ["^"]
    for ch in pattern:
        parts.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    parts.append("$")
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def like(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """`*` (any run) and `?` (one character) wildcards, the whole value."""
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _regex(pattern, ignore_case).match(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Actions are case-insensitive (`S3:getobject` is `s3:GetObject`)."""
    return like(pattern, action, ignore_case=True)


def arn_matches(pattern: str, arn: str) -> bool:
    """ArnLike and the Resource element: each of the six colon-separated components is
    matched on its own (a wildcard never spans a colon before the resource part)."""
    if pattern == "*":
        return True
    p = pattern.split(":", 5)
    a = arn.split(":", 5)
    if len(p) != 6 or len(a) != 6:
        return like(pattern, arn)
    return all(like(x, y) for x, y in zip(p, a, strict=True))


# -- condition operators ------------------------------------------------------------------

def _values(value: ContextValue) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _num(x: str) -> float | None:
    try:
        return float(x)
    except ValueError:
        return None


def _date(x: str) -> datetime | None:
    try:
        if re.fullmatch(r"\d+", x):
            return datetime.fromtimestamp(int(x))
        return datetime.fromisoformat(x.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def _ip(policy: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(policy, strict=False)
    except ValueError:
        return False


def _cmp(op: str, a: float | datetime | None, b: float | datetime | None) -> bool:
    if a is None or b is None:
        return False
    return {"Equals": a == b, "NotEquals": a != b, "LessThan": a < b, "LessThanEquals": a <= b,  # type: ignore[operator]
            "GreaterThan": a > b, "GreaterThanEquals": a >= b}[op]  # type: ignore[operator]


#: Operators whose single-value test is a negation: with no key in the request they are true.
NEGATED = frozenset({"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals",
                     "ArnNotLike", "NumericNotEquals", "DateNotEquals", "NotIpAddress"})

KNOWN_OPERATORS = frozenset({
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
    "StringNotLike", "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike", "Bool", "BinaryEquals",
    "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan",
    "NumericGreaterThanEquals", "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals",
    "DateGreaterThan", "DateGreaterThanEquals", "IpAddress", "NotIpAddress", "Null",
})


def _positive(base: str, policy_value: str, value: str) -> bool:
    """The operator's positive test for one policy value and one request value (a negated
    operator's positive form: StringNotEquals tests StringEquals and is then inverted)."""
    if base in ("StringEquals", "StringNotEquals", "BinaryEquals"):
        return policy_value == value
    if base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return policy_value.lower() == value.lower()
    if base in ("StringLike", "StringNotLike"):
        return like(policy_value, value)
    if base in ("ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike"):
        return arn_matches(policy_value, value)
    if base == "Bool":
        return policy_value.lower() == value.lower()
    if base.startswith("Numeric"):
        op = base[len("Numeric"):].replace("Not", "") if base == "NumericNotEquals" else base[len("Numeric"):]
        return _cmp(op, _num(value), _num(policy_value))
    if base.startswith("Date"):
        op = "Equals" if base == "DateNotEquals" else base[len("Date"):]
        return _cmp(op, _date(value), _date(policy_value))
    if base in ("IpAddress", "NotIpAddress"):
        return _ip(policy_value, value)
    raise ValueError(f"unknown condition operator {base}")


def substitute(text: str, context: Context) -> str:
    """Policy variables (`${aws:username}`, `${aws:PrincipalTag/team}`) from the request."""
    if "${" not in text:
        return text

    def one(m: re.Match[str]) -> str:
        inner = m.group(1)
        if inner in ("*", "?", "$"):
            return inner
        name, _, default = inner.partition(", ")
        found = lookup(context, name)
        if found is None:
            return default.strip("'") if default else m.group(0)
        return _values(found)[0] if _values(found) else ""

    return re.sub(r"\$\{([^}]+)\}", one, text)


def lookup(context: Context, key: str) -> ContextValue | None:
    """Condition keys are case-insensitive."""
    if key in context:
        return context[key]
    low = key.lower()
    for k, v in context.items():
        if k.lower() == low:
            return v
    return None


def condition_holds(operator: str, key: str, policy_values: Sequence[str], context: Context) -> bool:
    """One operator/key pair of a Condition block."""
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists") and op != "IfExists"
    base = op[: -len("IfExists")] if if_exists else op
    if base not in KNOWN_OPERATORS:
        raise ValueError(f"unknown condition operator {operator}")
    found = lookup(context, key)
    if base == "Null":
        want_absent = any(v.lower() == "true" for v in policy_values)
        return (found is None) == want_absent
    if found is None:
        if if_exists or qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return base in NEGATED
    values = _values(found)
    pvs = [substitute(v, context) for v in policy_values]
    negated = base in NEGATED
    if qualifier == "ForAllValues":
        # every request value must match some policy value (negated: match none)
        return all((not any(_positive(base, pv, v) for pv in pvs)) if negated else
                   any(_positive(base, pv, v) for pv in pvs) for v in values)
    if qualifier == "ForAnyValue" or len(values) != 1:
        if negated:
            return any(not any(_positive(base, pv, v) for pv in pvs) for v in values)
        return any(_positive(base, pv, v) for pv in pvs for v in values)
    v = values[0]
    hit = any(_positive(base, pv, v) for pv in pvs)
    return not hit if negated else hit

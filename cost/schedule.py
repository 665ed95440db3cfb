"""Runs per month of an EventBridge or Synthetics schedule expression (`rate(...)`, `cron(...)`)."""

from __future__ import annotations

import re

DAYS_PER_MONTH = 365.0 / 12
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_FIELD_SIZE = (60, 24, 31, 12, 7, 1)  # minutes, hours, day-of-month, month, day-of-week, year


def runs_per_month(expression: str) -> float | None:
    """None when the expression is not one Charter can read (the line is then marked unknown)."""
    expression = expression.strip()
    m = _RATE.match(expression)
    if m:
        seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2).rstrip("s")]
        return DAYS_PER_MONTH * 86400 / seconds
    if expression.startswith("cron(") and expression.endswith(")"):
        fields = expression[5:-1].split()
        if len(fields) != 6:
            return None
        counts = [_count(f, size) for f, size in zip(fields, _FIELD_SIZE, strict=True)]
        if None in counts:
            return None
        minutes, hours, dom, month, dow, _ = counts
        if fields[2] not in ("*", "?"):
            days = dom * month / 12  # type: ignore[operator]
        elif fields[4] not in ("*", "?"):
            days = dow * DAYS_PER_MONTH / 7 * month / 12  # type: ignore[operator]
        else:
            days = DAYS_PER_MONTH * month / 12  # type: ignore[operator]
        return minutes * hours * days  # type: ignore[operator]
    return None


def _count(field: str, size: int) -> float | None:
    total = 0.0
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, _, s = part.partition("/")
            if not s.isdigit() or int(s) == 0:
                return None
            step = int(s)
        if part in ("*", "?"):
            span = size
        elif step > 1 and part.isdigit():
            span = size - int(part)  # "0/15": from 0 to the end of the range, every 15
        elif "-" in part:
            lo, _, hi = part.partition("-")
            if not (lo.isdigit() and hi.isdigit()):
                span = 1  # named ranges (MON-FRI): close enough for a cost estimate
                span = 5 if (lo, hi) == ("MON", "FRI") else span
            else:
                span = int(hi) - int(lo) + 1
        else:
            span = 1
        total += max(1.0, span / step)
    return total

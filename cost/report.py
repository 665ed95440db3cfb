"""An estimate as JSON, Markdown, CSV or a terminal table.

JSON and CSV carry every line; Markdown and the table carry the totals, the targets, the
top drivers with the setting that changes each, the breakdowns, the cost of one
optimization line by line, the largest lines and every line whose price is unknown.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from .estimate import Estimate
from .lines import COLUMNS, Line
from .prices import compact

LARGEST = 50
BREAKDOWNS = (("environment", "environment"), ("account", "account"), ("stack", "stack"), ("service", "service"),
              ("region", "region"))


def usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    sign = "-" if value < 0 else ""
    if value != 0 and abs(value) < 0.01:
        return f"{sign}${abs(value):.4f}"
    return f"{sign}${abs(value):,.2f}"


def unit_price(line: Line) -> str:
    if line.unit_price is None:
        return "unknown"
    per = "" if line.per == 1 else f"{compact(line.per)} "
    return f"${line.unit_price:g} per {per}{line.unit}"


def quantity(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.4g}"


def summary(est: Estimate) -> dict[str, Any]:
    return {
        "environment": est.environment or "all",
        "prices": {"as_of": est.prices_as_of, "origin": est.prices_origin},
        "monthly_usd": round(est.total, 2),
        "line_count": len(est.lines),
        "unknown_lines": len(est.unknown),
        "checks": [{"target": what, "estimate_usd": round(value, 4), "limit_usd": limit, "holds": holds}
                   for what, value, limit, holds in est.checks()],
        "drivers": [{"service": d.service, "dimension": d.dimension, "monthly_usd": round(d.monthly_usd, 2),
                     "lines": d.lines, "setting": d.setting} for d in est.drivers()],
        **{f"by_{name}": {k: round(v, 2) for k, v in est.by(attr).items()} for name, attr in BREAKDOWNS},
        "by_control": {k: round(v, 2) for k, v in est.by_control().items()},
        "per_optimization": {env: {"usd": round(est.optimization_total(env), 4),
                                   "unknown_lines": est.optimization_unknown(env)} for env in sorted(est.per_optimization)},
    }


def to_json(est: Estimate) -> str:
    doc = summary(est)
    doc["per_optimization_lines"] = {env: [x.row() for x in lines] for env, lines in sorted(est.per_optimization.items())}
    doc["lines"] = [x.row() for x in est.lines]
    return json.dumps(doc, indent=1) + "\n"


def to_csv(est: Estimate) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("scope", *COLUMNS))
    for x in est.lines:
        row = x.row()
        w.writerow(("monthly", *(row[c] for c in COLUMNS)))
    for _, lines in sorted(est.per_optimization.items()):
        for x in lines:
            row = x.row()
            w.writerow(("per-optimization", *(row[c] for c in COLUMNS)))
    return buf.getvalue()


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head),
            *("| " + " | ".join(cell(c) for c in r) + " |" for r in rows), ""]


def to_markdown(est: Estimate, title: str) -> str:
    out = [f"# Cost estimate: {title}", "",
           f"Prices: {est.prices_origin}, as of {est.prices_as_of}. List prices before free tiers, credits and "
           "discounts; each line names the assumption its quantity rests on (`cost:` in org.yaml).", "",
           f"**Monthly total: {usd(est.total)}** over {len(est.lines):,} lines"
           + (f"; **{len(est.unknown)} line(s) have no price in the snapshot** and are not in the total" if est.unknown
              else "; every line is priced") + ".", ""]
    out += ["## Targets", ""]
    out += _md_table(["target", "estimate", "limit", "holds"],
                     [[what, usd(value), usd(limit), "yes" if holds else "**no**"]
                      for what, value, limit, holds in est.checks()])
    out += ["## Top drivers", ""]
    out += _md_table(["#", "service", "what", "monthly", "lines", "changes with"],
                     [[str(i), d.service, d.dimension, usd(d.monthly_usd), str(d.lines), f"`{d.setting}`"]
                      for i, d in enumerate(est.drivers(), 1)])
    for name, attr in BREAKDOWNS:
        out += [f"## By {name}", ""]
        out += _md_table([name, "monthly"], [[k, usd(v)] for k, v in est.by(attr).items()])
    out += ["## By control", "", "A resource serving several controls counts toward each, so these overlap.", ""]
    out += _md_table(["control", "monthly"], [[k, usd(v)] for k, v in list(est.by_control().items())[:25]])
    out += ["## One optimization", ""]
    for env, lines in sorted(est.per_optimization.items()):
        out += [f"### {env}: {usd(est.optimization_total(env))} per optimization", ""]
        out += _md_table(["resource", "dimension", "unit price", "quantity", "assumption", "USD"],
                         [[x.resource, x.dimension, unit_price(x), quantity(x.quantity), x.assumption, usd(x.monthly_usd)]
                          for x in lines])
    if not est.per_optimization:
        out += ["No optimizer workload in this estimate.", ""]
    largest = sorted((x for x in est.lines if x.monthly_usd is not None), key=lambda x: -(x.monthly_usd or 0))[:LARGEST]
    out += [f"## Largest lines ({len(largest)} of {len(est.lines):,}; `--output csv` or `json` has every line)", ""]
    out += _md_table(["account", "region", "stack", "resource", "dimension", "unit price", "quantity", "assumption",
                      "monthly"],
                     [[x.account, x.region, x.stack, x.resource, x.dimension, unit_price(x), quantity(x.quantity),
                       x.assumption, usd(x.monthly_usd)] for x in largest])
    if est.unknown:
        out += ["## Lines without a price", ""]
        out += _md_table(["account", "region", "resource", "dimension", "price key", "quantity", "why"],
                         [[x.account, x.region, x.resource, x.dimension, x.price_key, quantity(x.quantity), x.price_note]
                          for x in est.unknown])
    return "\n".join(out)


def render_table(est: Estimate, console: Any, title: str) -> None:
    """The terminal view (rich)."""
    from rich.table import Table

    console.print(f"[bold]{title}[/]: [bold]{usd(est.total)}[/] a month over {len(est.lines):,} lines "
                  f"(prices as of {est.prices_as_of}, {est.prices_origin})")
    if est.unknown:
        console.print(f"[yellow]{len(est.unknown)} line(s) have no price in the snapshot and are not in the total[/]")
    t = Table(title="targets")
    for col in ("target", "estimate", "limit", "holds"):
        t.add_column(col, justify="right" if col in ("estimate", "limit") else "left")
    for what, value, limit, holds in est.checks():
        t.add_row(what, usd(value), usd(limit), "[green]yes[/]" if holds else "[red]no[/]")
    console.print(t)
    t = Table(title="top drivers")
    for col in ("#", "service", "what", "monthly", "lines", "changes with"):
        t.add_column(col, justify="right" if col in ("#", "monthly", "lines") else "left")
    for i, d in enumerate(est.drivers(), 1):
        t.add_row(str(i), d.service, d.dimension, usd(d.monthly_usd), str(d.lines), d.setting)
    console.print(t)
    t = Table(title="by environment")
    t.add_column("environment")
    t.add_column("monthly", justify="right")
    for k, v in est.by("environment").items():
        t.add_row(k, usd(v))
    console.print(t)
    # one environment line by line (the dearest, or the one asked for); the targets table has the others
    for env in sorted(est.per_optimization, key=lambda e: -est.optimization_total(e))[:1]:
        lines = est.per_optimization[env]
        t = Table(title=f"one optimization in {env}: {usd(est.optimization_total(env))}")
        for col in ("dimension", "unit price", "quantity", "USD"):
            t.add_column(col, justify="left" if col == "dimension" else "right")
        for x in lines:
            t.add_row(x.dimension, unit_price(x), quantity(x.quantity), usd(x.monthly_usd))
        console.print(t)

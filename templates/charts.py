"""Inline SVG charts for the HTML reports (evidence index, control matrix).

Hand-drawn SVG rather than a charting library: the reports must open offline from a zip
with no script or font fetched, and a horizontal stacked bar per row is all they need
(a charting library would ship ~100 KB of JavaScript into every report for that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str


def stacked_bars(title: str, rows: Sequence[tuple[str, dict[str, int]]], series: Sequence[Series], *,
                 width: int = 560, label_width: int = 90, bar_height: int = 16, link_prefix: str = "") -> Markup:
    """One horizontal bar per row, split by `series` in proportion to its counts, with the
    counts written on the right. `rows` are (label, {series key: count}); a row with no
    count draws an empty outline. `link_prefix` makes each label a link to `#<prefix><label>`."""
    gap = 6
    counts_width = 150
    bar_width = max(width - label_width - counts_width, 60)
    height = 22 + len(rows) * (bar_height + gap) + 24
    out = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
           f'width="100%" style="max-width:{width}px" xmlns="http://www.w3.org/2000/svg">',
           f'<title>{escape(title)}</title>',
           f'<text x="0" y="14" font-size="13" font-weight="600">{escape(title)}</text>']
    y = 22
    for label, counts in rows:
        total = sum(counts.get(s.key, 0) for s in series)
        text = f'<text x="0" y="{y + bar_height - 4}" font-size="12">{escape(label)}</text>'
        if link_prefix:
            text = f'<a href="#{escape(link_prefix + label)}">{text}</a>'
        out.append(text)
        out.append(f'<rect x="{label_width}" y="{y}" width="{bar_width}" height="{bar_height}" fill="#fff" '
                   'stroke="#d0d7de"/>')
        x = float(label_width)
        for s in series:
            n = counts.get(s.key, 0)
            if not n or not total:
                continue
            w = bar_width * n / total
            out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_height}" fill="{s.color}">'
                       f'<title>{escape(label)}: {n} {escape(s.label)}</title></rect>')
            x += w
        summary = " · ".join(f"{counts.get(s.key, 0)} {s.label}" for s in series if counts.get(s.key, 0))
        out.append(f'<text x="{label_width + bar_width + 8}" y="{y + bar_height - 4}" font-size="11" '
                   f'fill="#57606a">{escape(summary or "no items")}</text>')
        y += bar_height + gap
    lx = 0
    for s in series:  # the legend sits under the bars, never over them
        out.append(f'<rect x="{lx}" y="{y + 4}" width="10" height="10" fill="{s.color}"/>'
                   f'<text x="{lx + 14}" y="{y + 13}" font-size="11">{escape(s.label)}</text>')
        lx += 24 + 7 * len(s.label)
    out.append("</svg>")
    return Markup("".join(out))

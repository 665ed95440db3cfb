"""Rebuild the price snapshot from the AWS Price List Query API (`pricing:GetProducts`).

Each key of the snapshot carries its query: the service code, exact attribute filters and
a regular expression its `usagetype` must match (usage types carry a region prefix such as
`USW2-` outside us-east-1, hence a search rather than an equality). Keys that share a
service, filters and region are fetched with one paginated query. From the matching
products' on-demand terms the price is the first tier with a non-zero price (tiers that
start free, such as Security Hub's first 10,000 findings, are skipped), converted to the
key's `per` units.

A key the Price List does not answer keeps its previous figure and date, and is listed,
so the refreshed file never holds a price silently older than it claims.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from charter.aws import paginate

from .prices import GLOBAL, PriceEntry, Snapshot

#: The Price List Query API answers in these regions only; us-east-1 is the one Charter uses.
PRICING_REGION = "us-east-1"


@dataclass
class RefreshResult:
    snapshot: Snapshot
    updated: list[tuple[str, str]] = field(default_factory=list)  # (key, region)
    missing: list[tuple[str, str]] = field(default_factory=list)
    ambiguous: list[tuple[str, str, int]] = field(default_factory=list)  # (key, region, distinct prices)
    queries: int = 0


def _filters(entry: PriceEntry, region: str) -> list[dict[str, str]]:
    pairs = dict(entry.query.filters)
    if region != GLOBAL:
        pairs["regionCode"] = region
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in sorted(pairs.items())]


def _products(items: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        out.append(json.loads(item) if isinstance(item, str) else item)
    return out


def _price(product: dict[str, Any]) -> float | None:
    """USD per unit: the lowest tier with a non-zero on-demand price."""
    tiers: list[tuple[float, float]] = []
    for term in (product.get("terms", {}).get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            try:
                value = float(dim.get("pricePerUnit", {}).get("USD", "nan"))
                begin = float(dim.get("beginRange", "0"))
            except ValueError:
                continue
            if value > 0:
                tiers.append((begin, value))
    return min(tiers)[1] if tiers else None


def refresh(snapshot: Snapshot, client: Any, regions: list[str], today: str,
            progress: Callable[[str], None] | None = None) -> RefreshResult:
    """A new snapshot with every key re-read for `regions` (`client`: a `pricing` client)."""
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[str]] = defaultdict(list)
    for key, entry in snapshot.prices.items():
        for region in ([GLOBAL] if entry.query.global_ else regions):
            groups[(entry.query.service, region, tuple(sorted(entry.query.filters.items())))].append(key)
    new = snapshot.model_copy(deep=True)
    result = RefreshResult(snapshot=new)
    for (service, region, _), keys in sorted(groups.items()):
        entry0 = snapshot.prices[keys[0]]
        if progress:
            progress(f"{service} {region}: {len(keys)} price(s)")
        drained = paginate(client, "get_products", "PriceList", ServiceCode=service,
                           Filters=_filters(entry0, region), FormatVersion="aws_v1")
        result.queries += 1
        products = _products(drained.items)
        for key in keys:
            entry = new.prices[key]
            pattern = re.compile(entry.query.usagetype)
            found = sorted({p for p in (_price(x) for x in products
                                        if pattern.search(str(x.get("product", {}).get("attributes", {})
                                                              .get("usagetype", "")))) if p is not None})
            if not found:
                result.missing.append((key, region))
                continue
            if len(found) > 1:
                result.ambiguous.append((key, region, len(found)))
            entry.usd[region] = round(found[0] * entry.per, 10)
            entry.as_of[region] = today
            result.updated.append((key, region))
    new.as_of = today
    for entry in new.prices.values():
        for region in entry.usd:
            entry.as_of.setdefault(region, snapshot.as_of)  # a figure not refreshed keeps its date
    new.source = (f"AWS Price List Query API (pricing:GetProducts in {PRICING_REGION}), on-demand prices for "
                  f"{', '.join(regions)} read on {today}; {len(result.missing)} key-region pair(s) not found kept "
                  f"their earlier figure and date. Previous source: {snapshot.source}")
    return result

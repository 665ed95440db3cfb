"""One line of an estimate: a resource, a price dimension, its unit price, a quantity and the
assumption behind the quantity."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Column order of the CSV and of each JSON line.
COLUMNS = ("account", "environment", "region", "stack", "resource", "type", "service", "controls", "dimension",
           "price_key", "unit_price", "unit", "price_note", "quantity", "assumption", "setting", "monthly_usd")


@dataclass(slots=True)
class Line:
    account: str
    environment: str
    region: str
    stack: str
    resource: str  # logical id
    type: str  # CloudFormation resource type
    service: str
    controls: tuple[str, ...]
    dimension: str  # what is billed, e.g. "NAT gateway hours"
    price_key: str  # key in the price snapshot
    unit_price: float | None  # USD per `per` units; None = the snapshot lacks it
    per: float
    unit: str
    price_note: str
    quantity: float  # units per month (or per optimization)
    assumption: str  # why this quantity: "730 hours (always on)", "cost.usage.nat_gb_per_vpc = 20"
    setting: str  # the org.yaml setting that changes this line most directly
    monthly_usd: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.unit_price is not None and self.monthly_usd is None:
            self.monthly_usd = self.quantity * self.unit_price / self.per

    @property
    def known(self) -> bool:
        return self.monthly_usd is not None

    def row(self) -> dict[str, Any]:
        d = asdict(self)
        d["controls"] = " ".join(self.controls)
        d["unit"] = self.unit if self.per == 1 else f"{self.per:.0f} {self.unit}"
        d.pop("per")
        return {k: d[k] for k in COLUMNS}

"""The price snapshot: list prices by key and region, with their date and source.

`prices.json` beside this module is the snapshot Charter ships (its `source` and `as_of`
say where the figures come from); `charter cost --refresh --prices FILE` writes a new one
from the AWS Price List API in the same format. A key a region lacks is *unknown*: the
estimate shows it as unknown, never as zero.

A region without its own figure for a key may take another region's figure times a
factor, but only where the file states that rule (`derived`), with the reason; each price
carries a note saying which it was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import PricesError

SNAPSHOT = "prices.json"
GLOBAL = "global"


class PriceQuery(BaseModel):
    """How `--refresh` finds this price in the AWS Price List (GetProducts)."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(description="ServiceCode, e.g. AmazonEC2.")
    usagetype: str = Field(description="Regular expression the product's usagetype must match (searched).")
    filters: dict[str, str] = Field(default_factory=dict, description="Exact attribute filters (TERM_MATCH).")
    #: True for prices that do not depend on the region (CloudFront's North America edge).
    global_: bool = Field(default=False, alias="global")


class PriceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str
    unit: str
    per: float = Field(default=1, gt=0, description="The price is for this many units (1,000,000 tokens).")
    query: PriceQuery
    usd: dict[str, float] = Field(description="Region (or `global`) -> USD per `per` units.")
    #: Region -> date, for figures refreshed at another date than the file's `as_of`.
    as_of: dict[str, str] = Field(default_factory=dict)


class Derivation(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from")
    factor: float = Field(gt=0)
    keys: list[str] = Field(description="Key prefixes the rule covers; `*` for all.")
    why: str

    def covers(self, key: str) -> bool:
        return any(p == "*" or key.startswith(p) for p in self.keys)


class Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = 1
    as_of: str
    currency: str = "USD"
    source: str
    #: Region -> rules, the first that covers a key wins.
    derived: dict[str, list[Derivation]] = Field(default_factory=dict)
    prices: dict[str, PriceEntry]


@dataclass(frozen=True, slots=True)
class Price:
    """One figure the estimate uses: `usd` per `per` `unit`s in `region`."""

    key: str
    region: str
    usd: float
    per: float
    unit: str
    as_of: str
    note: str  # "us-east-1 list price", "us-east-1 x 1.00: <why>", ...

    def cost(self, quantity: float) -> float:
        return quantity * self.usd / self.per

    def label(self) -> str:
        per = "" if self.per == 1 else f"{compact(self.per)} "
        return f"${self.usd:g} per {per}{self.unit}"


def compact(n: float) -> str:
    for div, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{int(n // div)}{suffix}"
    return f"{n:g}"


class PriceBook:
    """Look prices up by key and region; remembers every key it could not find."""

    def __init__(self, snapshot: Snapshot, origin: str) -> None:
        self.snapshot = snapshot
        self.origin = origin
        self._cache: dict[tuple[str, str], Price | None] = {}

    @property
    def as_of(self) -> str:
        return self.snapshot.as_of

    def get(self, key: str, region: str) -> Price | None:
        hit = self._cache.get((key, region), self)
        if hit is not self:
            return hit  # type: ignore[return-value]
        price = self._lookup(key, region)
        self._cache[(key, region)] = price
        return price

    def _lookup(self, key: str, region: str) -> Price | None:
        entry = self.snapshot.prices.get(key)
        if entry is None:
            return None
        date = self.snapshot.as_of
        if GLOBAL in entry.usd:
            return Price(key, region, entry.usd[GLOBAL], entry.per, entry.unit, entry.as_of.get(GLOBAL, date),
                         "global list price")
        if region in entry.usd:
            return Price(key, region, entry.usd[region], entry.per, entry.unit, entry.as_of.get(region, date),
                         f"{region} list price")
        for rule in self.snapshot.derived.get(region, []):
            if rule.covers(key) and rule.from_ in entry.usd:
                return Price(key, region, entry.usd[rule.from_] * rule.factor, entry.per, entry.unit,
                             entry.as_of.get(rule.from_, date), f"{rule.from_} x {rule.factor:.2f} ({rule.why})")
        return None


def load(path: str | Path | None = None) -> PriceBook:
    """The snapshot at `path`, or the one shipped with Charter."""
    if path is None:
        text = files("charter.cost").joinpath(SNAPSHOT).read_text(encoding="utf-8")
        origin = f"charter/cost/{SNAPSHOT} (shipped)"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PricesError(f"{path}: cannot read the price snapshot ({exc.strerror or exc})",
                              hint="check the path, or run `charter cost --refresh --prices FILE` to create it") from None
        origin = str(path)
    return PriceBook(parse(text, origin), origin)


def parse(text: str, origin: str = SNAPSHOT) -> Snapshot:
    try:
        data: Any = json.loads(text)
        return Snapshot.model_validate(data)
    except json.JSONDecodeError as exc:
        raise PricesError(f"{origin}:{exc.lineno}:{exc.colno}: not JSON ({exc.msg})",
                          hint="regenerate it with `charter cost --refresh --prices FILE`") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PricesError(f"{origin}: {where}: {first['msg']}",
                          hint="regenerate it with `charter cost --refresh --prices FILE`") from None


def dump(snapshot: Snapshot) -> str:
    return json.dumps(snapshot.model_dump(mode="json", by_alias=True, exclude_defaults=False), indent=1) + "\n"

"""Market data: load prices/returns from CSV or Parquet and clean them *explicitly*.

Cleaning decisions are recorded in ``MarketData.report`` rather than made
silently: duplicate dates, non-trading days, forward-filled gaps, assets that
list late or delist early (survivorship), all-NaN assets dropped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import OptimizerError


@dataclass
class MarketData:
    """Aligned daily simple returns.  NaN marks 'asset not trading' (before listing / after delisting)."""

    dates: np.ndarray  # datetime64[D], strictly increasing
    assets: list[str]
    returns: np.ndarray  # T x n
    report: dict = field(default_factory=dict)

    @property
    def n_assets(self) -> int:
        return len(self.assets)

    def slice(self, start: int, stop: int) -> MarketData:
        return MarketData(self.dates[start:stop], list(self.assets), self.returns[start:stop], dict(self.report))


def _parse_table(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """Return (date strings, column names, float matrix) from CSV or Parquet."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise OptimizerError(
                f"data: {path} is Parquet but pyarrow is not installed; run `pip install pyarrow` or use CSV"
            ) from None
        try:
            table = pq.read_table(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise OptimizerError(f"data: {path} is not a readable Parquet file ({exc}); "
                                 "write it with pandas/pyarrow, or use CSV") from None
        cols = table.column_names
        if not cols:
            raise OptimizerError(f"data: {path} has no columns")
        dates = [str(x)[:10] for x in table.column(cols[0]).to_pylist()]
        try:
            vals = np.column_stack([
                np.array([np.nan if v is None else float(v) for v in table.column(c).to_pylist()]) for c in cols[1:]
            ]) if len(cols) > 1 else np.zeros((len(dates), 0))
        except (TypeError, ValueError) as exc:
            raise OptimizerError(f"data: {path}: a non-numeric value ({exc}); every column after the date "
                                 "must hold numbers") from None
        _finite(path, vals, lambda i: f"row {i + 1}")
        return dates, list(cols[1:]), vals
    if suffix not in (".csv", ".txt"):
        raise OptimizerError(f"data: unsupported file type '{suffix}' for {path}; use .csv or .parquet")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise OptimizerError(f"data: {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    except (OSError, csv.Error) as exc:
        raise OptimizerError(f"data: cannot read {path}: {exc}") from None
    if len(rows) < 2:
        raise OptimizerError(f"data: {path} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    dates, vals = [], []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not x.strip() for x in row):
            continue
        if len(row) != len(header):
            raise OptimizerError(f"data: {path} line {lineno} has {len(row)} fields, header has {len(header)}")
        dates.append(row[0].strip()[:10])
        try:
            vals.append([float(x) if x.strip() not in ("", "NA", "NaN", "nan", "null") else np.nan for x in row[1:]])
        except ValueError as exc:
            raise OptimizerError(f"data: {path} line {lineno}: non-numeric value ({exc})") from None
    matrix = np.array(vals, dtype=float).reshape(len(dates), len(header) - 1)
    _finite(path, matrix, lambda i: f"line {i + 2}")
    return dates, header[1:], matrix


def _finite(path: Path, vals: np.ndarray, where) -> None:
    """inf is not a price or a return (and must not pass as missing, which NaN means)."""
    bad = np.argwhere(np.isinf(vals))
    if bad.size:
        row = int(bad[0][0])
        raise OptimizerError(f"data: {path} {where(row)}: an infinite value; fix or blank it (blank = missing)")


def load_market(
    path: str | Path,
    kind: str = "prices",
    max_ffill: int = 5,
    business_days_only: bool = True,
) -> MarketData:
    """Load a wide table (first column date, one column per asset) of prices or returns.

    * dates are parsed, sorted, de-duplicated (last row wins);
    * with ``business_days_only`` weekend rows are dropped (calendar alignment);
    * price gaps up to ``max_ffill`` days inside an asset's life are forward-filled
      (zero return), longer gaps stay NaN and the asset is excluded from any
      lookback window that contains them;
    * leading/trailing NaN = not yet listed / delisted: kept as NaN so the
      backtest only invests in assets alive at each rebalance (no survivorship bias).
    """
    path = Path(path)
    if not path.exists():
        raise OptimizerError(f"data: file not found: {path}")
    if kind not in ("prices", "returns"):
        raise OptimizerError(f"data: kind must be 'prices' or 'returns', got '{kind}'")
    date_strs, names, vals = _parse_table(path)
    try:
        dates = np.array(date_strs, dtype="datetime64[D]")
    except ValueError as exc:
        raise OptimizerError(f"data: {path}: unparseable date ({exc}); use YYYY-MM-DD") from None
    report: dict = {"source": str(path), "kind": kind, "rows_in": int(len(dates))}
    order = np.argsort(dates, kind="stable")
    dates, vals = dates[order], vals[order]
    keep = np.ones(len(dates), bool)
    keep[:-1] = dates[:-1] != dates[1:]  # last duplicate wins
    report["duplicate_dates_dropped"] = int((~keep).sum())
    dates, vals = dates[keep], vals[keep]
    if business_days_only:
        bd = np.is_busday(dates)
        report["non_business_days_dropped"] = int((~bd).sum())
        dates, vals = dates[bd], vals[bd]
    # drop assets with no data at all
    alive = np.isfinite(vals).any(axis=0)
    report["assets_dropped_no_data"] = [n for n, a in zip(names, alive, strict=True) if not a]
    names = [n for n, a in zip(names, alive, strict=True) if a]
    vals = vals[:, alive]
    if vals.shape[1] == 0 or len(dates) < 3:
        raise OptimizerError(f"data: {path} has no usable asset columns / too few rows after cleaning")
    T, n = vals.shape
    first = np.argmax(np.isfinite(vals), axis=0)
    last = T - 1 - np.argmax(np.isfinite(vals[::-1]), axis=0)
    report["late_listings"] = {names[j]: str(dates[first[j]]) for j in range(n) if first[j] > 0}
    report["delistings"] = {names[j]: str(dates[last[j]]) for j in range(n) if last[j] < T - 1}
    filled = 0
    long_gaps = 0
    if kind == "prices":
        if np.any(vals[np.isfinite(vals)] <= 0):
            raise OptimizerError(f"data: {path} has non-positive prices; pass kind: returns if these are returns")
        for j in range(n):
            col = vals[:, j]
            gap = 0
            for t in range(first[j] + 1, last[j] + 1):
                if np.isnan(col[t]):
                    gap += 1
                    if gap <= max_ffill:
                        col[t] = col[t - 1]
                        filled += 1
                    else:
                        long_gaps += 1
                else:
                    gap = 0
        with np.errstate(invalid="ignore", divide="ignore"):
            rets = vals[1:] / vals[:-1] - 1.0
        dates = dates[1:]
    else:
        rets = vals.copy()
        inside = (np.arange(T)[:, None] > first) & (np.arange(T)[:, None] <= last) & np.isnan(rets)
        filled = int(inside.sum())
        rets[inside] = 0.0  # missing return inside an asset's life: treated as unchanged price
    report["values_forward_filled"] = int(filled)
    report["long_gaps_left_missing"] = int(long_gaps)
    report["rows_out"] = int(len(dates))
    report["assets"] = len(names)
    return MarketData(dates=dates, assets=names, returns=rets, report=report)


def save_returns_csv(md: MarketData, path: str | Path) -> None:
    """Write returns as CSV (used for demos and tests)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["date"] + list(md.assets))
        for d, row in zip(md.dates, md.returns, strict=True):
            w.writerow([str(d)] + ["" if np.isnan(x) else repr(float(x)) for x in row])

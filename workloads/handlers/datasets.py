"""Ingested market data in the market-data bucket, as the handlers read it.

Layout (written by `ingest.py`):
  incoming/<name>.<csv|parquet>    what vendors drop (never modified)
  validated/<dataset>.csv          normalized daily returns (date + one column per asset)
  index/<dataset>.json             the index entry: source, rows, assets, dates, checks, sha256
  index/latest.json                the entry of the newest data set (`dataset: latest`)
  quarantine/<name>.<ext>          a rejected file, unchanged, with <name>.<ext>.reason.json
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from charter.optimizer.data import MarketData, load_market
from charter.optimizer.errors import OptimizerError

from . import aws
from .settings import Settings

INCOMING_PREFIX = "incoming/"
VALIDATED_PREFIX = "validated/"
INDEX_PREFIX = "index/"
QUARANTINE_PREFIX = "quarantine/"
LATEST = "latest"

_cache: OrderedDict[tuple[str, str, str], MarketData] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 4


class DatasetError(OptimizerError):
    """The requested data set does not exist or does not cover the request."""


def index_key(dataset: str) -> str:
    return f"{INDEX_PREFIX}{dataset}.json"


def read_index(settings: Settings, dataset: str) -> dict[str, Any]:
    s3 = aws.client("s3")
    try:
        body = s3.get_object(Bucket=settings.market_data_bucket, Key=index_key(dataset))["Body"].read()
    except s3.exceptions.NoSuchKey:
        hint = "ingest a file under incoming/ first" if dataset == LATEST else "check the name in index/"
        raise DatasetError(f"dataset '{dataset}' not found in s3://{settings.market_data_bucket}/{INDEX_PREFIX}; "
                           f"{hint}") from None
    return json.loads(body)


def load(settings: Settings, dataset: str) -> tuple[MarketData, dict[str, Any]]:
    """The data set's returns (cached per object version: jobs reuse the same file)."""
    entry = read_index(settings, dataset)
    key = (settings.market_data_bucket, entry["key"], entry.get("sha256", ""))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            md = _cache[key]
            return MarketData(md.dates, list(md.assets), md.returns, dict(md.report)), entry
    body = aws.client("s3").get_object(Bucket=settings.market_data_bucket, Key=entry["key"])["Body"].read()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "returns.csv"
        path.write_bytes(body)
        md = load_market(path, kind="returns", business_days_only=False)
    md.report = {**md.report, "source": f"s3://{settings.market_data_bucket}/{entry['key']}",
                 "dataset": entry.get("dataset", dataset)}
    with _cache_lock:
        _cache[key] = md
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return MarketData(md.dates, list(md.assets), md.returns, dict(md.report)), entry


def select(md: MarketData, assets: list[str], start: dt.date | None = None,
           end: dt.date | None = None, dataset: str = "") -> MarketData:
    """Columns `assets` (in that order) between `start` and `end`; a clear error for missing tickers."""
    where = {a: i for i, a in enumerate(md.assets)}
    missing = [a for a in assets if a not in where]
    if missing:
        shown = ", ".join(md.assets[:20]) + (" ..." if len(md.assets) > 20 else "")
        raise DatasetError(f"assets not in dataset '{dataset}': {', '.join(missing)}; available: {shown}")
    cols = [where[a] for a in assets]
    rows = np.ones(len(md.dates), bool)
    if start:
        rows &= md.dates >= np.datetime64(start, "D")
    if end:
        rows &= md.dates <= np.datetime64(end, "D")
    if rows.sum() < 3:
        raise DatasetError(f"dataset '{dataset}' has {int(rows.sum())} days between {start or 'its start'} and "
                           f"{end or 'its end'}; widen the date range")
    return MarketData(md.dates[rows], list(assets), md.returns[rows][:, cols], dict(md.report))

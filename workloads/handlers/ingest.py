"""Market data ingestion: a new object under `incoming/` -> validated, normalized, indexed.

Triggered by S3 "Object Created" (EventBridge, as the compute stack wires it) or by a
classic S3 notification (`Records[]`). For each file:

1. schema: CSV or Parquet (Parquet needs pyarrow), a date column first, at least two
   uniquely named asset columns;
2. content: `optimizer.data.load_market` parses dates and numbers (prices or returns:
   object metadata `kind`, else inferred) and records its cleaning decisions;
3. dates: enough rows, none in the future, no gap longer than `MAX_GAP_BUSINESS_DAYS`;
4. outliers: no return <= -100 %; daily moves beyond `OUTLIER_ABS_RETURN` are listed,
   and more than `MAX_OUTLIER_SHARE` of them rejects the file (mis-scaled data).

A good file becomes `validated/<dataset>.csv` (daily returns) with `index/<dataset>.json`
and `index/latest.json`. A bad file is copied unchanged to `quarantine/` with a
`.reason.json` beside it. The original under `incoming/` is never modified or
deleted, so nothing is lost either way.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import logging
import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import numpy as np

from charter.optimizer.data import MarketData, load_market, save_returns_csv
from charter.optimizer.errors import OptimizerError

from . import aws
from .datasets import (
    INCOMING_PREFIX,
    INDEX_PREFIX,
    LATEST,
    QUARANTINE_PREFIX,
    VALIDATED_PREFIX,
    index_key,
)
from .settings import Settings

log = logging.getLogger("charter.workloads.ingest")

DATE_COLUMNS = {"date", "day", "time", "timestamp", "as_of", "asof"}
TICKER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,11}$")
MIN_ROWS = 20
MAX_GAP_BUSINESS_DAYS = 10
OUTLIER_ABS_RETURN = 0.5
MAX_OUTLIER_SHARE = 0.01
SUFFIXES = {".csv", ".txt", ".parquet", ".pq"}


class Rejected(Exception):
    def __init__(self, check: str, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.check, self.reason, self.details = check, reason, details


def _objects(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(bucket, key) of every object in an EventBridge or S3-notification event."""
    if event.get("detail-type") == "Object Created" or event.get("source") == "aws.s3":
        detail = event.get("detail") or {}
        return [(detail["bucket"]["name"], detail["object"]["key"])]
    out = []
    for record in event.get("Records") or []:
        s3 = record.get("s3") or {}
        if str(record.get("eventName", "")).startswith("ObjectCreated"):
            # Notification keys are URL-encoded (spaces as '+').
            out.append((s3["bucket"]["name"], unquote_plus(s3["object"]["key"])))
    return out


def dataset_name(key: str) -> str:
    rel = key[len(INCOMING_PREFIX):] if key.startswith(INCOMING_PREFIX) else key
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem.replace("/", "-")).strip("-.") or "data"
    return name[:128] if name[0].isalnum() else ("d" + name)[:128]


def _peek(path: Path) -> tuple[list[str], list[float]]:
    """Header and a sample of numeric values (schema check and prices/returns inference)."""
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise Rejected("schema", "Parquet file but pyarrow is not installed here; send CSV") from None
        try:
            table = pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - any pyarrow failure means the file is unreadable
            raise Rejected("schema", f"not a readable Parquet file: {exc}") from None
        header = [str(c) for c in table.column_names]
        sample = []
        for name in header[1:]:
            for v in table.column(name).to_pylist()[:200]:
                if isinstance(v, int | float) and not isinstance(v, bool):
                    sample.append(float(v))
        return header, sample
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            sample = []
            for _, row in zip(range(200), reader, strict=False):
                for cell in row[1:]:
                    try:
                        sample.append(float(cell))
                    except ValueError:
                        pass
    except UnicodeDecodeError:
        raise Rejected("schema", "not a UTF-8 text CSV file") from None
    return header, sample


def _check_schema(header: list[str]) -> None:
    if not header:
        raise Rejected("schema", "empty file: expected a header row `date,<ticker>,<ticker>,...`")
    if header[0].strip().lower() not in DATE_COLUMNS:
        raise Rejected("schema", f"first column is '{header[0]}', expected a date column "
                       f"(one of: {', '.join(sorted(DATE_COLUMNS))})", column=header[0])
    assets = header[1:]
    if len(assets) < 2:
        raise Rejected("schema", f"{len(assets)} asset column(s); need at least 2", columns=header)
    bad = [a for a in assets if not TICKER.match(a)]
    if bad:
        raise Rejected("schema", f"column names are not tickers: {', '.join(bad[:10])}", columns=bad[:50])
    upper = [a.upper() for a in assets]
    dupes = sorted({a for a in upper if upper.count(a) > 1})
    if dupes:
        raise Rejected("schema", f"duplicate asset columns: {', '.join(dupes)}", columns=dupes)


def _kind(metadata: dict[str, str], sample: list[float]) -> str:
    declared = (metadata.get("kind") or "").lower()
    if declared in ("prices", "returns"):
        return declared
    finite = [v for v in sample if v == v]
    if not finite:
        return "returns"
    # Prices are positive and (almost always) far from zero; daily returns cluster around 0.
    return "prices" if min(finite) > 0 and float(np.median(finite)) > 0.5 else "returns"


def _check_content(md: MarketData) -> dict[str, Any]:
    dates = md.dates
    if len(dates) < MIN_ROWS:
        raise Rejected("dates", f"{len(dates)} usable rows after cleaning; need at least {MIN_ROWS}", rows=len(dates))
    today = np.datetime64(dt.date.today(), "D")
    future = dates[dates > today + 1]
    if future.size:
        raise Rejected("dates", f"{future.size} row(s) dated in the future (first {future[0]})",
                       first_future_date=str(future[0]))
    gaps = np.busday_count(dates[:-1], dates[1:])
    worst = int(np.argmax(gaps))
    if gaps[worst] > MAX_GAP_BUSINESS_DAYS:
        raise Rejected("gaps", f"gap of {int(gaps[worst])} business days between {dates[worst]} and "
                       f"{dates[worst + 1]} (limit {MAX_GAP_BUSINESS_DAYS})",
                       gap_start=str(dates[worst]), gap_end=str(dates[worst + 1]), business_days=int(gaps[worst]))
    R = md.returns
    finite = np.isfinite(R)
    impossible = np.argwhere(finite & (R <= -1.0))
    if impossible.size:
        t, j = impossible[0]
        raise Rejected("outliers", f"return of {R[t, j]:.2%} for {md.assets[j]} on {dates[t]}: a price cannot "
                       "fall 100 % or more; are these prices labelled as returns?",
                       asset=md.assets[j], date=str(dates[t]))
    big = np.argwhere(finite & (np.abs(R) > OUTLIER_ABS_RETURN))
    listed = [{"asset": md.assets[j], "date": str(dates[t]), "return": float(R[t, j])} for t, j in big[:20]]
    share = len(big) / max(int(finite.sum()), 1)
    if share > MAX_OUTLIER_SHARE:
        raise Rejected("outliers", f"{len(big)} daily moves beyond ±{OUTLIER_ABS_RETURN:.0%} ({share:.1%} of values, "
                       f"limit {MAX_OUTLIER_SHARE:.0%}): the data looks mis-scaled", examples=listed)
    return {"outliers": listed, "outlier_count": int(len(big)), "max_gap_business_days": int(gaps.max())}


def validate(path: Path, metadata: dict[str, str] | None = None) -> tuple[MarketData, dict[str, Any]]:
    """Validate one local file; the normalized returns and the checks, or `Rejected`."""
    if path.suffix.lower() not in SUFFIXES:
        raise Rejected("schema", f"unsupported file type '{path.suffix}'; send .csv or .parquet")
    header, sample = _peek(path)
    _check_schema(header)
    kind = _kind(metadata or {}, sample)
    try:
        md = load_market(path, kind=kind)
    except OptimizerError as exc:
        raise Rejected("content", str(exc).replace(str(path), path.name), kind=kind) from None
    md.assets = [a.upper() for a in md.assets]
    checks = _check_content(md)
    return md, {"kind": kind, **checks}


def _quarantine(s3: Any, bucket: str, key: str, err: Rejected, head: dict[str, Any]) -> str:
    rel = key[len(INCOMING_PREFIX):] if key.startswith(INCOMING_PREFIX) else key
    target = f"{QUARANTINE_PREFIX}{rel}"
    s3.copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": key})
    reason = {"source": f"s3://{bucket}/{key}", "quarantined": f"s3://{bucket}/{target}", "check": err.check,
              "reason": err.reason, "details": err.details, "size": head.get("ContentLength"),
              "etag": head.get("ETag"), "rejected_at": dt.datetime.now(dt.UTC).isoformat()}
    s3.put_object(Bucket=bucket, Key=f"{target}.reason.json", Body=json.dumps(reason, indent=2, default=str).encode(),
                  ContentType="application/json")
    return target


def _metric(settings: Settings, name: str, value: float) -> None:
    try:
        aws.client("cloudwatch").put_metric_data(Namespace=settings.metrics_namespace, MetricData=[
            {"MetricName": name, "Value": value, "Unit": "Count",
             "Dimensions": [{"Name": "Environment", "Value": settings.environment}]}])
    except Exception:  # noqa: BLE001 - metrics never fail an ingestion
        log.debug("metric %s not sent", name, exc_info=True)


def ingest_object(settings: Settings, bucket: str, key: str) -> dict[str, Any]:
    s3 = aws.client("s3")
    head = s3.head_object(Bucket=bucket, Key=key)
    name = dataset_name(key)
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / Path(key).name
        s3.download_file(bucket, key, str(local))
        try:
            if name == LATEST:
                raise Rejected("schema", f"'{LATEST}' is a reserved data set name; rename the file")
            md, checks = validate(local, head.get("Metadata") or {})
        except Rejected as err:
            target = _quarantine(s3, bucket, key, err, head)
            log.warning("quarantined s3://%s/%s: %s", bucket, key, err.reason)
            _metric(settings, "MarketDataQuarantined", 1)
            return {"key": key, "status": "quarantined", "quarantine_key": target, "check": err.check,
                    "reason": err.reason}
        out = Path(tmp) / "normalized.csv"
        save_returns_csv(md, out)
        body = out.read_bytes()
    validated = f"{VALIDATED_PREFIX}{name}.csv"
    s3.put_object(Bucket=bucket, Key=validated, Body=body, ContentType="text/csv")
    entry = {
        "dataset": name, "key": validated, "source": key, "source_etag": head.get("ETag"),
        "sha256": hashlib.sha256(body).hexdigest(), "kind": "returns", "source_kind": checks["kind"],
        "rows": int(len(md.dates)), "assets": list(md.assets), "start": str(md.dates[0]), "end": str(md.dates[-1]),
        "checks": checks, "cleaning": {k: v for k, v in md.report.items() if k != "source"},
        "ingested_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    data = json.dumps(entry, indent=2, default=str).encode()
    s3.put_object(Bucket=bucket, Key=index_key(name), Body=data, ContentType="application/json")
    s3.put_object(Bucket=bucket, Key=f"{INDEX_PREFIX}{LATEST}.json", Body=data, ContentType="application/json")
    _metric(settings, "MarketDataIngested", 1)
    return {"key": key, "status": "validated", "dataset": name, "validated_key": validated,
            "rows": entry["rows"], "assets": len(md.assets), "outliers": checks["outlier_count"]}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    settings = Settings.from_env()
    done: list[dict[str, Any]] = []
    for bucket, key in _objects(event or {}):
        if not key.startswith(INCOMING_PREFIX) or key.endswith("/"):
            done.append({"key": key, "status": "skipped", "reason": f"not under {INCOMING_PREFIX}"})
            continue
        done.append(ingest_object(settings, bucket, key))
    return {"results": done, "validated": sum(r["status"] == "validated" for r in done),
            "quarantined": sum(r["status"] == "quarantined" for r in done)}

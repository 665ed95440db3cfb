"""Shared helpers of the workload handler tests: settings, tables/buckets, market data, events."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import numpy as np

from charter.optimizer import generate_market
from charter.workloads.handlers.settings import Settings

SETTINGS = Settings(local=True, environment="test", websocket_endpoint="")


def settings_env(settings: Settings = SETTINGS) -> dict[str, str]:
    return {**settings.to_env(), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}


def prices_csv(n_assets: int = 5, n_days: int = 320, seed: int = 1) -> bytes:
    """Daily prices (date + one column per ticker) from the optimizer's synthetic market."""
    md = generate_market(n_assets=n_assets, n_days=n_days, seed=seed)
    prices = 100 * np.cumprod(1 + md.returns, axis=0)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["date", *md.assets])
    for d, row in zip(md.dates, prices, strict=True):
        w.writerow([str(d), *[f"{p:.4f}" for p in row]])
    return out.getvalue().encode()


def s3_event(bucket: str, key: str, size: int = 0) -> dict[str, Any]:
    """An S3 ObjectCreated notification as Lambda receives it (key URL-encoded)."""
    from urllib.parse import quote_plus

    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-01-05T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"}, "requestParameters": {"sourceIPAddress": "10.0.0.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "ingest",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "EXAMPLE"},
                          "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": "0123456789abcdef",
                          "sequencer": "0A1B2C3D4E5F678901"}}}]}


def eventbridge_event(bucket: str, key: str) -> dict[str, Any]:
    """S3 "Object Created" through EventBridge (how the compute stack wires ingestion)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2026-01-05T10:00:00Z", "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{bucket}"],
            "detail": {"version": "0", "bucket": {"name": bucket},
                       "object": {"key": key, "size": 1, "etag": "abc", "sequencer": "00"},
                       "request-id": "R", "requester": "123456789012", "source-ip-address": "10.0.0.1",
                       "reason": "PutObject"}}


def proxy_event(method: str, resource: str, path: str, *, body: Any = None, user: str = "user-1",
                path_params: dict[str, str] | None = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    from charter.workloads.server import proxy_event as build

    raw = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    qs = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    return build(method, resource, path, {"X-Charter-User": user, "Content-Type": "application/json"}, qs,
                 path_params, raw)


def ingest_prices(settings: Settings = SETTINGS, key: str = "incoming/prices.csv", **kw: Any) -> dict[str, Any]:
    from charter.workloads.handlers import aws, ingest

    body = prices_csv(**kw)
    aws.client("s3").put_object(Bucket=settings.market_data_bucket, Key=key, Body=body)
    return ingest.handler(s3_event(settings.market_data_bucket, key, len(body)))

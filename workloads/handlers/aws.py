"""boto3 clients for the handlers: created once per process (Lambda reuses them across invocations).

Clients come from a plain boto3 session with the same adaptive retries as
`charter.aws.SessionFactory`; the endpoint comes from `AWS_ENDPOINT_URL`, which boto3
reads itself, so one code path serves Lambda, the processing container and the
embedded AWS. The cache key includes the endpoint and region so tests that switch
them get fresh clients.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5, read_timeout=30,
                max_pool_connections=64)

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, str | None], Any] = {}


def client(service: str, region: str | None = None) -> Any:
    key = (service, region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
           os.environ.get("AWS_ENDPOINT_URL"))
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            # A session per client: boto3's default session is not thread-safe to create clients from.
            found = boto3.session.Session().client(service, region_name=key[1] or "us-east-1", config=CONFIG)
            _clients[key] = found
        return found


def reset() -> None:
    """Forget cached clients (tests that change credentials or endpoints)."""
    with _lock:
        _clients.clear()


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""

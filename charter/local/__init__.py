"""The embedded AWS: moto's server on 127.0.0.1, for `charter local`, `--local` and the demo.

moto is the stand-in for AWS, never a reason to simplify: code talks to it through the
same `SessionFactory` as to real AWS, only with an `endpoint_url`.

- `server`: `LocalAws` (the server, in a background thread) and `aws_sessions`.
- `app`: moto's WSGI app, answering what moto does not implement with a fast HTTP 400.
- `patches`: the fixes that make moto behave like AWS, one module per area.
- `running`: the management account and the running servers' endpoints, which both share.
"""

from __future__ import annotations

from charter.local.app import _guarded_app as _guarded_app
from charter.local.capabilities import EMBEDDED, advertised
from charter.local.running import _ENDPOINT as _ENDPOINT
from charter.local.running import LOCAL_MANAGEMENT_ACCOUNT
from charter.local.server import LocalAws, LocalAwsError, aws_sessions, embedded_sessions

__all__ = ["EMBEDDED", "advertised", "LOCAL_MANAGEMENT_ACCOUNT", "LocalAws", "LocalAwsError", "aws_sessions", "embedded_sessions",
           "running_endpoints", "wsgi_app"]


def running_endpoints() -> tuple[str, ...]:
    """Endpoints of the embedded AWS servers running in this process (no trailing slash)."""
    return tuple(e.rstrip("/") for e in _ENDPOINT)


def wsgi_app():
    """A WSGI app answering as the embedded AWS does, for code in the same process that
    calls it without a socket. moto keeps state in module-level backends, so every app
    instance sees the same accounts."""
    return _guarded_app()

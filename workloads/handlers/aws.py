"""boto3 clients for the handlers: created once per process (Lambda reuses them across invocations).

Clients come from a plain boto3 session with the same adaptive retries as
`charter.aws.SessionFactory`; the endpoint comes from `AWS_ENDPOINT_URL`, which boto3
reads itself, so one code path serves Lambda, the processing container and the
embedded AWS. The cache key includes the endpoint and region so tests that switch
them get fresh clients.

In-process transport: when the embedded AWS (moto's WSGI app) runs inside this very
process — `charter workload serve --local` — `use_in_process(endpoint, app)` makes the
clients for that endpoint hand each request straight to the app instead of sending it
through a socket to the moto server thread of the same process. Everything else is
unchanged: botocore still serializes, signs, retries and parses, and moto answers
exactly as over HTTP (same app, same state); only the loopback TCP round trip and the
HTTP server's parsing and thread switches go. Other processes (the worker, the AWS
CLI) keep using the HTTP endpoint, and against real AWS nothing is registered.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.useragent
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

log = logging.getLogger("charter.workloads.aws")

# botocore rebuilds the User-Agent header for every call, sanitizing each of its ~16
# components character by character, twice (65 us a call, an eighth of the handlers' own
# CPU per local API request). The function is pure and its inputs repeat (SDK, OS and
# language versions, feature ids): remembered, the header is the same, built in a fraction.
botocore.useragent.sanitize_user_agent_string_component = functools.lru_cache(maxsize=512)(
    botocore.useragent.sanitize_user_agent_string_component)
CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=5, read_timeout=30,
                max_pool_connections=64)

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, str | None], Any] = {}
#: endpoint URL -> WSGI app serving it inside this process
_in_process: dict[str, Callable[..., Iterable[bytes]]] = {}
#: called before every AWS call of this process's clients (a local worker yielding to the API)
_before_call: Callable[[], None] | None = None


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
            if _before_call is not None:
                hook = _before_call
                found.meta.events.register("request-created", lambda **_: hook())
            app = _in_process.get((key[2] or "").rstrip("/"))
            if app is not None:
                found.meta.events.register_first("before-send", _WsgiTransport(app))
            _clients[key] = found
        return found


def use_in_process(endpoint_url: str, app: Callable[..., Iterable[bytes]] | None) -> None:
    """Serve clients of `endpoint_url` by calling `app` (a WSGI app) directly; None undoes it."""
    with _lock:
        if app is None:
            _in_process.pop(endpoint_url.rstrip("/"), None)
        else:
            _in_process[endpoint_url.rstrip("/")] = app
        _clients.clear()  # clients made before have (or lack) the transport


def before_each_call(hook: Callable[[], None] | None) -> None:
    """Run `hook` before every AWS call made through `client()` (None: nothing)."""
    global _before_call
    with _lock:
        _before_call = hook
        _clients.clear()


def reset() -> None:
    """Forget cached clients (tests that change credentials or endpoints)."""
    with _lock:
        _clients.clear()


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


class _Body(io.BytesIO):
    """A response body botocore can read whole (`stream()`) or as a StreamingBody (`read()`)."""

    def stream(self, **_: Any) -> Iterable[bytes]:
        data = self.read()
        if data:
            yield data


class _WsgiTransport:
    """botocore `before-send` hook: the prepared request -> a WSGI call -> an AWSResponse.

    Returning a response from `before-send` is botocore's supported way to answer a
    request without the HTTP session (moto's own `mock_aws` and botocore's Stubber use it)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode("utf-8")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method, "SCRIPT_NAME": "", "PATH_INFO": _unquote(url.path) or "/",
            "QUERY_STRING": url.query, "SERVER_NAME": url.hostname or "localhost",
            "SERVER_PORT": str(url.port or (443 if url.scheme == "https" else 80)), "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": url.netloc,
            "wsgi.version": (1, 0), "wsgi.url_scheme": url.scheme or "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            # werkzeug keeps the raw path for routing; moto's S3 uses it for keys with %2F
            "RAW_URI": url.path + (f"?{url.query}" if url.query else ""),
            "REQUEST_URI": url.path + (f"?{url.query}" if url.query else ""),
        }
        for name, value in request.headers.items():
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key not in ("CONTENT_LENGTH", "HOST"):
                environ[f"HTTP_{key}"] = value
        try:
            status, raw_headers, payload = call_app(self.app, environ)
        except Exception:  # what werkzeug's server answers for an app that raises
            log.exception("the in-process AWS failed on %s %s", request.method, request.url)
            return AWSResponse(request.url, 500, {"Content-Type": "text/plain"}, _Body(b"Internal Server Error"))
        headers: dict[str, str] = {}
        for name, value in raw_headers:
            headers[name] = f"{headers[name]},{value}" if name in headers else str(value)
        if request.method != "HEAD" and not any(k.lower() == "content-length" for k in headers):
            headers["Content-Length"] = str(len(payload))  # as an HTTP server frames it
        return AWSResponse(request.url, int(status.split(" ", 1)[0]), headers, _Body(payload))


def call_app(app: Callable[..., Iterable[bytes]], environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """One WSGI call: (status line, headers, whole body), as a server would send them."""
    started: dict[str, Any] = {}
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
        started["status"], started["headers"] = status, headers
        return written.append  # the legacy WSGI write()

    chunks = app(environ, start_response)
    try:
        rest = b"".join(chunks)  # may call write() while iterating: join it first
        payload = b"".join(written) + rest
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return str(started["status"]), [(str(k), str(v)) for k, v in started["headers"]], payload


def _unquote(path: str) -> str:
    # WSGI's PATH_INFO is the decoded path, as werkzeug's server passes it (latin-1 of the UTF-8 bytes).
    from urllib.parse import unquote_to_bytes

    return unquote_to_bytes(path).decode("latin-1")

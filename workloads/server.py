"""The optimizer's REST API on a laptop: stdlib HTTP server -> the Lambda handlers.

Each request becomes an API Gateway REST proxy event (the real shape: resource, path,
httpMethod, headers, multiValueHeaders, queryStringParameters, pathParameters, body,
isBase64Encoded, requestContext with requestId, identity and the Cognito authorizer's
claims) and is handed to the same handler function Lambda runs; its
`{statusCode, headers, body}` becomes the HTTP response. The user is the
`X-Charter-User` header (default `local-user`): there is no Cognito locally.

`LocalApiServer(settings).start()` creates the tables and buckets it needs (names from
`Settings`, the same the stacks create) in whatever AWS the environment points at —
normally the embedded moto server.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from workloads.handlers import api, aws
from workloads.handlers.openapi import openapi_document
from workloads.handlers.settings import Settings

log = logging.getLogger("charter.workloads.server")
LOCAL_USER = "local-user"
MAX_BODY_BYTES = 1_000_000
STAGE = "local"
ACCOUNT = "123456789012"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
#: (method, API Gateway resource, compiled path pattern, handler name on `api`)
ROUTES: tuple[tuple[str, str, re.Pattern[str], str], ...] = (
    ("POST", "/optimize", re.compile(r"^/optimize$"), "submit"),
    ("GET", "/jobs/{id}", re.compile(r"^/jobs/(?P<id>[^/]+)$"), "status"),
    ("GET", "/jobs/{id}/results", re.compile(r"^/jobs/(?P<id>[^/]+)/results$"), "results"),
)


class LambdaContext:
    """The parts of the Lambda context object the handlers use."""

    def __init__(self, request_id: str, timeout_seconds: float = 30.0) -> None:
        self.aws_request_id = request_id
        self.function_name = "charter-local-api"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def proxy_event(method: str, resource: str, path: str, headers: dict[str, str], query: str,
                path_params: dict[str, str] | None, body: bytes | None, source_ip: str = "127.0.0.1") -> dict[str, Any]:
    """An API Gateway REST (v1) Lambda proxy event."""
    multi_query = parse_qs(query, keep_blank_values=True) if query else {}
    is_b64 = False
    text: str | None = None
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode(), True
    user = headers.get("X-Charter-User") or headers.get("x-charter-user") or LOCAL_USER
    now = time.time()
    request_id = str(uuid.uuid4())
    return {
        "resource": resource, "path": path, "httpMethod": method,
        "headers": headers or None, "multiValueHeaders": {k: [v] for k, v in headers.items()} or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_params or None, "stageVariables": None,
        "requestContext": {
            "resourceId": "local", "resourcePath": resource, "httpMethod": method,
            "extendedRequestId": request_id, "requestTime": formatdate(now, usegmt=True),
            "path": f"/{STAGE}{path}", "accountId": ACCOUNT, "protocol": "HTTP/1.1", "stage": STAGE,
            "domainPrefix": "localhost", "requestTimeEpoch": int(now * 1000), "requestId": request_id,
            "identity": {"cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None,
                         "caller": None, "sourceIp": source_ip, "principalOrgId": None, "accessKey": None,
                         "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None,
                         "userArn": None, "userAgent": headers.get("User-Agent", ""), "user": None},
            "authorizer": {"claims": {"sub": user, "cognito:username": user, "token_use": "id"}},
            "domainName": "localhost", "apiId": "local",
        },
        "body": text, "isBase64Encoded": is_b64,
    }


def ensure_resources(settings: Settings) -> None:
    """Create the tables and buckets of `settings` if missing (idempotent)."""
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    s = lambda n: {"AttributeName": n, "AttributeType": "S"}  # noqa: E731
    n_ = lambda n: {"AttributeName": n, "AttributeType": "N"}  # noqa: E731
    key = lambda n, t="HASH": {"AttributeName": n, "KeyType": t}  # noqa: E731
    tables = {
        settings.jobs_table: dict(
            AttributeDefinitions=[s("job_id"), s("timestamp"), s("user_id")],
            KeySchema=[key("job_id"), key("timestamp", "RANGE")],
            GlobalSecondaryIndexes=[{"IndexName": "user_id-index", "KeySchema": [key("user_id"), key("timestamp", "RANGE")],
                                     "Projection": {"ProjectionType": "ALL"}}]),
        settings.strategies_table: dict(AttributeDefinitions=[s("strategy_id"), n_("version")],
                                        KeySchema=[key("strategy_id"), key("version", "RANGE")]),
        settings.cache_table: dict(AttributeDefinitions=[s("cache_key")], KeySchema=[key("cache_key")]),
        settings.connections_table: dict(
            AttributeDefinitions=[s("connection_id"), s("user_id")], KeySchema=[key("connection_id")],
            GlobalSecondaryIndexes=[{"IndexName": "user_id-index", "KeySchema": [key("user_id")],
                                     "Projection": {"ProjectionType": "KEYS_ONLY"}}]),
    }
    existing = set(ddb.list_tables().get("TableNames", []))
    for name, spec in tables.items():
        if name not in existing:
            ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **spec)
    region = ddb.meta.region_name
    have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in (settings.market_data_bucket, settings.results_bucket):
        if bucket not in have:
            extra = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=bucket, **extra)


class _RequestHandler(BaseHTTPRequestHandler):
    server_version = "CharterLocalApi/1.0"
    protocol_version = "HTTP/1.1"
    app: LocalApiServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def setup(self) -> None:
        super().setup()
        # Responses go out in one write anyway; without Nagle no segment waits for a delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        # Headers and body in one write (end_headers() would flush the headers alone first).
        self._headers_buffer.append(b"\r\n")  # type: ignore[attr-defined]
        if self.command != "HEAD":
            self._headers_buffer.append(body)  # type: ignore[attr-defined]
        self.flush_headers()

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode())

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        path = unquote(split.path) or "/"
        length_header = self.headers.get("Content-Length")
        body = b""
        if length_header:
            try:
                length = int(length_header)
            except ValueError:
                self.close_connection = True
                return self._json(400, {"error": "validation", "message": "bad Content-Length",
                                        "fields": [{"field": "Content-Length", "message": "not an integer"}]})
            if length > MAX_BODY_BYTES or length < 0:
                self.close_connection = True
                return self._json(413, {"error": "too_large", "message": f"body over {MAX_BODY_BYTES} bytes"})
            body = self.rfile.read(length)
        if self.command == "GET" and path == "/health":
            return self._json(200, {"status": "ok"})
        if self.command == "GET" and path == "/openapi.json":
            host = self.headers.get("Host") or f"127.0.0.1:{self.app.port}"
            return self._json(200, openapi_document(server_url=f"http://{host}", security=False))
        allowed = []
        for method, resource, pattern, name in ROUTES:
            match = pattern.match(path)
            if not match:
                continue
            if method != self.command:
                allowed.append(method)
                continue
            event = proxy_event(self.command, resource, path, dict(self.headers.items()), split.query,
                                match.groupdict() or None, body or None, self.client_address[0])
            handler: Handler = getattr(api, name)
            result = handler(event, LambdaContext(event["requestContext"]["requestId"]))
            raw = result.get("body") or ""
            payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
            return self._send(int(result["statusCode"]), payload, result.get("headers"))
        if allowed:
            return self._send(405, json.dumps({"error": "method_not_allowed", "message": f"use {', '.join(allowed)}"})
                              .encode(), {"Content-Type": "application/json", "Allow": ", ".join(allowed)})
        return self._json(404, {"error": "not_found", "message": f"no route for {self.command} {path}"})

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch()

    # Methods API Gateway would also answer (405/404), never the stdlib's 501.
    do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = do_PATCH  # noqa: N815


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the benchmark's 50 clients connect at once


class LocalApiServer:
    """`with LocalApiServer(settings, port=0) as srv: requests.get(srv.url + "/health")`."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 0) -> None:
        self.settings, self.host, self.requested_port = settings, host, port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalApiServer:
        # The handlers read their settings from the environment, as in Lambda.
        os.environ.update(self.settings.to_env())
        ensure_resources(self.settings)
        handler = type("Handler", (_RequestHandler,), {"app": self})
        self._httpd = _Httpd((self.host, self.requested_port), handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="charter-local-api", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Block until interrupted (the CLI)."""
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        from workloads.handlers.worker import shutdown_local

        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        shutdown_local(wait=False)

    def __enter__(self) -> LocalApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""The optimizer's REST API on a laptop: an HTTP server -> the Lambda handlers.

Each request becomes an API Gateway REST proxy event (the real shape: resource, path,
httpMethod, headers, multiValueHeaders, queryStringParameters, pathParameters, body,
isBase64Encoded, requestContext with requestId, identity and the Cognito authorizer's
claims) and is handed to the same handler function Lambda runs; its
`{statusCode, headers, body}` becomes the HTTP response. The user is the
`X-Charter-User` header (default `local-user`): there is no Cognito locally.

`LocalApiServer(settings).start()` creates the tables and buckets it needs (names from
`Settings`, the same the stacks create) in whatever AWS the environment points at —
normally the embedded moto server.

How it serves (what the API latency benchmark measures, `benchmarks/api_latency.py`):

- HTTP/1.1 with keep-alive on aiohttp (an asyncio loop in one thread; aiohttp's C
  parser), not a thread per connection: with 50 clients, 50 threads fighting for the
  GIL wake in no useful order and each socket read or write waits out a GIL switch
  interval.
- With the embedded AWS in this process (`serve --local`) the handlers run in processes
  of their own (`workloads.handler_pool`: Lambda's execution environments, one request
  at a time each, fed from one FIFO queue); their AWS calls cross each environment's pipe
  and are answered by the embedded AWS's app here (moto's development server would cost
  a thread and a connection per call). The handlers' work and the embedded AWS's then
  use different cores; on this process's threads they would share one interpreter lock.
  With AWS across the network the handlers run on a wide thread pool of this process
  (they mostly wait). Long polls (`GET /jobs/{id}?wait=N`, mostly asleep) and the
  WebSocket routes run on this process's threads.
- Jobs take AWS's path, not one of this server's: submit starts the job pipeline, whose
  Processing step the embedded AWS runs as a local process and whose ResultsAggregation
  step invokes the results aggregator function; the job-status function it invokes with
  SageMaker's events moves the job and pushes to WebSocket subscribers
  (`workloads.local_jobflow` makes those resources; `charter.local.pipelines` runs them).
- Start-up work is done before the server accepts requests: each handler runs once
  (`warm_up`), then one full garbage collection and `gc.freeze()` (`QuietGc.settle`).
- Full garbage collections stay off the request path (`QuietGc`): the embedded AWS keeps
  its data as Python objects in this process, with every module imported, and a full
  collection walks all of them (150-200 ms right after start, ~300k objects; more with
  a few thousand jobs). Measured: that first full collection, landing on a request, was
  the one stall behind the API benchmark's p99 (all 50 queued requests waited it out).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import functools
import gc
import importlib
import json
import logging
import multiprocessing
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from aiohttp import web

from charter.workloads.console_site import ConsoleSite
from charter.workloads.handler_pool import HandlerPool, default_size
from charter.workloads.handlers import api, aws, websocket
from charter.workloads.handlers.openapi import openapi_document
from charter.workloads.handlers.settings import Settings
from charter.workloads.local_ws import MANAGEMENT_ENV, WS_PATH, LocalWebSocketGateway

log = logging.getLogger("charter.workloads.server")
LOCAL_USER = "local-user"
MAX_BODY_BYTES = 1_000_000
STAGE = "local"
#: Threads for the handlers this process runs: the WebSocket routes, and the REST routes
#: when AWS is across the network (mostly waiting) or handler processes are turned off.
NETWORK_SLOTS = 64
#: Long polls waiting at once (each holds a thread, asleep, for up to STATUS_MAX_WAIT_SECONDS).
LONG_POLL_SLOTS = 64
MAX_HEADER_BYTES = 16_384
#: Seconds without requests after which frozen garbage is collected (`QuietGc`).
GC_IDLE_SECONDS = 5.0
ACCOUNT = "123456789012"

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
#: (method, API Gateway resource, compiled path pattern, handler name on `api`)
ROUTES: tuple[tuple[str, str, re.Pattern[str], str], ...] = (
    ("POST", "/optimize", re.compile(r"^/optimize$"), "submit"),
    ("GET", "/jobs", re.compile(r"^/jobs$"), "jobs"),
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
            "extendedRequestId": request_id, "requestTime": _request_time(int(now)),
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


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=4)
def _request_time(second: int) -> str:
    """API Gateway's `requestTime`, e.g. `09/Apr/2015:12:34:56 +0000` (one string a second)."""
    t = time.gmtime(second)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


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


class _ClientFaults(logging.Filter):
    """aiohttp logs a request it cannot parse (bad request line, header too long) with a
    traceback; the client has its 400 already, so that is debug detail, not an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            log.debug("bad request: %s", str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
            return False
        return True


_http_log = logging.getLogger("charter.workloads.server.http")
_http_log.addFilter(_ClientFaults())


def _json_body(value: Any) -> bytes:
    return json.dumps(value).encode()


class QuietGc:
    """Full (generation 2) garbage collections that do not stall requests.

    With the embedded AWS in the process, its tables and buckets, and every module
    imported (moto, botocore, pydantic, numpy), are hundreds of thousands of long-lived
    Python objects, and every automatic full collection walks them all while every
    request waits (150-200 ms for the ~300k objects of a freshly started server).

    - `settle()`, at start before the server accepts requests: one full collection, then
      everything alive is frozen (`gc.freeze()`) and an (empty) full collection resets the
      collector's count of long-lived objects, so the next automatic full collection
      comes early and walks only what was allocated since, not the whole process.
      (Without it the first full collection lands on a request: measured as the one
      ~180 ms stall behind the API benchmark's p99.)
    - After each automatic full collection the survivors are frozen again: later ones
      keep walking only what is new.
    - Garbage cycles among frozen objects are reclaimed when the server is idle
      (`idle()`: unfreeze, collect, freeze), where a pause costs no request anything.

    Everything is restored when the server stops."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    @staticmethod
    def settle() -> None:
        gc.collect()
        gc.freeze()
        gc.collect()  # walks nothing (all frozen); sets the long-lived count to ~0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        gc.callbacks.append(self._after_collection)

    def stop(self) -> None:
        if self._after_collection in gc.callbacks:
            gc.callbacks.remove(self._after_collection)
        gc.unfreeze()

    def _after_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info.get("generation") == 2 and self.loop is not None and not self.loop.is_closed():
            # not inside the collector's callback: on the loop, a moment later
            self.loop.call_soon_threadsafe(gc.freeze)

    @staticmethod
    def idle() -> None:
        if gc.get_freeze_count():
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            gc.collect()  # as in settle(): the next automatic full collection walks only new objects


class _Busy:
    """Requests queued or running, published to the local workers (a shared int), which
    hold back their AWS calls while it is not 0 (`workloads.handlers.worker`)."""

    def __init__(self, shared: Any) -> None:
        self.shared, self._lock = shared, threading.Lock()

    def add(self, n: int) -> None:
        if self.shared is not None:
            with self._lock:
                self.shared.value += n

    def __enter__(self) -> None:
        self.add(1)

    def __exit__(self, *exc: object) -> None:
        self.add(-1)


class LocalApiServer:
    """`with LocalApiServer(settings, port=0) as srv: requests.get(srv.url + "/health")`.

    Besides the REST routes it serves the WebSocket API (`workloads.local_ws`: job progress
    pushed by the same handlers as on AWS) and, with `console`, the web console
    (`workloads.console_site`: the built app, its config, the compliance API).

    `aws_app`: the WSGI app of an AWS endpoint running in this very process (the embedded
    AWS that `charter workload serve --local` starts beside this server), given by whoever
    started it; the handlers' clients for `AWS_ENDPOINT_URL` then call it directly (see
    `workloads.handlers.aws`). State is the same whichever way a request arrives."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 0,
                 console: ConsoleSite | None = None, aws_app: Any = None, handler_processes: int | None = None) -> None:
        self.settings, self.host, self.requested_port = settings, host, port
        #: REST handlers' processes (`workloads.handler_pool`) when `aws_app` is given: None
        #: for one per core plus one, 0 to run them on this process's threads.
        self.handler_processes = handler_processes
        self.console = console
        self._aws_app = aws_app
        self._ws = LocalWebSocketGateway(self._invoke_ws, STAGE, LOCAL_USER)
        self._saved_management_env: str | None = None
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.ServerRunner | None = None
        self._handlers: concurrent.futures.ThreadPoolExecutor | None = None
        self._long_polls: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool: HandlerPool | None = None
        self._in_process: tuple[str, Any] | None = None
        self._busy = _Busy(None)
        self._gc = QuietGc()
        self._last_request = time.monotonic()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def handler_process_count(self) -> int:
        """Processes running the REST handlers (0: this process's threads run them)."""
        return self._pool.size if self._pool is not None else 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalApiServer:
        # The handlers read their settings from the environment, as in Lambda.
        os.environ.update(self.settings.to_env())
        if self._aws_app is not None:  # given only by whoever runs that AWS in this process
            self._in_process = (os.environ["AWS_ENDPOINT_URL"].rstrip("/"), self._aws_app)
            aws.use_in_process(*self._in_process)
        ensure_resources(self.settings)
        warm_up()
        if self._in_process is not None and self.handler_processes != 0:
            # before the server accepts requests: none is served without its environments
            try:
                self._pool = HandlerPool(self.handler_processes or default_size(), dict(os.environ),
                                         self._aws_app).start()
            except BaseException:
                self.stop()
                raise
        # Last before accepting requests: the first full collection would otherwise land on one.
        self._gc.settle()
        self._handlers = concurrent.futures.ThreadPoolExecutor(NETWORK_SLOTS, thread_name_prefix="charter-api")
        self._long_polls = concurrent.futures.ThreadPoolExecutor(LONG_POLL_SLOTS, thread_name_prefix="charter-api-poll")
        if self.settings.local:
            self._busy = _Busy(multiprocessing.get_context("spawn").RawValue("i", 0))
        self._loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="charter-local-api", daemon=True)
        self._thread.start()
        try:
            self.port = ready.result(timeout=30)
        except OSError as exc:
            self.stop()
            from charter.errors import CharterError

            raise CharterError(f"cannot serve the API on {self.host}:{self.requested_port}: {exc.strerror or exc}",
                               hint="choose a free port with --port (0 picks one)") from None
        # The handlers (here and in the job workers, which inherit the environment) post
        # WebSocket messages to this server's management API, as they post to AWS's.
        self._saved_management_env = os.environ.get(MANAGEMENT_ENV)
        os.environ[MANAGEMENT_ENV] = self._ws.management_endpoint(self.url)
        if self.console is not None:
            self.console.websocket_path = WS_PATH
        if self.settings.local:
            # the job flow as the stacks make it (pipeline, aggregator and job-status functions,
            # rule): the embedded AWS runs a job's steps and invokes the functions; this server only fronts
            from charter.workloads.local_jobflow import ensure

            ensure(self.settings, {MANAGEMENT_ENV: os.environ[MANAGEMENT_ENV]})
        return self

    def _serve(self, ready: concurrent.futures.Future[int]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        if self._pool is not None:
            self._pool.attach(loop)  # before the first request can arrive
        try:
            self._runner = loop.run_until_complete(self._open())
            port = self._runner.addresses[0][1]
        except BaseException as exc:  # noqa: BLE001 - handed to start(), which raises it
            ready.set_exception(exc)
            if self._pool is not None:
                self._pool.detach()
            loop.close()
            return
        ready.set_result(port)
        self._gc.start(loop)
        housekeeping = loop.create_task(self._housekeeping())
        try:
            loop.run_forever()
        finally:
            housekeeping.cancel()
            self._gc.stop()
            loop.run_until_complete(self._runner.cleanup())
            if self._pool is not None:
                self._pool.detach()
            loop.close()

    async def _housekeeping(self) -> None:
        """Reclaim frozen garbage (`QuietGc.idle`) once requests have stopped for a while."""
        collected_at = time.monotonic()
        while True:
            await asyncio.sleep(GC_IDLE_SECONDS / 2)
            if self._last_request > collected_at and time.monotonic() - self._last_request > GC_IDLE_SECONDS \
                    and not (self._busy.shared is not None and self._busy.shared.value):
                self._gc.idle()
                collected_at = time.monotonic()

    async def _open(self) -> web.ServerRunner:
        server = web.Server(self._handle, max_line_size=MAX_HEADER_BYTES, max_field_size=MAX_HEADER_BYTES,
                            logger=_http_log)
        runner = web.ServerRunner(server, handle_signals=False, access_log=None)
        await runner.setup()
        # backlog: the benchmark's 50 clients connect at once
        await web.TCPSite(runner, self.host, self.requested_port, backlog=128).start()
        return runner

    def in_flight(self) -> contextlib.AbstractContextManager[None]:
        """Count a request served elsewhere (another server on the same workers, e.g. the
        latency benchmark's peer) as in flight: the local workers yield to it too."""
        return self._busy

    def serve_forever(self) -> None:
        """Block until interrupted (the CLI)."""
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        from charter.workloads.handlers.worker import shutdown_local

        if self._loop is not None and self._thread is not None:
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop, self._thread = None, None
        if self.port and os.environ.get(MANAGEMENT_ENV) == self._ws.management_endpoint(self.url):
            if self._saved_management_env is None:
                os.environ.pop(MANAGEMENT_ENV, None)
            else:
                os.environ[MANAGEMENT_ENV] = self._saved_management_env
        for pool in (self._handlers, self._long_polls):
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        self._handlers = self._long_polls = None
        if self._pool is not None:
            self._pool.stop()
            self._pool = None
        shutdown_local(wait=False)
        if self._in_process is not None:
            aws.use_in_process(self._in_process[0], None)
            self._in_process = None

    def __enter__(self) -> LocalApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- requests -----------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self._last_request = time.monotonic()
        method = request.method
        raw_path = request.rel_url.raw_path
        path = unquote(raw_path) or "/"
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return self._response(413, _json_body({"error": "too_large", "message": f"body over {MAX_BODY_BYTES} bytes"}),
                                  close=True)
        try:
            body = await request.read() if request.body_exists else b""
        except web.HTTPRequestEntityTooLarge:  # a chunked body over aiohttp's own limit
            body = None
        if body is None or len(body) > MAX_BODY_BYTES:
            return self._response(413, _json_body({"error": "too_large", "message": f"body over {MAX_BODY_BYTES} bytes"}),
                                  close=True)
        if method == "GET" and path == "/health":
            return self._response(200, _json_body({"status": "ok"}))
        if method == "GET" and path == "/openapi.json":
            host = request.headers.get("Host") or f"127.0.0.1:{self.port}"
            return self._response(200, _json_body(openapi_document(server_url=f"http://{host}", security=False)))
        handled = await self._ws.handle(request)
        if handled is None and self.console is not None:
            handled = await self.console.handle(request, self._run_blocking)
        if handled is not None:
            return handled
        found = route(method, path)
        if isinstance(found, list):
            if found:
                return self._response(405, _json_body({"error": "method_not_allowed", "message": f"use {', '.join(found)}"}),
                                      {"Content-Type": "application/json", "Allow": ", ".join(found)})
            return self._response(404, _json_body({"error": "not_found", "message": f"no route for {method} {path}"}))
        resource, name, params = found
        query = request.rel_url.raw_query_string
        call = (method, resource, path, dict(request.headers.items()), query, params, body,
                request.remote or "127.0.0.1", name)
        if name == "status" and _waits(query):
            assert self._long_polls is not None
            status, payload, headers = await asyncio.wrap_future(self._long_polls.submit(invoke, *call))
        else:
            with self._busy:
                if self._pool is not None:
                    status, payload, headers = await self._pool.submit(call)
                else:
                    assert self._handlers is not None
                    status, payload, headers = await asyncio.wrap_future(self._handlers.submit(invoke, *call))
        return self._response(status, payload, headers)

    def _invoke_ws(self, name: str, event: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        """A WebSocket route's handler, on the handler pool (it calls AWS)."""
        assert self._handlers is not None

        def call() -> dict[str, Any]:
            with self._busy:
                return getattr(websocket, name)(event, LambdaContext(event["requestContext"]["requestId"]))

        return asyncio.wrap_future(self._handlers.submit(call))

    def _run_blocking(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Console work (reading the evidence store) off the loop, on the long-poll pool:
        it waits on files and S3, and must not queue behind the API's requests."""
        assert self._long_polls is not None
        return asyncio.wrap_future(self._long_polls.submit(fn, *args))

    @staticmethod
    def _response(status: int, body: bytes, headers: dict[str, str] | None = None,
                  close: bool = False) -> web.Response:
        response = web.Response(status=status, body=body, headers=headers or {"Content-Type": "application/json"})
        if close:  # the rest of a refused body is not read: the connection cannot be reused
            response.force_close()
        return response


def route(method: str, path: str) -> tuple[str, str, dict[str, str] | None] | list[str]:
    """(API Gateway resource, handler name on `api`, path parameters) of a request; if
    none matches, the methods the path allows (empty: no such path)."""
    allowed = []
    for route_method, resource, pattern, name in ROUTES:
        match = pattern.match(path)
        if match:
            if route_method == method:
                return resource, name, match.groupdict() or None
            allowed.append(route_method)
    return allowed


def invoke(method: str, resource: str, path: str, headers: dict[str, str], query: str,
           path_params: dict[str, str] | None, body: bytes, peer: str, name: str) -> tuple[int, bytes, dict[str, str] | None]:
    """One Lambda invocation: proxy event -> handler -> (status, body, headers)."""
    event = proxy_event(method, resource, path, headers, query, path_params, body or None, peer)
    handler: Handler = getattr(api, name)
    result = handler(event, LambdaContext(event["requestContext"]["requestId"]))
    raw = result.get("body") or ""
    payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
    return int(result["statusCode"]), payload, result.get("headers")


#: The services the REST routes' handlers call (submit starts the job pipeline).
API_SERVICES = ("dynamodb", "s3", "sagemaker")
#: What the routes import on first use (so that a Lambda serving only status calls never
#: loads the optimizer): a submit's dataset check imports the optimizer (~375 modules,
#: a third of a second of CPU), a status its reconcile and `datetime.strptime`'s module.
ROUTE_IMPORTS = ("charter.workloads.handlers.datasets", "charter.workloads.handlers.quota",
                 "charter.workloads.handlers.jobstatus", "_strptime")


def warm_up() -> None:
    """Make the handlers' clients and run each route's handler once, on paths that change
    nothing (a body that fails validation, a job that does not exist), so the first users
    do not pay for a client (its service model loaded: ~50 ms, seconds for SageMaker's on
    a loaded machine), the routes' imports, the first use of pydantic's validators and
    moto's dispatch."""
    for service in API_SERVICES:
        aws.client(service)
    for module in ROUTE_IMPORTS:
        importlib.import_module(module)
    fake_id = "0" * 32
    calls = (("POST", "/optimize", "/optimize", b'{"objective": 0}', None, "submit"),
             ("GET", "/jobs/{id}", f"/jobs/{fake_id}", b"", {"id": fake_id}, "status"),
             ("GET", "/jobs/{id}/results", f"/jobs/{fake_id}/results", b"", {"id": fake_id}, "results"))
    headers = {"Content-Type": "application/json", "User-Agent": "charter-local-api/warm-up"}
    for method, resource, path, body, params, name in calls:
        status, _, _ = invoke(method, resource, path, headers, "", params, body, "127.0.0.1", name)
        if status >= 500:  # the handler logged why; the server still starts (the same call would fail later)
            log.warning("warm-up %s %s answered %s", method, path, status)


def _waits(query: str) -> bool:
    """Does `?wait=N` (N > 0) make this status call a long poll?"""
    values = parse_qs(query).get("wait") if "wait" in query else None
    return bool(values) and values[-1].strip() not in ("", "0")

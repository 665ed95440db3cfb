"""The console on a laptop: the built web app, its runtime config and the compliance API.

`ConsoleSite.handle(request)` answers what belongs to the console and returns None for
anything else, so the local API server (`workloads.server.LocalApiServer`) mounts it
beside the optimizer's routes, and `ConsoleServer` serves it alone (`charter console`,
which has an evidence store and no optimizer API).

- `/`, `/index.html`, `/assets/*`, `/favicon.svg`: the files of `workloads/console/dist/`
  (hashed asset names: cached for a year; index.html: revalidated every time);
- `/config.json`: what the app needs to know at run time (local identity or Cognito,
  where the API and the WebSocket are, which faces are available); on AWS the deploy
  uploads the same document beside index.html (`workloads.deploy.upload_console`);
- `/compliance/summary` and `/compliance/artifact?path=`: the compliance face's data,
  from a `ComplianceSource` (the CLI wires in the evidence store); on AWS the same paths
  are API Gateway routes to the `compliance` function, for the compliance group only.

Every response carries the security headers CloudFront's policy sets (CSP without inline
script, frame denial, nosniff, referrer policy), so a page that works here works there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import mimetypes
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from charter.workloads.console import dist_dir

log = logging.getLogger("charter.workloads.console")

#: The local CSP: the app's own origin, and WebSockets back to it (the API's host:port).
LOCAL_CSP = ("default-src 'self'; connect-src 'self' ws://127.0.0.1:* ws://localhost:*; img-src 'self' data:; "
             "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
SECURITY_HEADERS = {"Content-Security-Policy": LOCAL_CSP, "X-Content-Type-Options": "nosniff",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "strict-origin-when-cross-origin"}
LOCAL_IDENTITY_LABEL = "Local identity — embedded AWS only, no password"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html",
                ".json": "application/json", ".woff2": "font/woff2", ".png": "image/png"}


class ComplianceSource(Protocol):
    """Where the compliance face's data comes from (an evidence store, locally)."""

    def summary(self) -> dict[str, Any]: ...

    def artifact(self, path: str) -> dict[str, Any] | None:
        """One artifact's detail, or None when no sealed manifest lists `path`."""


class ConsoleError(Exception):
    """A request the compliance source refuses (bad path): answered 400."""


def _json(status: int, body: Any, extra: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(body, separators=(",", ":"), default=str).encode(),
                        headers={"Content-Type": "application/json", "Cache-Control": "no-store",
                                 **SECURITY_HEADERS, **(extra or {})})


def _with_csp(response: web.StreamResponse, csp: str) -> web.StreamResponse:
    response.headers["Content-Security-Policy"] = csp
    return response


class ConsoleSite:
    """The console's routes (see the module docstring)."""

    def __init__(self, *, optimizer: bool, compliance: ComplianceSource | None = None,
                 websocket_path: str | None = None, dist: Path | None = None, title: str = "",
                 csp: str = LOCAL_CSP) -> None:
        self.optimizer, self.compliance, self.websocket_path = optimizer, compliance, websocket_path
        self.dist = (dist or dist_dir()).resolve()
        self.title = title
        #: the page's Content-Security-Policy (the tests of the AWS sign-in serve CloudFront's)
        self.csp = csp

    @property
    def built(self) -> bool:
        return (self.dist / "index.html").is_file()

    def config(self) -> dict[str, Any]:
        """The runtime config the app reads first (the AWS one: `workloads.deploy.console_config`)."""
        return {"mode": "local", "title": self.title,
                "identity": {"kind": "local", "label": LOCAL_IDENTITY_LABEL},
                "api": {"base": "", "optimizer": self.optimizer, "compliance": self.compliance is not None,
                        "websocket": self.websocket_path},
                "rum": None}

    async def handle(self, request: web.BaseRequest,
                     run: Callable[..., asyncio.Future[Any]]) -> web.StreamResponse | None:
        """The response for a console path, None for any other. `run(fn, *args)` runs blocking
        work off the event loop (the caller's thread pool)."""
        found = await self._handle(request, run)
        return None if found is None else _with_csp(found, self.csp)

    async def _handle(self, request: web.BaseRequest,
                      run: Callable[..., asyncio.Future[Any]]) -> web.StreamResponse | None:
        path = request.rel_url.path
        if request.method not in ("GET", "HEAD"):
            return None
        if path == "/config.json":
            return _json(200, self.config())
        if path.startswith("/compliance/"):
            return await self._compliance(request, path, run)
        if path in ("/", "/index.html"):
            return self._file("index.html", cache="no-cache")
        if path.startswith("/assets/") or path in ("/favicon.svg", "/build-info.json"):
            return self._file(path.lstrip("/"), cache="public, max-age=31536000, immutable"
                              if path.startswith("/assets/") else "no-cache")
        return None

    def _file(self, rel: str, cache: str) -> web.StreamResponse:
        if not self.built:
            return _json(503, {"error": "not_built", "message": "the console is not built in this install: run "
                               "`charter console build` (needs Node 20) or reinstall Charter"})
        target = (self.dist / rel).resolve()
        if self.dist not in target.parents or not target.is_file():
            return _json(404, {"error": "not_found", "message": f"no file /{rel}"})
        kind = STATIC_TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return web.Response(body=target.read_bytes(), headers={
            "Content-Type": kind + ("; charset=utf-8" if kind.startswith("text/") else ""),
            "Cache-Control": cache, **SECURITY_HEADERS})

    async def _compliance(self, request: web.BaseRequest, path: str,
                          run: Callable[..., asyncio.Future[Any]]) -> web.StreamResponse:
        if self.compliance is None:
            return _json(404, {"error": "no_store", "message": "this server has no evidence store: start it with "
                               "`charter console --store DIR` (or `charter workload serve --store DIR`)"})
        try:
            if path == "/compliance/summary":
                return _json(200, await run(self.compliance.summary))
            if path == "/compliance/artifact":
                wanted = request.rel_url.query.get("path", "")
                if not wanted or len(wanted) > 1024:
                    return _json(400, {"error": "validation", "message": "pass ?path= of an artifact",
                                       "fields": [{"field": "path", "message": "required, at most 1024 characters"}]})
                found = await run(self.compliance.artifact, wanted)
                if found is None:
                    return _json(404, {"error": "not_found", "message": f"no sealed artifact at {wanted}"})
                return _json(200, found)
        except ConsoleError as exc:
            return _json(400, {"error": "validation", "message": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a broken store is shown, never a traceback
            from charter.errors import CharterError

            if isinstance(exc, CharterError):
                return _json(503, {"error": "store", "message": exc.message, "fix": exc.hint})
            log.exception("compliance request %s failed", path)
            return _json(500, {"error": "internal", "message": "internal error; see the server log"})
        return _json(404, {"error": "not_found", "message": f"no route for GET {path}"})


class ConsoleServer:
    """The console alone on 127.0.0.1 (`charter console`): `with ConsoleServer(site) as srv: srv.url`."""

    def __init__(self, site: ConsoleSite, host: str = "127.0.0.1", port: int = 0) -> None:
        self.site, self.host, self.requested_port = site, host, port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="charter-console")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ConsoleServer:
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="charter-console", daemon=True)
        self._thread.start()
        try:
            self.port = ready.result(timeout=30)
        except OSError as exc:
            self.stop()
            from charter.errors import CharterError

            raise CharterError(f"cannot serve the console on {self.host}:{self.requested_port}: {exc.strerror or exc}",
                               hint="choose a free port with --port (0 picks one)") from None
        return self

    def _serve(self, ready: concurrent.futures.Future[int]) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            run = lambda fn, *args: loop.run_in_executor(self._pool, fn, *args)  # noqa: E731
            found = await self.site.handle(request, run)
            if found is not None:
                return found
            return _json(404, {"error": "not_found", "message": f"no route for {request.method} {request.rel_url.path}"})

        async def open_site() -> web.ServerRunner:
            runner = web.ServerRunner(web.Server(handle), handle_signals=False, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, self.host, self.requested_port).start()
            return runner

        try:
            runner = loop.run_until_complete(open_site())
        except BaseException as exc:  # noqa: BLE001 - handed to start()
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(runner.addresses[0][1])
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def serve_forever(self) -> None:
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ConsoleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

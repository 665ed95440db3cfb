"""The local API's handlers in processes of their own: Lambda's execution environments on a laptop.

On AWS each API request runs in a Lambda execution environment, a process (on a machine)
of its own that imports the handler once and serves one request at a time; the API
Gateway in front and the services behind (DynamoDB, S3, SageMaker) run elsewhere. With the
embedded AWS in the API server's process (`charter workload serve --local`), running the
handlers on that process's threads puts the handler's own work (the event, pydantic,
botocore serializing and parsing every AWS call) and the embedded AWS's (moto answering
those calls, and the job flow's) under one interpreter lock: one core for all of it,
however many the machine has.

`HandlerPool` runs `size` such environments as processes: each imports the handlers,
runs each route once (`server.warm_up`), then serves `server.invoke` calls one at a time.
Requests wait in one FIFO queue and go to the first free environment, so a request's
latency is the queue ahead of it, never another request's luck in a lock.

Their AWS calls: given the embedded AWS's WSGI app (it runs in the server's process), an
environment's clients hand each signed request over its pipe to the server, which answers
it with that app (`_ParentAws`): botocore still serializes, signs and parses in the
environment, and the embedded AWS checks the signature's principal as for any caller.
That is the server's HTTP front without HTTP: moto's development server opens a thread
and a TCP connection per request (it turns keep-alive off), which cost the server's
process more than moto's own answer. Without the app, they call `AWS_ENDPOINT_URL` over
HTTP as a function calls AWS.

An environment that dies (killed, out of memory) answers its request with a 502, as API
Gateway answers for a crashed function, and is replaced: later requests are served.

Why not `concurrent.futures.ProcessPoolExecutor`: it starts its processes on demand (the
first requests would pay for a process start and the imports), has no hook to run the
warm-up in each process before it takes requests, and a dead process breaks the whole
pool (`BrokenProcessPool`) instead of the one request it was serving.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import logging
import multiprocessing
import os
import sys
import threading
import time
from typing import Any

log = logging.getLogger("charter.workloads.handler_pool")
#: Seconds an environment may take to start (spawn, imports, warm-up) on a loaded machine.
START_SECONDS = 120.0
#: Starts in a row a replacement environment may fail before its slot is left empty.
MAX_FAILED_STARTS = 3
#: What a request gets when its environment ended under it (API Gateway's answer to a
#: function that crashed).
CRASHED = (502, b'{"message": "Internal server error", "error": "execution_environment_ended"}',
           {"Content-Type": "application/json"})

Call = tuple[Any, ...]
Answer = tuple[int, bytes, "dict[str, str] | None"]


def default_size() -> int:
    """Environments for this machine: one per core plus one, so that a core is busy while
    another environment waits for the embedded AWS's answer (at least 2)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(2, cores + 1)


class _ParentAws:
    """The embedded AWS as an environment reaches it: a WSGI app whose calls the server's
    process answers with its own app, over the environment's pipe."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.lock = conn, threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()
        plain = {k: v for k, v in environ.items() if isinstance(v, (str, bool, int, tuple))}
        with self.lock:  # one call at a time on the pipe, whichever thread of the handler asks
            self.conn.send(("aws", plain, body))
            status, headers, payload = self.conn.recv()
        start_response(status, headers)
        return [payload]


def _environment(conn: Any, env: dict[str, str], through_parent: bool) -> None:
    """One execution environment (the child process): warm up, then invoke until told to stop."""
    os.environ.clear()
    os.environ.update(env)
    from charter.workloads.handlers import aws
    from charter.workloads.server import QuietGc, invoke, warm_up

    if through_parent:
        aws.use_in_process(os.environ["AWS_ENDPOINT_URL"], _ParentAws(conn))

    try:
        warm_up()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which names the failure
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    # the imports are ~200k long-lived objects: their first full collection would land on a
    # request (a few hundred ms of CPU, measured as the first submit in each environment)
    QuietGc.settle()
    conn.send(("ready", os.getpid()))
    while True:
        try:
            call = conn.recv()
        except (EOFError, OSError):  # the server ended
            return
        if call is None:
            return
        try:
            answer: Answer = invoke(*call)
        except Exception:  # noqa: BLE001 - the handler's own wrapper answers errors; this is a last resort
            log.exception("the handler raised")
            answer = (500, b'{"message": "Internal server error"}', {"Content-Type": "application/json"})
        conn.send(("done", answer))


def _answer_aws(app: Any, environ: dict[str, Any], body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """An environment's AWS call, answered by the embedded AWS's app in this process."""
    from charter.workloads.handlers.aws import call_app

    environ.update({"wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr})
    try:
        return call_app(app, environ)
    except Exception:  # what an HTTP server answers for an app that raises
        log.exception("the embedded AWS failed on %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
        return "500 Internal Server Error", [("Content-Type", "text/plain")], b"Internal Server Error"


class _Environment:
    """A child process and the parent's end of its pipe."""

    def __init__(self, context: Any, env: dict[str, str], name: str, aws_app: Any) -> None:
        self.aws_app = aws_app
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_environment, args=(child, env, aws_app is not None), name=name,
                                       daemon=True)
        self.process.start()
        child.close()  # so that the child's death reads as EOF here

    def wait_ready(self, timeout: float) -> None:
        from charter.errors import CharterError

        deadline = time.monotonic() + timeout
        while True:  # its warm-up's AWS calls come first, answered as they arrive
            if not self.conn.poll(max(0.0, deadline - time.monotonic())):
                raise CharterError(f"the API's handler process {self.process.name} did not start within "
                                   f"{timeout:.0f} s", hint="the machine may be overloaded; try again")
            try:
                message = self.conn.recv()
            except EOFError:
                self.process.join(5)
                raise CharterError(f"the API's handler process {self.process.name} ended while starting "
                                   f"(exit {self.process.exitcode})", hint="its error is above") from None
            if message[0] == "aws":
                self.conn.send(_answer_aws(self.aws_app, message[1], message[2]))
                continue
            if message[0] != "ready":
                raise CharterError(f"the API's handler process {self.process.name} could not start: {message[1]}",
                                   hint="the same handlers fail in the server process too; fix the error named")
            return

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class HandlerPool:
    """`pool = HandlerPool(3, dict(os.environ), aws_app).start()`, then on an event loop's
    thread `pool.attach(loop)` and `status, body, headers = await pool.submit(call)`.

    All of this process's side runs on that loop (the server's own): handing queued calls
    to free environments, answering their AWS calls, returning their answers, each as the
    environment's pipe becomes readable. The embedded AWS's work is serial under the
    interpreter lock anyway, and every other thread doing it only added lock handoffs:
    measured, with a thread per environment the process spent about a third of its CPU
    outside the lock, and with one dispatcher thread beside the loop each AWS call still
    paid two handoffs between them (the loop's thread holding the lock while the
    dispatcher waited to answer, and back)."""

    def __init__(self, size: int, env: dict[str, str], aws_app: Any = None) -> None:
        """`aws_app`: the embedded AWS's WSGI app when it runs in this process (see the module docstring)."""
        self.size, self.env, self.aws_app = size, dict(env), aws_app
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._queue: collections.deque[tuple[Call, asyncio.Future[Answer]]] = collections.deque()
        self._environments: list[_Environment] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # the loop's thread alone reads and writes these
        self._idle: list[int] = []
        self._serving: dict[int, asyncio.Future[Answer]] = {}
        self._starting: set[int] = set()
        self._failed_starts = [0] * size

    def start(self) -> HandlerPool:
        """Start the environments and wait until each has warmed up (blocking; before `attach`)."""
        try:
            self._environments = [self._spawn(i) for i in range(self.size)]
            for environment in self._environments:  # they start in parallel; wait for each
                environment.wait_ready(START_SECONDS)
        except BaseException:
            self.stop()
            raise
        return self

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve on `loop` (called on its thread, before the first `submit`)."""
        self._loop = loop
        self._idle = list(range(self.size))
        for i in range(self.size):
            loop.add_reader(self._environments[i].conn.fileno(), self._on_message, i)

    def detach(self) -> None:
        """Stop watching the environments (on the loop's thread, before it closes); `stop` ends them."""
        if self._loop is not None:
            for environment in self._environments:
                with contextlib.suppress(OSError, ValueError):
                    self._loop.remove_reader(environment.conn.fileno())
        self._loop = None

    def _spawn(self, i: int) -> _Environment:
        return _Environment(self._context, self.env, f"charter-api-handler-{i}", self.aws_app)

    def submit(self, call: Call) -> asyncio.Future[Answer]:
        """`call` (the arguments of `server.invoke`) for the next free environment, in order."""
        assert self._loop is not None, "attach() the pool to the loop first"
        future: asyncio.Future[Answer] = self._loop.create_future()
        self._queue.append((call, future))
        self._feed()
        return future

    def _feed(self) -> None:
        """Queued calls to free environments, oldest first."""
        if not self._idle and not self._serving and not self._starting:  # every environment failed to start again
            while self._queue:
                future = self._queue.popleft()[1]
                if not future.done():
                    future.set_result(CRASHED)
            return
        while self._idle and self._queue:
            call, future = self._queue.popleft()
            if future.done():  # cancelled: its client went away while it waited
                continue
            i = self._idle.pop(0)
            try:
                self._environments[i].conn.send(call)
            except OSError:
                future.set_result(CRASHED)
                self._ended(i)
                continue
            self._serving[i] = future

    def _on_message(self, i: int) -> None:
        """Environment `i` wrote: an AWS call to answer, its answer, or how its start went."""
        environment = self._environments[i]
        try:
            message = environment.conn.recv()
            if message[0] == "aws":
                environment.conn.send(_answer_aws(self.aws_app, message[1], message[2]))
            elif message[0] == "done":
                future = self._serving.pop(i)
                if not future.done():  # not cancelled meanwhile
                    future.set_result(message[1])
                self._idle.append(i)
            elif message[0] == "ready":
                self._starting.discard(i)
                self._failed_starts[i] = 0
                self._idle.append(i)
            else:  # "failed": a replacement could not start; a few tries, then the slot stays empty
                log.error("a replacement handler process could not start: %s", message[1])
                self._starting.discard(i)
                self._failed_starts[i] += 1
                self._replace(i)
        except (EOFError, OSError):
            log.warning("the API's handler process %s ended (exit %s); starting another",
                        environment.process.name, environment.process.exitcode)
            self._ended(i)
        self._feed()

    def _ended(self, i: int) -> None:
        """Environment `i` died: its request gets the 502, and another takes its place."""
        if i in self._idle:  # it died waiting for work: the replacement reports ready itself
            self._idle.remove(i)
        future = self._serving.pop(i, None)
        if future is not None and not future.done():
            future.set_result(CRASHED)
        if i in self._starting:  # it died while starting: counts as a failed start
            self._starting.discard(i)
            self._failed_starts[i] += 1
        self._replace(i)

    def _replace(self, i: int) -> None:
        """A fresh environment in slot `i` (unless it failed to start too often): it warms up
        (its AWS calls answered here) and reports ready like the first ones did."""
        assert self._loop is not None
        with contextlib.suppress(OSError, ValueError):
            self._loop.remove_reader(self._environments[i].conn.fileno())
        self._environments[i].stop()
        if self._failed_starts[i] >= MAX_FAILED_STARTS:
            return
        self._environments[i] = self._spawn(i)
        self._starting.add(i)
        self._loop.add_reader(self._environments[i].conn.fileno(), self._on_message, i)

    def stop(self) -> None:
        """End the environments (after `detach`, or when the loop has ended)."""
        for environment in self._environments:
            environment.stop()
        self._queue.clear()  # what was still queued will not be served (its loop has ended)
        self._environments = []

"""The local API server's machinery: in-process AWS transport, job keys, long polls beside
the handler processes, the workers' yield to the API, start/stop hygiene, and the handler
processes themselves: requests are answered there with the embedded AWS's state, and an
environment that dies costs only the request it was serving."""

from __future__ import annotations

import dataclasses
import gc
import json
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from handlers_testkit import SETTINGS, ingest_prices, settings_env  # noqa: E402

from charter.errors import CharterError  # noqa: E402
from charter.local import LocalAws  # noqa: E402
from charter.workloads import server as server_module  # noqa: E402
from charter.workloads.handlers import aws, jobs, worker  # noqa: E402
from charter.workloads.handlers.jobs import JobStore  # noqa: E402
from charter.workloads.handlers.settings import Settings  # noqa: E402
from charter.workloads.server import LocalApiServer, _waits, route  # noqa: E402

#: DynamoDB operations the embedded AWS answered through the app the server was given
#: (its own clients' and its handler processes' calls; not the job flow's, which use HTTP).
DYNAMODB_SEEN: list[str] = []


def _recording(app):
    def recorded(environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_"):
            DYNAMODB_SEEN.append(target.rsplit(".", 1)[-1])
        return app(environ, start_response)

    return recorded


@pytest.fixture(scope="module")
def served() -> Iterator[LocalApiServer]:
    with pytest.MonkeyPatch.context() as mp, LocalAws() as moto:
        for k, v in {**settings_env(), **moto.env()}.items():
            mp.setenv(k, v)
        aws.reset()
        with LocalApiServer(SETTINGS, aws_app=_recording(moto.wsgi_app())) as server:
            yield server
        aws.reset()


def _operations(client) -> list[str]:
    """Names of the AWS operations `client` makes from now on."""
    seen: list[str] = []
    client.meta.events.register("before-call", lambda model, **_: seen.append(model.name))
    return seen


def _dynamodb_operations() -> list[str]:
    """Names of the DynamoDB operations the served handlers make from now on."""
    del DYNAMODB_SEEN[:]
    return DYNAMODB_SEEN


@pytest.mark.e2e
def test_handlers_reach_the_embedded_aws_in_process_with_identical_answers(served) -> None:
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    sent: list[str] = []
    original = aws._WsgiTransport.__call__

    def spy(self, request, **kw):
        sent.append(request.url)
        return original(self, request, **kw)

    aws._WsgiTransport.__call__ = spy  # type: ignore[method-assign]
    try:
        # a conditional write that fails comes back as the modelled exception, as over HTTP
        store = JobStore(SETTINGS)
        job = store.create("u", {"assets": ["A", "B"]})
        with pytest.raises(ClientError) as info:
            ddb.put_item(TableName=SETTINGS.jobs_table, Item=job.item(),
                         ConditionExpression="attribute_not_exists(job_id)")
        assert info.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
        # S3 keys with spaces, unicode and an encoded slash; a streamed body; a presigned URL over HTTP
        key = "incoming/vendor x/prïces%2F2026.csv"
        body = b"date,A\n2026-01-02,1.0\n" * 2000
        s3.put_object(Bucket=SETTINGS.market_data_bucket, Key=key, Body=body)
        assert s3.get_object(Bucket=SETTINGS.market_data_bucket, Key=key)["Body"].read() == body
        listed = s3.list_objects_v2(Bucket=SETTINGS.market_data_bucket, Prefix="incoming/vendor x/")
        assert [o["Key"] for o in listed["Contents"]] == [key]
        url = s3.generate_presigned_url("get_object", Params={"Bucket": SETTINGS.market_data_bucket, "Key": key})
        assert requests.get(url, timeout=10).content == body
    finally:
        aws._WsgiTransport.__call__ = original  # type: ignore[method-assign]
    # every call above went through the in-process transport, none through the socket
    assert len(sent) == 5 and all(u.startswith(os.environ["AWS_ENDPOINT_URL"]) for u in sent)


@pytest.mark.e2e
def test_job_ids_carry_their_key_and_status_is_one_get_item(served) -> None:
    job_id, stamp = jobs.new_job_key()
    assert len(job_id) == 32 and jobs.timestamp_of(job_id) == stamp
    assert ingest_prices(n_assets=2, n_days=120)["validated"] == 1  # submit checks the tickers against it
    created = requests.post(f"{served.url}/optimize", json={"assets": ["A000", "A001"], "objective": "min_variance"},
                            headers={"X-Charter-User": "keys"}, timeout=10).json()
    ops = _dynamodb_operations()
    resp = requests.get(f"{served.url}/jobs/{created['job_id']}", headers={"X-Charter-User": "keys"}, timeout=10)
    assert resp.status_code == 200 and resp.json()["created_at"] == jobs.timestamp_of(created["job_id"])
    assert ops == ["GetItem"]  # made by the handler's process, answered by the embedded AWS in this one
    # a job whose id was not made from its timestamp is still found (GetItem misses, then Query)
    store = JobStore(SETTINGS)
    other = store.create("keys", {"assets": ["A000", "A001"]}, job_id="0123456789abcdef" * 2)
    ops = _operations(aws.client("dynamodb"))
    assert store.get(other.job_id).job_id == other.job_id
    assert ops == ["GetItem", "Query"]


def _until(condition, what: str, timeout: float = 300.0) -> None:
    """Wait for `condition()`; the bound is a hang guard, far above any load's slowdown."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what} after {timeout:.0f}s"
        time.sleep(0.01)


@pytest.mark.e2e
def test_long_polls_do_not_hold_up_other_requests(served, monkeypatch) -> None:
    store = JobStore(SETTINGS)
    job = store.create("poller", {"assets": ["A000", "A001"]})  # never started: stays QUEUED
    waiting, answered = [], []
    original = server_module.invoke

    def spy(*call):
        long_poll = call[-1] == "status" and _waits(call[4])
        if long_poll:
            waiting.append(call[2])
        try:
            return original(*call)
        finally:
            if long_poll:
                answered.append(call[2])

    monkeypatch.setattr(server_module, "invoke", spy)
    polled: list[dict] = []

    def poll() -> None:
        polled.append(requests.get(f"{served.url}/jobs/{job.job_id}", params={"wait": 8, "after": job.version},
                                   headers={"X-Charter-User": "poller"}, timeout=600).json())

    threads = [threading.Thread(target=poll) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        _until(lambda: len(waiting) == 3, "three long polls to reach their handler")
        for _ in range(5):
            assert requests.get(f"{served.url}/jobs/{job.job_id}", headers={"X-Charter-User": "poller"},
                                timeout=60).status_code == 200
        assert answered == []  # all five answered while the three long polls still wait
        changed = store.update(job, status="RUNNING")  # a change ends the long polls
    finally:
        for t in threads:
            t.join(timeout=600)
    assert [(p["status"], p["version"]) for p in polled] == [("RUNNING", changed.version)] * 3


def test_routes_and_long_poll_detection() -> None:
    assert route("POST", "/optimize") == ("/optimize", "submit", None)
    assert route("GET", "/jobs/abc") == ("/jobs/{id}", "status", {"id": "abc"})
    assert route("DELETE", "/jobs/abc") == ["GET"]
    assert route("GET", "/nope") == []
    assert _waits("wait=5&after=2") and not _waits("wait=0") and not _waits("after=3") and not _waits("")


class _Clock:
    """Time for `worker._yield_to_api` that passes only when it sleeps; `on_sleep` runs at each
    sleep (the API's requests finishing meanwhile)."""

    def __init__(self, on_sleep=lambda now: None) -> None:
        self.now, self.sleeps, self.on_sleep = 1000.0, 0, on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds
        self.on_sleep(self.now)


def test_worker_yields_its_aws_calls_while_requests_are_in_flight(monkeypatch) -> None:
    busy = multiprocessing.get_context("spawn").RawValue("i", 0)
    monkeypatch.setattr(worker, "YIELD_MAX_SECONDS", 0.3)
    monkeypatch.setattr(worker, "YIELD_POLL_SECONDS", 0.002)
    # idle API: no wait
    clock = _Clock()
    monkeypatch.setattr(worker, "time", clock)
    worker._yield_to_api(busy)
    assert clock.sleeps == 0
    # busy API that never goes idle: waits, but never longer than the cap
    busy.value = 2
    clock = _Clock()
    monkeypatch.setattr(worker, "time", clock)
    worker._yield_to_api(busy)
    assert 0.3 <= clock.now - 1000.0 < 0.3 + 0.002 + 1e-9
    # goes as soon as the API is idle: its last request ends 0.1 s in
    busy.value = 1
    clock = _Clock(on_sleep=lambda now: setattr(busy, "value", 0) if now >= 1000.1 else None)
    monkeypatch.setattr(worker, "time", clock)
    worker._yield_to_api(busy)
    assert busy.value == 0 and 0.1 <= clock.now - 1000.0 < 0.1 + 0.002 + 1e-9


def test_settings_follow_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("LOCAL_WORKERS", "3")
    assert Settings.from_env().local_workers == 3
    monkeypatch.setenv("LOCAL_WORKERS", "2")
    assert Settings.from_env().local_workers == 2
    monkeypatch.setenv("LOCAL_WORKERS", "two")
    with pytest.raises(ValueError, match="LOCAL_WORKERS"):
        Settings.from_env()


@pytest.mark.e2e
@pytest.mark.slow
def test_busy_port_is_a_charter_error_and_stop_leaves_no_worker(monkeypatch) -> None:
    with LocalAws() as moto:
        for k, v in {**settings_env(), **moto.env()}.items():
            monkeypatch.setenv(k, v)
        aws.reset()
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with pytest.raises(CharterError, match="cannot serve the API"):
                LocalApiServer(SETTINGS, port=taken.getsockname()[1]).start()
        server = LocalApiServer(SETTINGS).start()
        try:
            # jobs run as the embedded AWS's pipeline steps, not in workers of this server
            assert not [p for p in multiprocessing.active_children() if p.name == "charter-worker"]
            assert json.loads(requests.get(f"{server.url}/health", timeout=5).text) == {"status": "ok"}
        finally:
            server.stop()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.url}/health", timeout=2)
    aws.reset()


@pytest.mark.e2e
@pytest.mark.slow
def test_start_warms_up_and_no_full_collection_of_the_process_is_left_for_a_request(monkeypatch) -> None:
    """The API benchmark's one ~180 ms stall was the first full garbage collection after
    start walking every object of the process (moto, botocore, ...) on a request. Start
    now runs each handler once and collects and freezes before it accepts requests."""
    invoked: list[str] = []
    original = server_module.invoke
    monkeypatch.setattr(server_module, "invoke", lambda *a: invoked.append(a[-1]) or original(*a))
    others = gc.callbacks[:]  # another server of this test process must not freeze for us
    gc.callbacks.clear()
    gc.unfreeze()
    try:
        with LocalAws() as moto:
            for k, v in {**settings_env(), **moto.env()}.items():
                monkeypatch.setenv(k, v)
            aws.reset()
            with LocalApiServer(dataclasses.replace(SETTINGS, local=False)) as server:
                assert invoked == ["submit", "status", "results"]  # before any request
                frozen = gc.get_freeze_count()
                assert frozen > 50_000  # the process's long-lived objects...
                assert len(gc.get_objects(2)) < frozen // 20  # ...are not left for a full collection to walk
                # a full collection while serving: its survivors are frozen in turn
                kept = [[i] for i in range(20_000)]
                gc.collect()
                _until(lambda: len(gc.get_objects(2)) <= 2_000, "the survivors to be frozen")
                assert gc.get_freeze_count() > frozen
                assert requests.get(f"{server.url}/health", timeout=5).status_code == 200
            assert gc.get_freeze_count() == 0 and len(kept) == 20_000  # stop gives the collector everything back
    finally:
        gc.callbacks[:] = others + [c for c in gc.callbacks if c not in others]
        aws.reset()


# -- the handler processes (`workloads.handler_pool`) ------------------------------------------

def _environments() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name.startswith("charter-api-handler-")]


def _submit(url: str, user: str) -> requests.Response:
    return requests.post(f"{url}/optimize", json={"assets": ["A000", "A001"], "objective": "min_variance"},
                         headers={"X-Charter-User": user}, timeout=120)


@pytest.mark.e2e
def test_requests_are_answered_by_the_handler_processes_with_the_embedded_aws_state(served, monkeypatch) -> None:
    assert ingest_prices(n_assets=2, n_days=120)["validated"] == 1  # submit checks the tickers against it
    size = served.handler_process_count
    assert size >= 2 and len(_environments()) == size and all(p.pid != os.getpid() for p in _environments())

    def not_here(*call):
        raise AssertionError("a REST route ran in the server's process")

    monkeypatch.setattr(server_module, "invoke", not_here)  # the server's own copy: unused for REST routes
    created = _submit(served.url, "pool-user")
    assert created.status_code == 202, created.text
    job_id = created.json()["job_id"]
    # written by a handler process into the embedded AWS of this one: the same state for everyone
    assert JobStore(SETTINGS).get(job_id).user_id == "pool-user"
    status = requests.get(f"{served.url}/jobs/{job_id}", headers={"X-Charter-User": "pool-user"}, timeout=60)
    assert status.status_code == 200 and status.json()["job_id"] == job_id
    # the handler still answers each user for their own jobs only
    assert requests.get(f"{served.url}/jobs/{job_id}", headers={"X-Charter-User": "someone-else"},
                        timeout=60).status_code == 404


@pytest.mark.e2e
def test_a_dead_handler_process_costs_only_its_request_and_is_replaced(served) -> None:
    """Last in this module: it kills the served environments (their replacements serve on)."""
    assert ingest_prices(n_assets=2, n_days=120)["validated"] == 1
    size = served.handler_process_count
    before = {p.pid for p in _environments()}
    for process in _environments():
        os.kill(process.pid, signal.SIGKILL)
        process.join(30)
    answers = [requests.get(f"{served.url}/jobs/{'0' * 32}", headers={"X-Charter-User": "pool-user"}, timeout=300)
               for _ in range(size + 4)]
    codes = [a.status_code for a in answers]
    # each dead environment answers the one request it was handed with API Gateway's 502,
    # then a fresh one serves: the rest are the route's own answer (no such job)
    assert codes.count(502) <= size and codes[-3:] == [404, 404, 404], codes
    assert all(a.json().get("error") == "execution_environment_ended" for a in answers if a.status_code == 502)
    after = {p.pid for p in _environments()}
    assert len(after) == size and not after & before
    assert _submit(served.url, "after-crash").status_code == 202
    # environments that die idle, then a burst while their replacements warm up: each
    # replacement takes one request at a time, and every request is answered once
    for process in _environments():
        os.kill(process.pid, signal.SIGKILL)
        process.join(30)
    burst: list[object] = [None] * (3 * size)

    def one(k: int) -> None:
        try:
            burst[k] = requests.get(f"{served.url}/jobs/{'0' * 32}", headers={"X-Charter-User": "pool-user"},
                                    timeout=120).status_code
        except requests.RequestException as exc:
            burst[k] = exc

    threads = [threading.Thread(target=one, args=(k,)) for k in range(len(burst))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(code in (404, 502) for code in burst) and burst.count(502) <= size, burst

"""The local API server's machinery: in-process AWS transport, job keys, long polls beside
the FIFO handler pool, the workers' yield to the API, start/stop hygiene."""

from __future__ import annotations

import dataclasses
import gc
import json
import multiprocessing
import os
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
from handlers_testkit import SETTINGS, settings_env  # noqa: E402

from charter.errors import CharterError  # noqa: E402
from charter.local import LocalAws  # noqa: E402
from charter.workloads import server as server_module  # noqa: E402
from charter.workloads.handlers import aws, jobs, worker  # noqa: E402
from charter.workloads.handlers.jobs import JobStore  # noqa: E402
from charter.workloads.handlers.settings import Settings  # noqa: E402
from charter.workloads.server import LocalApiServer, _waits, route  # noqa: E402


@pytest.fixture(scope="module")
def served() -> Iterator[LocalApiServer]:
    with pytest.MonkeyPatch.context() as mp, LocalAws() as moto:
        for k, v in {**settings_env(), **moto.env()}.items():
            mp.setenv(k, v)
        aws.reset()
        with LocalApiServer(SETTINGS, aws_app=moto.wsgi_app()) as server:
            yield server
        aws.reset()


def _operations(client) -> list[str]:
    """Names of the AWS operations `client` makes from now on."""
    seen: list[str] = []
    client.meta.events.register("before-call", lambda model, **_: seen.append(model.name))
    return seen


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


def test_job_ids_carry_their_key_and_status_is_one_get_item(served) -> None:
    job_id, stamp = jobs.new_job_key()
    assert len(job_id) == 32 and jobs.timestamp_of(job_id) == stamp
    created = requests.post(f"{served.url}/optimize", json={"assets": ["A000", "A001"], "objective": "min_variance"},
                            headers={"X-Charter-User": "keys"}, timeout=10).json()
    ops = _operations(aws.client("dynamodb"))
    resp = requests.get(f"{served.url}/jobs/{created['job_id']}", headers={"X-Charter-User": "keys"}, timeout=10)
    assert resp.status_code == 200 and resp.json()["created_at"] == jobs.timestamp_of(created["job_id"])
    assert ops == ["GetItem"]
    # a job whose id was not made from its timestamp is still found (GetItem misses, then Query)
    store = JobStore(SETTINGS)
    other = store.create("keys", {"assets": ["A000", "A001"]}, job_id="0123456789abcdef" * 2)
    del ops[:]
    assert store.get(other.job_id).job_id == other.job_id
    assert ops == ["GetItem", "Query"]


def test_long_polls_do_not_hold_up_other_requests(served) -> None:
    job = JobStore(SETTINGS).create("poller", {"assets": ["A000", "A001"]})  # never started: stays QUEUED
    polled: dict[str, float] = {}

    def poll() -> None:
        t0 = time.monotonic()
        requests.get(f"{served.url}/jobs/{job.job_id}", params={"wait": 3, "after": 99},
                     headers={"X-Charter-User": "poller"}, timeout=15)
        polled["took"] = time.monotonic() - t0

    threads = [threading.Thread(target=poll) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    for _ in range(5):
        assert requests.get(f"{served.url}/jobs/{job.job_id}", headers={"X-Charter-User": "poller"},
                            timeout=10).status_code == 200
    assert time.monotonic() - t0 < 2.0  # answered while three long polls wait
    for t in threads:
        t.join()
    assert polled["took"] >= 2.5  # and the long polls did wait


def test_routes_and_long_poll_detection() -> None:
    assert route("POST", "/optimize") == ("/optimize", "submit", None)
    assert route("GET", "/jobs/abc") == ("/jobs/{id}", "status", {"id": "abc"})
    assert route("DELETE", "/jobs/abc") == ["GET"]
    assert route("GET", "/nope") == []
    assert _waits("wait=5&after=2") and not _waits("wait=0") and not _waits("after=3") and not _waits("")


def test_worker_yields_its_aws_calls_while_requests_are_in_flight(monkeypatch) -> None:
    busy = multiprocessing.get_context("spawn").RawValue("i", 0)
    monkeypatch.setattr(worker, "YIELD_MAX_SECONDS", 0.3)
    t0 = time.monotonic()
    worker._yield_to_api(busy)
    assert time.monotonic() - t0 < 0.05  # idle API: no wait
    busy.value = 2
    t0 = time.monotonic()
    worker._yield_to_api(busy)
    assert 0.3 <= time.monotonic() - t0 < 1.0  # busy API: waits, but never longer than the cap
    busy.value = 1
    threading.Timer(0.1, lambda: setattr(busy, "value", 0)).start()
    t0 = time.monotonic()
    worker._yield_to_api(busy)
    assert 0.08 <= time.monotonic() - t0 < 0.25  # goes as soon as the API is idle


def test_settings_follow_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("LOCAL_WORKERS", "3")
    assert Settings.from_env().local_workers == 3
    monkeypatch.setenv("LOCAL_WORKERS", "2")
    assert Settings.from_env().local_workers == 2
    monkeypatch.setenv("LOCAL_WORKERS", "two")
    with pytest.raises(ValueError, match="LOCAL_WORKERS"):
        Settings.from_env()


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
        assert [p for p in multiprocessing.active_children() if p.name == "charter-worker"]
        assert json.loads(requests.get(f"{server.url}/health", timeout=5).text) == {"status": "ok"}
        server.stop()
        deadline = time.monotonic() + 10
        while [p for p in multiprocessing.active_children() if p.name == "charter-worker"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in multiprocessing.active_children() if p.name == "charter-worker"]
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.url}/health", timeout=2)
    aws.reset()


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
                deadline = time.monotonic() + 5
                while len(gc.get_objects(2)) > 2_000 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert len(gc.get_objects(2)) <= 2_000 and gc.get_freeze_count() > frozen
                assert requests.get(f"{server.url}/health", timeout=5).status_code == 200
            assert gc.get_freeze_count() == 0 and len(kept) == 20_000  # stop gives the collector everything back
    finally:
        gc.callbacks[:] = others + [c for c in gc.callbacks if c not in others]
        aws.reset()

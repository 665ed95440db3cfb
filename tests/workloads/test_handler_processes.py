"""The local API's handlers run in processes of their own beside the embedded AWS
(`workloads.handler_pool`): requests are answered there, with the embedded AWS's state,
and an environment that dies costs only the request it was serving."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from handlers_testkit import SETTINGS, ingest_prices, settings_env  # noqa: E402

from charter.local import LocalAws  # noqa: E402
from charter.workloads import server as server_module  # noqa: E402
from charter.workloads.handlers import aws  # noqa: E402
from charter.workloads.handlers.jobs import JobStore  # noqa: E402
from charter.workloads.server import LocalApiServer  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def served() -> Iterator[LocalApiServer]:
    with pytest.MonkeyPatch.context() as mp, LocalAws() as moto:
        for k, v in {**settings_env(), **moto.env()}.items():
            mp.setenv(k, v)
        aws.reset()
        with LocalApiServer(SETTINGS, aws_app=moto.wsgi_app(), handler_processes=2) as server:
            assert ingest_prices(n_assets=3, n_days=120)["validated"] == 1
            yield server
        aws.reset()


def _environments() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name.startswith("charter-api-handler-")]


def _submit(url: str, user: str) -> requests.Response:
    return requests.post(f"{url}/optimize", json={"assets": ["A000", "A001"], "objective": "min_variance"},
                         headers={"X-Charter-User": user}, timeout=120)


def test_requests_are_answered_by_the_handler_processes_with_the_embedded_aws_state(served, monkeypatch) -> None:
    assert len(_environments()) == 2 and all(p.pid != os.getpid() for p in _environments())

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


def test_a_dead_handler_process_costs_only_its_request_and_is_replaced(served) -> None:
    before = {p.pid for p in _environments()}
    for process in _environments():
        os.kill(process.pid, signal.SIGKILL)
        process.join(30)
    answers = [requests.get(f"{served.url}/jobs/{'0' * 32}", headers={"X-Charter-User": "pool-user"}, timeout=300)
               for _ in range(6)]
    codes = [a.status_code for a in answers]
    # each dead environment answers the one request it was handed with API Gateway's 502,
    # then a fresh one serves: the rest are the route's own answer (no such job)
    assert codes.count(502) <= 2 and codes[-3:] == [404, 404, 404], codes
    assert all(a.json().get("error") == "execution_environment_ended" for a in answers if a.status_code == 502)
    after = {p.pid for p in _environments()}
    assert len(after) == 2 and not after & before
    assert _submit(served.url, "after-crash").status_code == 202

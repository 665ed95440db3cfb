"""Retries as settings, and calls that cannot succeed given up early: counted in requests, not seconds."""

from __future__ import annotations

import socket
import threading
from collections import Counter

import botocore.exceptions
import pytest

from charter.aws import SessionFactory
from charter.retries import DEFAULT_MAX_ATTEMPTS, RetrySettings

BROKEN = "TrentService.ListKeys"  # KMS ListKeys (JSON protocol: its X-Amz-Target names it)


def _counting_app(seen: Counter, broken: str | None, body: bytes, ctype: str):
    """The embedded AWS's app, counting requests per operation; `broken` answers HTTP 500 with `body`."""
    from charter.local.app import _guarded_app

    def factory():
        app = _guarded_app()

        def wrapped(environ, start_response):
            target = environ.get("HTTP_X_AMZ_TARGET") or f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}"
            seen[target] += 1
            if broken and target == broken:
                start_response("500 INTERNAL SERVER ERROR", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
                return [body]
            return app(environ, start_response)
        return wrapped
    return factory


def _collect(monkeypatch, broken: str | None, *, body: bytes = b"<!doctype html><title>500 Internal Server Error</title>",
             ctype: str = "text/html", workers: int = 8) -> tuple[Counter, list, SessionFactory]:
    import charter.local
    from charter.evidence.assessment import assessment_config
    from charter.evidence.fanout import collect_all

    seen: Counter = Counter()
    monkeypatch.setattr(charter.local, "_guarded_app", _counting_app(seen, broken, body, ctype))
    cfg = assessment_config("us-east-1", ["us-east-1", "us-west-2", "eu-west-1"])
    with charter.local.LocalAws() as aws:
        sessions = aws.sessions()  # the embedded AWS's credentials and capabilities
        sessions.client("kms", region="eu-west-1").create_key(Description="k")
        seen.clear()
        # no landing zone (no CharterEvidenceReader): the caller reads its own account, as assess does
        artifacts = list(collect_all(sessions, cfg, None, collectors=["kms", "logs", "ebs", "dynamodb"],
                                     max_workers=workers, role_name=""))
    return seen, artifacts, sessions


@pytest.mark.e2e
def test_an_api_answering_500_costs_one_request_per_call(monkeypatch) -> None:
    """The must-show: collection against a server that answers one API with HTTP 500 makes no
    more requests than twice the same collection with that API working (it makes fewer: each
    call of the broken API is tried once, where botocore alone would try it 10 times)."""
    clean, clean_artifacts, _ = _collect(monkeypatch, None)
    broken, artifacts, sessions = _collect(monkeypatch, BROKEN)
    calls = clean[BROKEN]
    assert calls == 3  # one ListKeys per region
    assert broken[BROKEN] == calls  # tried once each: no retry of a call that cannot succeed
    assert sum(broken.values()) <= 2 * sum(clean.values())
    assert sessions.guard.given_up == calls
    gaps = [a for a in artifacts if a.kind == "gap"]
    assert {(a.collector, a.region) for a in gaps} == {("kms", r) for r in ("us-east-1", "us-west-2", "eu-west-1")}
    assert all("HTTP 500" in (a.error or "") for a in gaps)  # and the gap says why
    assert len(artifacts) == len(clean_artifacts)  # every other unit still read


@pytest.mark.e2e
def test_an_aws_shaped_500_is_retried_once_then_given_up_on(monkeypatch) -> None:
    """AWS's own 500s (InternalFailure) are transient and retried, up to AWS_MAX_ATTEMPTS; once an
    operation has failed every attempt, its later calls in the run are tried once."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    body = b'{"__type": "InternalFailure", "message": "try again"}'
    seen, artifacts, sessions = _collect(monkeypatch, BROKEN, body=body, ctype="application/x-amz-json-1.1",
                                         workers=1)
    assert seen[BROKEN] == 3 + 1 + 1  # the first region's call: 3 attempts; the next two: 1 each
    assert sessions.config.retries["total_max_attempts"] == 3 and sessions.config.retries["mode"] == "standard"
    assert sum(a.kind == "gap" for a in artifacts) == 3


def test_settings_flag_beats_environment_beats_profile_beats_default(tmp_path, monkeypatch) -> None:
    import botocore.session

    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    config = tmp_path / "config"
    config.write_text("[profile slow]\nmax_attempts = 4\nretry_mode = standard\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    profile = botocore.session.Session(profile="slow")
    plain = botocore.session.Session()
    assert RetrySettings().resolve(plain).max_attempts == DEFAULT_MAX_ATTEMPTS
    assert RetrySettings().resolve(plain).mode == "adaptive"  # not botocore's own default ("legacy")
    assert (RetrySettings().resolve(profile).max_attempts, RetrySettings().resolve(profile).mode) == (4, "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    assert RetrySettings().resolve(profile).max_attempts == 2
    assert RetrySettings(max_attempts=7, read_timeout=5).resolve(profile).max_attempts == 7
    built = RetrySettings(max_attempts=7, read_timeout=5).config(profile)
    assert built.retries == {"mode": "standard", "total_max_attempts": 7} and built.read_timeout == 5


def test_a_silent_endpoint_is_shown_while_waiting_and_given_up_on(monkeypatch) -> None:
    """An endpoint that accepts and never answers: each call waits `--read-timeout`, the guard
    names the call while it waits, and after a call spent its attempts the next is tried once."""
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])  # kept open, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        # an endpoint that is not the embedded AWS (it states nothing): AWS reached there, with static keys
        sessions = SessionFactory(endpoint_url=f"http://127.0.0.1:{server.getsockname()[1]}",
                                  credentials=("testing", "testing"))
        sessions.use_retry(RetrySettings(max_attempts=2, read_timeout=1, mode="standard"))
        kms = sessions.client("kms")
        for _ in range(50):  # the factory's reachability probe is one connection: let it be counted
            if accepted:
                break
            stop.wait(0.1)
        probe = len(accepted)
        seen: list[str] = []
        watcher_done = threading.Event()

        def watch() -> None:
            while not watcher_done.is_set():
                flight = sessions.guard.waiting(0.3)
                if flight is not None:
                    seen.append(f"{flight.label} attempt {flight.attempt}")
                watcher_done.wait(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        with pytest.raises(botocore.exceptions.ReadTimeoutError):
            kms.list_keys()
        first = len(accepted) - probe
        with pytest.raises(botocore.exceptions.ReadTimeoutError):
            kms.list_keys()
        watcher_done.set()
        watcher.join(5)
        assert probe == 1 and first == 2 and len(accepted) - probe - first == 1
        assert any(s.startswith("kms:ListKeys (us-east-1)") for s in seen), seen
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()

"""Shared pytest options and fixtures, and the suite's CI policy on skips."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from childproc import Child, stop_process
from cli_testkit import run_cli
from hypothesis import HealthCheck, settings

# Property tests are judged by what they find, never by how fast an example runs: on a loaded
# machine hypothesis's 200 ms deadline and its too-slow health check would fail correct code.
settings.register_profile("charter", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("charter")

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"

#: Skips a CI run (CI=true) accepts, by the start of the skip reason, each with why it cannot be
#: installed by the test extra or the README's test line. Any other skip fails a CI run: a
#: dependency the suite needs (Chromium, the optimizer's benchmark peers, ...) that is missing
#: means the set-up is broken, and a skipped test would hide that.
ALLOWED_CI_SKIPS: dict[str, str] = {
    "no Docker engine": "CI machines have the docker client but no engine to build images with",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="Rewrite the golden templates under tests/landing_zone/golden/ from the current synth.")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not (report.skipped and _in_ci()) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if any(reason.startswith(allowed) for allowed in ALLOWED_CI_SKIPS):
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI=true: {reason}\nThe test extra (pyproject.toml) or the README's test "
                       "line must install what this test needs; a skip that no install can fix belongs in "
                       "ALLOWED_CI_SKIPS (tests/conftest.py) with its reason.")


E2E_DIR = Path(__file__).resolve().parent / "e2e"
#: The test running now (setup, call or teardown), for the embedded AWS's marker check.
_running: list[pytest.Item] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/e2e/ runs a whole flow: it is e2e without saying so."""
    for item in items:
        if E2E_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _running[:] = [item]
    try:
        yield
    finally:
        _running.clear()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under `coverage run -m pytest -n 2` (README, Tests): an xdist worker writes its coverage
    data when its tests are done, before it tells the controller it finished. The controller
    SIGKILLs a worker that takes more than 10 s to exit (xdist's EXIT_TIMEOUT), which a worker
    writing a large data file on a loaded machine does, and everything it measured was lost.
    Saved again at exit, to the same file, when the worker gets that far."""
    if not hasattr(session.config, "workerinput"):
        return
    try:
        import coverage
    except ImportError:
        return
    cov = coverage.Coverage.current()
    if cov is not None:
        cov.save()


def pytest_sessionstart(session: pytest.Session) -> None:
    """A test that starts the embedded AWS in this process must be marked e2e (so that
    `-m "not e2e"` really leaves every embedded AWS out): it fails, saying so, otherwise."""
    try:
        from charter.local import server
    except ImportError:  # the embedded AWS moved: nothing to check here
        return
    local_aws = getattr(server, "LocalAws", None)
    start = getattr(local_aws, "start", None)
    if start is None or getattr(start, "_charter_e2e_check", False):
        return

    def checked_start(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = _running[0] if _running else None
        if item is not None and item.get_closest_marker("e2e") is None:
            pytest.fail(f"{item.nodeid} starts the embedded AWS: mark it (or its module) with pytest.mark.e2e",
                        pytrace=False)
        return start(self, *args, **kwargs)

    checked_start._charter_e2e_check = True  # type: ignore[attr-defined]
    local_aws.start = checked_start


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def small_config_path() -> Path:
    return EXAMPLES / "small" / "org.yaml"


@pytest.fixture(scope="session")
def small_config(small_config_path: Path):
    from charter.landing_zone.config import load_config

    return load_config(small_config_path)


@pytest.fixture(autouse=True, scope="session")
def _signing_key_outside_home(tmp_path_factory: pytest.TempPathFactory):
    """Local evidence stores sign with a key in the user's config directory: the suite uses its
    own, never the developer's (~/.config/charter/keys) nor one shared between runs."""
    import os

    before = {k: os.environ.get(k) for k in ("CHARTER_KEY_DIR", "CHARTER_SIGNING_KEY")}
    os.environ["CHARTER_KEY_DIR"] = str(tmp_path_factory.mktemp("charter-keys"))
    os.environ.pop("CHARTER_SIGNING_KEY", None)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture()
def charter(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """`charter(*args)` -> (exit code, stdout, stderr), in this process (`cli_testkit.run_cli`)."""
    return lambda *args: run_cli(capsys, *args)


@pytest.fixture()
def test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS credentials of the test's own: never the developer's profile, config or endpoint."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture()
def moto_aws(test_credentials: None) -> Iterator[None]:
    """Moto's in-process AWS (plain moto, not the embedded AWS), with the test's own credentials."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def spawn() -> Iterator[Callable[..., Child]]:
    """`spawn(args, **popen_kwargs)` starts a child process in a session of its own, stdout and
    stderr piped; at the end of the test, passed, failed or interrupted, it and anything it
    started are killed."""
    started: list[tuple[subprocess.Popen, bool]] = []

    def start(args: list[str], **kwargs: Any) -> Child:
        kwargs.setdefault("start_new_session", True)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        proc = subprocess.Popen(args, **kwargs)
        started.append((proc, bool(kwargs["start_new_session"])))
        return Child(proc)

    try:
        yield start
    finally:
        for proc, group in started:
            stop_process(proc, group=group)

"""A CI run (CI=true) fails when a test is skipped for something the set-up should have
installed; only the skips tests/conftest.py allows, with their reasons, pass."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ("pytester",)

TESTS = Path(__file__).resolve().parents[1]

SUITE = '''
import pytest

def test_needs_chromium():
    pytest.skip("chromium is not on PATH (apt-get install -y chromium)")

def test_needs_a_peer():
    pytest.importorskip("charter_no_such_benchmark_peer")

def test_needs_an_engine():
    pytest.skip("no Docker engine: `docker info` failed (Cannot connect to the Docker daemon)")

@pytest.mark.skipif(True, reason="SageMaker SDK v3 not importable; set CHARTER_SM_SDK_PYTHON")
def test_needs_the_sdk():
    pass

def test_runs():
    assert True
'''


@pytest.fixture()
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest((TESTS / "conftest.py").read_text())
    pytester.makepyfile(childproc=(TESTS / "childproc.py").read_text(), test_suite=SUITE)
    return pytester


def test_under_ci_a_skip_for_a_missing_dependency_fails_the_run(suite: pytest.Pytester,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=2, skipped=2)
    result.stdout.fnmatch_lines(["FAILED*test_needs_chromium - skipped under CI=true: chromium is not on PATH*",
                                 "FAILED*test_needs_a_peer - skipped under CI=true: could not import*"])
    assert result.ret != 0


def test_outside_ci_every_skip_is_a_skip(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    suite.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, skipped=4)

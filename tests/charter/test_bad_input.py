"""Bad input a user can cause, across the CLI: each case a clean error (exit 2, the error's
CHARTER code, no traceback), never a hang. Every case runs `charter` in a child process bounded
by a generous timeout (a hang detector, not a timing assertion) that kills the child."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"
HANG = 120  # seconds: far above any of these cases; only a hang reaches it

GOOD_JOB = "data: {synthetic: {n_assets: 6, n_days: 300}}\nbacktest: {lookback: 60, rebalance_every: 20}\n"


def charter(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen([sys.executable, "-m", "charter.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "COLUMNS": "200", "AWS_MAX_ATTEMPTS": "2"})
    try:
        out, err = proc.communicate(timeout=HANG)
    except subprocess.TimeoutExpired:
        out, err = "", "HANG"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _job(tmp: Path, text: str, name: str = "job.yaml") -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


def _prices(tmp: Path, bad: str) -> str:
    rows = ["date,a,b"] + [f"2024-01-{d:02d},{100 + d},{50 + d}" for d in range(1, 29)]
    rows[5] = f"2024-01-05,{bad},55"
    (tmp / "prices.csv").write_text("\n".join(rows) + "\n")
    return _job(tmp, "data: {path: prices.csv, kind: prices}\nbacktest: {lookback: 5, rebalance_every: 5}\n")


def _busy_port() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock, sock.getsockname()[1]


CASES = {
    # the optimizer's job file
    "job leverage .inf": lambda t: ["optimize", "run", "-c", _job(t, GOOD_JOB + "portfolio: {constraints: {leverage: .inf}}\n"),
                                    "-o", str(t / "o")],
    "job vol_target .nan": lambda t: ["optimize", "run", "-c", _job(t, GOOD_JOB.replace(
        "rebalance_every: 20}", "rebalance_every: 20, vol_target: .nan}")), "-o", str(t / "o")],
    "job objective_params list": lambda t: ["optimize", "run", "-c",
                                            _job(t, GOOD_JOB + "portfolio: {objective_params: [1, 2]}\n"), "-o", str(t / "o")],
    "job non-parquet .parquet": lambda t: ((t / "p.parquet").write_text("date,a\n2024-01-01,1\n"), [
        "optimize", "run", "-c", _job(t, "data: {path: p.parquet}\n"), "-o", str(t / "o")])[1],
    "job not UTF-8": lambda t: ((t / "j.yaml").write_bytes(b"seed: 1\n# caf\xe9\n"),
                                ["optimize", "run", "-c", str(t / "j.yaml"), "-o", str(t / "o")])[1],
    "job directory as -c": lambda t: ["optimize", "run", "-c", str(t), "-o", str(t / "o")],
    "job existing file as -o": lambda t: ((t / "taken").write_text("x"),
                                          ["optimize", "search", "-c", _job(t, GOOD_JOB + "search: {n_trials: 2}\n"),
                                           "-o", str(t / "taken")])[1],
    "prices with inf": lambda t: ["optimize", "run", "-c", _prices(t, "inf"), "-o", str(t / "o")],
    # paths and ports
    "init into a missing directory": lambda t: ["init", str(t / "missing" / "org.yaml")],
    "schema -o into a missing directory": lambda t: ["schema", "-o", str(t / "missing" / "s.json")],
    "local --port out of range": lambda t: ["local", "--port", "70000"],
    "console --port negative": lambda t: ["console", "--port", "-1", "--store", str(t)],
    "FIFO as config": lambda t: (os.mkfifo(t / "fifo.yaml"), ["validate", "-c", str(t / "fifo.yaml")])[1],
    "directory as config": lambda t: ["validate", "-c", str(t)],
    "endpoint port out of range": lambda t: ["evidence", "collect", "-c", str(SMALL), "--store", str(t / "s"),
                                             "--endpoint-url", "http://127.0.0.1:99999"],
    "endpoint IPv6 without brackets": lambda t: ["evidence", "collect", "-c", str(SMALL), "--store", str(t / "s"),
                                                 "--endpoint-url", "http://::1:5000"],
    "endpoint not a URL": lambda t: ["assess", "-o", str(t / "a"), "--endpoint-url", "localhost"],
    # the config's free text: markup-like text in keys and paths must print as text
    "config key with markup": lambda t: ["validate", "-c", _job(t, SMALL.read_text().replace(
        "organization:\n", "organization:\n  '[/bold]x': 1\n", 1), "org.yaml")],
    "config path with markup": lambda t: ["validate", "-c", str(t / "[red]org[/].yaml")],
    "custom SCP with an unknown control": lambda t: _custom_scp(t),
    "assess --output bogus": lambda t: ["assess", "--output", "yaml", "-o", str(t / "a")],
}


def _custom_scp(tmp: Path) -> list[str]:
    import yaml

    data = yaml.safe_load(SMALL.read_text())
    data.setdefault("scps", {})["custom"] = [{"sid": "DenyLeaving", "control": "ORG-99", "actions": [
        "organizations:LeaveOrganization"], "targets": ["Root"]}]
    return ["validate", "-c", _job(tmp, yaml.safe_dump(data), "org.yaml")]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_a_clean_error(case: str, tmp_path: Path) -> None:
    result = charter(*CASES[case](tmp_path), cwd=tmp_path)
    assert result.stderr != "HANG", f"{case}: no answer in {HANG}s"
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode == 2, (case, result.returncode, result.stderr[-2000:])
    # every error carries its code: Charter's own, and click's usage errors (a --port out of range) as CHARTER-010
    assert "error: CHARTER-" in result.stderr, result.stderr[-2000:]
    if case == "job existing file as -o":
        assert not (tmp_path / "trials.jsonl").exists()  # refused before the search ran


@pytest.mark.parametrize(("command", "bad"), [("preflight", "--output xml"), ("lint", "--format pdf"),
                                              ("plan", "--bogus"), ("evidence collect", "--max-attempts 0")])
def test_usage_errors_carry_their_code_and_the_usage(command: str, bad: str, tmp_path: Path) -> None:
    result = charter(*command.split(), *bad.split(), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "error: CHARTER-010: " in result.stderr and f"{command} -h' for help" in result.stderr, result.stderr


def test_busy_port_for_the_embedded_aws(tmp_path: Path) -> None:
    sock, port = _busy_port()
    try:
        result = charter("local", "--port", str(port), cwd=tmp_path)
    finally:
        sock.close()
    assert result.stderr != "HANG" and result.returncode == 2 and "CHARTER-310" in result.stderr, result.stderr


def test_custom_scp_unknown_control_points_at_the_line(tmp_path: Path) -> None:
    result = charter(*_custom_scp(tmp_path), cwd=tmp_path)
    assert result.returncode == 2 and "scps.custom[0].control" in result.stderr and "ORG-99" in result.stderr


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.text(alphabet="[]/abc =:#\\", min_size=1, max_size=12).filter(lambda k: k.strip() and k[0] not in "#"))
def test_any_unknown_key_prints_as_text(key: str) -> None:
    """Rich markup characters in a config key: the error names the key as written, never crashes."""
    import io

    from rich.console import Console

    import charter.output as output
    from charter.config.loader import load_config_text
    from charter.errors import ConfigError
    from charter.output import error

    text = SMALL.read_text().replace("organization:\n", f"organization:\n  {key!r}: 1\n".replace("'", '"', 2), 1)
    try:
        load_config_text(text, "org.yaml")
    except ConfigError as exc:
        buf = io.StringIO()
        saved = output.err_console
        output.err_console = Console(file=buf, width=200)
        try:
            error(exc.render(), exc.code)
        finally:
            output.err_console = saved
        assert "error: CHARTER-100:" in buf.getvalue()

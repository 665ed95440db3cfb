"""`charter` run in the test's own process, as a user types it: through the console entry
point, so errors become exit codes and messages exactly as for a user. The `charter` fixture
(tests/conftest.py) wraps `run_cli`; a test module that needs more (an empty working directory,
no AWS credentials) overrides the fixture and asks for this one."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any
from unittest import mock


def run_cli(capsys: Any, *args: str) -> tuple[int, str, str]:
    """`charter ARGS`; returns (exit code, stdout, stderr)."""
    from charter.cli import main

    with mock.patch.object(sys, "argv", ["charter", *args]):
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err


def flat(text: str) -> str:
    """Rich wraps lines at the terminal's width: compare messages with their whitespace folded."""
    return " ".join(text.split())


def call_json(method: str, url: str, body: dict | None = None,
              headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """What a server a command started answers: (HTTP status, JSON body), errors included."""
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())

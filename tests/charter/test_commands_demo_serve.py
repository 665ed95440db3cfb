"""What `charter demo --serve` serves once the demo is done: both faces of the console on a fresh
embedded AWS, the optimizer API with the demo's market data ingested (a job over its assets is
accepted, an asset it lacks is refused by name) and the compliance face of the demo's evidence
store. The demo's own flow is tested in tests/e2e/test_e2e_demo.py; here the serving step runs
in a child process, as the command runs it, on a store written by the test."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_testkit import call_json

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"
sys.path.insert(0, str(REPO / "tests" / "evidence"))

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # an embedded AWS and the optimizer API in a child process


def _call(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    return call_json(method, url, body, {"Content-Type": "application/json", "X-Charter-User": "demo"})


def test_demo_serve_offers_both_faces_with_the_demo_data(tmp_path: Path, spawn) -> None:
    from evstore_helpers import run_artifacts

    from charter.evidence.manifest import Scope
    from charter.evidence.signing import LocalSigner
    from charter.evidence.store import EvidenceStore, LocalBackend

    store = tmp_path / "charter-demo" / "evidence"
    EvidenceStore(LocalBackend(store)).write_run(run_artifacts(datetime(2026, 11, 1, tzinfo=UTC)),
                                                 LocalSigner.for_directory(tmp_path / "k"), Scope())
    script = textwrap.dedent(f"""
        from pathlib import Path
        from charter.commands.demo import _serve_console
        from charter.landing_zone.config import load_config
        _serve_console(load_config(Path({str(SMALL)!r})), Path({str(store)!r}), 0)
    """)
    child = spawn([sys.executable, "-c", script], cwd=tmp_path,
                  env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "false"})
    line = child.readline(timeout=600)  # the embedded AWS starts and the market data is ingested first
    found = re.search(r"console on (http://127\.0\.0\.1:\d+)/ — optimizations \(assets ([^)]+)\) and "
                      r"http://127\.0\.0\.1:\d+/#/compliance \((\S+)\)", line)
    assert found, line
    url, assets = found.group(1), [a.strip() for a in found.group(2).split(",")]
    assert found.group(3) == str(store) and len(assets) >= 2

    code, config = _call("GET", f"{url}/config.json")
    assert code == 200 and config["api"]["optimizer"] is True and config["api"]["compliance"] is True

    code, job = _call("POST", f"{url}/optimize", {"assets": assets[:4], "objective": "min_variance",
                                                   "constraints": {"max_weight": 0.5}, "horizon_days": 252})
    assert code in (200, 202) and job["job_id"], job  # the ingested assets are known to the API
    code, refused = _call("POST", f"{url}/optimize", {"assets": [assets[0], "NOT-AN-ASSET"], "objective": "min_variance",
                                                      "horizon_days": 252})
    assert code == 400 and "NOT-AN-ASSET" in json.dumps(refused), refused

    code, summary = _call("GET", f"{url}/compliance/summary")
    assert code == 200 and summary["verification"]["ok"] is True and len(summary["criteria"]) == 61

    child.proc.send_signal(signal.SIGTERM)
    child.finish(timeout=120)  # the `spawn` fixture kills it and its embedded AWS if it does not stop

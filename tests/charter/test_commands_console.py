"""`charter console --store DIR` as a user starts it: it verifies the store, prints the URL it
serves, answers the compliance face's routes from the store (the summary, an artifact, a
refused path) and stops on SIGTERM without a traceback."""

from __future__ import annotations

import os
import re
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from cli_testkit import call_json, flat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evidence"))


def test_console_serves_the_compliance_face_of_a_local_store_until_sigterm(tmp_path: Path, spawn) -> None:
    from evstore_helpers import run_artifacts

    from charter.evidence.manifest import Scope
    from charter.evidence.signing import LocalSigner
    from charter.evidence.store import EvidenceStore, LocalBackend

    store_dir = tmp_path / "ev"
    manifest = EvidenceStore(LocalBackend(store_dir)).write_run(
        run_artifacts(datetime(2026, 11, 1, tzinfo=UTC)), LocalSigner.for_directory(tmp_path / "k"), Scope())
    child = spawn([sys.executable, "-m", "charter.cli", "console", "--store", str(store_dir), "--port", "0"],
                  cwd=tmp_path, env={**os.environ, "COLUMNS": "250"})
    first = child.readline(timeout=300)  # the store is verified before the server starts: slow under load
    found = re.search(r"Charter console on (http://127\.0\.0\.1:\d+)/ — compliance of (\S+) \(verified; 1 runs\)",
                      first)
    assert found, first
    url = found.group(1)
    assert found.group(2) == str(store_dir)
    assert "#/compliance" in child.readline(timeout=60)  # where to point the browser

    code, summary = call_json("GET", f"{url}/compliance/summary")
    assert code == 200 and summary["verification"]["ok"] is True and len(summary["criteria"]) == 61

    listed = manifest.artifacts[0]
    code, detail = call_json("GET", f"{url}/compliance/artifact?path={listed.path}")
    assert code == 200, detail  # an artifact the manifest lists is served, checked against its hash
    assert (detail["path"], detail["sha256"], detail["intact"]) == (listed.path, listed.sha256, True)
    code, refused = call_json("GET", f"{url}/compliance/artifact?path=../../etc/passwd")
    assert code == 400 and "is not an artifact path" in refused["message"]  # never a file outside the runs
    code, missing = call_json("GET", f"{url}/compliance/artifact?path=runs/nope/artifacts/x.json")
    assert code == 404 and "no sealed artifact" in missing["message"]

    child.proc.send_signal(signal.SIGTERM)
    code, _, err = child.finish(timeout=120)  # the `spawn` fixture kills it if it does not stop
    assert "Traceback" not in err, err


def test_console_on_an_s3_store_that_does_not_exist_is_exit_2(charter, moto_aws) -> None:
    """Moto's in-process S3: the bucket is not there, and the console says so before it serves anything."""
    import boto3

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="acme-evidence")
    code, out, err = charter("console", "--store", "s3://acme-evidnce/ev", "--port", "0")
    said = flat(err)
    assert code == 2, out + err
    assert "s3://acme-evidnce/ev: bucket acme-evidnce does not exist" in said and "check the bucket name" in said
    assert "Traceback" not in err
    assert "Charter console on" not in out

"""`charter console`: bad input is a message and exit 2; `publish` writes what the AWS
compliance route serves, from a local store into a bucket on the embedded AWS."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evidence"))


def test_console_on_a_missing_store_says_so(tmp_path: Path) -> None:
    from charter.errors import CharterError

    result = CliRunner().invoke(app, ["console", "--store", str(tmp_path / "nope"), "--port", "0"])
    # main() prints a CharterError's message and exits with its code (2: bad input)
    assert isinstance(result.exception, CharterError) and result.exception.exit_code == 2
    assert "no evidence store here" in result.exception.render() and "fix:" in result.exception.render()


def test_console_build_check_passes_on_the_committed_build() -> None:
    result = CliRunner().invoke(app, ["console", "build", "--check"])
    assert result.exit_code == 0, result.output
    assert "matches its sources" in result.output


@pytest.mark.e2e  # publishes to an S3 bucket of the embedded AWS
def test_publish_writes_the_summary_and_every_linked_artifact(tmp_path: Path) -> None:
    from evstore_helpers import run_artifacts

    from charter.evidence.manifest import Scope
    from charter.evidence.signing import LocalSigner
    from charter.evidence.store import EvidenceStore, LocalBackend
    from charter.local import LocalAws

    store = EvidenceStore(LocalBackend(tmp_path / "ev"))
    manifest = store.write_run(run_artifacts(datetime(2026, 11, 1, tzinfo=UTC)), LocalSigner.for_directory(tmp_path / "k"),
                               Scope())
    with LocalAws() as aws:
        s3 = aws.sessions().client("s3")
        s3.create_bucket(Bucket="acme-dev-optimizer-results-1-us-east-1")
        result = CliRunner().invoke(app, ["console", "publish", "--store", str(tmp_path / "ev"), "--bucket",
                                          "acme-dev-optimizer-results-1-us-east-1", "--endpoint-url", aws.endpoint_url])
        assert result.exit_code == 0, result.output
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="acme-dev-optimizer-results-1-us-east-1")["Contents"]}
        summary = json.loads(s3.get_object(Bucket="acme-dev-optimizer-results-1-us-east-1",
                                           Key="compliance/summary.json")["Body"].read())
    assert summary["verification"]["ok"] and len(summary["criteria"]) == 61
    assert {f"compliance/artifacts/{e.path}" for e in manifest.artifacts} <= keys

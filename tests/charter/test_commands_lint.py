"""`charter lint` on a clean template: exit 0 with the summary and the listed suppression, the
SARIF report written with `--sarif-file` beside the text report; with `-c org.yaml` the
permission model is evaluated too and its report follows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_testkit import flat
from troposphere import Template
from troposphere.s3 import (
    Bucket,
    BucketEncryption,
    PublicAccessBlockConfiguration,
    ServerSideEncryptionByDefault,
    ServerSideEncryptionRule,
    VersioningConfiguration,
)

from charter.landing_zone.metadata import controls, suppress
from charter.landing_zone.synth import dump_yaml

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"


@pytest.fixture()
def clean(tmp_path: Path) -> Path:
    """A directory with one template that passes cfn-lint and checkov, one check suppressed with its reason."""
    bucket = controls(Bucket(
        "Kept",
        BucketEncryption=BucketEncryption(ServerSideEncryptionConfiguration=[ServerSideEncryptionRule(
            ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(SSEAlgorithm="aws:kms"))]),
        VersioningConfiguration=VersioningConfiguration(Status="Enabled"),
        PublicAccessBlockConfiguration=PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True),
    ), "DAT-01")
    suppress(bucket, "CKV_AWS_18", "test fixture: the access-log bucket itself is not logged")
    t = Template()
    t.add_resource(bucket)
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.yaml").write_text(dump_yaml(t.to_dict()))
    return out


@pytest.mark.slow  # cfn-lint's rules load and checkov's process: over 10 s on a loaded machine
def test_clean_templates_exit_0_with_the_summary_and_a_sarif_file(charter, clean: Path, tmp_path: Path) -> None:
    sarif = tmp_path / "lint.sarif"
    code, out, err = charter("lint", str(clean), "--regions", "us-east-1", "--sarif-file", str(sarif))
    text = flat(out + err)
    assert code == 0, text
    assert "1 suppression(s), each with its reason:" in text
    assert "kept.yaml: Kept: CKV_AWS_18: test fixture: the access-log bucket itself is not logged" in text
    assert "1 templates: 0 cfn-lint findings, 0 checkov failures" in text and "1 suppressions" in text
    report = json.loads(sarif.read_text())
    assert report["version"] == "2.1.0"
    assert [r["tool"]["driver"]["name"] for r in report["runs"]] == ["cfn-lint", "checkov"]
    results = [x for r in report["runs"] for x in r["results"]]
    assert [x["kind"] for x in results] == ["pass"]  # nothing to fix: the suppression alone, as a pass
    assert results[0]["suppressions"] == [{"kind": "inSource", "justification":
                                           "test fixture: the access-log bucket itself is not logged"}]


@pytest.mark.slow  # cfn-lint, checkov and the permission model over every call of the small org
def test_lint_with_a_config_also_reports_the_permission_model(charter, clean: Path) -> None:
    code, out, err = charter("lint", str(clean), "--regions", "us-east-1", "-c", str(SMALL))
    text = flat(out + err)
    assert code == 0, text
    assert "1 templates: 0 cfn-lint findings" in text
    assert "preflight:" in text and "0 denials" in text

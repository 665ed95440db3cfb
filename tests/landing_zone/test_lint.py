"""In-process lint: findings are reported per template and resource; only a written
suppression on the resource gets past one, and it is listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from troposphere import Template
from troposphere.s3 import Bucket

from charter.landing_zone.lint import Linter
from charter.landing_zone.metadata import controls, suppress
from charter.landing_zone.synth import dump_yaml


@pytest.fixture(scope="module")
def linter() -> Linter:
    return Linter(["us-east-1"])


def _write(tmp: Path, name: str, t: Template) -> None:
    (tmp / f"{name}.yaml").write_text(dump_yaml(t.to_dict()))


@pytest.mark.slow
def test_findings_name_template_resource_and_rule(linter: Linter, tmp_path: Path) -> None:
    t = Template()
    t.add_resource(controls(Bucket("Naked"), "DAT-01"))
    t.add_output  # noqa: B018  (no outputs needed)
    _write(tmp_path, "bad", t)
    report = linter.lint_dir(tmp_path)
    assert not report.ok
    checkov = [f for f in report.findings if f.tool == "checkov"]
    assert checkov and all(f.template == "bad.yaml" and f.resource == "Naked" for f in checkov)
    assert any(f.rule == "CKV_AWS_18" for f in checkov)  # no access logging


def test_cfn_lint_error_is_a_finding(linter: Linter) -> None:
    data = {"Resources": {"Bad": {"Type": "AWS::S3::Bucket", "Properties": {"NoSuchProperty": 1}}}}
    findings = linter.cfn_lint("bad.yaml", data)
    assert findings and findings[0].resource == "Bad" and findings[0].rule.startswith("E")


@pytest.mark.slow
def test_suppression_on_the_resource_is_honoured_and_listed(linter: Linter, tmp_path: Path) -> None:
    t = Template()
    bucket = controls(Bucket("Naked"), "DAT-01")
    reason = "test fixture: this bucket exists only to prove suppressions are listed"
    for check in ("CKV_AWS_18", "CKV_AWS_21", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56", "CKV_AWS_53",
                  "CKV_AWS_19", "CKV_AWS_20", "CKV_AWS_57"):
        suppress(bucket, check, reason)
    t.add_resource(bucket)
    _write(tmp_path, "suppressed", t)
    report = linter.lint_dir(tmp_path)
    assert not [f for f in report.findings if f.tool == "checkov" and f.rule == "CKV_AWS_18"]
    assert any(s.rule == "CKV_AWS_18" and s.reason == reason and s.resource == "Naked" for s in report.suppressions)


def test_suppression_needs_a_reason() -> None:
    with pytest.raises(ValueError):
        suppress(Bucket("B"), "CKV_AWS_18", "because")

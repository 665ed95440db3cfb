"""`charter preflight`: the examples pass; each lockout class, seeded into a config, is named
with its principal, action, account and the statement (or missing allow) that denies it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from charter.commands.preflight import run_preflight
from charter.landing_zone.config import load_config

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"
LARGE = REPO / "examples" / "large" / "org.yaml"


@pytest.fixture(scope="module")
def small():
    return load_config(SMALL)


@pytest.mark.parametrize("path", [SMALL, LARGE], ids=["small", "large"])
def test_examples_have_no_denial(path: Path) -> None:
    report = run_preflight(load_config(path))
    assert [f.line() for f in report.findings] == []
    assert report.needs > 1000 and report.assumes >= 3


def _find(report, principal: str, action: str):  # type: ignore[no-untyped-def]
    return [f for f in report.findings if f.principal.startswith(principal) and f.action == action]


def test_custom_scp_statement_that_breaks_the_account_baseline(small) -> None:
    from charter.config.model import CustomStatement

    custom = CustomStatement(sid="NoPublicAccessChanges", control="DAT-01", actions=["s3:PutAccountPublicAccessBlock"],
                             targets=["Root"])
    cfg = small.model_copy(update={"scps": small.scps.model_copy(update={"custom": [custom]})})
    report = run_preflight(cfg)
    [finding] = _find(report, "CharterAccountBaseline-", "s3:PutAccountPublicAccessBlock")
    assert finding.decision.outcome == "explicit-deny" and finding.decision.policy_kind == "scp"
    assert finding.decision.sid == "DAT01NoPublicAccessChanges"
    assert {"prod", "dev", "audit"} <= set(finding.accounts)
    line = finding.line()
    assert "CharterAccountBaseline-us-east-1" in line or "CharterAccountBaseline-{region}" in line
    assert "DAT01NoPublicAccessChanges" in line and "fix:" in line and "prod" in line


def test_removed_exemption_locks_the_evidence_store_out(small, monkeypatch: pytest.MonkeyPatch) -> None:
    from charter.landing_zone.scp import exemptions

    original = exemptions.charter_principals
    monkeypatch.setattr(exemptions, "charter_principals",
                        lambda cfg: [p for p in original(cfg) if p.role != "OrganizationAccountAccessRole"])
    report = run_preflight(small)
    [finding] = [f for f in _find(report, "OrganizationAccountAccessRole", "iam:CreateRole")
                 if f.resource.endswith("role/CharterEvidenceCollector")]
    assert finding.accounts == ("audit",) and finding.decision.sid == "ORG04ProtectCharterRoles"
    assert "stack charter-evidence-store" in finding.why


def test_management_execution_role_without_s3(small, monkeypatch: pytest.MonkeyPatch) -> None:
    from charter.landing_zone.builders import identity

    original = identity._stackset_roles

    def without_s3(t, cfg):  # type: ignore[no-untyped-def]
        original(t, cfg)
        doc = t.resources["StackSetExecutionRole"].properties["Policies"][0].properties["PolicyDocument"]
        doc.Statement = [s for s in doc.Statement if not getattr(s, "Sid", "").startswith("AccessLogBucket")]

    monkeypatch.setattr(identity, "_stackset_roles", without_s3)
    report = run_preflight(small)
    [finding] = _find(report, "AWSCloudFormationStackSetExecutionRole", "s3:CreateBucket")
    assert finding.accounts == ("management",) and finding.decision.policy_kind == "identity"
    assert "account-baseline-management" in finding.why and "grant s3:CreateBucket" in finding.fix


def test_reader_trust_that_excludes_the_operator(small, monkeypatch: pytest.MonkeyPatch) -> None:
    from charter.landing_zone.builders import identity

    original = identity.roles_template

    def collector_only(cfg):  # type: ignore[no-untyped-def]
        t = original(cfg)
        trust = t.resources["EvidenceReaderRole"].properties["AssumeRolePolicyDocument"]
        trust.Statement = [s for s in trust.Statement if s.Sid == "EvidenceCollector"]
        return t

    monkeypatch.setattr(identity, "roles_template", collector_only)
    report = run_preflight(small)
    [finding] = [f for f in _find(report, "CharterEvidenceOperator", "sts:AssumeRole")]
    assert finding.decision.policy_kind == "trust"
    assert set(finding.accounts) == {"management", *(a.name for a in small.accounts)}
    assert "CharterEvidenceReader" in finding.resource and "admit" in finding.fix


def test_role_without_boundary_is_refused_to_the_pipeline(small, monkeypatch: pytest.MonkeyPatch) -> None:
    from charter.workloads.stacks import _common

    monkeypatch.setattr(_common, "PIPELINE_OWN_PARTS", ("cicd-target", "cicd", "secrets"))
    report = run_preflight(small)
    found = [f for f in _find(report, "acme-optimizer-deploy", "iam:CreateRole") if "-secrets-" in f.resource]
    assert found and all(f.decision.policy_kind == "identity" for f in found)
    assert {a for f in found for a in f.accounts} == {"dev", "staging", "prod"}


def charter(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "charter.cli", *args], capture_output=True, text=True, timeout=300)


def test_cli_exit_codes_and_json(tmp_path: Path) -> None:
    result = charter("preflight", "-c", str(SMALL), "--output", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["denials"] == []
    seeded = tmp_path / "org.yaml"
    seeded.write_text(SMALL.read_text().replace("scps:\n", "scps:\n  custom:\n    - sid: NoPab\n      control: DAT-01\n"
                                                "      actions: [\"s3:PutAccountPublicAccessBlock\"]\n"
                                                "      targets: [Root]\n", 1))
    result = charter("preflight", "-c", str(seeded))
    assert result.returncode == 1
    assert "s3:PutAccountPublicAccessBlock" in result.stdout and "DAT01NoPab" in result.stdout
    assert "Traceback" not in result.stderr
    bad = charter("preflight", "-c", str(SMALL), "--output", "xml")
    assert bad.returncode == 2 and "--output" in bad.stderr

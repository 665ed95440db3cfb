"""The `workloads:` section: located errors for bad values and cross-field problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.errors import ConfigError
from charter.landing_zone.config import load_config_text
from charter.workloads.synth import WorkloadError, synthesize_workloads

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"
TEXT = EXAMPLE.read_text()


def with_workloads(section: str) -> str:
    base = TEXT.split("\nworkloads:", 1)[0]
    return base + "\nworkloads:\n" + section


MINIMAL = """  optimizer:
    environments:
      dev:
        account: {account}
        domain: optimizer.dev.example.com
        certificate_arn: arn:aws:acm:us-east-1:111111111111:certificate/11111111-2222-3333-4444-555555555555
        alert_emails: [ops@example.com]
        monthly_budget_usd: 100
"""


def test_workloads_example_loads_with_three_environments():
    cfg = load_config_text(TEXT, "org.yaml")
    assert cfg.workloads is not None and cfg.workloads.optimizer is not None
    assert set(cfg.workloads.optimizer.environments) == {"dev", "staging", "prod"}
    assert cfg.workloads.optimizer.environments["prod"].concurrency("prod") == 5
    assert cfg.workloads.optimizer.environments["dev"].concurrency("dev") == 0


def test_workloads_account_of_another_environment_is_located():
    with pytest.raises(ConfigError) as err:
        load_config_text(with_workloads(MINIMAL.format(account="prod")), "org.yaml")
    text = err.value.render()
    assert "workloads.optimizer.environments.dev.account" in text
    assert "has environment 'prod', not 'dev'" in text
    line = [ln for ln in text.splitlines() if "account" in ln][0]
    assert "org.yaml:" in line


def test_workloads_unknown_account_suggests_a_name():
    with pytest.raises(ConfigError) as err:
        load_config_text(with_workloads(MINIMAL.format(account="devv")), "org.yaml")
    assert "did you mean 'dev'" in err.value.render()


def test_workloads_certificate_outside_us_east_1_is_rejected():
    section = MINIMAL.format(account="dev").replace("acm:us-east-1", "acm:eu-west-1")
    with pytest.raises(ConfigError) as err:
        load_config_text(with_workloads(section), "org.yaml")
    assert "certificate_arn" in err.value.render()


def test_workloads_unknown_environment_key_is_rejected():
    section = MINIMAL.format(account="dev").replace("      dev:", "      qa:")
    with pytest.raises(ConfigError):
        load_config_text(with_workloads(section), "org.yaml")


def without_certificate(section: str) -> str:
    return "\n".join(ln for ln in section.splitlines() if "certificate_arn" not in ln) + "\n"


def test_workloads_synth_for_unconfigured_environment_says_how_to_fix():
    cfg = load_config_text(with_workloads(without_certificate(MINIMAL.format(account="dev"))), "org.yaml")
    with pytest.raises(WorkloadError) as err:
        synthesize_workloads(cfg, "prod")
    assert "not configured for environment 'prod'" in err.value.message
    assert "environments: prod:" in (err.value.hint or "")
    stacks = synthesize_workloads(cfg, "dev")
    assert "optimizer-dev-compute" in {s.name for s in stacks}
    assert not any("cicd" in s.name for s in stacks)  # no cicd section, no pipeline


def test_workloads_synth_without_section_is_an_error():
    cfg = load_config_text(TEXT.split("\nworkloads:", 1)[0], "org.yaml")
    with pytest.raises(WorkloadError):
        synthesize_workloads(cfg, "dev")


# -- certificates: CloudFront takes one only from its own account, in us-east-1 (issue #26, 5) --

def _with_dev_id(text: str, account_id: str) -> str:
    return text.replace("  - name: dev\n", f"  - name: dev\n    account_id: \"{account_id}\"\n", 1)


def test_certificate_from_another_account_is_rejected_at_its_line():
    """The example once named the management account's certificate for every distribution;
    CloudFront in the dev account cannot use it."""
    section = MINIMAL.format(account="dev")  # certificate of 111111111111 (the management account)
    with pytest.raises(ConfigError) as err:
        load_config_text(_with_dev_id(with_workloads(section), "222222222222"), "org.yaml")
    text = err.value.render()
    line = next(ln for ln in text.splitlines() if "certificate_arn" in ln)
    assert "org.yaml:" in line and "environments.dev.certificate_arn" in line
    assert "111111111111" in text and "222222222222" in text and "management account" in text


def test_certificate_of_an_account_without_a_known_id_is_rejected():
    with pytest.raises(ConfigError) as err:
        load_config_text(with_workloads(MINIMAL.format(account="dev")), "org.yaml")
    text = err.value.render()
    assert "environments.dev.certificate_arn" in text and "account_id" in text


def test_certificate_in_the_workload_account_in_us_east_1_is_accepted():
    section = MINIMAL.format(account="dev").replace("111111111111", "222222222222")
    cfg = load_config_text(_with_dev_id(with_workloads(section), "222222222222"), "org.yaml")
    assert cfg.workloads.optimizer.environments["dev"].certificate_arn.split(":")[4] == "222222222222"


def test_example_configs_request_certificates_in_the_workload_accounts():
    """Without `certificate_arn` the edge stack (us-east-1, the workload account) requests a
    DNS-validated certificate for the domain, so the certificate is where CloudFront needs it."""
    for example in ("small", "large"):
        cfg = load_config_text((EXAMPLE.parents[1] / example / "org.yaml").read_text(), "org.yaml")
        wl = cfg.workloads.optimizer if cfg.workloads else None
        for env, settings in (wl.environments.items() if wl else []):
            if settings.certificate_arn is None:
                continue
            acct = next(a for a in cfg.accounts if a.name == (settings.account or cfg.accounts_in(env)[0].name))
            assert settings.certificate_arn.split(":")[4] == acct.account_id
    cfg = load_config_text(TEXT, "org.yaml")
    edge = next(s for s in synthesize_workloads(cfg, "prod") if s.name == "optimizer-prod-edge")
    certs = {k: r for k, r in edge.data["Resources"].items() if r["Type"] == "AWS::CertificateManager::Certificate"}
    assert len(certs) == 1
    (logical, cert), = certs.items()
    assert cert["Properties"]["DomainName"] == "optimizer.acme-corp.example"
    assert cert["Properties"]["ValidationMethod"] == "DNS"
    config = edge.data["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    assert config["ViewerCertificate"]["AcmCertificateArn"] == {"Ref": logical}

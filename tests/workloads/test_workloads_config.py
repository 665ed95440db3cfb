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


def test_workloads_synth_for_unconfigured_environment_says_how_to_fix():
    cfg = load_config_text(with_workloads(MINIMAL.format(account="dev")), "org.yaml")
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

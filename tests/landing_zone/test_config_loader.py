"""org.yaml loading: valid examples load; every error is located and says how to fix it."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from charter.errors import ConfigError
from charter.landing_zone.config import load_config, load_config_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "org.yaml")
    return [issue.render() for issue in info.value.issues]


def _small() -> str:
    return (EXAMPLES / "small" / "org.yaml").read_text()


@pytest.mark.parametrize("example", sorted(p.parent.name for p in EXAMPLES.glob("*/org.yaml")))
def test_examples_are_valid(example: str) -> None:
    cfg = load_config(EXAMPLES / example / "org.yaml")
    assert cfg.account("log-archive").environment == "log-archive"
    assert cfg.organization.home_region in cfg.organization.governed_regions


def test_defaults_follow_aws_limits_and_soc2_retention(small_config) -> None:
    assert small_config.baseline.log_retention_days == 2557
    assert small_config.limits.scp_max_chars == 10_240
    assert small_config.limits.scp_max_per_target == 10
    assert small_config.limits.full_aws_access_takes_slot is True
    assert small_config.limits.ou_max_depth == 5


def test_unknown_key_is_located_with_did_you_mean() -> None:
    text = _small().replace("  home_region: us-east-1", "  home_regoin: us-east-1")
    errors = _errors(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "home_regoin" in ln)
    assert any(e.startswith(f"org.yaml:{line}:3: organization.home_regoin: unknown key") and
               "did you mean 'home_region'" in e for e in errors), errors


def test_bad_email_points_at_the_value_line() -> None:
    text = _small().replace("aws+dev@acme-corp.example", "not-an-email")
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "not-an-email" in ln)
    errors = _errors(text)
    assert any(e.startswith(f"org.yaml:{line}:5: accounts[5].email:") for e in errors), errors


def test_unquoted_account_id_explains_quoting() -> None:
    text = _small().replace('management_account_id: "111111111111"', "management_account_id: 111111111111")
    (error,) = _errors(text)
    assert "organization.management_account_id" in error and "quote the value" in error


def test_duplicate_names_and_emails_are_cross_checked() -> None:
    text = _small().replace("name: staging", "name: prod").replace("aws+staging@", "aws+prod@")
    errors = _errors(text)
    assert any("duplicate account name 'prod'" in e for e in errors)
    assert any("duplicate account email" in e and "plus-addressing" in e for e in errors)


def test_missing_ou_reference_suggests_the_closest() -> None:
    text = _small().replace("ou: NonProd\n    environment: dev", "ou: NonPrd\n    environment: dev")
    (error,) = _errors(text)
    assert "accounts[5].ou: OU 'NonPrd' does not exist" in error and "did you mean 'NonProd'" in error


def test_cyclic_ous_are_reported() -> None:
    text = _small().replace("  - name: Workloads\n", "  - name: Workloads\n    parent: Prod\n")
    errors = _errors(text)
    assert any("OUs form a cycle" in e and "Workloads" in e and "Prod" in e for e in errors), errors


def test_ou_depth_limit_is_enforced() -> None:
    chain = "".join(f"  - name: L{i}\n    parent: {'Root' if i == 1 else f'L{i - 1}'}\n" for i in range(1, 7))
    text = _small().replace("ous:\n", "ous:\n" + chain)
    errors = _errors(text)
    assert any("OU 'L6' is nested 6 deep; AWS allows 5" in e for e in errors), errors


def test_overlapping_cidrs_are_rejected() -> None:
    text = _small().replace("cidr: 10.20.0.0/16", "cidr: 10.10.128.0/17")
    (error,) = _errors(text)
    assert "overlaps 10.10.0.0/16" in error and "accounts[4].network.cidr" in error


def test_region_typo_suggests_a_region() -> None:
    text = _small().replace("dr_region: us-west-2", "dr_region: us-wset-2")
    (error,) = _errors(text)
    assert "is not an AWS region" in error and "us-west-2" in error


def test_retention_must_be_a_cloudwatch_value() -> None:
    text = _small().replace("log_retention_days: 2557", "log_retention_days: 2555")
    (error,) = _errors(text)
    assert "nearest allowed is 2557" in error


def test_required_role_accounts() -> None:
    text = _small().replace("environment: audit", "environment: shared")
    (error,) = _errors(text)
    assert "no account has environment 'audit'" in error


def test_yaml_syntax_error_has_position() -> None:
    errors = _errors("organization:\n  name: [acme\n")
    assert re.match(r"org\.yaml:\d+:\d+: YAML syntax error", errors[0])


def test_top_level_must_be_mapping() -> None:
    (error,) = _errors("- just\n- a list\n")
    assert error.startswith("org.yaml:1:1:") and "mapping" in error


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "file not found" in info.value.render() and "charter init" in info.value.render()


def test_custom_scp_condition_operator_is_checked() -> None:
    text = _small().replace("  suspended_ou: Suspended\n", """  suspended_ou: Suspended
  custom:
    - sid: DenyBigInstances
      control: ORG-03
      actions: ["ec2:RunInstances"]
      condition: {StringNotLkie: {"ec2:InstanceType": ["t3.*"]}}
      targets: [Workloads]
""")
    (error,) = _errors(text)
    assert "'StringNotLkie' is not an IAM condition operator" in error


def test_starter_file_is_valid() -> None:
    from charter.config.starter import starter_text

    cfg = load_config_text(starter_text(), "org.yaml")
    assert len(cfg.accounts) == 6


def test_unknown_key_that_looks_like_a_type_is_named() -> None:
    """Regression (found by the fuzz test): pydantic's union tags look like `list[str]`."""
    (error,) = _errors(_small() + "'list[str]': 1\n")
    assert "unknown key 'list[str]'" in error


@pytest.mark.parametrize(("scalar", "value"), [
    ("no", "no"), ("yes", "yes"), ("on", "on"), ("off", "off"), ("012", 12), ("012345678901", 12345678901),
    ("0o17", 15), ("0x1f", 31), ("0b101", 5), ("1_000", 1000), ("1.5", 1.5), (".5", 0.5), ("5.", 5.0),
    ("1e3", 1000.0), (".inf", float("inf")), ("-.inf", float("-inf")), ("~", None), ("", None), ("null", None),
    ("Null", None), ("True", True), ("false", False), ("2024-01-01", date(2024, 1, 1)), ("1:20", "1:20"),
    ("10.1.0.0/16", "10.1.0.0/16"), ("-5", -5), ("+5", 5), ("'012'", "012"), ("[1, b, no]", [1, "b", "no"]),
    ("{<<: {b: 1}, c: 2}", {"b": 1, "c": 2}),
])
def test_scalars_are_read_by_the_yaml_1_2_core_schema(scalar: str, value: object) -> None:
    """YAML 1.2 (what editors and schema tools assume), not PyYAML's default 1.1: `no`/`on` stay
    strings, so a Norway region code or a toggle named `on` is not silently a boolean; `012` is
    12, not octal 10 (the values ruamel.yaml read when it was the loader)."""
    from charter.config.loader import read_yaml

    read = read_yaml(Path("org.yaml"), f"a: {scalar}\n")["a"]
    assert read == value and type(read) is type(value)


def test_what_charter_writes_back_is_read_as_the_same_values() -> None:
    """`charter cost --what-if` merges two files and reads the result again: a string that the
    1.2 schema would read as a number, a boolean or null keeps its quotes."""
    from charter.config.loader import dump_yaml, read_yaml

    data = {"a": "0o17", "b": "no", "c": "012", "d": 12, "e": "on", "f": "1_000", "g": None, "h": "null",
            "i": True, "j": "2024-01-01", "k": [1, "0x1f"]}
    assert read_yaml(Path("org.yaml"), dump_yaml(data)) == data


def test_nan_is_read_as_nan() -> None:
    import math

    from charter.config.loader import read_yaml

    assert math.isnan(read_yaml(Path("org.yaml"), "a: .nan\n")["a"])


def test_a_duplicate_key_is_still_located() -> None:
    text = _small().replace("version: 1\n", "version: 1\nversion: 1\n", 1)
    (error,) = _errors(text)
    assert re.match(r"org\.yaml:\d+:\d+: YAML syntax error: duplicate key", error), error


def test_nested_and_repeated_cidrs_are_each_reported_against_the_earlier_account() -> None:
    # accounts[3..5] are dev, staging, prod with their own /16s; nest two of them in the first
    text = _small().replace("cidr: 10.20.0.0/16", "cidr: 10.10.4.0/22").replace("cidr: 10.30.0.0/16", "cidr: 10.10.4.0/22")
    errors = _errors(text)
    assert len(errors) == 3, errors
    assert sum("overlaps 10.10.0.0/16" in e for e in errors) == 2
    assert sum("overlaps 10.10.4.0/22" in e for e in errors) == 1

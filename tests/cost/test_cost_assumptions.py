"""Usage assumptions: where each value comes from, so every line can name its setting."""

from __future__ import annotations

from costkit import small_with

from charter.cost.assumptions import Assumptions


def test_values_come_from_the_environment_then_usage_with_their_setting():
    a = Assumptions(small_with("  environments:\n    dev: {nat_gb_per_vpc: 7}\n"))
    assert a.usage("dev", "nat_gb_per_vpc").text == "cost.environments.dev.nat_gb_per_vpc = 7"
    assert a.usage("staging", "nat_gb_per_vpc").text == "cost.usage.nat_gb_per_vpc = 20"
    # overriding dev leaves prod's larger defaults in place
    assert a.usage("prod", "nat_gb_per_vpc").text == "cost.environments.prod.nat_gb_per_vpc = 100"
    assert a.usage("management", "log_gb_per_account").value == 2


def test_a_usage_value_set_in_org_yaml_applies_to_prod_unless_prod_overrides_it():
    a = Assumptions(small_with("  usage: {nat_gb_per_vpc: 5, log_gb_per_account: 3}\n"
                               "  environments:\n    prod: {log_gb_per_account: 30}\n"))
    assert a.usage("prod", "nat_gb_per_vpc").text == "cost.usage.nat_gb_per_vpc = 5"
    assert a.usage("prod", "log_gb_per_account").text == "cost.environments.prod.log_gb_per_account = 30"
    assert a.usage("prod", "api_requests_per_month").value == 1_000_000  # built-in prod default


def test_settings_without_a_default_are_absent_until_set():
    assert Assumptions(small_with()).explicit("prod", "evidence_runs_per_day") is None
    a = Assumptions(small_with("  environments:\n    audit: {evidence_runs_per_day: 24}\n"))
    assert a.explicit("audit", "evidence_runs_per_day").text == "cost.environments.audit.evidence_runs_per_day = 24"

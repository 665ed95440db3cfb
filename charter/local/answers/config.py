"""AWS Config: the compliance of the deployed rules."""

from __future__ import annotations

from typing import Any

from charter.local.answers import operation
from charter.local.answers.protocol import Call, page


@operation("config", "DescribeComplianceByConfigRule")
def describe_compliance_by_config_rule(call: Call) -> dict[str, Any]:
    """Every rule of the account and region with INSUFFICIENT_DATA: what AWS answers until a
    rule's first evaluation (nothing evaluates rules in the embedded AWS)."""
    from moto.config.models import config_backends

    backend = config_backends[call.account][call.region]
    wanted = set(call.params.get("ConfigRuleNames") or [])
    names = sorted(n for n in backend.config_rules if not wanted or n in wanted)
    types = set(call.params.get("ComplianceTypes") or [])
    rows = [{"ConfigRuleName": n, "Compliance": {"ComplianceType": "INSUFFICIENT_DATA"}} for n in names
            if not types or "INSUFFICIENT_DATA" in types]
    return page(rows, call.params, "ComplianceByConfigRules", size_key="Limit")

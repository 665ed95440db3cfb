"""Security Hub: the standards the deployed AWS::SecurityHub::Standard resources enabled."""

from __future__ import annotations

from typing import Any

from charter.local.answers import operation, state
from charter.local.answers.protocol import Call, page

KIND = "securityhub-standard"


def subscribe(account: str, region: str, standards_arn: str) -> dict[str, Any]:
    """What AWS::SecurityHub::Standard makes (its Ref is the subscription's ARN)."""
    name = standards_arn.split(":standards/", 1)[-1]  # e.g. aws-foundational-security-best-practices/v/1.0.0
    subscription = {
        "StandardsSubscriptionArn": f"arn:aws:securityhub:{region}:{account}:subscription/{name}",
        "StandardsArn": standards_arn, "StandardsInput": {}, "StandardsStatus": "READY",
        "StandardsControlsUpdatable": "READY_FOR_UPDATES"}
    state.put(KIND, account, region, subscription["StandardsSubscriptionArn"], subscription)
    return subscription


@operation("securityhub", "GetEnabledStandards")
def get_enabled_standards(call: Call) -> dict[str, Any]:
    wanted = set(call.params.get("StandardsSubscriptionArns") or [])
    subs = [s for s in state.items(KIND, call.account, call.region)
            if not wanted or s["StandardsSubscriptionArn"] in wanted]
    return page(sorted(subs, key=lambda s: s["StandardsSubscriptionArn"]), call.params, "StandardsSubscriptions")

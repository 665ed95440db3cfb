"""AWS Config (regional): recorders and their status, delivery channels, rules and their
compliance (DescribeComplianceByConfigRule).

Each managed rule's result is credited to MON-09 and to every control the rule evidences
(`charter.managed_rules`), so a control whose evidence is a Config rule (IAM-01's
password policy rule) gets that rule's result. Every rule also evidences MON-01, which the
recorder check covers; its rule results are not repeated there."""

from __future__ import annotations

from charter.evidence.collectors import register
from charter.evidence.collectors.base import (
    Check,
    Collector,
    Context,
    Recorder,
    Snapshot,
    item,
    reads,
)
from charter.managed_rules import rule_controls, rules_for


def fetch(rec: Recorder, ctx: Context) -> Snapshot:
    recorders = (rec.call("config", "describe_configuration_recorders") or {}).get("ConfigurationRecorders", [])
    statuses = rec.optional("recorder_status", lambda: (rec.call(
        "config", "describe_configuration_recorder_status") or {}).get("ConfigurationRecordersStatus", []), [])
    channels = rec.optional("delivery_channels", lambda: (rec.call(
        "config", "describe_delivery_channels") or {}).get("DeliveryChannels", []), [])
    rules = rec.optional("rules", lambda: rec.drain("config", "describe_config_rules", "ConfigRules") or [], [])
    compliance = rec.optional("compliance", lambda: rec.drain(
        "config", "describe_compliance_by_config_rule", "ComplianceByConfigRules") or [], [])
    by_rule = {c["ConfigRuleName"]: (c.get("Compliance") or {}) for c in compliance}
    return {
        "recorders": [{"name": r["name"], "all_supported": (r.get("recordingGroup") or {}).get("allSupported", False),
                       "global_types": (r.get("recordingGroup") or {}).get("includeGlobalResourceTypes", False),
                       "recording": next((s.get("recording") for s in statuses if s.get("name") == r["name"]), False),
                       "last_status": next((s.get("lastStatus") for s in statuses if s.get("name") == r["name"]), None)}
                      for r in recorders],
        "delivery_channels": [{"name": c.get("name"), "bucket": c.get("s3BucketName")} for c in channels],
        "rules": [{"name": r["ConfigRuleName"], "arn": r.get("ConfigRuleArn"), "state": r.get("ConfigRuleState"),
                   "source": (r.get("Source") or {}).get("SourceIdentifier"),
                   "compliance": by_rule.get(r["ConfigRuleName"], {}).get("ComplianceType"),
                   "non_compliant": (by_rule.get(r["ConfigRuleName"], {}).get("ComplianceContributorCount") or {}
                                     ).get("CappedCount")} for r in rules],
    }


@reads("recorder_status", "delivery_channels")
def check_recorder(snap: Snapshot, ctx: Context) -> list:
    rid = f"{ctx.target.account_id}/{ctx.region}/config-recorder"
    if not snap["recorders"]:
        return [item(rid, "MON-01", False, "no configuration recorder")]
    out = []
    for r in snap["recorders"]:
        problems = []
        if not r["recording"]:
            problems.append("not recording")
        if not r["all_supported"]:
            problems.append("does not record all supported resource types")
        if not snap["delivery_channels"]:
            problems.append("no delivery channel")
        out.append(item(f"{rid}/{r['name']}", "MON-01", not problems,
                        "; ".join(problems) or "recording all supported resources, delivery channel set",
                        last_status=r["last_status"], global_types=r["global_types"],
                        delivery=[c["bucket"] for c in snap["delivery_channels"]]))
    return out


_RESULT = {"COMPLIANT": "pass", "NON_COMPLIANT": "fail", "NOT_APPLICABLE": "not_applicable",
           "INSUFFICIENT_DATA": "not_applicable"}


def _rule_results(snap: Snapshot, ctx: Context) -> list:
    out = []
    for r in snap["rules"]:
        result = _RESULT.get(r["compliance"] or "", "not_applicable")
        reason = {"pass": "compliant", "fail": f"non-compliant ({r['non_compliant'] or '?'} resources)"}.get(
            result, f"no evaluation result ({r['compliance'] or 'none yet'})")
        out.append(item(r["arn"] or r["name"], "MON-09", result, reason, rule=r["name"], source=r["source"],
                        state=r["state"]))
    return out


@reads("rules", "compliance")
def check_rules(snap: Snapshot, ctx: Context) -> list:
    """MON-09 (the conformance pack operates): every rule's result, and none at all is a failure."""
    if not snap["rules"]:
        if ctx.cfg.baseline.config.enabled and ctx.cfg.baseline.config.conformance_pack:
            return [item(f"{ctx.target.account_id}/{ctx.region}/config-rules", "MON-09", False, "no Config rules")]
        return []
    return _rule_results(snap, ctx)


def rule_check(control: str) -> Check:
    """The results of the managed rules that evidence `control` (from `MANAGED_RULES`, the table
    the `config_rules` builder deploys from), so IAM-01 gets IAM_PASSWORD_POLICY's result."""
    rules = frozenset(rules_for(control))

    @reads("rules", "compliance")
    def check(snap: Snapshot, ctx: Context) -> list:
        return [i for i in _rule_results(snap, ctx) if i.attributes.get("source") in rules]

    check.__name__ = check.__qualname__ = f"rule_check[{control}]"
    # judged only where such a rule runs: an assessment without one has nothing from this check
    check.config_rules = rules  # type: ignore[attr-defined]
    return check


COLLECTOR = register(Collector(
    calls=("config:DescribeComplianceByConfigRule", "config:DescribeConfigRules",
           "config:DescribeConfigurationRecorderStatus", "config:DescribeConfigurationRecorders",
           "config:DescribeDeliveryChannels"),
    name="config", scope="regional", services=("config",),
    description="Config recorders, delivery channels, rules and their compliance results",
    fetch=fetch,
    checks=(("MON-01", check_recorder), ("MON-09", check_rules),
            *((cid, rule_check(cid)) for cid in rule_controls() if cid not in ("MON-01", "MON-09"))),
))

"""`charter lint --format sarif`: the lint report as SARIF 2.1.0, what GitHub code scanning reads.

One run per tool (cfn-lint, checkov), each rule once in the tool's driver, each finding a
result at its template and line; the justified suppressions are results too, marked
`suppressions: [{kind: inSource, justification}]`, so code scanning shows them as dismissed
with the reason written on the resource. Built as plain dicts: SARIF's object model package
(sarif-om) is unmaintained since 2019 and adds nothing a schema check does not.
"""

from __future__ import annotations

from typing import Any

from charter import __version__
from charter.landing_zone.lint import LintReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "high": "error", "critical": "error", "warning": "warning", "medium": "warning",
          "informational": "note", "info": "note", "low": "note"}
_TOOLS = {"cfn-lint": "https://github.com/aws-cloudformation/cfn-lint",
          "checkov": "https://www.checkov.io/"}


def _location(template: str, line: int, resource: str | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": template, "uriBaseId": "SRCROOT"}}
    if line and line > 0:
        physical["region"] = {"startLine": line}
    loc: dict[str, Any] = {"physicalLocation": physical}
    if resource:
        loc["logicalLocations"] = [{"name": resource, "kind": "resource"}]
    return loc


def to_sarif(report: LintReport) -> dict[str, Any]:
    runs = []
    for tool, url in _TOOLS.items():
        findings = [f for f in report.findings if f.tool == tool]
        suppressed = [s for s in report.suppressions if s.rule.startswith("CKV") == (tool == "checkov")]
        rule_ids = sorted({f.rule for f in findings} | {s.rule for s in suppressed})
        results = [{
            "ruleId": f.rule, "ruleIndex": rule_ids.index(f.rule),
            "level": _LEVEL.get((f.severity or "").lower(), "warning"),
            "message": {"text": f.message or f.rule},
            "locations": [_location(f.template, f.line, f.resource)],
        } for f in findings]
        results += [{
            "ruleId": s.rule, "ruleIndex": rule_ids.index(s.rule), "level": "none", "kind": "pass",
            "message": {"text": f"suppressed on {s.resource}: {s.reason}"},
            "locations": [_location(s.template, 0, s.resource)],
            "suppressions": [{"kind": "inSource", "justification": s.reason}],
        } for s in suppressed]
        runs.append({
            "tool": {"driver": {"name": tool, "informationUri": url, "rules": [{"id": r} for r in rule_ids]}},
            "originalUriBaseIds": {"SRCROOT": {"description": {"text": "the directory `charter synth` wrote"}}},
            "results": results,
            "properties": {"charterVersion": __version__, "templates": len(report.templates)},
        })
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}

"""IAM Access Analyzer (which moto lacks entirely): the analyzers deployed by
AWS::AccessAnalyzer::Analyzer, and their findings (none are generated here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from charter.local.answers import operation, state
from charter.local.answers.protocol import Call, page

KIND = "accessanalyzer-analyzer"


def create(account: str, region: str, name: str, kind: str, tags: dict[str, str],
           configuration: dict[str, Any] | None) -> dict[str, Any]:
    """What AWS::AccessAnalyzer::Analyzer makes (its Ref is the analyzer's ARN)."""
    if any(a["name"] == name for a in state.items(KIND, account, region)):
        raise ValueError(f"analyzer {name} already exists")
    analyzer = {"arn": f"arn:aws:access-analyzer:{region}:{account}:analyzer/{name}", "name": name,
                "type": kind, "createdAt": datetime.now(UTC), "status": "ACTIVE", "tags": tags}
    if configuration and _api_configuration(configuration):
        analyzer["configuration"] = _api_configuration(configuration)
    state.put(KIND, account, region, name, analyzer)
    return analyzer


def _api_configuration(cfn: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's AnalyzerConfiguration in the API's shape (a union: exactly one member)."""
    unused = cfn.get("UnusedAccessConfiguration")
    if unused is None:
        return {}
    out: dict[str, Any] = {}
    if "UnusedAccessAge" in unused:
        out["unusedAccessAge"] = int(unused["UnusedAccessAge"])
    if unused.get("AnalysisRule"):
        out["analysisRule"] = {"exclusions": [{"accountIds": e.get("AccountIds", []), "resourceTags": e.get(
            "ResourceTags", [])} for e in unused["AnalysisRule"].get("Exclusions", [])]}
    return {"unusedAccess": out}


def _not_found(name: str) -> Exception:
    from charter.local.answers.protocol import AnswerError

    return AnswerError("ResourceNotFoundException", f"Analyzer {name} not found", 404)


@operation("access-analyzer", "ListAnalyzers")
def list_analyzers(call: Call) -> dict[str, Any]:
    kind = call.params.get("type")
    found = [a for a in state.items(KIND, call.account, call.region) if not kind or a["type"] == kind]
    return page(sorted(found, key=lambda a: a["name"]), call.params, "analyzers", "nextToken", "maxResults")


@operation("access-analyzer", "GetAnalyzer")
def get_analyzer(call: Call) -> dict[str, Any]:
    name = call.params.get("analyzerName", "")
    for analyzer in state.items(KIND, call.account, call.region):
        if analyzer["name"] == name:
            return {"analyzer": analyzer}
    raise _not_found(name)


def _findings(call: Call) -> dict[str, Any]:
    arn = call.params.get("analyzerArn", "")
    if not any(a["arn"] == arn for a in state.items(KIND, call.account, call.region)):
        raise _not_found(arn)
    return {"findings": []}


@operation("access-analyzer", "ListFindings")
def list_findings(call: Call) -> dict[str, Any]:
    """No findings: they come from analysing resource policies, which AWS does and the
    embedded AWS does not."""
    return _findings(call)


@operation("access-analyzer", "ListFindingsV2")
def list_findings_v2(call: Call) -> dict[str, Any]:
    return _findings(call)

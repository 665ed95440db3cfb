"""Operations moto 5.2.1 lacks that Charter's evidence collectors read, answered by the
embedded AWS from the state it holds (what the deployed stacks made), in the service's own
protocol. Without them each was a gap in every account and region of the demo.

- config: DescribeComplianceByConfigRule (the deployed rules; INSUFFICIENT_DATA, what AWS
  answers until a rule's first evaluation, since nothing evaluates rules here);
- securityhub: GetEnabledStandards (the AWS::SecurityHub::Standard resources deployed);
- guardduty: ListFindings (the findings held: none are generated here);
- accessanalyzer: ListAnalyzers, GetAnalyzer, ListFindings, ListFindingsV2 (the
  AWS::AccessAnalyzer::Analyzer resources deployed; no findings are generated here);
- backup: ListBackupJobs (the jobs held: no plan's schedule fires here), Update/DescribeRegionSettings
  (what the account-baseline custom resource sets).

Each answer says only what the state holds; where AWS would compute something the embedded
AWS cannot (rule evaluations, findings, scheduled backups), the answer is what AWS says
before it has computed anything. `state` holds the resources moto's CloudFormation skips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from charter.local.answers import protocol

#: (signing service name, operation) -> handler(call) -> response dict
_HANDLERS: dict[tuple[str, str], Callable[[protocol.Call], dict[str, Any]]] = {}
_LOADED = False


def operation(service: str, name: str) -> Callable[[Callable[[protocol.Call], dict[str, Any]]], Any]:
    def register(fn: Callable[[protocol.Call], dict[str, Any]]) -> Callable[[protocol.Call], dict[str, Any]]:
        _HANDLERS[(service, name)] = fn
        return fn
    return register


def _load() -> None:
    global _LOADED
    if not _LOADED:
        from charter.local.answers import accessanalyzer, backup, config, guardduty, securityhub  # noqa: F401

        _LOADED = True


def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
    """The embedded AWS's answer when the request is one of these operations, else None."""
    _load()
    service = protocol.signing_service(environ)
    if not service or not any(s == service for s, _ in _HANDLERS):
        return None
    call = protocol.identify(environ, service, {name for s, name in _HANDLERS if s == service})
    if call is None:
        return None
    handler = _HANDLERS[(service, call.operation)]
    return protocol.respond(start_response, call, lambda: handler(call))

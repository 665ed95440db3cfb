"""The documented shapes of `--output json`: one pydantic model per command, its JSON Schema
committed beside this file as <command>.json (regenerate: `python -m charter.schemas`).

Scripts can rely on these: a field is never renamed or removed without a new `schema` version
(every document carries `"schema": "charter/<command>/v1"`). Tests validate each command's real
output against its schema file and check the files match the models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HERE = Path(__file__).resolve().parent


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ValidateReport(_Doc):
    schema_: Literal["charter/validate/v1"] = Field(alias="schema")
    config: str
    valid: bool
    accounts: int
    ous: int
    governed_regions: list[str]


class PlanChange(_Doc):
    area: str
    target: str
    action: str
    details: list[str]


class PreflightDenial(_Doc):
    principal: str
    action: str
    resource: str
    accounts: list[str]
    regions: list[str]
    outcome: str
    #: scp, identity, boundary, resource or trust
    policy_type: str | None
    policy: str
    statement: str
    reason: str
    why: str
    source: str
    fix: str


class PreflightResult(_Doc):
    denials: list[PreflightDenial]
    needs: int
    trust_links: int
    principals: int
    notes: list[str]
    seconds: float


class PreflightReport(PreflightResult):
    schema_: Literal["charter/preflight/v1"] = Field(alias="schema")


class PlanReport(_Doc):
    schema_: Literal["charter/plan/v1"] = Field(alias="schema")
    against: str
    changes: list[PlanChange]
    totals: dict[Literal["add", "change", "destroy"], int]
    #: the landing zone's monthly cost estimate and its change since the last deploy
    cost: str
    #: every call the plan makes Charter do, evaluated as `charter preflight` does
    preflight: PreflightResult
    #: in a file saved with `charter plan --save`: what `deploy --plan-file` checks is unchanged
    config_sha256: str | None = None
    plan_sha256: str | None = None


class DeployReport(_Doc):
    schema_: Literal["charter/deploy/v1"] = Field(alias="schema")
    ok: bool
    elapsed_seconds: float
    changes: list[PlanChange]
    failures: list[str]
    notes: list[str]
    journal: str | None


class VerifyProblem(_Doc):
    kind: str
    item: str
    detail: str


class VerifyReport(_Doc):
    schema_: Literal["charter/evidence-verify/v1"] = Field(alias="schema")
    target: str
    ok: bool
    summary: str
    problems: list[VerifyProblem]
    warnings: list[str]


class ReviewerStatus(_Doc):
    reviewer: str
    rows: int
    returned: bool
    decisions: dict[str, int]


class AccessReviewStatus(_Doc):
    schema_: Literal["charter/access-review-status/v1"] = Field(alias="schema")
    campaign: str
    quarter: str
    status: str
    reviewers: list[ReviewerStatus]


class LintFinding(_Doc):
    tool: str
    template: str
    resource: str | None = None
    rule: str
    message: str
    line: int | None = None
    severity: str | None = None


class LintReport(_Doc):
    schema_: Literal["charter/lint/v1"] = Field(alias="schema")
    ok: bool
    templates: list[str]
    findings: list[dict[str, Any]]
    suppressions: list[dict[str, Any]]
    checkov_passed: int
    #: with `charter lint -c org.yaml`
    preflight: PreflightResult | None = None


class DriftItem(_Doc):
    stackset: str
    account: str
    region: str
    logical_id: str
    status: str
    properties: list[str]
    controls: list[str]


class DriftReport(_Doc):
    schema_: Literal["charter/drift/v1"] = Field(alias="schema")
    ok: bool
    summary: str
    checked: list[str]
    not_deployed: list[str]
    errors: list[str]
    drifts: list[DriftItem]


class CollectGap(_Doc):
    collector: str
    account_id: str
    region: str
    error: str


class CollectReport(_Doc):
    schema_: Literal["charter/evidence-collect/v1"] = Field(alias="schema")
    run_id: str
    resumed: bool
    store: str
    manifest: int
    artifacts: int
    stored: int
    skipped: int
    signing_key: str
    gaps: list[CollectGap]


class ControlsReport(_Doc):
    schema_: Literal["charter/controls/v1"] = Field(alias="schema")
    summary: dict[str, Any]
    controls: dict[str, Literal["implemented", "gap", "failing", "attestation", "inherited"]]
    fail_on: list[str]
    failed: list[str]


class OptimizeRun(_Doc):
    schema_: Literal["charter/optimize-run/v1"] = Field(alias="schema")
    result: str
    report: str | None
    metrics: dict[str, Any]
    final_weights: dict[str, float | None]


class OptimizeSearch(_Doc):
    schema_: Literal["charter/optimize-search/v1"] = Field(alias="schema")
    search: str
    best_config: dict[str, Any]
    holdout_sharpe: float | None
    n_trials: int
    n_failures: int
    metrics: dict[str, Any]


def models() -> dict[str, type[BaseModel]]:
    from charter.evidence.assessment import Assessment

    return {"validate": ValidateReport, "preflight": PreflightReport, "plan": PlanReport, "deploy": DeployReport, "drift": DriftReport, "evidence-collect": CollectReport, "controls": ControlsReport,
            "optimize-run": OptimizeRun, "optimize-search": OptimizeSearch, "evidence-verify": VerifyReport,
            "access-review-status": AccessReviewStatus, "lint": LintReport, "assess": Assessment}


def schema(command: str) -> dict[str, Any]:
    out = models()[command].model_json_schema(by_alias=True)
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["$id"] = f"charter/{command}/v1"
    return out


def schema_file(command: str) -> Path:
    return HERE / f"{command}.json"


def write_all() -> list[Path]:
    paths = []
    for command in models():
        path = schema_file(command)
        path.write_text(json.dumps(schema(command), indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths


"""OpenAPI 3.0 documents generated from `models.py` (never written by hand).

- `openapi_document()`: the REST API (POST /optimize, GET /jobs/{id}, GET /jobs/{id}/results,
  GET /health), served by the local server at /openapi.json and fuzzed by schemathesis.
- `optimize_request_schema()`: the POST /optimize body as a self-contained JSON Schema
  draft-04 document, the dialect of API Gateway request models.
- `action_group_document(ops)`: the Bedrock agent action groups `agents.py` implements.

pydantic emits JSON Schema 2020-12; the converters below map the few constructs that
differ (`anyOf [X, null]` -> `nullable`, `const` -> `enum`, `$defs` -> components or
inlined, `propertyNames` dropped, `patternProperties` -> `additionalProperties`), so the documents validate as OpenAPI 3.0 / draft-04.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import models
from .settings import Settings

API_TITLE = "Charter optimizer API"
API_VERSION = "1.0.0"
COMPONENT_REF = "#/components/schemas/{model}"
REST_MODELS: tuple[type[BaseModel], ...] = (
    models.OptimizeRequest, models.SubmitResponse, models.JobStatus, models.JobList, models.ResultsPage,
    models.ErrorBody)


def _to_openapi30(node: Any) -> Any:
    """2020-12 constructs -> OpenAPI 3.0 (recursively, returns a new tree)."""
    if isinstance(node, list):
        return [_to_openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _to_openapi30(v) for k, v in node.items() if k not in ("propertyNames", "$schema")}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    patterns = node.pop("patternProperties", None)
    if patterns:  # OpenAPI 3.0 has no patternProperties: keep the value schema, the handler checks keys
        node["additionalProperties"] = next(iter(patterns.values()))
    options = node.get("anyOf")
    if isinstance(options, list) and any(o == {"type": "null"} for o in options):
        rest = [o for o in options if o != {"type": "null"}]
        node.pop("anyOf")
        if len(rest) == 1 and "$ref" not in rest[0]:
            node = {**rest[0], **node}
        elif len(rest) == 1:
            node["allOf"] = rest
        else:
            node["anyOf"] = rest
        node["nullable"] = True
        if node.get("default", ...) is None:
            node.pop("default")
    return node


def _schemas(*model_types: type[BaseModel], ref_template: str = COMPONENT_REF) -> dict[str, Any]:
    _, doc = models_json_schema([(m, "validation") for m in model_types], ref_template=ref_template)
    return {name: _to_openapi30(schema) for name, schema in doc.get("$defs", {}).items()}


def _inline(node: Any, defs: dict[str, Any], prefix: str) -> Any:
    if isinstance(node, list):
        return [_inline(n, defs, prefix) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = _inline(copy.deepcopy(defs[node["$ref"].removeprefix(prefix)]), defs, prefix)
        return {**target, **{k: _inline(v, defs, prefix) for k, v in node.items() if k != "$ref"}}
    out = {k: _inline(v, defs, prefix) for k, v in node.items()}
    # allOf with a single member is how pydantic adds a description beside a $ref
    if "allOf" in out and len(out["allOf"]) == 1:
        out = {**out.pop("allOf")[0], **out}
    return out


def _draft04(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema draft-04 (`nullable` -> a null type or option)."""
    if isinstance(node, list):
        return [_draft04(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _draft04(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """One model as a self-contained OpenAPI 3.0 schema (no $ref)."""
    prefix = "#/$defs/"
    schema = model.model_json_schema(ref_template=prefix + "{model}")
    defs = {k: _to_openapi30(v) for k, v in schema.pop("$defs", {}).items()}
    return _inline(_to_openapi30(schema), defs, prefix)


def optimize_request_schema() -> dict[str, Any]:
    """The POST /optimize body for an API Gateway model (JSON Schema draft-04, self-contained)."""
    schema = _draft04(inline_schema(models.OptimizeRequest))
    return {"$schema": "http://json-schema.org/draft-04/schema#", "title": "OptimizeRequest", **schema}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": COMPONENT_REF.format(model=ref)}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Invalid request; `fields` names each bad field", 401: "No authenticated user",
            404: "No such job (or not yours)", 409: "The job has not succeeded (yet)",
            413: "Body too large", 429: "No capacity for another job: the message names the Service Quotas "
                                        "quota that is short; retry when a job ends",
            503: "Could not start the job; retry"}
    return {str(c): {"description": text[c], "content": _json("ErrorBody")} for c in codes}


def openapi_document(server_url: str | None = None, security: bool = True,
                     settings: Settings | None = None) -> dict[str, Any]:
    """The REST API. `security=False` for the local server (no Cognito there)."""
    settings = settings or Settings.from_env()
    job_id = {"name": "id", "in": "path", "required": True, "description": "Job id from POST /optimize.",
              "schema": {"type": "string", "pattern": models.JOB_ID_PATTERN}}
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": API_TITLE, "version": API_VERSION,
                 "description": "Dynamic asset allocation: submit an optimization job, follow it, read its results."},
        "paths": {
            "/optimize": {"post": {
                "operationId": "submitOptimization", "summary": "Validate and queue an optimization job",
                "requestBody": {"required": True, "content": _json("OptimizeRequest")},
                "responses": {"202": {"description": "Queued", "content": _json("SubmitResponse"),
                                      "headers": {"Location": {"schema": {"type": "string"}}}},
                              **_errors(400, 401, 413, 429, 503)}}},
            "/jobs": {"get": {
                "operationId": "listJobs", "summary": "The caller's jobs, newest first, a page at a time",
                "parameters": [{"name": "limit", "in": "query", "required": False,
                                "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                               {"name": "cursor", "in": "query", "required": False,
                                "description": "`next_cursor` of the previous page.",
                                "schema": {"type": "string", "maxLength": 512}}],
                "responses": {"200": {"description": "Jobs", "content": _json("JobList")},
                              **_errors(400, 401)}}},
            "/jobs/{id}": {"get": {
                "operationId": "getJobStatus", "summary": "Job status, with optional long polling",
                "parameters": [job_id,
                               {"name": "wait", "in": "query", "required": False,
                                "description": "Seconds to wait for a change (long polling).",
                                "schema": {"type": "integer", "minimum": 0,
                                           "maximum": settings.status_max_wait_seconds}},
                               {"name": "after", "in": "query", "required": False,
                                "description": "Return once the job's version exceeds this.",
                                "schema": {"type": "integer", "minimum": 0, "maximum": 2**31}}],
                "responses": {"200": {"description": "Status", "content": _json("JobStatus")},
                              **_errors(400, 401, 404)}}},
            "/jobs/{id}/results": {"get": {
                "operationId": "getJobResults", "summary": "One page of a finished job's results",
                "parameters": [job_id, {"name": "page", "in": "query", "required": False,
                                        "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000}}],
                "responses": {"200": {"description": "Results page", "content": _json("ResultsPage")},
                              **_errors(400, 401, 404, 409)}}},
            "/health": {"get": {
                "operationId": "health", "summary": "Liveness",
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"status": {"type": "string"}}}}}}}}},
        },
        "components": {"schemas": _schemas(*REST_MODELS)},
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    if security:
        doc["components"]["securitySchemes"] = {
            "cognito": {"type": "apiKey", "name": "Authorization", "in": "header",
                        "description": "Cognito user-pool ID token (MFA users)"},
            "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}
        for path, ops in doc["paths"].items():
            if path != "/health":
                for op in ops.values():
                    op["security"] = [{"cognito": [], "api_key": []}]
    return doc


#: Bedrock action-group operations: path -> (operationId, summary, request model).
ACTIONS: dict[str, tuple[str, str, type[BaseModel]]] = {
    "/market-data": ("getMarketData", "Get return statistics of assets over a date range", models.MarketDataQuery),
    "/strategies/evaluate": ("evaluateStrategy", "Backtest an allocation strategy and report Sharpe, drawdown, CVaR",
                             models.EvaluateStrategy),
    "/portfolio/risk": ("portfolioRisk", "Volatility, VaR and CVaR of a portfolio", models.PortfolioRiskRequest),
    "/search": ("runHyperparameterSearch", "Run a hyperparameter search for a strategy", models.SearchRequest),
}
#: The bedrock stack's operation names -> paths (workloads/stacks/bedrock.py OPERATIONS).
OPERATION_PATHS = {"get_market_data": "/market-data", "evaluate_strategy": "/strategies/evaluate",
                   "portfolio_risk": "/portfolio/risk", "run_hyperparameter_search": "/search"}


def _plain_schema(node: Any) -> Any:
    """Bedrock's schema subset: no `nullable`, no `additionalProperties: false`, no titles."""
    if isinstance(node, list):
        return [_plain_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _plain_schema(v) for k, v in node.items() if k not in ("nullable", "title")}
    if out.get("additionalProperties") is False:
        out.pop("additionalProperties")
    return out


def action_group_document(ops: list[str] | None = None, title: str = "Charter optimizer actions") -> dict[str, Any]:
    """OpenAPI 3.0 schema of an agent action group (all four operations by default)."""
    paths: dict[str, Any] = {}
    for path in [OPERATION_PATHS.get(o, o) for o in (ops or list(OPERATION_PATHS))]:
        op_id, summary, model = ACTIONS[path]
        paths[path] = {"post": {
            "operationId": op_id, "summary": summary, "description": summary,
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _plain_schema(inline_schema(model))}}},
            "responses": {"200": {"description": "Result", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"result": {"type": "object"}}}}}}},
        }}
    return {"openapi": "3.0.0", "info": {"title": title, "version": API_VERSION}, "paths": paths}

"""Assessment findings as OCSF Compliance Findings (class 2003), the format Security Hub and Prowler read.

One event per finding, in a JSON array (what `prowler --output-formats json-ocsf` writes).
OCSF 1.8.0; the attributes the schema requires for the class and for every object used are
always set (tests validate them against the schema's own definitions, vendored in
tests/evidence/ocsf_schema/). Prowler's own readers look at `status_code` (PASS/FAIL) and at
`unmapped.compliance` (framework -> requirement ids), so both are set too.

Hand-written models rather than `py-ocsf-models` (Prowler's): that package pins
email-validator to one exact version, which would pin it for everything Charter installs.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from charter import __version__
from charter.evidence.assessment import Assessment, Finding

OCSF_VERSION = "1.8.0"
CATEGORY_FINDINGS = 2
CLASS_COMPLIANCE_FINDING = 2003
ACTIVITY_CREATE = 1
STANDARD = "AICPA SOC 2 (2017 Trust Services Criteria)"

#: finding result -> (compliance.status_id, compliance.status, status_code)
_COMPLIANCE = {"pass": (1, "Pass", "PASS"), "fail": (3, "Fail", "FAIL"), "gap": (2, "Warning", "MANUAL"),
               "not_applicable": (1, "Pass", "PASS")}
#: finding result -> (severity_id, severity): failures need action; the rest are informational
_SEVERITY = {"fail": (3, "Medium"), "gap": (2, "Low"), "pass": (1, "Informational"),
             "not_applicable": (1, "Informational")}


class _Ocsf(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Product(_Ocsf):
    name: str = "Charter"
    vendor_name: str = "Charter"
    uid: str = "charter"
    version: str = __version__


class Metadata(_Ocsf):
    version: str = OCSF_VERSION
    product: Product = Field(default_factory=Product)
    profiles: list[str] = Field(default_factory=lambda: ["cloud", "datetime"])
    event_code: str
    log_name: str = "charter assess"
    tenant_uid: str | None = None


class Account(_Ocsf):
    uid: str
    name: str | None = None
    type: str = "AWS Account"
    type_id: int = 10


class Cloud(_Ocsf):
    provider: str = "AWS"
    region: str
    account: Account
    cloud_partition: str = "aws"


class FindingInfo(_Ocsf):
    uid: str
    title: str
    desc: str | None = None
    types: list[str]
    created_time: int
    created_time_dt: datetime


class Compliance(_Ocsf):
    control: str
    standards: list[str]
    requirements: list[str]
    status: str
    status_id: int
    desc: str | None = None


class Resource(_Ocsf):
    uid: str
    name: str
    type: str
    region: str
    cloud_partition: str = "aws"
    data: dict[str, Any] | None = None


class Remediation(_Ocsf):
    desc: str
    references: list[str] = Field(default_factory=list)


class ComplianceFinding(_Ocsf):
    metadata: Metadata
    activity_id: int = ACTIVITY_CREATE
    activity_name: str = "Create"
    category_uid: int = CATEGORY_FINDINGS
    category_name: str = "Findings"
    class_uid: int = CLASS_COMPLIANCE_FINDING
    class_name: str = "Compliance Finding"
    type_uid: int = CLASS_COMPLIANCE_FINDING * 100 + ACTIVITY_CREATE
    type_name: str = "Compliance Finding: Create"
    time: int  # milliseconds since the epoch (OCSF timestamp_t)
    time_dt: datetime
    severity_id: int
    severity: str
    status_id: int = 1
    status: str = "New"
    status_code: str
    status_detail: str
    message: str
    finding_info: FindingInfo
    compliance: Compliance
    cloud: Cloud
    resources: list[Resource]
    remediation: Remediation
    unmapped: dict[str, Any]


def _resource_type(f: Finding) -> str:
    return f.resource.split(":")[2] if f.resource.startswith("arn:") and f.resource.count(":") >= 2 else f.collector


def to_ocsf(finding: Finding, *, title: str, description: str, runbook: str | None = None,
            organization_id: str | None = None) -> ComplianceFinding:
    status_id, status, code = _COMPLIANCE[finding.result]
    severity_id, severity = _SEVERITY[finding.result]
    millis = int(finding.collected_at.timestamp() * 1000)
    return ComplianceFinding(
        metadata=Metadata(event_code=finding.control, tenant_uid=organization_id),
        time=millis, time_dt=finding.collected_at, severity_id=severity_id, severity=severity,
        status_code=code, status_detail=finding.reason,
        message=f"{finding.control} {finding.result.upper()} {finding.resource}: {finding.reason}",
        finding_info=FindingInfo(uid=finding.uid, title=title, desc=description,
                                 types=["Software and Configuration Checks/Industry and Regulatory Standards/SOC 2"],
                                 created_time=millis, created_time_dt=finding.collected_at),
        compliance=Compliance(control=finding.control, standards=[STANDARD], requirements=finding.criteria,
                              status=status, status_id=status_id, desc=title),
        cloud=Cloud(region=finding.region, account=Account(uid=finding.account_id, name=finding.account_name or None)),
        resources=[Resource(uid=finding.resource, name=finding.resource.rsplit("/", 1)[-1] or finding.resource,
                            type=_resource_type(finding), region=finding.region, data=finding.attributes or None)],
        remediation=Remediation(desc=description if finding.result != "gap" else finding.reason,
                                references=[f"charter runbook: {runbook}"] if runbook else []),
        unmapped={"compliance": {"SOC2": finding.criteria}, "charter": {
            "collector": finding.collector, "result": finding.result, "artifact_sha256": finding.artifact_sha256}},
    )


def assessment_events(assessment: Assessment) -> list[dict[str, Any]]:
    """Every finding of the assessment as an OCSF event (JSON-ready dicts, nulls left out)."""
    from charter.controls.catalog import default_catalog

    catalog = default_catalog()
    out = []
    for f in assessment.findings:
        control = catalog.by_id.get(f.control)
        event = to_ocsf(f, title=control.title if control else f.control,
                        description=" ".join(control.description.split()) if control else f.reason,
                        runbook=control.runbook if control else None, organization_id=assessment.organization_id)
        out.append(event.model_dump(mode="json", exclude_none=True))
    return out


def to_json(assessment: Assessment) -> str:
    return json.dumps(assessment_events(assessment), indent=2) + "\n"

"""Assess an existing account or organization against the SOC 2 controls, without Charter's landing zone.

The collectors read the accounts as they do for `charter evidence collect`; this module
decides what to read (`assessment_scope`, `assessment_collectors`, `assessment_config`) and
judges what was read (`judge`): each control of the catalog gets a status, each of the 61
criteria the status of its controls, each population item becomes a finding.

Statuses, worst first: `fail` (an item fails), `gap` (something could not be read: an
unreadable account, an API refused), `pass`, `not_applicable` (nothing to judge, e.g. no
DynamoDB table), `not_deployed` (the control is one Charter's landing zone implements: its
SCP statements, StackSets, log-archive buckets, permission sets, access-review campaigns;
without that landing zone it is missing by construction, not a failure of the account),
`manual` (attestation and inherited controls: people and AWS's own report evidence them).
An assessment fails (exit 3, Prowler's convention) when any control fails.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import botocore.exceptions
from pydantic import BaseModel, ConfigDict, Field

from charter.aws import SessionFactory, error_code
from charter.config.model import Organization, OrgConfig
from charter.evidence.artifact import Artifact
from charter.evidence.collectors import all_collectors
from charter.evidence.collectors.base import Collector, criteria_for
from charter.evidence.errors import CollectError
from charter.evidence.fanout import NO_ORGANIZATION, AccountRef, caller_account, discover_accounts

if TYPE_CHECKING:
    from charter.controls.links import Links

Status = Literal["fail", "gap", "pass", "not_applicable", "not_deployed", "manual"]
#: Worst first: a criterion or control takes the worst status among its parts.
STATUS_ORDER: tuple[str, ...] = ("fail", "gap", "pass", "not_applicable", "not_deployed", "manual")
#: Exit code of an assessment with a failing control (Prowler's convention).
EXIT_FAILED = 3
#: The organization name of an assessment without org.yaml (names in resource checks).
ASSESSED_NAME = "assessed"
#: Role assumed in member accounts of an organization without Charter (AWS creates it with each account).
DEFAULT_MEMBER_ROLE = "OrganizationAccountAccessRole"


def assessment_config(home_region: str, regions: Sequence[str] | None = None, name: str = ASSESSED_NAME) -> OrgConfig:
    """Charter's SOC 2 baseline (password policy, retention, rotation, ...) as the yardstick,
    for accounts that have no org.yaml. It declares no accounts: the accounts are what the
    credentials reach, and nothing is compared with a declared structure."""
    governed = list(dict.fromkeys([home_region, *(regions or [])]))
    org = Organization.model_validate({"name": name, "management_email": "assessment@example.com",
                                       "home_region": home_region, "governed_regions": governed})
    # validated field by field above; `accounts` (required, min 1, for a landing zone) is left empty
    return OrgConfig.model_construct(organization=org, accounts=[])


class Scope(BaseModel):
    """What an assessment reads: the accounts, whether they form an organization, who asks."""

    model_config = ConfigDict(frozen=True)

    caller_account: str
    organization_id: str | None = None
    management_account: str | None = None
    accounts: list[tuple[str, str]]  # (id, name)

    def refs(self) -> list[AccountRef]:
        return [AccountRef(i, n) for i, n in self.accounts]


def assessment_scope(sessions: SessionFactory, cfg: OrgConfig, wanted: Sequence[str] | None = None) -> Scope:
    """The accounts to assess: the whole organization when the credentials are its management
    account's, else the caller's own account; `wanted` (ids or names) narrows it down."""
    own = caller_account(sessions)
    org_id = mgmt = None
    try:
        org = sessions.client("organizations").describe_organization()["Organization"]
        org_id, mgmt = org.get("Id"), org.get("MasterAccountId")
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != NO_ORGANIZATION and not error_code(exc).startswith("AccessDenied"):
            raise
    known = discover_accounts(sessions, cfg) if mgmt == own.id else [own]
    if mgmt is not None and mgmt != own.id:
        known = [AccountRef(own.id, own.name)]  # a member account sees itself, not its organization
    chosen = known
    if wanted:
        chosen = []
        for w in wanted:
            match = [a for a in known if w in (a.id, a.name)]
            if not match:
                listed = ", ".join(f"{a.name} ({a.id})" for a in known)
                raise CollectError(f"--accounts {w}: not an account these credentials can assess",
                                   hint=f"pass one of: {listed}" if listed else "check --profile/--endpoint-url")
            chosen.extend(m for m in match if m not in chosen)
    return Scope(caller_account=own.id, organization_id=org_id, management_account=mgmt,
                 accounts=[(a.id, a.name) for a in chosen if a.status == "ACTIVE"])


def landing_zone_checks() -> set[tuple[str, str]]:
    """(collector, control) of every check that judges Charter's landing zone (a control may
    have such a check beside ordinary ones: DAT-01's SCP statement beside its S3 settings)."""
    return {(c.name, control) for c in all_collectors() for control in c.landing_zone}


def assessment_collectors(*, landing_zone: bool = False, names: Iterable[str] | None = None) -> list[Collector]:
    """The collectors an assessment runs: without the landing zone, none of the checks that
    judge it (a collector left with no check is not run)."""
    chosen = [c for c in all_collectors() if names is None or c.name in set(names)]
    if landing_zone:
        return chosen
    out = []
    for c in chosen:
        checks = tuple((control, check) for control, check in c.checks if control not in c.landing_zone)
        if checks:
            out.append(c if len(checks) == len(c.checks) else replace(c, checks=checks, landing_zone=()))
    return out


# -- judging -------------------------------------------------------------------------------

class Finding(BaseModel):
    """One population item (or one unreadable account-region) under its control and criteria."""

    model_config = ConfigDict(extra="forbid")

    control: str
    criteria: list[str]
    result: Literal["pass", "fail", "gap", "not_applicable"]
    resource: str
    reason: str
    collector: str
    account_id: str
    account_name: str = ""
    region: str
    collected_at: datetime
    artifact_sha256: str
    attributes: dict[str, Any] = Field(default_factory=dict)

    @property
    def uid(self) -> str:
        return f"charter-{self.control}-{self.account_id}-{self.region}-{self.resource}"


class ControlResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    kind: str
    criteria: list[str]
    status: Status
    reason: str
    counts: dict[str, int] = Field(default_factory=dict)


class CriterionResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    category: str
    status: Status | Literal["not_covered"]
    controls: dict[str, Status] = Field(default_factory=dict)


class Assessment(BaseModel):
    """The whole judgement: what `charter assess --output json` prints (schema: `charter/schemas/assess.json`)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    assessed_at: datetime
    caller_arn: str
    organization_id: str | None = None
    accounts: list[dict[str, str]]
    regions: list[str]
    landing_zone: bool
    criteria: list[CriterionResult]
    controls: list[ControlResult]
    findings: list[Finding]
    summary: dict[str, dict[str, int]] = Field(default_factory=dict)

    @property
    def failed(self) -> list[ControlResult]:
        return [c for c in self.controls if c.status == "fail"]

    @property
    def exit_code(self) -> int:
        return EXIT_FAILED if self.failed else 0


def _worst(statuses: Iterable[str]) -> str | None:
    found = set(statuses)
    return next((s for s in STATUS_ORDER if s in found), None)


def findings_of(artifacts: Iterable[Artifact], landing_zone: bool = False) -> list[Finding]:
    """Every population item as a finding; a gap artifact as one gap finding per control it
    should have judged (the account/region it could not read is the resource)."""
    skip = set() if landing_zone else landing_zone_checks()
    out: list[Finding] = []
    for art in artifacts:
        sha = art.sha256
        common = {"collector": art.collector, "account_id": art.account_id, "account_name": art.account_name,
                  "region": art.region, "collected_at": art.collected_at, "artifact_sha256": sha}
        if art.kind == "gap":
            for control in art.controls:
                if (art.collector, control) not in skip:
                    out.append(Finding(control=control, criteria=criteria_for([control]), result="gap",
                                       resource=f"{art.account_id}/{art.region}", reason=art.error or "not read",
                                       **common))
            continue
        for p in art.population:
            if (art.collector, p.control) in skip:
                continue
            out.append(Finding(control=p.control, criteria=criteria_for([p.control]), result=p.result,
                               resource=p.id, reason=p.reason, attributes=p.attributes, **common))
    return out


def judge(artifacts: Iterable[Artifact], *, caller_arn: str, accounts: Sequence[tuple[str, str]],
          regions: Sequence[str], assessed_at: datetime, landing_zone: bool = False,
          links: Links, collectors: Sequence[Collector] | None = None,
          organization_id: str | None = None) -> Assessment:
    """Statuses for every control and criterion of the catalog from the artifacts read.

    `links`: what implements each control (`charter.controls.links.default_links()`, joined from
    every domain's registry): passed in by the caller, since evidence sits below that join."""
    from charter.controls.catalog import default_catalog

    catalog = default_catalog()
    findings = findings_of(artifacts, landing_zone)
    used = collectors or assessment_collectors(landing_zone=landing_zone)
    judged = {control for c in used for control in c.controls}
    # controls judged only by the results of Config rules, which exist only where someone runs them
    by_rules = judged - {control for c in used for control, check in c.checks
                         if not getattr(check, "config_rules", None)}
    lz = {control: collector for collector, control in sorted(landing_zone_checks())}
    by_control: dict[str, list[Finding]] = {}
    for f in findings:
        by_control.setdefault(f.control, []).append(f)
    controls: list[ControlResult] = []
    for control in catalog:
        items = by_control.get(control.id, [])
        counts = {s: sum(1 for f in items if f.result == s) for s in ("pass", "fail", "gap", "not_applicable")}
        if control.kind != "automated":
            status, reason = "manual", ("inherited from " + (control.inherited_from or "AWS") if control.kind == "inherited"
                                        else "attestation: evidenced by people and records, not read from AWS")
        elif control.id in judged and (items or landing_zone or control.id not in lz or control.id not in by_rules):
            # a landing-zone control whose only other evidence is a Config rule's result (LOG-03's
            # S3 lock rule, which a plain account may run itself) is judged where such a rule runs;
            # where none does, it is what the landing zone deploys: not deployed, not "nothing to judge"
            status = _worst(f.result for f in items) or "not_applicable"
            worst = next((f for f in items if f.result == status), None)
            reason = (f"{counts['fail']} of {len(items)} failing; first: {worst.resource}: {worst.reason}"
                      if status == "fail" and worst else
                      f"{counts['gap']} not readable; first: {worst.reason}" if status == "gap" and worst else
                      f"{counts['pass']} passing" if status == "pass" else "nothing to judge in the accounts read")
        elif control.id in lz and not landing_zone:
            status, reason = "not_deployed", (f"judges what Charter's landing zone deploys ({lz[control.id]} "
                                              "collector); deploy it with `charter deploy` to implement it")
        else:
            ln = links.get(control.id)
            builders = ", ".join(ln.builders or ln.tooling) or "Charter"
            status, reason = "not_deployed", f"implemented by Charter's landing zone ({builders}); no collector reads it"
        controls.append(ControlResult(id=control.id, title=control.title, kind=control.kind,
                                      criteria=list(control.criteria), status=status, reason=reason,
                                      counts={k: v for k, v in counts.items() if v}))
    status_of = {c.id: c.status for c in controls}
    criteria = []
    for crit in catalog.criteria.values():
        mine = {c.id: status_of[c.id] for c in catalog.for_criterion(crit.id)}
        criteria.append(CriterionResult(id=crit.id, title=crit.title, category=crit.category,
                                        status=_worst(mine.values()) or "not_covered", controls=mine))
    summary = {
        "criteria": _count(c.status for c in criteria),
        "controls": _count(c.status for c in controls),
        "findings": _count(f.result for f in findings),
    }
    return Assessment(assessed_at=assessed_at, caller_arn=caller_arn, organization_id=organization_id,
                      accounts=[{"id": i, "name": n} for i, n in accounts], regions=list(regions),
                      landing_zone=landing_zone, criteria=criteria, controls=controls, findings=findings,
                      summary=summary)


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: STATUS_ORDER.index(kv[0]) if kv[0] in STATUS_ORDER else 99))


CSV_COLUMNS = ("status", "control", "criteria", "account_id", "account_name", "region", "resource", "reason",
               "collector", "collected_at", "artifact_sha256")


def to_csv(assessment: Assessment) -> str:
    """One row per finding, Prowler-style: status first, then what and where."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for f in assessment.findings:
        writer.writerow([f.result.upper(), f.control, " ".join(f.criteria), f.account_id, f.account_name, f.region,
                         f.resource, f.reason, f.collector, f.collected_at.isoformat(), f.artifact_sha256])
    return buf.getvalue()

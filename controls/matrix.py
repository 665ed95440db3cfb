"""The control matrix: criterion -> controls -> resources -> evidence, computed, never typed.

`compute_matrix(cfg)` synthesizes the landing zone (or takes stacks already synthesized),
reads `Metadata.Charter.Controls` / `Suppressions` off every resource and joins them with
the catalog and with the registries of `controls.links` (which builders, Config rules, SCP
guardrails and collector checks implement or evidence each control, each declared once in
code). An automated control is `implemented` when a resource from a builder that declares
it carries its id (or, for controls Charter's own tooling implements, when that module is
installed), a `gap` otherwise, with the reason: the config switch that is off, the SCP
guardrail left out, the builder that is missing, or simply "nothing emitted". Hooks:

- `extra_stacks`: more `SynthesizedStack`s (the workloads' stacks) to join in;
- `failing_controls`: {control id: reason} from operating evidence (the access review
  marks IAM-09 failing for a quarter without a closed campaign);
- `evidence`: {control id: EvidenceState} from the latest evidence run of a store; a
  control whose latest evidence fails is `failing` (never `implemented` beside a failure).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from charter.config.model import OrgConfig
from charter.errors import CharterError

from .catalog import Catalog, default_catalog
from .links import ControlLinks, Links, default_links, load_links
from .model import Control

Status = Literal["implemented", "gap", "failing", "attestation", "inherited"]
Coverage = Literal["automated", "attestation", "inherited", "gap"]
STATUSES: tuple[str, ...] = ("implemented", "failing", "gap", "attestation", "inherited")


class MatrixError(CharterError):
    """The matrix cannot be computed from what it was given."""

    code = "CHARTER-810"
    fix = "Check the control ids and config paths named in the message against the catalog and org.yaml."


class ResourceRef(BaseModel):
    stack: str
    logical_id: str
    type: str
    #: The builder whose stack holds it ("" for stacks from outside the registry).
    builder: str = ""

    def __str__(self) -> str:
        return f"{self.stack}/{self.logical_id}"


class ImplementedBy(BaseModel):
    """What implements and evidences a control, joined from the registries (`controls.links`)."""

    builders: list[str] = Field(default_factory=list)
    #: Builders whose resources only check the control (Config rules).
    evaluated_by: list[str] = Field(default_factory=list)
    scp_guardrails: list[str] = Field(default_factory=list)
    config_rules: list[str] = Field(default_factory=list)
    security_hub: list[str] = Field(default_factory=list)
    tooling: list[str] = Field(default_factory=list)
    #: Collector checks (`collector.check`) that evidence it.
    checks: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, links: ControlLinks) -> ImplementedBy:
        return cls(builders=links.builders, evaluated_by=links.evaluated_by, scp_guardrails=links.scp_guardrails,
                   config_rules=links.config_rules, security_hub=links.security_hub, tooling=links.tooling,
                   checks=[str(c) for c in links.checks])


class EvidenceState(BaseModel):
    """A control's status in the latest evidence run that holds evidence for it."""

    status: str
    reason: str = ""
    run_id: str | None = None
    as_of: datetime | None = None
    passed: int = 0
    failed: int = 0


class SuppressionRef(BaseModel):
    stack: str
    logical_id: str
    check_id: str
    reason: str


class ControlStatus(BaseModel):
    id: str
    title: str
    kind: str
    criteria: list[str]
    status: Status
    #: Why a control is a gap or failing (empty otherwise).
    reason: str = ""
    resources: list[ResourceRef] = Field(default_factory=list)
    #: Charter modules that implement it without a resource (lint, a collector).
    tooling: list[str] = Field(default_factory=list)
    implemented_by: ImplementedBy
    #: Collectors with a check for the control (from `Collector.checks`).
    evidence: list[str] = Field(default_factory=list)
    #: The latest evidence run's view of the control, when the matrix joined a store.
    latest_evidence: EvidenceState | None = None
    evidence_notes: str = ""
    runbook: str | None = None
    frequency: str
    owner: str
    test_procedure: str
    population: str
    requires: list[str] = Field(default_factory=list)
    inherited_from: str | None = None
    suppressions: list[SuppressionRef] = Field(default_factory=list)


class CriterionRow(BaseModel):
    id: str
    category: str
    group: str
    title: str
    controls: list[str]
    #: The strongest kind of coverage: an implemented automated control beats an
    #: attestation, which beats an inherited one; `gap` when none of them holds.
    coverage: Coverage


class Summary(BaseModel):
    criteria_total: int
    criteria_with_controls: int
    criteria_automated: int
    criteria_attestation: int
    criteria_inherited: int
    #: Criteria with no implemented automated, attestation or inherited control.
    criteria_gap: list[str]
    controls_total: int
    controls_by_status: dict[str, int]
    gaps: dict[str, str]
    failing: dict[str, str]
    suppressions: int
    #: Control ids found on resources that the catalog does not define.
    uncatalogued: dict[str, list[str]]


class Matrix(BaseModel):
    organization: str
    stacks: list[str]
    summary: Summary
    criteria: list[CriterionRow]
    controls: dict[str, ControlStatus]

    def rows(self) -> Iterable[tuple[CriterionRow, ControlStatus]]:
        for crit in self.criteria:
            for cid in crit.controls:
                yield crit, self.controls[cid]

    def suppressions(self) -> list[tuple[SuppressionRef, list[str]]]:
        """Each suppression once, with the controls of the resource it sits on."""
        found: dict[tuple[str, str, str], tuple[SuppressionRef, list[str]]] = {}
        for cid, c in self.controls.items():
            for x in c.suppressions:
                found.setdefault((x.stack, x.logical_id, x.check_id), (x, []))[1].append(cid)
        return [found[k] for k in sorted(found)]


# -- reading the synthesized templates -----------------------------------------------------

def _tagged(stacks: Iterable[Any]) -> tuple[dict[str, list[ResourceRef]], dict[str, list[SuppressionRef]], int]:
    """control id -> resources carrying it, control id -> suppressions on those resources."""
    resources: dict[str, list[ResourceRef]] = {}
    suppressions: dict[str, list[SuppressionRef]] = {}
    total_suppressions = 0
    for stack in stacks:
        for logical, res in (stack.data.get("Resources") or {}).items():
            charter = (res.get("Metadata") or {}).get("Charter") or {}
            ref = ResourceRef(stack=stack.name, logical_id=logical, type=str(res.get("Type", "")),
                              builder=getattr(stack.spec, "builder", "") or "")
            sups = [SuppressionRef(stack=stack.name, logical_id=logical, check_id=str(s.get("Id", "")),
                                   reason=str(s.get("Reason", ""))) for s in charter.get("Suppressions") or []]
            total_suppressions += len(sups)
            for cid in charter.get("Controls") or []:
                resources.setdefault(cid, []).append(ref)
                suppressions.setdefault(cid, []).extend(sups)
    return resources, suppressions, total_suppressions


def config_value(cfg: OrgConfig, path: str) -> Any:
    """The value at a dotted path of the config (`baseline.macie.enabled`)."""
    node: Any = cfg
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, BaseModel) and part in type(node).model_fields:
            node = getattr(node, part)
        else:
            raise MatrixError(f"catalog requires {path!r}, but org.yaml has no such setting",
                              hint="fix `requires` in the catalog to a real path such as baseline.macie.enabled")
    return node


def _describe_off(path: str, value: Any) -> str:
    if value is False:
        return f"{path} is false"
    if value is None:
        return f"{path} is not set"
    if isinstance(value, list | dict | str) and not value:
        return f"{path} is empty"
    return f"{path} is {value!r}"


def _module_present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _gap_reason(control: Control, links: ControlLinks, cfg: OrgConfig, available: set[str]) -> str:
    off = [(path, config_value(cfg, path)) for path in control.requires]
    off = [(p, v) for p, v in off if not v]
    if off:
        return "; ".join(_describe_off(p, v) for p, v in off)
    if links.scp_guardrails:
        from charter.landing_zone.scp.guardrails import selected

        applied = {g.id for g in selected(cfg)}
        left_out = [g for g in links.scp_guardrails if g not in applied]
        if left_out:
            return (f"SCP guardrail {', '.join(left_out)} is not applied "
                    "(scps.guardrails / scps.exclude in org.yaml)")
    missing_tools = [m for m in links.tooling if not _module_present(m)]
    if missing_tools:
        return "not installed: " + ", ".join(m.replace(".", "/") + ".py" for m in missing_tools)
    missing = [b for b in links.builders if b not in available]
    if missing and len(missing) == len(links.builders):
        return f"builder {', '.join(missing)} is not available"
    if links.builders:
        return (f"no resource from builder {', '.join(links.builders)} carries {control.id} "
                "in the synthesized templates")
    if links.evaluated_by:
        return f"only checked (by {', '.join(links.evaluated_by)}); nothing declares that it implements {control.id}"
    return f"nothing implements {control.id} for this config"


# -- the matrix ----------------------------------------------------------------------------

def compute_matrix(
    cfg: OrgConfig,
    catalog: Catalog | None = None,
    *,
    stacks: Iterable[Any] | None = None,
    extra_stacks: Iterable[Any] = (),
    failing_controls: Mapping[str, str] | None = None,
    evidence: Mapping[str, EvidenceState] | None = None,
    links: Links | None = None,
) -> Matrix:
    """Join the catalog with what synth emits for `cfg`.

    `stacks` defaults to a fresh `landing_zone.synth.synthesize(cfg)`; `extra_stacks`
    adds more `SynthesizedStack`s (workloads). `failing_controls` marks controls failing
    with a reason, whatever the templates say; so does a failing `evidence` state.
    """
    if catalog is None:
        catalog = default_catalog()
        links = links or default_links()
    links = links or load_links(catalog)
    if stacks is None:
        from charter.landing_zone.synth import synthesize

        stacks = synthesize(cfg)
    all_stacks = [*stacks, *extra_stacks]
    tagged, sups, total_sups = _tagged(all_stacks)
    available = set(links.builders)
    failing = dict(failing_controls or {})
    unknown = sorted(cid for cid in failing if cid not in catalog)
    if unknown:
        raise MatrixError(f"failing_controls names controls the catalog does not define: {', '.join(unknown)}")

    statuses: dict[str, ControlStatus] = {}
    for c in catalog:
        ln = links.get(c.id)
        found = tagged.get(c.id, [])
        reason = ""
        tooling: list[str] = []
        if c.kind == "automated":
            tools_ok = bool(ln.tooling) and all(_module_present(m) for m in ln.tooling)
            # A switched-off feature is a gap even if a detective check (a Config rule that
            # evaluates the feature) still carries the control id: nothing implements it.
            requires_ok = all(config_value(cfg, p) for p in c.requires)
            # Resources from a builder that only evaluates the control (a Config rule of
            # config_rules that checks MON-04, say) don't make it; custom SCP statements of
            # org.yaml make theirs (`implements(cfg)`).
            implementing = [r for r in found if r.builder not in available
                            or c.id in links.builders[r.builder].implements(cfg)]
            if requires_ok and (implementing or tools_ok):
                status: Status = "implemented"
                tooling = list(ln.tooling) if tools_ok else []
            else:
                status, reason = "gap", _gap_reason(c, ln, cfg, available)
        else:
            status = c.kind  # type: ignore[assignment]
        latest = (evidence or {}).get(c.id)
        if c.id in failing:
            status, reason = "failing", failing[c.id]
        elif latest is not None and latest.status == "failing":
            status = "failing"
            reason = f"latest evidence (run {latest.run_id or '?'}): {latest.reason}"
        statuses[c.id] = ControlStatus(
            id=c.id, title=c.title, kind=c.kind, criteria=list(c.criteria), status=status, reason=reason,
            resources=found, tooling=tooling, implemented_by=ImplementedBy.of(ln), evidence=ln.collectors,
            latest_evidence=latest,
            evidence_notes=c.evidence_notes, runbook=c.runbook, frequency=c.frequency, owner=c.owner,
            test_procedure=c.test_procedure, population=c.population, requires=list(c.requires),
            inherited_from=c.inherited_from, suppressions=_dedupe(sups.get(c.id, [])),
        )

    rows: list[CriterionRow] = []
    for crit in catalog.criteria.values():
        ids = [c.id for c in catalog.for_criterion(crit.id)]
        rows.append(CriterionRow(id=crit.id, category=crit.category, group=crit.group, title=crit.title,
                                 controls=ids, coverage=_coverage([statuses[i] for i in ids])))

    by_status = {s: sum(1 for x in statuses.values() if x.status == s) for s in STATUSES}
    uncatalogued: dict[str, list[str]] = {}
    for cid, refs in sorted(tagged.items()):
        if cid not in catalog:
            uncatalogued[cid] = sorted({str(r) for r in refs})
    summary = Summary(
        criteria_total=len(rows),
        criteria_with_controls=sum(1 for r in rows if r.controls),
        criteria_automated=sum(1 for r in rows if r.coverage == "automated"),
        criteria_attestation=sum(1 for r in rows if any(statuses[i].kind == "attestation" for i in r.controls)),
        criteria_inherited=sum(1 for r in rows if any(statuses[i].kind == "inherited" for i in r.controls)),
        criteria_gap=[r.id for r in rows if r.coverage == "gap"],
        controls_total=len(statuses), controls_by_status=by_status,
        gaps={i: s.reason for i, s in statuses.items() if s.status == "gap"},
        failing={i: s.reason for i, s in statuses.items() if s.status == "failing"},
        suppressions=total_sups, uncatalogued=uncatalogued,
    )
    return Matrix(organization=cfg.organization.name, stacks=[s.name for s in all_stacks], summary=summary,
                  criteria=rows, controls=statuses)


def _dedupe(items: list[SuppressionRef]) -> list[SuppressionRef]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for s in items:
        key = (s.stack, s.logical_id, s.check_id)
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def _coverage(controls: list[ControlStatus]) -> Coverage:
    if any(c.kind == "automated" and c.status == "implemented" for c in controls):
        return "automated"
    if any(c.status == "attestation" for c in controls):
        return "attestation"
    if any(c.status == "inherited" for c in controls):
        return "inherited"
    return "gap"


# -- renderings ----------------------------------------------------------------------------

CSV_COLUMNS = ["criterion", "category", "criterion_title", "coverage", "control", "control_title", "kind",
               "status", "reason", "resources", "evidence", "runbook", "frequency", "owner", "suppressions",
               "latest_evidence"]


def _resources_text(c: ControlStatus) -> str:
    parts = [str(r) for r in c.resources] + [f"tool:{t}" for t in c.tooling]
    return "; ".join(parts)


def to_csv(m: Matrix) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for crit, c in m.rows():
        w.writerow([crit.id, crit.category, crit.title, crit.coverage, c.id, c.title, c.kind, c.status, c.reason,
                    _resources_text(c), " ".join(c.evidence), c.runbook or "", c.frequency, c.owner,
                    "; ".join(f"{s.stack}/{s.logical_id} {s.check_id}: {s.reason}" for s in c.suppressions),
                    c.latest_evidence.status if c.latest_evidence else ""])
    return buf.getvalue()


def to_json(m: Matrix) -> str:
    return json.dumps(m.model_dump(mode="json"), indent=2) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(m: Matrix) -> str:
    s = m.summary
    lines = [
        f"# SOC 2 control matrix — {m.organization}",
        "",
        f"Computed from {len(m.stacks)} synthesized stacks and the control catalog ({s.controls_total} controls).",
        "",
        "## Summary",
        "",
        "| | criteria |",
        "|---|---|",
        f"| with at least one control | {s.criteria_with_controls} of {s.criteria_total} |",
        f"| covered by an implemented automated control | {s.criteria_automated} |",
        f"| with an attestation control | {s.criteria_attestation} |",
        f"| with an inherited (AWS) control | {s.criteria_inherited} |",
        f"| with no implemented coverage | {len(s.criteria_gap)}{': ' + ', '.join(s.criteria_gap) if s.criteria_gap else ''} |",
        "",
        "Controls: " + ", ".join(f"{n} {k}" for k, n in s.controls_by_status.items()) + f"; {s.suppressions} suppressions.",
        "",
    ]
    if s.gaps or s.failing:
        lines += ["## Gaps and failing controls", "", "| control | status | reason |", "|---|---|---|"]
        lines += [f"| {cid} | failing | {_md(r)} |" for cid, r in s.failing.items()]
        lines += [f"| {cid} | gap | {_md(r)} |" for cid, r in s.gaps.items()]
        lines.append("")
    if s.uncatalogued:
        lines += ["## Control ids on resources but not in the catalog", ""]
        lines += [f"- {cid}: {', '.join(refs[:5])}{' …' if len(refs) > 5 else ''}" for cid, refs in s.uncatalogued.items()]
        lines.append("")
    lines += ["## Criteria", "", "| criterion | title | coverage | control | kind | status | resources | evidence | runbook |",
              "|---|---|---|---|---|---|---|---|---|"]
    for crit, c in m.rows():
        res = f"{len(c.resources)} resources" if c.resources else ("tool: " + ", ".join(c.tooling) if c.tooling else "")
        status = c.status + (f" ({_md(c.reason)})" if c.reason else "")
        lines.append(f"| {crit.id} | {_md(crit.title)} | {crit.coverage} | {c.id} {_md(c.title)} | {c.kind} | {status} "
                     f"| {res} | {', '.join(c.evidence)} | {c.runbook or ''} |")
    sups = m.suppressions()
    if sups:
        lines += ["", "## Suppressions", "", "| resource | check | controls | reason |", "|---|---|---|---|"]
        lines += [f"| {x.stack}/{x.logical_id} | {x.check_id} | {', '.join(cids)} | {_md(x.reason)} |"
                  for x, cids in sups]
    return "\n".join(lines) + "\n"


#: Colours of coverage and status, shared by the matrix's badges and charts.
_COVERAGE_SERIES = (("automated", "automated", "#1a7f37"), ("attestation", "attestation", "#1d4ed8"),
                    ("inherited", "inherited", "#6b21a8"), ("gap", "gap", "#b42318"))
_STATUS_SERIES = (("implemented", "implemented", "#1a7f37"), ("failing", "failing", "#9a3412"),
                  ("gap", "gap", "#b42318"), ("attestation", "attestation", "#1d4ed8"),
                  ("inherited", "inherited", "#6b21a8"))


def _charts(m: Matrix) -> list[Any]:
    """A coverage chart per criteria family and a status chart per control family (inline SVG)."""
    from charter.templates.charts import Series, stacked_bars

    groups: dict[str, dict[str, int]] = {}
    for crit in m.criteria:
        counts = groups.setdefault(crit.group, {})
        counts[crit.coverage] = counts.get(crit.coverage, 0) + 1
    families: dict[str, dict[str, int]] = {}
    for c in m.controls.values():
        counts = families.setdefault(c.id.split("-")[0], {})
        counts[c.status] = counts.get(c.status, 0) + 1
    return [
        stacked_bars("Criteria by coverage, per criteria family", [(g.split(" ")[0], n) for g, n in groups.items()],
                     [Series(*x) for x in _COVERAGE_SERIES], width=620, label_width=60),
        stacked_bars("Controls by status, per control family", sorted(families.items()),
                     [Series(*x) for x in _STATUS_SERIES], width=620, label_width=60),
    ]


def to_html(m: Matrix, *, runbooks_href: str = "runbooks/") -> str:
    """The matrix as one offline HTML page; runbook names link to `<runbooks_href><id>.html`
    (the layout `charter demo` and `charter runbooks render -o <dir>/runbooks` write)."""
    from importlib.resources import files

    import jinja2

    source = files("charter.templates").joinpath("matrix.html.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    families = sorted({c.group.split(" ")[0] for c in m.criteria}, key=lambda g: (g[:2] != "CC", g))
    return env.from_string(source).render(m=m, s=m.summary, charts=_charts(m), families=families,
                                          runbooks_href=runbooks_href)


RENDERERS = {"md": to_markdown, "csv": to_csv, "json": to_json, "html": to_html}


def render(m: Matrix, fmt: str, *, runbooks_href: str = "runbooks/") -> str:
    if fmt == "html":
        return to_html(m, runbooks_href=runbooks_href)
    try:
        return RENDERERS[fmt](m)
    except KeyError:
        raise MatrixError(f"unknown format {fmt!r}", hint="use one of: " + ", ".join(RENDERERS)) from None

"""`charter preflight`: every call Charter makes, evaluated as AWS would before deploy.

The permission model is joined here from what each domain declares beside its code
(landing zone: stacks, the deploy engine, the custom resource; evidence: collectors, the
reader's trust chain, access reviews; workloads: the pipeline and its stacks) and
evaluated with `charter.policy` against the SCPs `charter deploy` would attach. `charter
plan` and `charter lint -c` run the same check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import typer

from charter.options import CONFIG, OUTPUT, OutputFormat
from charter.output import console, emit_json, err_console, ok


@dataclass
class PreflightReport:
    findings: list = field(default_factory=list)
    needs: int = 0
    assumes: int = 0
    principals: int = 0
    notes: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, object]:
        return {"denials": [f.to_json() for f in self.findings], "needs": self.needs, "trust_links": self.assumes,
                "principals": self.principals, "notes": self.notes, "seconds": round(self.elapsed, 2)}


def build_model(cfg, *, stacks=None):  # type: ignore[no-untyped-def]
    """The permission model of everything `cfg` makes Charter do."""
    from charter.evidence.permissions import evidence_model
    from charter.landing_zone.permissions import Organization, landing_zone_model
    from charter.landing_zone.synth import synthesize
    from charter.workloads.permissions import workload_model

    org = Organization.of(cfg)
    model = landing_zone_model(cfg, stacks if stacks is not None else synthesize(cfg), org)
    model.merge(evidence_model(cfg, org.ids))
    model.merge(workload_model(cfg, org.ids, org.context()))
    return model


def run_preflight(cfg, *, stacks=None) -> PreflightReport:  # type: ignore[no-untyped-def]
    from charter.policy.check import check

    start = time.perf_counter()
    model = build_model(cfg, stacks=stacks)
    findings = check(model)
    principals = {n.role for n in model.needs} | {e.role for e in model.assumes}
    return PreflightReport(findings, len(model.needs), len(model.assumes), len(principals), model.notes,
                           time.perf_counter() - start)


def print_report(report: PreflightReport) -> None:
    for f in report.findings:
        console.print(f"DENIED {f.line()}", markup=False, soft_wrap=True)
    summary = (f"preflight: {report.needs} needs and {report.assumes} trust links of {report.principals} principals "
               f"evaluated, {len(report.findings)} denials, {report.elapsed:.1f}s")
    (ok if report.ok else err_console.print)(summary)


def preflight(config: Path = CONFIG, output: OutputFormat = OUTPUT,
              notes: bool = typer.Option(False, "--notes", help="Also list what could not be modelled.")) -> None:
    """Evaluate every call Charter makes (every principal, action, account and region)
    against the SCPs, identity policies, boundaries, trust and resource policies, as AWS
    would. Each denial is one line: principal, action, resource, accounts / regions, the
    statement that denies it or the allow that is missing, and the fix. Exit 1 on any denial.

    Example: `charter preflight -c examples/large/org.yaml --output json`
    """
    from charter.landing_zone.config import load_config

    cfg = load_config(config)
    with err_console.status("evaluating Charter's permission model..."):
        report = run_preflight(cfg)
    if output == OutputFormat.json:
        emit_json("preflight", report.to_json())
    else:
        print_report(report)
        if notes:
            for n in report.notes:
                console.print(f"note: {n}", markup=False)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(preflight)

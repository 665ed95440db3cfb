"""cfn-lint and checkov, in-process, over a synth output directory.

Both tools are run through their Python APIs rather than their CLIs: cfn-lint's rules are
loaded once and reused for every template (`Runner.validate_template`, which wraps
`run_template_by_data`), and checkov's CloudFormation runner scans every file in one
call. That avoids a process start and a rule load per template, which is where the CLIs
spend most of their time (see `benchmarks/lint_vs_cli.py`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from charter.errors import SynthError


@dataclass(frozen=True)
class Finding:
    tool: str  # cfn-lint | checkov
    template: str
    resource: str
    rule: str
    severity: str
    message: str
    line: int = 0

    def render(self) -> str:
        where = f"{self.template}:{self.line}" if self.line else self.template
        return f"{where}: {self.resource or '-'}: {self.tool} {self.rule} [{self.severity}] {self.message}"


@dataclass(frozen=True)
class Suppression:
    template: str
    resource: str
    rule: str
    reason: str


@dataclass
class LintReport:
    templates: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    checkov_passed: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def count(self, tool: str) -> int:
        return sum(1 for f in self.findings if f.tool == tool)


def suppressions_in(template_name: str, data: dict[str, Any]) -> list[Suppression]:
    """The justified suppressions Charter wrote on resources (Metadata.Charter.Suppressions)."""
    out = []
    for logical_id, res in (data.get("Resources") or {}).items():
        for s in (res.get("Metadata") or {}).get("Charter", {}).get("Suppressions", []):
            out.append(Suppression(template_name, logical_id, s["Id"], s["Reason"]))
    return out


class Linter:
    """Build once, lint many: cfn-lint's rules are loaded once, on first use, and reused."""

    def __init__(self, regions: Iterable[str] = ("us-east-1",)) -> None:
        self.regions = list(regions)
        self._runner = None

    @property
    def _cfnlint(self):
        # Loaded on first use, so lint_dir can start checkov's process before paying for it.
        if self._runner is None:
            import cfnlint.api  # noqa: F401  (imports cfnlint in the order its modules need)
            from cfnlint.config import ConfigMixIn
            from cfnlint.runner.cli import Runner as CfnLintRunner

            self._runner = CfnLintRunner(ConfigMixIn(regions=self.regions))
        return self._runner

    def cfn_lint(self, name: str, data: dict[str, Any]) -> list[Finding]:
        out = []
        for match in self._cfnlint.validate_template(data):
            rule = match.rule.id
            severity = {"E": "error", "W": "warning", "I": "info"}.get(rule[:1], "error")
            if severity == "info":
                continue
            path = list(getattr(match, "path", None) or [])
            resource = str(path[1]) if len(path) > 1 and path[0] == "Resources" else ""
            out.append(Finding("cfn-lint", name, resource, rule, severity, match.message, match.linenumber))
        return out

    def checkov(self, files: list[Path]) -> tuple[list[Finding], int]:
        return run_checkov([str(f) for f in files])

    def lint_dir(self, out_dir: str | Path) -> LintReport:
        out = Path(out_dir)
        files = sorted(out.glob("*.yaml")) if out.is_dir() else []
        if not files:
            raise SynthError(f"{out}: no templates to lint", hint=f"run `charter synth -c org.yaml -o {out}` first")
        report = LintReport(templates=[f.name for f in files])
        # checkov runs in a second process while cfn-lint runs here: the two share nothing,
        # and on two cores that takes the wall time from their sum to their maximum.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            checkov_job = pool.submit(run_checkov, [str(f) for f in files])
            for f in files:
                try:
                    data = yaml.load(f.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
                except yaml.YAMLError as exc:
                    raise SynthError(f"{f}: not a readable template: {exc}", hint="re-run `charter synth`") from None
                report.findings += self.cfn_lint(f.name, data)
                report.suppressions += suppressions_in(f.name, data)
            checkov_findings, report.checkov_passed = checkov_job.result()
        report.findings += checkov_findings
        report.findings.sort(key=lambda f: (f.template, f.resource, f.tool, f.rule))
        return report


def run_checkov(files: list[str]) -> tuple[list[Finding], int]:
    """checkov's CloudFormation runner over `files` (module-level so a worker process can run it)."""
    # checkov logs at WARNING for things like missing git metadata; keep our output clean
    logging.getLogger("checkov").setLevel(logging.ERROR)
    os.environ.setdefault("CHECKOV_RUN_SCA_PACKAGE_SCAN_V2", "false")
    from checkov.cloudformation.runner import Runner
    from checkov.runner_filter import RunnerFilter

    report = Runner().run(root_folder=None, files=files,
                          runner_filter=RunnerFilter(framework=["cloudformation"], download_external_modules=False))
    reports = report if isinstance(report, list) else [report]
    findings, passed = [], 0
    for rep in reports:
        passed += len(rep.passed_checks)
        for rec in rep.failed_checks:
            resource = rec.resource.split(".", 1)[-1] if rec.resource else ""
            findings.append(Finding("checkov", Path(rec.file_path).name, resource, rec.check_id, "failed",
                                    rec.check_name, rec.file_line_range[0] if rec.file_line_range else 0))
    return findings, passed

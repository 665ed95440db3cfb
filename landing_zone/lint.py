"""cfn-lint and checkov over a synth output directory.

cfn-lint runs in-process through its Python API: its rules are loaded once and reused for
every template (`Runner.validate_template`, which wraps `run_template_by_data`). checkov runs
in an environment of its own (charter.toolenv: it pins a 2024 boto3 that Charter must not be
held to), one process over every file, while cfn-lint works here. That avoids a process start
and a rule load per template, which is where the CLIs spend most of their time
(see `benchmarks/lint_vs_cli.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from charter.errors import SynthError
from charter.toolenv import run_checkov as run_checkov_tool


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
        # checkov runs in its own process (waited on from a thread) while cfn-lint runs here: the
        # two share nothing, and on two cores that takes the wall time from their sum to their maximum.
        with ThreadPoolExecutor(max_workers=1) as pool:
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
    """checkov's CloudFormation checks over `files`: its failed checks as findings, and how many passed."""
    result = run_checkov_tool(files, "cloudformation")
    findings = []
    for rec in result.failed:
        resource = (rec.get("resource") or "").split(".", 1)[-1]
        lines = rec.get("file_line_range") or [0]
        findings.append(Finding("checkov", Path(rec.get("file_path") or "").name, resource, rec["check_id"],
                                "failed", rec.get("check_name", ""), lines[0]))
    return findings, len(result.passed)

"""Errors a user can cause.

Every one of them is a `CharterError`: the CLI prints its message (what is wrong, where,
how to fix it) and exits with its `exit_code`; no traceback reaches the user. Each class
has a stable `code` so the troubleshooting page can list every error and its fix.
"""

from __future__ import annotations

from dataclasses import dataclass


class CharterError(Exception):
    """Base class for every error a user can cause. Exit code 2 (bad input or usage)."""

    code = "CHARTER-000"
    exit_code = 2
    #: One-line generic advice shown in the troubleshooting docs.
    fix = "Read the message: it says what is wrong and where."

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = self.message
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text


class UsageError(CharterError):
    """A command-line option has a value the command cannot use."""

    code = "CHARTER-010"
    fix = "Run the command with --help: it lists every option and the values it takes."


class PathError(CharterError):
    """A file or directory given on the command line cannot be used (missing parent, not a file, not writable)."""

    code = "CHARTER-011"
    fix = "Pass a path that exists (for inputs) or whose directory exists and is writable (for outputs)."


class ConfirmationError(CharterError):
    """A change that needs a person's yes was asked for where no one can answer (no terminal)."""

    code = "CHARTER-012"
    fix = "Review what the command printed, then re-run with --yes (or apply a saved plan with --plan-file)."


class PlanFileError(CharterError):
    """A plan saved with `charter plan --save` cannot be applied as it is."""

    code = "CHARTER-013"
    fix = "Run `charter plan --save FILE` again against AWS, review it, and apply that file."


class JobError(CharterError):
    """The optimizer's job file, its market data or an option of `charter optimize` is not usable."""

    code = "CHARTER-760"  # 7xx: workloads, the optimizer among them (900 is `charter cost`)
    fix = "Fix the job file at the path named (see examples/optimizer/job.yaml for every section)."


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file, located by line and column."""

    file: str
    line: int  # 1-based
    column: int  # 1-based
    path: str  # e.g. accounts[2].email
    message: str
    hint: str = ""

    def render(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        head = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{head}\n    fix: {self.hint}" if self.hint else head


class ConfigError(CharterError):
    """`org.yaml` (or another config file) is not valid."""

    code = "CHARTER-100"
    fix = "Edit the file at the line and column given; `charter schema` gives editor completion."

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        count = len(issues)
        header = f"{count} problem{'s' if count != 1 else ''} in {issues[0].file}" if issues else "invalid config"
        super().__init__(header + "\n" + "\n".join(i.render() for i in issues))

    def render(self) -> str:
        return self.message


class LimitError(CharterError):
    """Something Charter would generate exceeds an AWS limit."""

    code = "CHARTER-200"
    fix = "Split the target (more OUs), drop optional statements, or raise the limit in `limits:` if AWS raised it."


class SynthError(CharterError):
    """The synthesized output directory is missing or unreadable."""

    code = "CHARTER-210"
    fix = "Run `charter synth -c org.yaml -o out/` first."


def all_error_classes() -> list[type[CharterError]]:
    """Every CharterError subclass, for the troubleshooting page."""
    seen: list[type[CharterError]] = []
    stack: list[type[CharterError]] = [CharterError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: c.code)

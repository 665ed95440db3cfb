"""Command-line options every command shares, defined once: same names, short forms, help and checks.

A command declares `config: Path = options.CONFIG` instead of its own `typer.Option(...)`, so
`-c`, `-p`, `--endpoint-url`, `--port`, `--output`, `-q`/`-v` mean the same everywhere, and
choices are enums (shell completion offers them). Checks that need more than a type (a port in
range, an output file whose directory exists) are functions here, called by the commands.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from charter.errors import PathError, UsageError


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class LintFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"


class Environment(StrEnum):
    dev = "dev"
    staging = "staging"
    prod = "prod"


CONFIG = typer.Option(Path("org.yaml"), "-c", "--config", help="Path to org.yaml.", show_default=True)
PROFILE = typer.Option(None, "--profile", "-p", help="AWS profile (real AWS); default: $AWS_PROFILE.")
LOCAL = typer.Option(False, "--local", help="Use a fresh embedded AWS (moto) started for this command.")
ENDPOINT = typer.Option(None, "--endpoint-url", "--endpoint",
                        help="A running embedded AWS (`charter local`), e.g. http://127.0.0.1:5000; "
                             "default: $AWS_ENDPOINT_URL.")
REGION = typer.Option(None, "--region", help="Region for API calls (default: the org's home region).")
OUTPUT = typer.Option(OutputFormat.text, "--output", help="text for people, json for scripts (one documented "
                      "schema per command: charter/schemas/).", case_sensitive=False)
QUIET = typer.Option(False, "-q", "--quiet", help="Print only the result line and errors.")
VERBOSE = typer.Option(False, "-v", "--verbose", help="Print every item, not a summary.")
PORT_MAX = 65535


def port_option(default: int, help: str) -> object:
    return typer.Option(default, "--port", min=0, max=PORT_MAX, help=help)


def output_file(path: Path | None, what: str = "-o") -> Path | None:
    """An output file: its directory must exist (no silent mkdir of a typo), and it is not a directory."""
    if path is None:
        return None
    if path.is_dir():
        raise PathError(f"{what} {path}: is a directory", hint="pass a file name, e.g. -o out/file.json")
    parent = path.parent
    if not parent.exists():
        raise PathError(f"{what} {path}: directory {parent} does not exist",
                        hint=f"create it first (`mkdir -p {parent}`) or choose another path")
    if not parent.is_dir():
        raise PathError(f"{what} {path}: {parent} is not a directory", hint="choose another path")
    return path


def aws_target(*, local: bool, profile: str | None, endpoint_url: str | None) -> None:
    """--local, --profile and --endpoint-url pick where AWS is: at most one of them."""
    given = [name for name, on in (("--local", local), ("--profile", profile), ("--endpoint-url", endpoint_url))
             if on]
    if len(given) > 1:
        raise UsageError(f"{' and '.join(given)} together: they name different AWS targets",
                         hint="--local for a fresh embedded AWS, --endpoint-url for a running one, "
                              "--profile for real AWS: pass one")


def endpoint_from_env(*, local: bool, profile: str | None, endpoint_url: str | None) -> str | None:
    """--endpoint-url, else $AWS_ENDPOINT_URL (what `charter local` prints to export) unless
    --local or --profile names another target: every command finds the embedded AWS the same way."""
    import os

    if endpoint_url or local or profile:
        return endpoint_url
    return os.environ.get("AWS_ENDPOINT_URL") or None


def write_text(path: Path, text: str, what: str = "-o") -> None:
    output_file(path, what)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise PathError(f"{what} {path}: cannot write: {exc.strerror}", hint="choose a writable path") from None

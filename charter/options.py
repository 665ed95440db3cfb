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


def _quiet(value: bool) -> bool:
    """-q: results and errors only, on every command: progress, status lines and warnings
    (everything Charter writes to stderr but errors) are left out."""
    from charter.output import err_console

    err_console.quiet = bool(value)  # set (or reset, in a process that runs several commands) per command
    return value


def _verbose(value: bool) -> bool:
    """-v: Charter's own log records (which account, which call) on stderr, on every command."""
    if value:
        import logging

        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("charter").setLevel(logging.INFO)
    return value


CONFIG = typer.Option(Path("org.yaml"), "-c", "--config", help="Path to org.yaml.", show_default=True)
OPTIONAL_CONFIG = typer.Option(None, "-c", "--config", help="Path to org.yaml.")
PROFILE = typer.Option(None, "--profile", "-p", help="AWS profile (real AWS); default: $AWS_PROFILE, as the AWS CLI.")
LOCAL = typer.Option(False, "--local", help="Use a fresh embedded AWS (moto) started for this command.")
ENDPOINT = typer.Option(None, "--endpoint-url", "--endpoint",
                        help="A running embedded AWS (`charter local`), e.g. http://127.0.0.1:5000; "
                             "default: $AWS_ENDPOINT_URL, which `charter local` prints.")
REGION = typer.Option(None, "--region", help="Region for API calls (default: the org's home region).")
STORE = typer.Option(str(Path(".charter") / "evidence"), "--store", "-s",
                     help="Evidence store: a directory or s3://bucket/prefix.")
ENV = typer.Option(Environment.dev, "--env", "-e", help="Workload environment.", case_sensitive=False)
OPERATOR_ROLE = typer.Option("CharterEvidenceOperator", "--operator-role",
                             help="Role (in the caller's account) that reads every account through "
                                  "CharterEvidenceReader; '' to read with the caller's own credentials "
                                  "(e.g. as CharterEvidenceCollector).")
MAX_ATTEMPTS = typer.Option(None, "--max-attempts", min=1, max=20,
                            help="Attempts per AWS call (default: $AWS_MAX_ATTEMPTS, the profile's max_attempts, "
                                 "else 10).")
READ_TIMEOUT = typer.Option(None, "--read-timeout", min=1, max=900,
                            help="Seconds to wait for an AWS answer before retrying (default 60).")
OUTPUT = typer.Option(OutputFormat.text, "--output", help="text for people, json for scripts (one documented "
                      "schema per command: charter/schemas/).", case_sensitive=False)
QUIET = typer.Option(False, "-q", "--quiet", callback=_quiet,
                     help="Print only results and errors (no progress, status or warnings).")
VERBOSE = typer.Option(False, "-v", "--verbose", callback=_verbose,
                       help="Print every item and Charter's log of what it does.")
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


def aws_sessions(*, local: bool, profile: str | None, endpoint_url: str | None, region: str,
                 max_attempts: int | None = None, read_timeout: float | None = None) -> object:
    """The session factory of an AWS-facing command, chosen the same way by every command:
    one of --local / --endpoint-url / --profile (two is an error), else $AWS_ENDPOINT_URL, else
    the default credentials ($AWS_PROFILE); retries and timeouts from the flags or the SDK's settings."""
    from contextlib import contextmanager

    from charter.local import aws_sessions as pick
    from charter.retries import RetrySettings

    aws_target(local=local, profile=profile, endpoint_url=endpoint_url)
    endpoint = endpoint_from_env(local=local, profile=profile, endpoint_url=endpoint_url)

    @contextmanager
    def opened():
        with pick(local=local, profile=profile, region=region, endpoint_url=endpoint) as sessions:
            sessions.use_retry(RetrySettings(max_attempts=max_attempts, read_timeout=read_timeout))
            yield sessions

    return opened()


def _with_common(fn: object) -> object:
    """`fn` with -q/-v when it does not declare them itself (its own `quiet`/`verbose` win)."""
    import functools
    import inspect

    sig = inspect.signature(fn)  # type: ignore[arg-type]
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=bool)
             for name, default in (("quiet", QUIET), ("verbose", VERBOSE)) if name not in sig.parameters]
    if not extra or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return fn

    @functools.wraps(fn)  # type: ignore[arg-type]
    def command(*args: object, **kwargs: object) -> object:
        for p in extra:
            kwargs.pop(p.name, None)  # their callbacks did the work
        return fn(*args, **kwargs)  # type: ignore[operator]

    command.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *extra])  # type: ignore[attr-defined]
    command.__annotations__ = {**getattr(fn, "__annotations__", {}), **{p.name: bool for p in extra}}
    return command


def add_common_options(app: typer.Typer) -> None:
    """-q and -v on every command of `app` and its groups, the ones there now and their callbacks."""
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = _with_common(info.callback)
    for group in app.registered_groups:
        sub = group.typer_instance
        if sub is not None:
            add_common_options(sub)
            cb = sub.registered_callback
            if cb is not None and cb.callback is not None:
                cb.callback = _with_common(cb.callback)

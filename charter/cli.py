"""The `charter` command line.

Each group of commands lives in `charter/commands/<group>.py`; heavy imports (cfn-lint,
checkov, moto, numpy) happen inside the commands so `charter --help` stays fast.
"""

from __future__ import annotations

import signal
import sys

import typer

from charter import __version__
from charter.commands import landing_zone
from charter.errors import CharterError, UsageError
from charter.options import add_common_options
from charter.output import error

app = typer.Typer(
    name="charter",
    help="Charter: a SOC2-mapped AWS landing zone, its evidence and its workloads, from one org.yaml.\n\n"
    "Start with `charter init`, then `charter validate`, `charter synth` and `charter lint`.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

landing_zone.register(app)


def _register_groups() -> None:
    """Command groups in `charter/commands/`. A module either defines `register(app)` (top-level
    commands) or `app` (a sub-group named after the module). Each module imports its heavy
    dependencies inside its commands, so importing them all here stays fast."""
    import importlib

    for name in ("preflight", "controls", "deploy", "assess", "evidence", "access_review", "workload", "optimize",
                 "runbooks", "docs", "demo", "console", "cost", "tools"):
        mod = importlib.import_module(f"charter.commands.{name}")
        if hasattr(mod, "register"):
            mod.register(app)
        else:
            app.add_typer(mod.app, name=name.replace("_", "-"))


_register_groups()
add_common_options(app)  # -q/-v on every command, defined once (charter/options.py)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"charter {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    pass


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _usage_error(exc: object) -> None:
    """`error: CHARTER-010: Invalid value for '--output': ...` after the command's usage line."""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        from charter.output import err_console

        err_console.print(ctx.get_usage(), markup=False, highlight=False)
        err_console.print(f"Try '{ctx.command_path} -h' for help.", markup=False, highlight=False)
    error(exc.format_message(), UsageError.code)  # type: ignore[attr-defined]
    sys.exit(getattr(exc, "exit_code", 2))


def main() -> None:
    """Console entry point: user-caused errors print a message, never a traceback.

    Usage errors click finds (an unknown option, a value out of range) are printed here, with
    their code as every other error (exit 2); CharterError is ours.
    """
    # typer vendors click (typer._click); its `_main` takes these very classes
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
    from typer._click.exceptions import UsageError as ClickUsageError

    # SIGTERM (docker stop, systemd, CI timeouts) stops a command the way Ctrl-C does, so the
    # embedded AWS, the local API's workers and open runs are closed by their `finally` blocks
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        # not standalone: click's usage errors come here instead of being printed without a code
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except NoArgsIsHelpError as exc:  # `charter evidence`: the group's help
        from typer import rich_utils

        rich_utils.rich_format_error(exc)
        sys.exit(exc.exit_code)
    except ClickUsageError as exc:
        _usage_error(exc)
    except ClickException as exc:
        error(exc.format_message(), UsageError.code)
        sys.exit(exc.exit_code)
    except typer.Abort:
        error("aborted")
        sys.exit(1)
    except CharterError as exc:
        error(exc.render(), exc.code)
        sys.exit(exc.exit_code)
    except Exception as exc:
        # botocore's own errors (unreachable endpoint, no credentials, throttled after the
        # retries) are things a user causes or meets, not bugs: say what to do instead.
        # Checked by module so the CLI's start does not import botocore.
        if not type(exc).__module__.startswith("botocore"):
            raise
        from charter.aws import explain

        err = explain(exc)
        error(err.render(), err.code)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        error("interrupted; work finished so far is kept")
        sys.exit(130)


if __name__ == "__main__":
    main()

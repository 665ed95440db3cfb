"""`charter tools`: the environments of tools Charter runs apart from its own packages (checkov)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Tools Charter runs in environments of their own (checkov).", no_args_is_help=False,
                  invoke_without_command=True)


@app.callback()
def status(ctx: typer.Context) -> None:
    """Where checkov's environment is and whether it is installed.

    Example: `charter tools`
    """
    if ctx.invoked_subcommand:
        return
    from charter.toolenv import CHECKOV_VERSION, checkov_env, installed_checkov

    found = installed_checkov()
    state = f"ready: {found}" if found else "not installed (`charter tools install`, or on first `charter lint`)"
    typer.echo(f"checkov {CHECKOV_VERSION}: {state}\n  environment: {checkov_env()}")


@app.command("install")
def install() -> None:
    """Install checkov into its own environment now (it is otherwise installed on first `charter lint`).

    checkov pins an old boto3, networkx and packaging, so it never shares Charter's environment.
    Needs PyPI once; set CHARTER_TOOLS_DIR to choose the folder, or CHARTER_CHECKOV to use a
    checkov you installed yourself.

    Example: `charter tools install`
    """
    from charter.output import err_console as console
    from charter.toolenv import CHECKOV_VERSION, ensure_checkov

    with console.status(f"installing checkov {CHECKOV_VERSION}"):
        exe = ensure_checkov(say=typer.echo)
    typer.echo(f"checkov {CHECKOV_VERSION}: {exe}")

"""The CLI reference, generated from the commands themselves (their help and options)."""

from __future__ import annotations

from typing import Any

import typer


def _command_md(cmd: Any, path: str) -> list[str]:
    out = [f"### `{path}`", ""]
    if cmd.help:
        out += [cmd.help.strip().replace("\b\n", ""), ""]
    params = [p for p in cmd.params if not getattr(p, "hidden", False) and p.name not in ("help",)]
    if params:
        out += ["| option | description | default |", "|---|---|---|"]
        for p in params:
            names = ", ".join(f"`{o}`" for o in (p.opts + list(getattr(p, "secondary_opts", []))))
            if p.param_type_name == "argument":
                names = f"`{p.name.upper()}` (argument)"
            default = p.default if p.default not in (None, False, ()) and not callable(p.default) else ""
            help_text = (getattr(p, "help", "") or "").replace("|", "\\|")
            out.append(f"| {names} | {help_text} | {default} |")
        out.append("")
    return out


def cli_reference(app: typer.Typer) -> str:
    root = typer.main.get_command(app)
    lines = ["# CLI reference", "", "Generated from `charter --help`; every command also takes `-h/--help`.", ""]

    # typer vendors click, so commands are matched by shape rather than by click's classes
    def walk(cmd: Any, path: str) -> None:
        if hasattr(cmd, "commands"):
            if path != "charter":
                lines.extend([f"## `{path}`", "", (cmd.help or "").strip(), ""])
            for name in sorted(cmd.commands):
                walk(cmd.commands[name], f"{path} {name}")
        else:
            lines.extend(_command_md(cmd, path))

    walk(root, "charter")
    return "\n".join(lines) + "\n"

"""Console helpers shared by every command: one stdout console, one stderr console."""

from __future__ import annotations

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)


def ok(message: str) -> None:
    console.print(f"[green]✓[/] {message}", soft_wrap=True)  # paths stay whole, copyable


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", soft_wrap=True)

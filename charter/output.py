"""Console helpers shared by every command: one stdout console, one stderr console."""

from __future__ import annotations

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
#: Errors only: never quiet (-q silences `err_console`, not errors).
_errors = Console(stderr=True, highlight=False)


def error(message: str, code: str | None = None) -> None:
    """`error: CHARTER-xxx: message` on stderr. The message is printed as plain text: it
    quotes what the user wrote (paths, config keys), where `[/...]` is not Rich markup."""
    from rich.text import Text

    head = Text("error:", style="bold red")
    head.append(f" {code}:" if code else "")
    (_errors if err_console.quiet else err_console).print(head, Text(message), soft_wrap=True)


def ok(message: str, *, stderr: bool = False) -> None:
    """`✓ message`; `stderr` where stdout carries a document (`--output json`)."""
    from rich.text import Text

    (err_console if stderr else console).print(Text("✓", style="green"), Text(message),
                                               soft_wrap=True)  # paths stay whole, copyable


def warn(message: str) -> None:
    from rich.text import Text

    err_console.print(Text("warning:", style="yellow"), Text(message), soft_wrap=True)


def escape(text: object) -> str:
    """User-supplied text (paths, config keys, AWS messages) made safe inside Rich markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(str(text))


def waiting_column(guard: object, after: float = 5.0) -> object:
    """A progress column naming the AWS call that has waited longest (after `after` seconds),
    how long and on which attempt, so a slow or silent endpoint is visible while it happens.
    `guard` is a session factory's `CallGuard`."""
    import time

    from rich.progress import ProgressColumn
    from rich.text import Text

    class Waiting(ProgressColumn):
        def render(self, task: object) -> Text:
            flight = guard.waiting(after)  # type: ignore[attr-defined]
            if flight is None:
                return Text("")
            return Text(f"waiting for {flight.label}: {time.monotonic() - flight.started:.0f}s, "
                        f"attempt {flight.attempt}/{guard.max_attempts}", style="yellow")  # type: ignore[attr-defined]

    return Waiting()


def emit_json(command: str, payload: object) -> None:
    """A command's `--output json`: the payload with the schema it follows
    (charter/schemas/<command>.json), on stdout, alone."""
    import json

    document = {"schema": f"charter/{command}/v1", **payload} if isinstance(payload, dict) else payload
    print(json.dumps(document, indent=2, default=str))

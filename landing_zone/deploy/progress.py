"""Live view of StackSet operations: one row per operation, instances done / failed."""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class OperationProgress:
    """A rich Progress with a row per StackSet operation (accounts x regions)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("[red]{task.fields[failed]} failed"), TextColumn("{task.fields[status]}"),
                                  TimeElapsedColumn(), console=console, transient=False)
        self._lock = threading.Lock()
        self.live = console.is_terminal

    def __enter__(self) -> OperationProgress:
        if self.live:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self._progress.stop()

    def start(self, label: str, total: int, *, phase: bool = False) -> Any:
        """A row: a StackSet operation over `total` instances, or (`phase`) one step of deploy."""
        with self._lock:
            return self._progress.add_task(label, total=max(total, 1), failed=0, status="RUNNING", phase=phase)

    def update(self, task: Any, *, done: int, failed: int) -> None:
        with self._lock:
            self._progress.update(task, completed=done, failed=failed)

    def finish(self, task: Any, status: str) -> None:
        with self._lock:
            t = self._progress.tasks[task]
            self._progress.update(task, status=status, completed=t.total)
            if not self.live:
                failed = t.fields.get("failed", 0)
                counts = "" if t.fields.get("phase") else f" ({t.total:g} instances, {failed} failed)"
                self.console.print(f"  {t.description}: {status}{counts}", markup=False, highlight=False)

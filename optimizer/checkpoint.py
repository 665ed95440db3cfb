"""JSON-lines checkpoint of finished trials, so a killed search resumes where it stopped.

One line per finished (rung, trial); a header line records the search
fingerprint so a checkpoint from a *different* search is never silently reused.
Lines are flushed and fsync'd as they are written; a torn last line (the
process died mid-write) is ignored on load.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import OptimizerError


class Checkpoint:
    def __init__(self, path: str | Path | None, fingerprint: str):
        self.path = Path(path) if path else None
        self.fingerprint = fingerprint
        self.records: dict[tuple[int, int], dict] = {}
        if self.path and self.path.exists():
            repair_torn_tail(self.path)
            self._load()
        elif self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._append({"kind": "header", "fingerprint": fingerprint})

    def _load(self) -> None:
        with open(self.path) as fh:
            lines = fh.read().splitlines()
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    continue  # torn final write
                raise OptimizerError(
                    f"checkpoint: {self.path} line {i + 1} is corrupt; delete the file to restart"
                ) from None
            if rec.get("kind") == "header":
                if rec.get("fingerprint") != self.fingerprint:
                    raise OptimizerError(
                        f"checkpoint: {self.path} belongs to a different search (seed/space/data changed); "
                        "use a new checkpoint path or delete it"
                    )
                continue
            self.records[(int(rec["rung"]), int(rec["trial"]))] = rec
        if not lines:
            self._append({"kind": "header", "fingerprint": self.fingerprint})

    def _append(self, rec: dict) -> None:
        if not self.path:
            return
        with open(self.path, "a") as fh:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def done(self, rung: int, trial: int) -> bool:
        return (rung, trial) in self.records

    def add(self, rec: dict) -> None:
        self.records[(int(rec["rung"]), int(rec["trial"]))] = rec
        self._append(rec)


def repair_torn_tail(path: Path) -> int:
    """Cut a partial last line (the process died mid-write) so appends start on a fresh line;
    otherwise the next record would be glued onto the fragment and the file become corrupt.
    Returns the number of bytes removed."""
    if not path.exists():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with open(path, "r+b") as fh:
        fh.truncate(keep)
    return len(data) - keep


def read_records(path: str | Path) -> list[dict]:
    """All trial records of one JSONL file (header skipped)."""
    out = []
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("kind") != "header":
                out.append(rec)
    return out

"""The deploy journal: what the last deploy finished, so the next one resumes.

Kept locally at `<out>/.charter/deploy-journal.json` and mirrored (compressed) to an SSM
parameter in the management account's home region, so a deploy from another laptop or a
CI runner resumes from the same point. AWS stays the source of truth for what exists;
the journal adds what AWS cannot tell cheaply: create-account requests in flight,
stack instances that failed last time, API steps already done, and the per-resource
hashes `charter plan` diffs against when it runs offline.
"""

from __future__ import annotations

import base64
import json
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

JOURNAL_DIR = ".charter"
JOURNAL_FILE = "deploy-journal.json"
#: SSM parameter values may hold 8 KB in the Advanced tier; the journal is stored zlib+base64.
SSM_MAX = 8192


def ssm_parameter_name(org: str) -> str:
    return f"/charter/{org}/deploy-journal"


class StackRecord(BaseModel):
    """One stack or StackSet as last deployed."""

    template_sha256: str = ""
    parameters_sha256: str = ""
    #: logical id -> [sha256 of the resource (12 hex), controls...] for offline per-control diffs.
    resources: dict[str, list[str]] = Field(default_factory=dict)
    parameters: dict[str, str] = Field(default_factory=dict)
    #: The declared targets last deployed: {"ous": [...], "accounts": [...], "regions": [...]}.
    targets: dict[str, list[str]] = Field(default_factory=dict)
    #: "account/region" -> reason, instances that failed and must be retried.
    failed: dict[str, str] = Field(default_factory=dict)
    complete: bool = False


class ScpRecord(BaseModel):
    id: str = ""
    sha256: str = ""
    #: Sid -> sha256 of the statement (12 hex), for statement-level diffs offline.
    statements: dict[str, str] = Field(default_factory=dict)
    targets: list[str] = Field(default_factory=list)


class Journal(BaseModel):
    version: int = 1
    organization: str = ""
    updated_at: str = ""
    organization_id: str = ""
    root_id: str = ""
    management_account_id: str = ""
    ous: dict[str, str] = Field(default_factory=dict)  # OU name -> id
    accounts: dict[str, str] = Field(default_factory=dict)  # account name -> id
    account_ous: dict[str, str] = Field(default_factory=dict)  # account name -> OU name
    pending_accounts: dict[str, str] = Field(default_factory=dict)  # account name -> CreateAccount request id
    scps: dict[str, ScpRecord] = Field(default_factory=dict)
    stacks: dict[str, StackRecord] = Field(default_factory=dict)  # planned stack name -> record
    api_steps: dict[str, str] = Field(default_factory=dict)  # step key -> when done
    roles_ready: list[str] = Field(default_factory=list)  # accounts with self-managed StackSet roles
    #: Identity Center assignments last applied ("group|permission set|account") and the
    #: groups last managed (deploy/assignments.py).
    assignments: list[str] = Field(default_factory=list)
    assignment_groups: list[str] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)  # the last run's failure lines

    # -- local file -------------------------------------------------------------------
    @staticmethod
    def path(out_dir: str | Path) -> Path:
        return Path(out_dir) / JOURNAL_DIR / JOURNAL_FILE

    @classmethod
    def load(cls, out_dir: str | Path) -> Journal | None:
        path = cls.path(out_dir)
        try:
            return cls.model_validate_json(path.read_text())
        except (FileNotFoundError, ValueError):
            return None

    def save(self, out_dir: str | Path) -> Path:
        self.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        path = self.path(out_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.text())
        tmp.replace(path)  # atomic: an interrupted save never leaves half a journal
        return path

    def text(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"

    # -- mirror -----------------------------------------------------------------------
    def packed(self) -> str:
        """The mirror form, without the timestamp so an unchanged journal packs identically."""
        data: dict[str, Any] = self.model_dump(mode="json")
        data.pop("updated_at", None)
        raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        return base64.b64encode(zlib.compress(raw, 9)).decode()

    @classmethod
    def unpack(cls, text: str) -> Journal:
        return cls.model_validate_json(zlib.decompress(base64.b64decode(text)))

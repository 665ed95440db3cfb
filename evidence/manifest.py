"""The per-run manifest: every artifact's path and SHA-256, chained to the previous run.

Modelled on CloudTrail's digest files: each sealed run gets a manifest listing the
SHA-256 of every artifact it stored, plus the SHA-256 of the previous manifest, and a
detached signature. Changing any byte of an artifact breaks its hash; changing a
manifest breaks its signature and the next manifest's `previous`; removing or reordering
manifests breaks the contiguous `sequence` and the chain.

Manifests are stored as canonical JSON (sorted keys, no whitespace, UTC ISO times), so
the stored bytes are the hashed bytes: anyone can recompute the hash with `sha256sum`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from charter.evidence.artifact import Artifact

#: 2: the manifest also seals the run's `run.json` (`run_record`).
SCHEMA_VERSION = 2


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Results(BaseModel):
    model_config = ConfigDict(extra="forbid")

    passed: int = 0
    failed: int = 0
    not_applicable: int = 0
    #: items that could not be judged (result `gap`); 0 in manifests written before it existed
    gaps: int = 0


class Entry(BaseModel):
    """One stored artifact: where, its hash, and enough about it to index without reading it."""

    model_config = ConfigDict(extra="forbid")

    path: str  # relative to the store root
    sha256: str
    bytes: int
    kind: str
    collector: str
    controls: list[str]
    criteria: list[str] = Field(default_factory=list)
    account_id: str
    account_name: str = ""
    region: str
    collected_at: datetime
    results: Results = Field(default_factory=Results)

    @classmethod
    def of(cls, path: str, data: bytes, artifact: Artifact) -> Entry:
        counts = Results()
        for item in artifact.population:
            if item.result == "pass":
                counts.passed += 1
            elif item.result == "fail":
                counts.failed += 1
            elif item.result == "gap":
                counts.gaps += 1
            else:
                counts.not_applicable += 1
        return cls(path=path, sha256=sha256_hex(data), bytes=len(data), kind=artifact.kind,
                   collector=artifact.collector, controls=artifact.controls, criteria=artifact.criteria,
                   account_id=artifact.account_id, account_name=artifact.account_name, region=artifact.region,
                   collected_at=artifact.collected_at, results=counts)


class FileRef(BaseModel):
    """A store object the manifest seals that is not an artifact (the run's `run.json`)."""

    model_config = ConfigDict(extra="forbid")

    path: str
    sha256: str


class Previous(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sequence: int
    run_id: str
    sha256: str  # of the previous manifest's stored bytes


class Scope(BaseModel):
    """What a run was asked to collect (a resumed run must ask for the same)."""

    model_config = ConfigDict(extra="forbid")

    organization: str = ""
    accounts: list[str] | None = None
    regions: list[str] | None = None
    collectors: list[str] | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    sequence: int = Field(ge=1)
    run_id: str
    started_at: datetime
    sealed_at: datetime
    charter_version: str
    caller_arn: str = ""
    scope: Scope = Field(default_factory=Scope)
    #: Fingerprint of the public key whose signature accompanies this manifest.
    key_id: str
    signing_algorithm: str
    previous: Previous | None = None
    #: The run's `run.json` (scope and start), so an edit of it is detected; None only in
    #: schema 1 manifests, written before it was sealed.
    run_record: FileRef | None = None
    artifacts: list[Entry]

    def to_bytes(self) -> bytes:
        return canonical(self.model_dump(mode="json"))

    @property
    def sha256(self) -> str:
        return sha256_hex(self.to_bytes())

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        return cls.model_validate_json(data)

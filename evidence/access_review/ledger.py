"""Access-review campaigns as the evidence store knows them (IAM-09's source in the cloud).

`charter access-review start` and `close` seal the campaign's snapshot and report into the
evidence store. The scheduled collector (a Lambda in the audit account) has no local
campaign records, so it must find those campaigns in the store. Reading every manifest to
find them would cost a GET of every daily run's manifest (~1 MB each at 60 accounts) on every
collection, so sealing a campaign run also writes a small pointer per campaign artifact:

    access-reviews/<quarter>/<started|closed>-<sha256[:12]>.json

Pointers are write-once like everything in the store but not signed; a pointer is believed
only if the signed manifest it names lists the artifact at that path with that SHA-256 and the
artifact's bytes still hash to it. `charter evidence verify` covers the signatures themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from charter.evidence.access_review.model import QUARTER
from charter.evidence.artifact import Artifact
from charter.evidence.manifest import Manifest, Scope, sha256_hex
from charter.evidence.signing import Signer
from charter.evidence.store import EvidenceStore, MissingObject, manifest_path

INDEX = "access-reviews/"
COLLECTOR = "access_review"
#: The account id campaign artifacts carry: a campaign covers the organization, not one account.
ORGANIZATION = "organization"


class Pointer(BaseModel):
    """Where a sealed campaign artifact is, and the manifest that vouches for it."""

    model_config = ConfigDict(extra="forbid")

    quarter: str
    status: Literal["started", "closed"]
    campaign_id: str = ""
    at: datetime
    manifest: int
    path: str
    sha256: str


def _status(artifact: Artifact) -> Literal["started", "closed"] | None:
    if artifact.collector != COLLECTOR or artifact.account_id != ORGANIZATION:
        return None
    # the report (kind "campaign") is written at close; the snapshot (kind "evidence") at start
    return "closed" if artifact.kind == "campaign" else "started" if artifact.kind == "evidence" else None


def pointers(manifest: Manifest, artifacts: Iterable[Artifact]) -> list[Pointer]:
    """Pointers for the campaign artifacts of a sealed run."""
    by_sha = {a.sha256: a for a in artifacts}
    out = []
    for entry in manifest.artifacts:
        artifact = by_sha.get(entry.sha256)
        status = _status(artifact) if artifact else None
        quarter = str((artifact.raw or {}).get("quarter", "")) if artifact else ""
        if status and QUARTER.match(quarter):
            out.append(Pointer(quarter=quarter, status=status, campaign_id=str(artifact.raw.get("campaign_id", "")),
                               at=artifact.collected_at, manifest=manifest.sequence, path=entry.path,
                               sha256=entry.sha256))
    return out


def pointer_path(p: Pointer) -> str:
    return f"{INDEX}{p.quarter}/{p.status}-{p.sha256[:12]}.json"


def seal_campaign(store: EvidenceStore, artifacts: list[Artifact], signer: Signer, scope: Scope, *,
                  caller_arn: str = "") -> Manifest:
    """Seal a campaign's artifacts as one run, then index them for the collector."""
    manifest = store.write_run(artifacts, signer, scope, caller_arn=caller_arn)
    for p in pointers(manifest, artifacts):
        store.backend.put(pointer_path(p), p.model_dump_json().encode())
    return manifest


def read_campaigns(store: EvidenceStore) -> dict[str, Any]:
    """The campaigns the store vouches for: {"store", "campaigns", "read", "rejected"}.

    `campaigns` has the shape the access_review collector reads from local records
    (quarter, status open|closed, id, closed_at); `read` lists every pointer believed, with
    the manifest and hash that vouch for it; `rejected` every pointer that was not, and why.
    """
    manifests: dict[int, Manifest | None] = {}
    campaigns: dict[str, dict[str, Any]] = {}
    read, rejected = [], []
    for path in store.backend.list(INDEX):
        try:
            p = Pointer.model_validate_json(store.backend.get(path))
        except (ValidationError, ValueError) as exc:
            rejected.append({"pointer": path, "reason": f"not a campaign pointer: {str(exc).splitlines()[0]}"})
            continue
        if p.manifest not in manifests:
            try:
                manifests[p.manifest] = Manifest.parse(store.backend.get(manifest_path(p.manifest)))
            except (MissingObject, ValidationError, ValueError):
                manifests[p.manifest] = None
        manifest = manifests[p.manifest]
        entry = next((e for e in manifest.artifacts if e.path == p.path), None) if manifest else None
        if entry is None or entry.sha256 != p.sha256:
            rejected.append({"pointer": path, "reason": f"manifest #{p.manifest} does not list {p.path} "
                                                        f"with SHA-256 {p.sha256[:16]}…"})
            continue
        try:
            data = store.backend.get(p.path)
        except MissingObject:
            rejected.append({"pointer": path, "reason": f"{p.path} is missing from the store"})
            continue
        if sha256_hex(data) != p.sha256:
            rejected.append({"pointer": path, "reason": f"{p.path} no longer hashes to manifest #{p.manifest}'s "
                                                        "SHA-256 (run `charter evidence verify`)"})
            continue
        read.append({"pointer": path, "manifest": p.manifest, "path": p.path, "sha256": p.sha256})
        c = campaigns.setdefault(p.quarter, {"quarter": p.quarter, "status": "open", "id": p.campaign_id,
                                             "closed_at": None})
        c["id"] = c["id"] or p.campaign_id
        if p.status == "closed":
            c["status"], c["closed_at"] = "closed", p.at.isoformat()
    return {"store": store.backend.url, "campaigns": [campaigns[q] for q in sorted(campaigns)],
            "read": read, "rejected": rejected}

"""Verify a store (or an extracted export package) with nothing but public keys.

Recomputes the SHA-256 of every artifact and manifest, walks the manifest chain
(contiguous sequence numbers, each manifest naming the previous one's hash, sealing
times in order) and checks every manifest's signature. Each problem names the item:

- `changed`: an artifact, manifest or run record (`run.json`, `sealed.json`) whose bytes
  differ from what was sealed;
- `missing`: a listed artifact, a manifest in the middle of the chain, or a signature gone;
- `unlisted`: an object added to a sealed run after it was sealed (hidden files included);
- `chain`: a manifest whose `previous` does not match, renamed/reordered manifests;
- `signature`: a signature that does not verify (a manifest forged without the key);
- `key`: a manifest signed by a key that is not trusted (with `--public-key`, any key but
  the pinned one: a store re-signed with a new key), or a key file that isn't its key;
- `unreadable`: a manifest, signature or key that does not parse;
- `overwritten`: (S3) a key with more than one version: someone wrote over it (the locked
  original is still there and can be read by version id).

Every problem is a finding (exit 1), never an exception: a verifier must name what was
tampered with, whatever shape the tampering left behind.

What the chain cannot show by itself, as with CloudTrail digests: the removal of the
newest manifests. The report prints the last run so it can be matched with the schedule;
in the S3 store, Object Lock makes that removal impossible; an export package signs the
range of runs it holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from charter.evidence.errors import SigningKeyError, StoreNotFoundError
from charter.evidence.manifest import Manifest, sha256_hex
from charter.evidence.signing import Signature, fingerprint, load_public_key, verify_signature
from charter.evidence.store import (
    KEYS,
    MANIFESTS,
    RUN_BOOKKEEPING,
    RUNS,
    Backend,
    MissingObject,
    key_path,
    signature_path,
)

ProblemKind = Literal["changed", "missing", "unlisted", "chain", "signature", "key", "unreadable", "overwritten",
                      "unsafe"]


@dataclass(frozen=True)
class Problem:
    item: str  # a store path, e.g. runs/2026.../artifacts/iam/111.../us-east-1.json
    kind: ProblemKind
    detail: str

    def render(self) -> str:
        return f"{self.item}: {self.kind}: {self.detail}"


@dataclass
class VerifyReport:
    store: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    manifests: int = 0
    artifacts: int = 0
    bytes: int = 0
    keys: set[str] = field(default_factory=set)
    first: Manifest | None = None
    last: Manifest | None = None
    last_sha256: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, item: str, kind: ProblemKind, detail: str) -> None:
        self.problems.append(Problem(item, kind, detail))

    def items(self, kind: str | None = None) -> list[str]:
        return [p.item for p in self.problems if kind is None or p.kind == kind]

    def summary(self) -> str:
        span = ""
        if self.first and self.last:
            span = (f"; runs {self.first.run_id} (#{self.first.sequence}) .. {self.last.run_id} "
                    f"(#{self.last.sequence}, sealed {self.last.sealed_at:%Y-%m-%d %H:%M}Z)")
        keys = ", ".join(k[:16] for k in sorted(self.keys)) or "-"
        return (f"{self.manifests} manifests, {self.artifacts} artifacts ({self.bytes:,} bytes){span}; "
                f"signed by key {keys}")


_MANIFEST_RE = re.compile(r"manifests/(\d{8})\.json")


def verify(backend: Backend, *, trusted_keys: Iterable[Any] = (), partial: bool = False,
           only_runs: set[str] | None = None) -> VerifyReport:
    """Check everything in `backend`. `trusted_keys` (public keys) pin who may sign; without
    them the keys published in the store are used, checked against each manifest's key id.
    `partial` (an export package) lets the chain start after sequence 1. `only_runs` limits
    the artifact checks to those runs (the whole chain and every signature are still checked),
    which is what an export of one quarter out of years needs."""
    report = VerifyReport(store=backend.url)
    objects = set(backend.list())
    if not objects:
        raise StoreNotFoundError(f"{backend.url}: holds no evidence (no manifests, no runs)",
                                 hint="run `charter evidence collect` first, or pass the right --store")
    trusted = {fingerprint(k): k for k in trusted_keys}

    # -- the manifests, in the order their file names claim ---------------------------------
    chain: list[tuple[int, str, bytes, Manifest]] = []
    for path in sorted(p for p in objects if p.startswith(MANIFESTS)):
        m = _MANIFEST_RE.fullmatch(path)
        if not m:
            continue
        data = backend.get(path)
        try:
            manifest = Manifest.parse(data)
        except (ValidationError, ValueError) as exc:
            report.add(path, "unreadable", f"not a Charter manifest ({_first_line(exc)})")
            continue
        seq = int(m.group(1))
        if manifest.sequence != seq:
            report.add(path, "chain", f"holds manifest #{manifest.sequence} (run {manifest.run_id}) under "
                                      f"the name of #{seq}: manifests were renamed or reordered")
        chain.append((seq, path, data, manifest))
    if not chain:
        if any(p.startswith(RUNS) for p in objects):
            report.warnings.append("no sealed runs yet: only open (unfinished) runs; resume them with "
                                   "`charter evidence collect`")
            return report
        raise StoreNotFoundError(f"{backend.url}: holds no evidence manifests",
                                 hint="run `charter evidence collect` first, or pass the right --store")
    if any(p.startswith(".signing/") for p in objects):
        report.warnings.append("a private signing key is inside the store (.signing/): whoever can write the "
                               "store can re-sign it; move it out (see `charter evidence collect --help`) "
                               "and verify with --public-key")

    report.manifests = len(chain)
    report.first, report.last = chain[0][3], chain[-1][3]
    report.last_sha256 = sha256_hex(chain[-1][2])
    start = chain[0][0]
    if start != 1 and not partial:
        report.add(_mpath(1), "missing", f"the chain starts at #{start}: manifests 1..{start - 1} are gone")

    # -- chain continuity ----------------------------------------------------------------
    seen_runs: dict[str, str] = {}
    prev: tuple[int, str, bytes, Manifest] | None = None
    for seq, path, data, manifest in chain:
        if manifest.run_id in seen_runs:
            report.add(path, "chain", f"run {manifest.run_id} is already sealed by {seen_runs[manifest.run_id]}")
        seen_runs.setdefault(manifest.run_id, path)
        if prev is None:
            if manifest.previous is not None and not partial and seq == 1:
                report.add(path, "chain", "the first manifest names a previous manifest")
        else:
            pseq, ppath, pdata, pman = prev
            if seq != pseq + 1:
                for missing in range(pseq + 1, seq):
                    report.add(_mpath(missing), "missing",
                               f"manifest #{missing} is gone: the chain breaks between #{pseq} and #{seq}")
            expected = sha256_hex(pdata)
            if manifest.previous is None:
                report.add(path, "chain", f"names no previous manifest, but follows {ppath}")
            elif seq == pseq + 1 and (manifest.previous.sha256 != expected
                                      or manifest.previous.sequence != pman.sequence):
                report.add(path, "chain", f"names previous #{manifest.previous.sequence} with SHA-256 "
                                          f"{manifest.previous.sha256[:16]}…, but {ppath} hashes to {expected[:16]}…"
                                          " (a manifest was changed, replaced or reordered)")
            if manifest.sealed_at < pman.sealed_at:
                report.add(path, "chain", f"sealed {manifest.sealed_at:%Y-%m-%d %H:%M:%S}Z, before #{pseq} "
                                          f"({pman.sealed_at:%Y-%m-%d %H:%M:%S}Z): out of order")
        prev = (seq, path, data, manifest)

    # -- signatures ----------------------------------------------------------------------
    key_cache: dict[str, Any] = {}
    first_key = chain[0][3].key_id
    for seq, path, data, manifest in chain:
        if not trusted and manifest.key_id != first_key:
            # without a pinned key, a new key mid-chain is how a forger would re-sign: only an
            # explicit --public-key for each key makes a rotation acceptable
            report.add(path, "key", f"signed by key {manifest.key_id[:16]}…, earlier manifests by "
                                    f"{first_key[:16]}…; if the key was rotated on purpose, verify with "
                                    "--public-key for each trusted key")
            continue
        _check_signature(backend, report, objects, seq, path, data, manifest, trusted, key_cache)

    # -- artifacts -----------------------------------------------------------------------
    listed: set[str] = set()
    for _seq, path, _data, manifest in chain:
        if only_runs is not None and manifest.run_id not in only_runs:
            continue
        prefix = f"{RUNS}{manifest.run_id}/artifacts/"
        for entry in manifest.artifacts:
            listed.add(entry.path)
            if not entry.path.startswith(prefix):
                report.add(entry.path, "chain", f"listed by {path} but outside its run ({prefix})")
            try:
                blob = backend.get(entry.path)
            except MissingObject:
                report.add(entry.path, "missing", f"listed in {path} (run {manifest.run_id}) but not in the store")
                continue
            actual = sha256_hex(blob)
            report.artifacts += 1
            report.bytes += len(blob)
            if actual != entry.sha256:
                report.add(entry.path, "changed", f"SHA-256 is {actual[:16]}…, manifest #{manifest.sequence} "
                                                  f"sealed {entry.sha256[:16]}…")

    for _seq, path, data, manifest in chain:
        if only_runs is not None and manifest.run_id not in only_runs:
            continue
        _check_run_records(backend, report, objects, path, data, manifest)

    sealed_runs = set(seen_runs)
    open_runs: set[str] = set()
    for obj in sorted(objects):
        if not obj.startswith(RUNS):
            continue
        parts = obj.split("/")
        run_id = parts[1] if len(parts) > 1 else ""
        if only_runs is not None and run_id not in only_runs:
            continue
        if run_id not in sealed_runs:
            open_runs.add(run_id)
            continue
        if obj in listed or (len(parts) == 3 and parts[2] in RUN_BOOKKEEPING):
            continue  # the bookkeeping files are checked against their manifest below
        report.add(obj, "unlisted", f"in sealed run {run_id} but not in its manifest (added after sealing)")
    for run_id in sorted(open_runs):
        sealed_marker = f"{RUNS}{run_id}/sealed.json"
        if sealed_marker in objects:
            # the run was sealed, but no manifest in the chain lists it: its manifest is gone
            seq = _sealed_record(backend.get(sealed_marker)).get("sequence", "?")
            artifacts = sum(1 for o in objects if o.startswith(f"{RUNS}{run_id}/artifacts/"))
            report.add(f"{RUNS}{run_id}/", "missing", f"sealed as manifest #{seq}, which is gone: its "
                                                     f"{artifacts} artifacts are in no manifest")
            continue
        report.warnings.append(f"run {run_id} is not sealed (interrupted collection; "
                               "`charter evidence collect` resumes it)")

    versions = getattr(backend, "versions", None)
    if callable(versions):
        for key, count in sorted(versions().items()):
            if count > 1 and (key.startswith((MANIFESTS, RUNS, KEYS))):
                report.add(key, "overwritten", f"{count} versions: written over after it was stored "
                                               "(the original version is retained by Object Lock)")
    return report


def _check_signature(backend: Backend, report: VerifyReport, objects: set[str], seq: int, path: str,
                     data: bytes, manifest: Manifest, trusted: dict[str, Any], key_cache: dict[str, Any]) -> None:
    sig_path = signature_path(seq)
    if sig_path not in objects:
        report.add(sig_path, "missing", f"the signature of {path} is gone")
        return
    try:
        sig = Signature.model_validate_json(backend.get(sig_path))
    except (ValidationError, ValueError) as exc:
        report.add(sig_path, "unreadable", f"not a signature ({_first_line(exc)})")
        return
    actual = sha256_hex(data)
    if sig.manifest_sha256 != actual:
        report.add(path, "changed", f"SHA-256 is {actual[:16]}…, its signature covers {sig.manifest_sha256[:16]}…")
        return
    if sig.key_id != manifest.key_id:
        report.add(sig_path, "key", f"signed by key {sig.key_id[:16]}…, the manifest names {manifest.key_id[:16]}…")
        return
    if trusted:
        key = trusted.get(sig.key_id)
        if key is None:
            pinned = ", ".join(k[:16] + "…" for k in sorted(trusted))
            report.add(path, "key", f"signed by key {sig.key_id[:16]}…, not by the pinned key {pinned}: "
                                    "re-signed with another key, or the wrong key was pinned")
            return
    else:
        key = key_cache.get(sig.key_id)
        if key is None:
            kpath = key_path(sig.key_id)
            try:
                key = load_public_key(backend.get(kpath), kpath)
            except MissingObject:
                report.add(kpath, "missing", f"the public key that signed {path} is not in the store")
                return
            except SigningKeyError as exc:
                report.add(kpath, "unreadable", exc.message)
                return
            if fingerprint(key) != sig.key_id:
                report.add(kpath, "key", f"holds key {fingerprint(key)[:16]}…, not {sig.key_id[:16]}…")
                return
            key_cache[sig.key_id] = key
    report.keys.add(sig.key_id)
    if not verify_signature(key, sig):
        report.add(path, "signature", f"signature by key {sig.key_id[:16]}… does not verify: "
                                      "manifest forged or signature replaced")


def _check_run_records(backend: Backend, report: VerifyReport, objects: set[str], path: str, data: bytes,
                       manifest: Manifest) -> None:
    """run.json against the hash the manifest sealed; sealed.json against the manifest itself."""
    record = f"{RUNS}{manifest.run_id}/run.json"
    if manifest.run_record is not None:
        if manifest.run_record.path != record:
            report.add(path, "chain", f"seals {manifest.run_record.path} as its run record, not {record}")
        elif record not in objects:
            report.add(record, "missing", f"the run record sealed by {path} is gone")
        else:
            actual = sha256_hex(backend.get(record))
            if actual != manifest.run_record.sha256:
                report.add(record, "changed", f"SHA-256 is {actual[:16]}…, manifest #{manifest.sequence} sealed "
                                              f"{manifest.run_record.sha256[:16]}…")
    elif manifest.schema_version >= 2:
        report.add(path, "chain", "a schema 2 manifest must seal its run record (run.json); this one does not")
    else:
        report.warnings.append(f"{path}: written before run records were sealed (schema 1): {record} is not "
                               "covered by its signature")
    marker = f"{RUNS}{manifest.run_id}/sealed.json"
    if marker in objects and path not in report.items():  # a forged manifest is named once, by itself
        sealed = _sealed_record(backend.get(marker))
        want = {"sequence": manifest.sequence, "manifest_sha256": sha256_hex(data)}
        if sealed != want:
            report.add(marker, "changed", f"names manifest #{sealed.get('sequence', '?')} "
                                          f"({str(sealed.get('manifest_sha256', '?'))[:16]}…), but run "
                                          f"{manifest.run_id} is sealed by #{manifest.sequence} "
                                          f"({want['manifest_sha256'][:16]}…)")


def _sealed_record(data: bytes) -> dict[str, Any]:
    """sealed.json's fields, or {} when it is not a JSON object (an edit verify reports)."""
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _mpath(seq: int) -> str:
    return f"{MANIFESTS}{seq:08d}.json"


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__

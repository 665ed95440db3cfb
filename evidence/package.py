"""The export package's own seal: `package.json` lists every file of the zip with its
SHA-256 and the range of runs it holds, and `package.sig.json` signs it.

The store's manifests cover the artifacts; this covers what the manifests cannot: the
files made for people (`index.html`, `evidence.xlsx`, `README.md`), the run records, and
which runs the package claims to hold, so an edit of "fail" to "pass" in `index.html`,
an added file, or a first or last run dropped from the zip is named by
`charter evidence verify --package`.

Verifying never raises for what is inside the zip: a malformed `package.json`, a member
whose bytes fail the zip's CRC, a path escaping the package, a missing signature are all
findings (exit 1) naming the member. Only a file that is not a zip at all, or a zip with
neither `package.json` nor a store, is bad input (`PackageError`, exit 2).
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from charter.evidence.errors import PackageError, SigningKeyError, StoreNotFoundError
from charter.evidence.manifest import sha256_hex
from charter.evidence.signing import (
    PackageSignature,
    fingerprint,
    load_public_key,
    verify_signature,
)
from charter.evidence.store import LocalBackend, MissingObject, key_path
from charter.evidence.verify import VerifyReport, verify

PACKAGE_JSON = "package.json"
PACKAGE_SIG = "package.sig.json"
STORE = "store/"


class PackageRun(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sequence: int
    run_id: str
    manifest: str
    sha256: str


class PackageMeta(BaseModel):
    """What verification needs from `package.json` (the rest is for people)."""

    model_config = ConfigDict(extra="ignore")

    runs: list[PackageRun] = Field(min_length=1)
    first_sequence: int
    last_sequence: int
    files: dict[str, str]
    keys: list[str] = Field(default_factory=list)


def package_json(meta: dict[str, Any], files: dict[str, str]) -> bytes:
    """The bytes of `package.json`: `meta` plus every other file's SHA-256."""
    return json.dumps(meta | {"files": dict(sorted(files.items()))}, indent=2, sort_keys=True).encode()


def verify_package(path: Path, *, trusted_keys: list[Any] | None = None, workdir: Path | None = None) -> VerifyReport:
    """Check the package's signature, every file against `package.json`, the signed run range,
    and its `store/` exactly as `verify` checks a store. Problems name package members
    (`index.html`, `store/runs/...`)."""
    if not path.is_file():
        raise PackageError(f"{path}: no such file", hint="pass the .zip that `charter evidence export` wrote")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise PackageError(f"{path}: not a readable zip ({exc})",
                           hint="the file is corrupt or truncated: download it again or re-run the export") from None
    tmp_ctx = tempfile.TemporaryDirectory(prefix="charter-package-") if workdir is None else None
    root = Path(tmp_ctx.name) if tmp_ctx else Path(workdir)
    report = VerifyReport(store=str(path))
    try:
        with zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            names = [i.filename for i in members]
            if PACKAGE_JSON not in names and not any(n.startswith(STORE + "manifests/") for n in names):
                raise PackageError(f"{path}: not a Charter evidence package (no package.json or store/manifests/)",
                                   hint="pass the .zip that `charter evidence export` wrote")
            blobs = _extract(zf, members, root, report)
        meta = _read_meta(root, blobs, report)
        _check_signature(blobs, root, trusted_keys or [], report)
        store_report = _verify_store(root, trusted_keys or [], report)
        if meta is not None and store_report is not None:
            _check_run_range(root, meta, report)
        if meta is not None:
            _check_files(blobs, meta, report)
        return report
    finally:
        if tmp_ctx:
            tmp_ctx.cleanup()


def _extract(zf: zipfile.ZipFile, members: list[zipfile.ZipInfo], root: Path,
             report: VerifyReport) -> dict[str, str]:
    """Write each safe member under `root`; return name -> SHA-256 of what was read.
    A member that escapes the package or whose bytes fail the zip's CRC is a finding."""
    hashes: dict[str, str] = {}
    seen: set[str] = set()
    for info in members:
        name = info.filename
        if name.startswith("/") or "\\" in name or ".." in name.split("/") or ":" in name.split("/")[0]:
            report.add(name, "unsafe", "a path outside the package: not extracted (Charter never writes one)")
            continue
        if name in seen:
            report.add(name, "unlisted", "appears twice in the zip: a member was added after export")
            continue
        seen.add(name)
        try:
            data = zf.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
            report.add(name, "changed", f"cannot be read from the zip ({exc})")
            continue
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        hashes[name] = sha256_hex(data)
    return hashes


def _read_meta(root: Path, blobs: dict[str, str], report: VerifyReport) -> PackageMeta | None:
    if PACKAGE_JSON not in blobs:
        report.add(PACKAGE_JSON, "missing", "the package's signed list of files and runs is gone")
        return None
    try:
        return PackageMeta.model_validate_json((root / PACKAGE_JSON).read_bytes())
    except (ValidationError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        report.add(PACKAGE_JSON, "unreadable", f"not a Charter package.json ({' '.join(first[:3])[:240]})")
        return None


def _check_signature(blobs: dict[str, str], root: Path, trusted: list[Any], report: VerifyReport) -> None:
    """package.sig.json signs package.json's SHA-256, by a pinned key or the key that signed
    the package's manifests (never by a key the package merely carries)."""
    if PACKAGE_SIG not in blobs:
        report.add(PACKAGE_SIG, "missing", "the signature of package.json is gone: nothing vouches for "
                                           "index.html, evidence.xlsx, README.md or the run range")
        return
    try:
        sig = PackageSignature.model_validate_json((root / PACKAGE_SIG).read_bytes())
    except (ValidationError, ValueError) as exc:
        report.add(PACKAGE_SIG, "unreadable", f"not a package signature ({str(exc).strip().splitlines()[0][:200]})")
        return
    if PACKAGE_JSON not in blobs:
        return
    actual = blobs[PACKAGE_JSON]
    if sig.package_sha256 != actual:
        report.add(PACKAGE_JSON, "changed", f"SHA-256 is {actual[:16]}…, its signature covers {sig.package_sha256[:16]}…")
        return
    pinned = {fingerprint(k): k for k in trusted}
    if pinned:
        key = pinned.get(sig.key_id)
        if key is None:
            report.add(PACKAGE_SIG, "key", f"signed by key {sig.key_id[:16]}…, not by the pinned key "
                                           f"{', '.join(k[:16] + '…' for k in sorted(pinned))}")
            return
    else:
        manifest_keys = _manifest_keys(root)
        if sig.key_id not in manifest_keys:
            report.add(PACKAGE_SIG, "key", f"signed by key {sig.key_id[:16]}…, which signed none of the package's "
                                           "manifests: re-signed by someone else")
            return
        kpath = key_path(sig.key_id)
        try:
            key = load_public_key(LocalBackend(root / STORE).get(kpath), STORE + kpath)
        except MissingObject:
            report.add(STORE + kpath, "missing", "the public key that signed package.json is not in the package")
            return
        except SigningKeyError as exc:
            report.add(STORE + kpath, "unreadable", exc.message)
            return
        if fingerprint(key) != sig.key_id:
            report.add(STORE + kpath, "key", f"holds key {fingerprint(key)[:16]}…, not {sig.key_id[:16]}…")
            return
    if not verify_signature(key, sig):
        report.add(PACKAGE_JSON, "signature", f"signature by key {sig.key_id[:16]}… does not verify: "
                                              "package.json forged or its signature replaced")
        return
    report.keys.add(sig.key_id)


def _manifest_keys(root: Path) -> set[str]:
    """Key ids the package's manifests name (whether they verify is the store check's job)."""
    keys = set()
    for path in sorted((root / STORE / "manifests").glob("*.json")):
        if path.name.endswith(".sig.json"):
            continue
        try:
            value = json.loads(path.read_bytes())
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("key_id"), str):
            keys.add(value["key_id"])
    return keys


def _check_files(blobs: dict[str, str], meta: PackageMeta, report: VerifyReport) -> None:
    """Every member is listed with the SHA-256 it has; every listed file is there."""
    named = {p.item for p in report.problems}  # the store checks said it first, and said more
    for name, want in sorted(meta.files.items()):
        got = blobs.get(name)
        if name in named:
            continue
        if got is None:
            report.add(name, "missing", "listed in package.json but not in the package")
        elif got != want:
            report.add(name, "changed", f"SHA-256 is {got[:16]}…, package.json sealed {want[:16]}…")
    for name in sorted(set(blobs) - set(meta.files) - {PACKAGE_JSON, PACKAGE_SIG} - named):
        report.add(name, "unlisted", "not in package.json: added to the package after it was exported")


def _verify_store(root: Path, trusted: list[Any], report: VerifyReport) -> VerifyReport | None:
    """The store checks, with every item named as the package member it is."""
    store = root / STORE
    if not (store / "manifests").is_dir():
        report.add(STORE + "manifests/", "missing", "the package holds no manifests")
        return None
    try:
        inner = verify(LocalBackend(store), trusted_keys=trusted, partial=True)
    except StoreNotFoundError as exc:
        report.add(STORE + "manifests/", "missing", exc.message)
        return None
    for p in inner.problems:
        report.add(p.item if p.item.startswith(STORE) else STORE + p.item, p.kind, p.detail)
    report.warnings += inner.warnings
    report.manifests, report.artifacts, report.bytes = inner.manifests, inner.artifacts, inner.bytes
    report.keys |= inner.keys
    report.first, report.last, report.last_sha256 = inner.first, inner.last, inner.last_sha256
    return inner


def _check_run_range(root: Path, meta: PackageMeta, report: VerifyReport) -> None:
    """The runs the signed package.json names are exactly the manifests the package holds."""
    store = root / STORE
    present = {p.relative_to(store).as_posix() for p in (store / "manifests").glob("*.json")
               if not p.name.endswith(".sig.json")}
    listed = {r.manifest for r in meta.runs}
    span = f"#{meta.first_sequence} .. #{meta.last_sequence}"
    for run in meta.runs:
        if run.manifest not in present:
            where = ("the first run" if run.sequence == meta.first_sequence else
                     "the last run" if run.sequence == meta.last_sequence else "a run")
            report.add(STORE + run.manifest, "missing", f"the package's signed run range is {span}; {where} "
                                                        f"(#{run.sequence}, {run.run_id}) was dropped")
            continue
        actual = sha256_hex((store / run.manifest).read_bytes())
        if actual != run.sha256:
            report.add(STORE + run.manifest, "changed", f"SHA-256 is {actual[:16]}…, package.json names "
                                                        f"{run.sha256[:16]}… for run {run.run_id}")
    for extra in sorted(present - listed):
        report.add(STORE + extra, "unlisted", f"a manifest outside the package's signed run range {span}")
    sequences = sorted(r.sequence for r in meta.runs)
    if sequences and (sequences[0] != meta.first_sequence or sequences[-1] != meta.last_sequence):
        report.add(PACKAGE_JSON, "chain", f"names runs #{sequences[0]} .. #{sequences[-1]} but the range {span}")

"""The evidence store: write-once objects in a local directory or an Object Lock S3 bucket.

Layout (the same under a directory and under `s3://bucket/prefix/`):

    keys/<fingerprint>.pem                       public keys that signed manifests (never a private key:
                                                 the local one lives in ~/.config/charter/keys/)
    manifests/<sequence:08d>.json                 the chain (canonical JSON), one per sealed run
    manifests/<sequence:08d>.sig.json             its detached signature
    runs/<run_id>/run.json                        a run's scope and start (written when it opens; its
                                                 SHA-256 is sealed in the run's manifest)
    runs/<run_id>/sealed.json                     written after its manifest (run no longer resumable);
                                                 names the manifest's sequence and SHA-256
    runs/<run_id>/artifacts/<collector>/<account>/<region>.json         evidence
    runs/<run_id>/artifacts/<collector>/<account>/<region>.gap-<h>.json a gap (retried on resume)

Every object is written once. The local backend refuses to overwrite; the S3 backend
writes with `If-None-Match: *` into a bucket whose Object Lock (COMPLIANCE mode) keeps
every version for the retention period, so even an overwrite by someone bypassing
Charter leaves the original version in place and shows up in `verify`.

A run is resumable until sealed: artifacts already stored for it are not collected again.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from charter import __version__
from charter.evidence.artifact import Artifact, utcnow
from charter.evidence.errors import StoreNotFoundError, StoreUrlError, StoreWriteError
from charter.evidence.manifest import (
    Entry,
    FileRef,
    Manifest,
    Previous,
    Scope,
    canonical,
    sha256_hex,
)
from charter.evidence.signing import Signature, Signer

DEFAULT_LOCAL_STORE = Path(".charter") / "evidence"
KEYS = "keys/"
MANIFESTS = "manifests/"
RUNS = "runs/"
#: Objects under a run that are bookkeeping, not evidence: not among the manifest's
#: artifacts, but each checked (run.json by the manifest's `run_record`, sealed.json
#: against the manifest it names).
RUN_BOOKKEEPING = ("run.json", "sealed.json")


class MissingObject(Exception):
    """An object the caller expected is not in the store (verify turns this into a finding)."""


class AlreadyStored(Exception):
    """A write-once object exists already with different content."""


@runtime_checkable
class Backend(Protocol):
    """Where bytes live. Paths are '/'-separated and relative to the store root."""

    url: str

    def put(self, path: str, data: bytes) -> None:
        """Write once: a no-op if `path` holds exactly `data`, `AlreadyStored` if it holds other bytes."""

    def get(self, path: str) -> bytes:
        """The bytes at `path`, or `MissingObject`."""

    def list(self, prefix: str = "") -> list[str]:
        """Every path under `prefix`, sorted."""

    def exists(self, path: str) -> bool: ...


class LocalBackend:
    """A directory. Writes are atomic (temp file + link) and never overwrite."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.url = str(self.root)

    def _file(self, path: str) -> Path:
        if path.startswith("/") or ".." in path.split("/"):
            raise StoreWriteError(f"{path}: not a store path", hint="paths are relative, without '..'")
        return self.root / path

    def put(self, path: str, data: bytes) -> None:
        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        try:
            # link() fails if the target exists: an atomic create-if-absent, so two writers
            # can never both think they wrote manifest N
            os.link(tmp, target)
        except FileExistsError:
            if target.read_bytes() != data:
                raise AlreadyStored(path) from None
        except OSError:
            # filesystems without hard links: exclusive create (atomic too, but a reader may
            # briefly see a partial file)
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if target.read_bytes() != data:
                    raise AlreadyStored(path) from None
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, path: str) -> bytes:
        try:
            return self._file(path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise MissingObject(path) from None

    def list(self, prefix: str = "") -> list[str]:
        base = self.root / prefix if prefix else self.root
        if not base.is_dir():
            return []
        # every file, hidden ones too: a file slipped into a sealed run as ".x" is still a file
        # the store holds, and verify must see it
        out = []
        for dirpath, _dirnames, filenames in os.walk(base):
            for name in filenames:
                out.append(Path(dirpath, name).relative_to(self.root).as_posix())
        return sorted(out)

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()


class S3Backend:
    """A bucket (with Object Lock in COMPLIANCE mode, made by the evidence_store stack) and prefix."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")

    def _key(self, path: str) -> str:
        return self.prefix + path

    def _fail(self, exc: Exception, path: str, action: str) -> StoreWriteError | StoreNotFoundError:
        from charter.aws import error_code, error_message

        if error_code(exc) == "NoSuchBucket":
            return StoreNotFoundError(f"{self.url}: bucket {self.bucket} does not exist",
                                      hint="deploy the evidence_store stack, or check the bucket name and region")
        return StoreWriteError(f"{self.url}/{path}: cannot {action} ({error_message(exc)})",
                               hint="check the role may s3:GetObject/PutObject/ListBucket on the evidence bucket "
                                    "and kms:GenerateDataKey/Decrypt on its key")

    def put(self, path: str, data: bytes) -> None:
        import botocore.exceptions

        from charter.aws import error_code

        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        try:
            # If-None-Match makes the write create-only; ChecksumSHA256 makes S3 reject a
            # body corrupted in transit
            self.client.put_object(Bucket=self.bucket, Key=self._key(path), Body=data, IfNoneMatch="*",
                                   ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum,
                                   ContentType="application/json")
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                if self.get(path) != data:
                    raise AlreadyStored(path) from None
                return
            raise self._fail(exc, path, "write") from None

    def get(self, path: str) -> bytes:
        import botocore.exceptions

        from charter.aws import error_code

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"].read()
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                raise MissingObject(path) from None
            raise self._fail(exc, path, "read") from None

    def list(self, prefix: str = "") -> list[str]:
        import botocore.exceptions

        from charter.aws import paginate

        try:
            items = paginate(self.client, "list_objects_v2", "Contents", Bucket=self.bucket,
                             Prefix=self._key(prefix)).items
        except botocore.exceptions.ClientError as exc:
            raise self._fail(exc, prefix, "list") from None
        return sorted(i["Key"][len(self.prefix):] for i in items)

    def exists(self, path: str) -> bool:
        import botocore.exceptions

        from charter.aws import error_code

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(path))
            return True
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail(exc, path, "read") from None

    def versions(self, prefix: str = "") -> dict[str, int]:
        """How many versions each key has: more than one means someone overwrote it (the
        original stays, locked, and can be read by version id)."""
        from charter.aws import paginate

        counts: dict[str, int] = {}
        for v in paginate(self.client, "list_object_versions", "Versions", Bucket=self.bucket,
                          Prefix=self._key(prefix)).items:
            key = v["Key"][len(self.prefix):]
            counts[key] = counts.get(key, 0) + 1
        return counts


def parse_store_url(url: str) -> tuple[str, str, str]:
    """('local', dir, '') or ('s3', bucket, prefix)."""
    if url.startswith("s3://"):
        rest = url[5:]
        bucket, _, prefix = rest.partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise StoreUrlError(f"{url}: '{bucket}' is not a valid S3 bucket name",
                                hint="use s3://<bucket>/<prefix>, e.g. s3://acme-evidence-111111111111-us-east-1")
        return "s3", bucket, prefix
    if "://" in url:
        raise StoreUrlError(f"{url}: unsupported store URL", hint="use a directory path or s3://bucket/prefix")
    return "local", url, ""


def open_backend(url: str | Path, *, sessions: Any = None, region: str | None = None,
                 must_exist: bool = False) -> Backend:
    """The backend for a directory or an s3:// URL (S3 needs a `SessionFactory`)."""
    kind, where, prefix = parse_store_url(str(url))
    if kind == "local":
        path = Path(where)
        if must_exist and not path.is_dir():
            raise StoreNotFoundError(f"{path}: no evidence store here (directory does not exist)",
                                     hint="pass the directory `charter evidence collect --store` wrote "
                                          f"(default {DEFAULT_LOCAL_STORE}), or s3://bucket/prefix")
        if path.exists() and not path.is_dir():
            raise StoreUrlError(f"{path}: is a file, not a store directory",
                                hint="for an export package use `charter evidence verify --package FILE.zip`")
        return LocalBackend(path)
    if sessions is None:
        raise StoreUrlError(f"{url}: an S3 store needs AWS access", hint="pass --profile NAME or --local")
    return S3Backend(sessions.client("s3", region=region), where, prefix)


# -- paths ---------------------------------------------------------------------------------

def _part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text) or "_"


def manifest_path(sequence: int) -> str:
    return f"{MANIFESTS}{sequence:08d}.json"


def signature_path(sequence: int) -> str:
    return f"{MANIFESTS}{sequence:08d}.sig.json"


def key_path(key_id: str) -> str:
    return f"{KEYS}{key_id}.pem"


def run_prefix(run_id: str) -> str:
    return f"{RUNS}{run_id}/"


def new_run_id() -> str:
    return utcnow().strftime("%Y%m%dT%H%M%SZ")


@dataclass
class Run:
    """An open (resumable) run of one collection."""

    run_id: str
    scope: Scope
    started_at: Any
    #: (collector, account_id, region) triples with evidence stored: not collected again.
    done: set[tuple[str, str, str]] = field(default_factory=set)
    #: Hashes of what this process wrote (sealing need not read them back).
    written: dict[str, Entry] = field(default_factory=dict)
    resumed: bool = False

    @property
    def prefix(self) -> str:
        return run_prefix(self.run_id)


class EvidenceStore:
    """Runs, artifacts and the signed manifest chain over a `Backend`."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # -- reading the chain ---------------------------------------------------------------
    def manifest_paths(self) -> list[str]:
        return [p for p in self.backend.list(MANIFESTS) if re.fullmatch(r"manifests/\d{8}\.json", p)]

    def head(self) -> tuple[Manifest, str] | None:
        """The last sealed manifest and its SHA-256, or None for an empty chain."""
        paths = self.manifest_paths()
        if not paths:
            return None
        data = self.backend.get(paths[-1])
        return Manifest.parse(data), sha256_hex(data)

    def manifests(self) -> list[Manifest]:
        return [Manifest.parse(self.backend.get(p)) for p in self.manifest_paths()]

    # -- runs ----------------------------------------------------------------------------
    def open_runs(self) -> list[str]:
        """Run ids with a run.json and no sealed.json (started, not finished)."""
        started, sealed = set(), set()
        for p in self.backend.list(RUNS):
            parts = p.split("/")
            if len(parts) == 3 and parts[2] == "run.json":
                started.add(parts[1])
            elif len(parts) == 3 and parts[2] == "sealed.json":
                sealed.add(parts[1])
        return sorted(started - sealed)

    def open_run(self, scope: Scope, *, resume: bool = True) -> Run:
        """Resume the latest unsealed run with the same scope, or start a new one."""
        if resume:
            for run_id in reversed(self.open_runs()):
                info = _json(self.backend.get(run_prefix(run_id) + "run.json"))
                if Scope.model_validate(info["scope"]) == scope:
                    run = Run(run_id, scope, info["started_at"], resumed=True)
                    run.done = self._done(run)
                    return run
        run_id = new_run_id()
        while self.backend.exists(run_prefix(run_id) + "run.json"):  # two runs within a second
            run_id = f"{run_id[:16]}-{os.urandom(2).hex()}"
        started = utcnow()
        self.backend.put(run_prefix(run_id) + "run.json",
                         canonical({"run_id": run_id, "scope": scope.model_dump(mode="json"),
                                    "started_at": started.isoformat(), "charter_version": __version__}))
        return Run(run_id, scope, started.isoformat())

    def _done(self, run: Run) -> set[tuple[str, str, str]]:
        done = set()
        for p in self.backend.list(run.prefix + "artifacts/"):
            parts = p[len(run.prefix + "artifacts/"):].split("/")
            if len(parts) == 3 and ".gap-" not in parts[2] and not parts[2].startswith("."):
                done.add((parts[0], parts[1], parts[2].split(".")[0]))
        return done

    def artifact_path(self, run: Run, artifact: Artifact) -> str:
        base = f"{run.prefix}artifacts/{_part(artifact.collector)}/{_part(artifact.account_id)}/{_part(artifact.region)}"
        if artifact.kind == "gap":
            return f"{base}.gap-{artifact.sha256[:12]}.json"
        path, n = f"{base}.json", 1
        # a collector may emit several artifacts for one account and region in one pass
        while path in run.written and run.written[path].sha256 != artifact.sha256:
            n += 1
            path = f"{base}.{n}.json"
        return path

    def add(self, run: Run, artifact: Artifact) -> str | None:
        """Store one artifact; None when this triple was already stored by an earlier pass."""
        triple = (_part(artifact.collector), _part(artifact.account_id), _part(artifact.region))
        if artifact.kind != "gap" and triple in run.done:
            return None
        path = self.artifact_path(run, artifact)
        data = artifact.canonical_json()
        try:
            self.backend.put(path, data)
        except AlreadyStored:
            raise StoreWriteError(f"{self.backend.url}/{path}: already holds different evidence",
                                  hint="evidence is write-once; start a new run (collect --new-run)") from None
        run.written[path] = Entry.of(path, data, artifact)
        return path

    def add_all(self, run: Run, artifacts: Iterable[Artifact]) -> int:
        return sum(1 for a in artifacts if self.add(run, a) is not None)

    # -- sealing ------------------------------------------------------------------------
    def publish_key(self, signer: Signer) -> None:
        path = key_path(signer.key_id)
        if not self.backend.exists(path):
            self.backend.put(path, signer.public_key_pem())

    def seal(self, run: Run, signer: Signer, *, caller_arn: str = "") -> Manifest:
        """Write the run's manifest (next in the chain) and its signature."""
        self.publish_key(signer)
        entries = []
        for path in self.backend.list(run.prefix + "artifacts/"):
            if path.rsplit("/", 1)[-1].startswith("."):
                continue  # a write interrupted by SIGKILL leaves its temp file: not evidence
            entry = run.written.get(path)
            if entry is None:  # stored by an earlier, interrupted pass: hash what is stored
                data = self.backend.get(path)
                entry = Entry.of(path, data, Artifact.model_validate_json(data))
            entries.append(entry)
        record = run.prefix + "run.json"
        run_record = FileRef(path=record, sha256=sha256_hex(self.backend.get(record)))
        for _attempt in range(5):
            head = self.head()
            previous = None
            if head is not None:
                previous = Previous(sequence=head[0].sequence, run_id=head[0].run_id, sha256=head[1])
            manifest = Manifest(sequence=(previous.sequence + 1) if previous else 1, run_id=run.run_id,
                                started_at=run.started_at, sealed_at=utcnow(), charter_version=__version__,
                                caller_arn=caller_arn, scope=run.scope, key_id=signer.key_id,
                                signing_algorithm=signer.algorithm, previous=previous,
                                run_record=run_record, artifacts=sorted(entries, key=lambda e: e.path))
            data = manifest.to_bytes()
            signature = signer.sign(sha256_hex(data))
            try:
                self.backend.put(manifest_path(manifest.sequence), data)
            except AlreadyStored:
                continue  # another run sealed this sequence number first: chain after it
            self.backend.put(signature_path(manifest.sequence), signature.model_dump_json().encode())
            self.backend.put(run.prefix + "sealed.json",
                             canonical({"sequence": manifest.sequence, "manifest_sha256": sha256_hex(data)}))
            return manifest
        raise StoreWriteError(f"{self.backend.url}: could not claim a manifest sequence number after 5 tries",
                              hint="another collector is sealing at the same time; run again")

    def write_run(self, artifacts: Iterable[Artifact], signer: Signer, scope: Scope, *,
                  caller_arn: str = "") -> Manifest:
        """Store `artifacts` as one new run and seal it (for evidence made outside a collection,
        such as an access-review campaign's snapshot and report)."""
        run = self.open_run(scope, resume=False)
        self.add_all(run, artifacts)
        return self.seal(run, signer, caller_arn=caller_arn)

    def signature(self, sequence: int) -> Signature:
        return Signature.model_validate_json(self.backend.get(signature_path(sequence)))


def _json(data: bytes) -> dict[str, Any]:
    import json

    return json.loads(data)

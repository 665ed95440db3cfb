"""Signing manifests and export packages, and checking signatures with nothing but a public key.

What is signed is a short, domain-separated statement naming a SHA-256
(`charter-evidence-manifest:v1:<hex>` for a manifest, `charter-evidence-package:v1:<hex>`
for an export package's `package.json`), not the document itself: KMS signs at most 4 KB
of raw message, and a manifest of a large organization is far bigger. The statement is
signed as a RAW message (the signer hashes it), which is the same operation for KMS
(ECDSA_SHA_256 / RSASSA_*_SHA_256) and for Ed25519. The prefix keeps a manifest's
signature from passing as a package's, and the other way round.

- `LocalSigner`: Ed25519 with the `cryptography` package. The private key lives OUTSIDE
  the store, in the user's config directory (`~/.config/charter/keys/ed25519-private.pem`,
  or `$XDG_CONFIG_HOME/charter/keys/`, `$CHARTER_KEY_DIR`, or the file `--key` /
  `$CHARTER_SIGNING_KEY` names), mode 0600, generated on first use: whoever can write the
  store cannot also re-sign it. Only the public key is written to the store, as
  `keys/<fingerprint>.pem`; pin it (`verify --public-key`) to detect a store re-signed
  with another key. For audit-grade evidence use the KMS key of the evidence stack,
  whose private half never leaves KMS.
- `KmsSigner`: an asymmetric KMS key (KeyUsage SIGN_VERIFY). Its public key is fetched
  with GetPublicKey and exported to the store the same way.

A key's id is the SHA-256 fingerprint of its DER SubjectPublicKeyInfo, so a public key
file can be checked against the id every manifest names.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from pydantic import BaseModel, ConfigDict

from charter.evidence.errors import SigningKeyError

STATEMENT_PREFIX = b"charter-evidence-manifest:v1:"
#: What a signature can speak for; each has its own statement prefix.
SUBJECTS = ("manifest", "package")
#: Signing algorithms verify knows (KMS names, plus Ed25519 for local keys).
ALGORITHMS = ("Ed25519", "ECDSA_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PSS_SHA_256")
#: The local private key's file name, in the key directory.
PRIVATE_KEY_FILE = "ed25519-private.pem"


def statement(sha256: str, subject: str = "manifest") -> bytes:
    """The bytes a signature covers: `charter-evidence-<subject>:v1:<sha256>`."""
    if subject not in SUBJECTS:
        raise ValueError(f"unknown signature subject {subject!r}")
    return f"charter-evidence-{subject}:v1:".encode() + sha256.encode()


def default_key_dir() -> Path:
    """Where the local private signing key lives: `$CHARTER_KEY_DIR`, else
    `$XDG_CONFIG_HOME/charter/keys`, else `~/.config/charter/keys` (never inside a store)."""
    if os.environ.get("CHARTER_KEY_DIR"):
        return Path(os.environ["CHARTER_KEY_DIR"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "charter" / "keys"


def default_key_file() -> Path:
    """`$CHARTER_SIGNING_KEY` when set, else `<default_key_dir()>/ed25519-private.pem`."""
    if os.environ.get("CHARTER_SIGNING_KEY"):
        return Path(os.environ["CHARTER_SIGNING_KEY"]).expanduser()
    return default_key_dir() / PRIVATE_KEY_FILE


def fingerprint(public_key: Any) -> str:
    """SHA-256 hex of the DER SubjectPublicKeyInfo: the key id manifests name."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_pem(public_key: Any) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(data: bytes, where: str) -> Any:
    """A PEM (or DER) public key; `where` names the file for the error message."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            if b"PRIVATE KEY" in data.split(b"\n", 1)[0]:
                raise SigningKeyError(f"{where}: this is a PRIVATE key; verification needs only the public key",
                                      hint="pass keys/<fingerprint>.pem from the store or the export package, "
                                           "and keep the private key out of circulation")
            return serialization.load_pem_public_key(data)
        return serialization.load_der_public_key(data)
    except SigningKeyError:
        raise
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{where}: not a public key ({exc})",
                              hint="pass the PEM file keys/<fingerprint>.pem exported with the store") from None


class Signature(BaseModel):
    """The detached signature of one manifest (`manifests/<seq>.sig.json`)."""

    model_config = ConfigDict(extra="forbid")

    manifest_sha256: str
    key_id: str
    algorithm: str
    signature: str  # base64
    kms_key_arn: str | None = None


class PackageSignature(BaseModel):
    """The detached signature of an export package's `package.json` (`package.sig.json`)."""

    model_config = ConfigDict(extra="forbid")

    package_sha256: str
    key_id: str
    algorithm: str
    signature: str  # base64
    kms_key_arn: str | None = None


def verify_signature(public_key: Any, sig: Signature | PackageSignature) -> bool:
    """True when `sig` is a valid signature by `public_key` of the hash it names. The
    subject comes from the signature's type, never from a field an editor could set."""
    if isinstance(sig, PackageSignature):
        return verify_statement(public_key, sig.algorithm, sig.signature, statement(sig.package_sha256, "package"))
    return verify_statement(public_key, sig.algorithm, sig.signature, statement(sig.manifest_sha256))


def verify_statement(public_key: Any, algorithm: str, signature_b64: str, message: bytes) -> bool:
    try:
        raw = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        return False
    try:
        if algorithm == "Ed25519" and isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(raw, message)
        elif algorithm == "ECDSA_SHA_256" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(raw, message, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "RSASSA_PKCS1_V1_5_SHA_256" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "RSASSA_PSS_SHA_256" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(raw, message, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


class Signer(Protocol):
    key_id: str
    algorithm: str
    kms_key_arn: str | None

    def sign(self, manifest_sha256: str) -> Signature: ...

    def sign_raw(self, message: bytes) -> str: ...

    def public_key_pem(self) -> bytes: ...


def sign_package(signer: Signer, package_sha256: str) -> PackageSignature:
    """Sign an export package's `package.json` hash with `signer`."""
    raw = signer.sign_raw(statement(package_sha256, "package"))
    return PackageSignature(package_sha256=package_sha256, key_id=signer.key_id, algorithm=signer.algorithm,
                            signature=raw, kms_key_arn=signer.kms_key_arn)


class LocalSigner:
    """Ed25519 key kept in the user's config directory (never in the store); created on first use."""

    algorithm = "Ed25519"
    kms_key_arn = None
    FILE = PRIVATE_KEY_FILE

    def __init__(self, private_key: ed25519.Ed25519PrivateKey) -> None:
        self._key = private_key
        self.key_id = fingerprint(private_key.public_key())

    @classmethod
    def for_directory(cls, key_dir: Path) -> LocalSigner:
        """Load `key_dir/ed25519-private.pem`, generating it (mode 0600) if absent."""
        return cls.for_file(key_dir / cls.FILE)

    @classmethod
    def for_file(cls, path: Path) -> LocalSigner:
        """Load the Ed25519 private key at `path`, generating it (mode 0600) if absent."""
        key_dir = path.parent
        if path.is_dir():
            raise SigningKeyError(f"{path}: is a directory, not a key file",
                                  hint=f"pass the key file, e.g. {path / cls.FILE}")
        if path.exists():
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (ValueError, TypeError) as exc:
                raise SigningKeyError(f"{path}: unreadable signing key ({exc})",
                                      hint="restore the file from backup; a new key would start a new "
                                           "key id (old manifests stay verifiable with their public key)") from None
            if not isinstance(key, ed25519.Ed25519PrivateKey):
                raise SigningKeyError(f"{path}: not an Ed25519 private key",
                                      hint="remove the file to generate a new key, or restore the original")
            return cls(key)
        key = ed25519.Ed25519PrivateKey.generate()
        key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return cls(key)

    def sign(self, manifest_sha256: str) -> Signature:
        return Signature(manifest_sha256=manifest_sha256, key_id=self.key_id, algorithm=self.algorithm,
                         signature=self.sign_raw(statement(manifest_sha256)))

    def sign_raw(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode()

    def public_key_pem(self) -> bytes:
        return public_pem(self._key.public_key())


#: KMS key specs Charter signs with, and the algorithm used for each.
KMS_ALGORITHMS = {
    "ECC_NIST_P256": "ECDSA_SHA_256",
    "RSA_2048": "RSASSA_PKCS1_V1_5_SHA_256",
    "RSA_3072": "RSASSA_PKCS1_V1_5_SHA_256",
    "RSA_4096": "RSASSA_PKCS1_V1_5_SHA_256",
}


class KmsSigner:
    """An asymmetric KMS key (SIGN_VERIFY); the private key never leaves KMS."""

    def __init__(self, client: Any, key_id: str) -> None:
        from charter.aws import error_message

        self._client = client
        try:
            resp = client.get_public_key(KeyId=key_id)
        except Exception as exc:  # botocore ClientError/BotoCoreError: name the key and the fix
            raise SigningKeyError(f"KMS key {key_id}: cannot read its public key ({error_message(exc)})",
                                  hint="pass the evidence stack's signing key (alias/<org>-evidence-signing) "
                                       "and check kms:GetPublicKey is allowed") from None
        if resp.get("KeyUsage") != "SIGN_VERIFY":
            raise SigningKeyError(f"KMS key {key_id} has KeyUsage {resp.get('KeyUsage')}, not SIGN_VERIFY",
                                  hint="use the asymmetric signing key the evidence_store stack creates")
        spec = resp.get("KeySpec") or resp.get("CustomerMasterKeySpec", "")
        if spec not in KMS_ALGORITHMS:
            raise SigningKeyError(f"KMS key {key_id} has key spec {spec}; Charter signs with "
                                  f"{', '.join(KMS_ALGORITHMS)}", hint="create an ECC_NIST_P256 SIGN_VERIFY key")
        self.kms_key_arn: str | None = resp["KeyId"]
        self.algorithm = KMS_ALGORITHMS[spec]
        self._public = load_public_key(resp["PublicKey"], f"KMS key {key_id}")
        self.key_id = fingerprint(self._public)

    def sign(self, manifest_sha256: str) -> Signature:
        return Signature(manifest_sha256=manifest_sha256, key_id=self.key_id, algorithm=self.algorithm,
                         signature=self.sign_raw(statement(manifest_sha256)), kms_key_arn=self.kms_key_arn)

    def sign_raw(self, message: bytes) -> str:
        from charter.aws import error_message

        try:
            resp = self._client.sign(KeyId=self.kms_key_arn, Message=message,
                                     MessageType="RAW", SigningAlgorithm=self.algorithm)
        except Exception as exc:
            raise SigningKeyError(f"KMS key {self.kms_key_arn}: Sign failed ({error_message(exc)})",
                                  hint="check the collector role may call kms:Sign on this key") from None
        return base64.b64encode(resp["Signature"]).decode()

    def public_key_pem(self) -> bytes:
        return public_pem(self._public)


def signer_for(store_url: str, backend: Any, sessions: Any, kms_key: str | None, cfg: Any,
               key_file: Path | None = None) -> Signer:
    """The signer a store uses: the org's KMS signing key for S3 stores (or when a key is
    named), else the local Ed25519 key at `key_file` (default: `default_key_file()`), which
    must not lie inside the store."""
    if kms_key or str(store_url).startswith("s3://"):
        if sessions is None:
            raise SigningKeyError("signing with KMS needs AWS access", hint="pass --profile NAME or --local")
        from charter.naming import signing_key_alias

        return KmsSigner(sessions.client("kms"), kms_key or signing_key_alias(cfg))
    root = Path(backend.root)
    path = Path(key_file).expanduser() if key_file else default_key_file()
    legacy = root / ".signing" / PRIVATE_KEY_FILE
    if legacy.exists():
        # a key inside the store lets whoever can write the store re-sign it
        raise SigningKeyError(
            f"{legacy}: the private signing key is inside the evidence store, where anyone who can "
            "write the store can re-sign it",
            hint=f"move it out and keep it private: mkdir -p {path.parent} && mv {legacy} {path} && "
                 f"rmdir {legacy.parent}; then pin its public key (keys/<fingerprint>.pem) when verifying")
    if _inside(path, root):
        raise SigningKeyError(f"{path}: the signing key would be inside the evidence store {root}",
                              hint=f"keep the key outside the store, e.g. --key {default_key_dir() / PRIVATE_KEY_FILE}")
    return LocalSigner.for_file(path)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True

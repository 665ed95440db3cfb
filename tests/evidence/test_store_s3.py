"""The S3 evidence store: an Object Lock (COMPLIANCE) bucket, manifests signed by an asymmetric KMS key."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import boto3
import botocore.exceptions
import pytest
from evstore_helpers import run_artifacts
from moto import mock_aws

from charter.evidence.errors import SigningKeyError, StoreNotFoundError
from charter.evidence.manifest import Manifest, Scope, sha256_hex
from charter.evidence.signing import KmsSigner, LocalSigner, load_public_key
from charter.evidence.store import AlreadyStored, EvidenceStore, S3Backend, open_backend
from charter.evidence.verify import verify

DAY = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
BUCKET = "acme-evidence-222222222222-us-east-1"


@pytest.fixture()
def aws(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(Bucket=BUCKET, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}}})
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName="alias/acme-evidence-signing", TargetKeyId=key)
        yield s3, kms, key


@pytest.fixture()
def filled(aws):
    s3, kms, _ = aws
    store = EvidenceStore(S3Backend(s3, BUCKET, "org/acme"))
    signer = KmsSigner(kms, "alias/acme-evidence-signing")
    for day in range(3):
        run = store.open_run(Scope(organization="acme"), resume=False)
        store.add_all(run, run_artifacts(DAY.replace(day=1 + day), n=2))
        store.seal(run, signer)
    return s3, store, signer


def test_s3_store_roundtrip_with_kms_signature(filled):
    s3, store, signer = filled
    report = verify(store.backend)
    assert report.ok, report.problems
    assert (report.manifests, report.artifacts) == (3, 39)
    assert report.keys == {signer.key_id}
    assert signer.algorithm == "ECDSA_SHA_256"
    # everything lives under the prefix, and objects carry Object Lock retention from the bucket default
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys and all(k.startswith("org/acme/") for k in keys)
    # the public key in the store is KMS's own public key: verification needs no KMS access
    pem = store.backend.get(f"keys/{signer.key_id}.pem")
    kms_pub = boto3.client("kms", region_name="us-east-1").get_public_key(KeyId=signer.kms_key_arn)["PublicKey"]
    assert load_public_key(pem, "pem").public_numbers() == load_public_key(kms_pub, "der").public_numbers()


def test_s3_store_is_write_once_and_locked(filled):
    s3, store, _ = filled
    path = Manifest.parse(store.backend.get("manifests/00000001.json")).artifacts[0].path
    with pytest.raises(AlreadyStored):
        store.backend.put(path, b"tampered")
    # Object Lock COMPLIANCE: the stored version cannot be deleted
    version = s3.list_object_versions(Bucket=BUCKET, Prefix="org/acme/" + path)["Versions"][0]["VersionId"]
    with pytest.raises(botocore.exceptions.ClientError):
        s3.delete_object(Bucket=BUCKET, Key="org/acme/" + path, VersionId=version)


def test_s3_overwritten_artifact_is_named_changed_and_overwritten(filled):
    s3, store, _ = filled
    path = Manifest.parse(store.backend.get("manifests/00000002.json")).artifacts[3].path
    body = bytearray(store.backend.get(path))
    body[10] ^= 0x01
    # someone bypassing Charter writes a new version (Object Lock keeps the original)
    s3.put_object(Bucket=BUCKET, Key="org/acme/" + path, Body=bytes(body), ChecksumAlgorithm="SHA256")
    report = verify(store.backend)
    assert report.items("changed") == [path]
    assert report.items("overwritten") == [path]


def test_s3_hidden_manifest_breaks_the_chain(filled):
    s3, store, _ = filled
    # a delete without a version id only adds a delete marker: the manifest disappears from listings
    s3.delete_object(Bucket=BUCKET, Key="org/acme/manifests/00000002.json")
    report = verify(store.backend)
    assert "manifests/00000002.json" in report.items("missing")


def test_s3_forged_manifest_without_the_key_is_named(filled):
    s3, store, signer = filled
    m = Manifest.parse(store.backend.get("manifests/00000003.json"))
    m.artifacts = m.artifacts[:-1]
    data = m.to_bytes()
    s3.put_object(Bucket=BUCKET, Key="org/acme/manifests/00000003.json", Body=data, ChecksumAlgorithm="SHA256")
    # re-signed with a key that is not the store's key, claiming the store's key id
    from cryptography.hazmat.primitives.asymmetric import ed25519

    fake = LocalSigner(ed25519.Ed25519PrivateKey.generate()).sign(sha256_hex(data))
    fake = fake.model_copy(update={"key_id": signer.key_id, "algorithm": signer.algorithm})
    s3.put_object(Bucket=BUCKET, Key="org/acme/manifests/00000003.sig.json", Body=fake.model_dump_json().encode(),
                  ChecksumAlgorithm="SHA256")
    report = verify(store.backend)
    assert "manifests/00000003.json" in report.items("signature")
    assert "manifests/00000003.json" in report.items("overwritten")


def test_s3_upload_checksum_is_sent(aws):
    s3, _, _ = aws
    backend = S3Backend(s3, BUCKET)
    seen = []
    s3.meta.events.register("before-call.s3.PutObject", lambda params, **kw: seen.append(params["headers"]))
    backend.put("runs/x/run.json", b"{}")
    sent = {k.lower(): v for k, v in seen[0].items()}
    import base64

    assert sent["x-amz-checksum-sha256"] == base64.b64encode(hashlib.sha256(b"{}").digest()).decode()
    assert sent["if-none-match"] == "*"


def test_s3_missing_bucket_is_a_charter_error(aws):
    s3, _, _ = aws
    with pytest.raises(StoreNotFoundError) as exc:
        verify(S3Backend(s3, "no-such-evidence-bucket"))
    assert "deploy the evidence_store stack" in exc.value.hint


def test_kms_key_that_cannot_sign_is_a_charter_error(aws):
    _, kms, _ = aws
    enc = kms.create_key(KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    with pytest.raises(SigningKeyError, match="SIGN_VERIFY"):
        KmsSigner(kms, enc)
    with pytest.raises(SigningKeyError, match="cannot read its public key"):
        KmsSigner(kms, "alias/does-not-exist")


def test_store_url_parsing(aws):
    from charter.evidence.errors import StoreUrlError

    with pytest.raises(StoreUrlError):
        open_backend("s3://Bad_Bucket/x")
    with pytest.raises(StoreUrlError):
        open_backend("gs://bucket")
    with pytest.raises(StoreUrlError, match="needs AWS access"):
        open_backend(f"s3://{BUCKET}/p")

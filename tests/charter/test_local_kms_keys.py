"""`charter.local.patches.kms_keys`: KMS key material made on first use, on the embedded AWS;
on plain moto every key, symmetric ones included, makes an RSA key at creation."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from charter.local import LocalAws

pytestmark = pytest.mark.e2e  # starts the embedded AWS

PLAIN_MOTO = textwrap.dedent("""
    import os
    os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    import boto3
    from moto import mock_aws
    from moto.kms.models import kms_backends

    with mock_aws():
        key_id = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
        print(type(kms_backends["123456789012"]["us-east-1"].keys[key_id].private_key).__name__)
""")


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws() as server:
        yield server


def test_plain_moto_makes_an_rsa_key_for_a_symmetric_key() -> None:
    result = subprocess.run([sys.executable, "-c", PLAIN_MOTO], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "RSAPrivateKey"  # when this fails, delete the patch


def test_a_symmetric_key_makes_no_key_material_and_a_signing_key_signs_and_verifies(aws: LocalAws) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from moto.kms.models import kms_backends

    from charter.local.patches.kms_keys import LazyPrivateKey

    kms = aws.sessions().client("kms")
    symmetric = kms.create_key()["KeyMetadata"]
    backend_key = kms_backends[symmetric["AWSAccountId"]]["us-east-1"].keys[symmetric["KeyId"]]
    assert isinstance(backend_key.private_key, LazyPrivateKey) and not backend_key.private_key.made
    blob = kms.encrypt(KeyId=symmetric["KeyId"], Plaintext=b"evidence")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"evidence"
    assert not backend_key.private_key.made

    signing = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    signature = kms.sign(KeyId=signing, Message=b"manifest", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    assert kms.verify(KeyId=signing, Message=b"manifest", Signature=signature,
                      SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["SignatureValid"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=signing)["PublicKey"])
    public.verify(signature, b"manifest", padding.PKCS1v15(), hashes.SHA256())  # raises if not the same key
    assert public.key_size == 2048

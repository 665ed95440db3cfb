"""The scheduled collector Lambda, called directly under moto: real collect_all into the S3 store."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from charter.evidence.signing import load_public_key
from charter.evidence.store import EvidenceStore, S3Backend
from charter.evidence.verify import verify

BUCKET = "acme-evidence-123456789012-us-east-1"
CONFIG = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


class LambdaContext:
    """The two attributes of the Lambda context object the handler reads."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms
        self.function_name = "acme-evidence-collector"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture()
def lambda_env(monkeypatch, tmp_path):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        org = boto3.client("organizations", region_name="us-east-1")
        org.create_organization(FeatureSet="ALL")
        org.create_account(AccountName="prod", Email="aws+prod@acme-corp.example")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(Bucket=BUCKET, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["Arn"]
        monkeypatch.setenv("EVIDENCE_BUCKET", BUCKET)
        monkeypatch.setenv("EVIDENCE_PREFIX", "")
        monkeypatch.setenv("SIGNING_KEY_ID", key)
        from charter.landing_zone.config import load_config

        config = tmp_path / "org.json"  # the validated config, as deploy writes it into the package
        config.write_text(load_config(CONFIG).model_dump_json(by_alias=True))
        monkeypatch.setenv("CHARTER_CONFIG", str(config))
        yield s3, kms, key


EVENT = {"collectors": ["kms", "s3"], "regions": ["us-east-1"]}


def test_handler_collects_the_org_into_the_s3_store_and_chains_runs(lambda_env):
    from charter.evidence.continuous import handler

    s3, kms, key = lambda_env
    first = handler(EVENT, LambdaContext(900_000))
    assert first["sealed"] and first["sequence"] == 1
    # both accounts of the organization (management + prod), for both collectors
    assert first["artifacts"] == 4 and first["store"] == f"s3://{BUCKET}"
    second = handler(EVENT, LambdaContext(900_000))
    assert second["sequence"] == 2 and second["run_id"] != first["run_id"]

    store = EvidenceStore(S3Backend(s3, BUCKET))
    manifests = store.manifests()
    assert manifests[1].previous.run_id == first["run_id"]
    assert manifests[1].previous.sha256 == first["manifest_sha256"]
    assert {e.collector for e in manifests[0].artifacts} == {"kms", "s3"}
    assert len({e.account_id for e in manifests[0].artifacts}) == 2
    assert manifests[0].caller_arn.startswith("arn:aws:")
    # verifying needs only the KMS key's public half
    pub = load_public_key(kms.get_public_key(KeyId=key)["PublicKey"], "kms")
    report = verify(store.backend, trusted_keys=[pub])
    assert report.ok, report.problems


def test_handler_stops_before_the_lambda_timeout_and_the_next_invocation_resumes(lambda_env):
    from charter.evidence.continuous import handler

    s3, _, _ = lambda_env
    cut = handler(EVENT, LambdaContext(1_000))  # less than the safety margin: stop after one artifact
    assert not cut["sealed"] and cut["stored"] >= 1
    store = EvidenceStore(S3Backend(s3, BUCKET))
    assert store.open_runs() == [cut["run_id"]]
    done = handler(EVENT, LambdaContext(900_000))
    assert done["sealed"] and done["run_id"] == cut["run_id"]
    # what the first invocation stored is neither read again nor stored twice
    assert done["stored"] == 4 - cut["stored"] and done["artifacts"] == 4
    assert verify(store.backend).ok


def test_handler_without_the_bucket_fails_loudly(lambda_env, monkeypatch):
    from charter.evidence.continuous import handler
    from charter.evidence.errors import StoreNotFoundError

    monkeypatch.setenv("EVIDENCE_BUCKET", "acme-evidence-missing")
    with pytest.raises(StoreNotFoundError):  # Lambda retries, then the event goes to the DLQ
        handler(EVENT, LambdaContext(900_000))

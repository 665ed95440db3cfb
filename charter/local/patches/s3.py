"""S3 bucket policies whose conditional Deny statements apply only when the condition holds."""

from __future__ import annotations

import json


def _deny_applies(condition: dict) -> bool:
    """Whether a Deny statement's Condition holds for a request to the embedded AWS.
    Only `Bool aws:SecureTransport` can be decided: every SDK reaches AWS over TLS, so it is
    "true" (the local HTTP hop stands in for that). A condition that cannot be decided is
    not assumed to hold: AWS denies only what the condition matches."""
    for operator, values in condition.items():
        if operator != "Bool" or set(values) != {"aws:SecureTransport"}:
            return False
        expected = values["aws:SecureTransport"]
        if "true" not in ([str(v).lower() for v in expected] if isinstance(expected, list) else [str(expected).lower()]):
            return False
    return True


def patch_bucket_policy_conditions() -> None:
    """moto evaluates a bucket policy's conditions only for StringEquals and treats any
    other condition as matching, so a standard `DenyInsecureTransport` statement
    (Bool aws:SecureTransport false) denied every request. Conditional Deny statements now
    apply only when their condition holds (see `_deny_applies`)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self, action: str, resource: str):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        doc = json.loads(self.policy)
        statements = doc.get("Statement", [])
        statements = statements if isinstance(statements, list) else [statements]
        kept = [st for st in statements
                if not (st.get("Effect") == "Deny" and st.get("Condition") and not _deny_applies(st["Condition"]))]
        return IAMPolicy(json.dumps({**doc, "Statement": kept})).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission


def bucket_properties_from_cloudformation() -> None:
    """moto's CloudFormation makes an AWS::S3::Bucket with its encryption and tags only: a
    bucket declared versioned or under Object Lock was neither, and a replication rule into a
    bucket that does not exist (yet) was accepted, where AWS fails the resource. Now the
    bucket gets its VersioningConfiguration and Object Lock, and its ReplicationConfiguration
    is checked as S3 checks PutBucketReplication: the source versioned, every destination
    bucket existing and versioned, and under Object Lock where the source is."""
    from moto.s3.exceptions import MissingBucket, S3ClientError
    from moto.s3.models import FakeBucket, s3_backends
    from moto.utilities.utils import get_partition

    original = FakeBucket.create_from_cloudformation_json.__func__

    def _invalid(message: str) -> S3ClientError:
        return S3ClientError("InvalidRequest", message)

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # type: ignore[no-untyped-def]
        props = cloudformation_json.get("Properties", {})
        backend = s3_backends[account_id][get_partition(region_name)]
        replication = props.get("ReplicationConfiguration")
        if replication:
            # checked first: AWS creates no bucket when the resource fails
            lock = props.get("ObjectLockEnabled") in (True, "true")
            versioned = (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled"
            if not versioned:
                raise _invalid("Versioning must be 'Enabled' on the bucket to apply a replication configuration")
            for rule in replication.get("Rules") or []:
                name = str((rule.get("Destination") or {}).get("Bucket", "")).rsplit(":", 1)[-1]
                try:
                    destination = backend.get_bucket(name)
                except MissingBucket:
                    raise _invalid(f"Destination bucket must exist: {name}") from None
                if not destination.is_versioned:
                    raise _invalid(f"Destination bucket must have versioning enabled: {name}")
                if lock and not destination.object_lock_enabled:
                    raise _invalid(f"Destination bucket must have Object Lock enabled to replicate from a bucket "
                                   f"under Object Lock: {name}")
        bucket = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        status = (props.get("VersioningConfiguration") or {}).get("Status")
        if status:
            backend.put_bucket_versioning(bucket.name, status)
        if props.get("ObjectLockEnabled") in (True, "true"):
            bucket.object_lock_enabled = True
            retention = (((props.get("ObjectLockConfiguration") or {}).get("Rule") or {}).get("DefaultRetention")
                         or {})
            # moto adds days and years up, so the one not given is 0 (as its API path stores it)
            backend.put_object_lock_configuration(bucket.name, True, retention.get("Mode"),
                                                  int(retention.get("Days") or 0), int(retention.get("Years") or 0))
        return bucket

    FakeBucket.create_from_cloudformation_json = classmethod(create)

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

"""AWS::KMS::Key as CloudFormation creates it."""

from __future__ import annotations

import json


def patch_kms_key() -> None:
    """AWS::KMS::Key: moto passes the template's `Tags` ({Key, Value}) to its KMS tagger,
    which expects KMS's own {TagKey, TagValue} shape, and crashes (moto 5.2.1); it also
    ignores KeySpec/KeyUsage, so a signing key would come out symmetric."""
    from moto.kms import models as kms

    def create_key(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
        key = kms.kms_backends[account_id][region_name].create_key(
            policy=props["KeyPolicy"] if isinstance(props.get("KeyPolicy"), str) else json.dumps(props.get("KeyPolicy")),
            key_usage=props.get("KeyUsage", "ENCRYPT_DECRYPT"), key_spec=props.get("KeySpec", "SYMMETRIC_DEFAULT"),
            description=props.get("Description"), tags=tags,
        )
        key.key_rotation_status = props.get("EnableKeyRotation", False)
        key.enabled = props.get("Enabled", True)
        return key

    kms.Key.create_from_cloudformation_json = classmethod(create_key)

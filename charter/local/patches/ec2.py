"""EC2: reading the account's default EBS encryption key."""

from __future__ import annotations


def add_ebs_default_kms_key_read() -> None:
    """GetEbsDefaultKmsKeyId, the read of what ModifyEbsDefaultKmsKeyId (which moto has)
    sets; AWS answers the AWS-managed `alias/aws/ebs` key when none was chosen."""
    from moto.core.responses import ActionResult
    from moto.ec2.responses.settings import Settings

    def get_ebs_default_kms_key_id(self) -> ActionResult:
        self.error_on_dryrun()
        backend = self.ec2_backend
        default = f"arn:{backend.partition}:kms:{backend.region_name}:{backend.account_id}:alias/aws/ebs"
        return ActionResult({"KmsKeyId": backend.default_kms_key_id or default})

    Settings.get_ebs_default_kms_key_id = get_ebs_default_kms_key_id

"""Fixes, inside the embedded AWS only, for what moto gets wrong about templates and APIs
that real AWS accepts. Each patch makes moto behave like AWS; none changes what Charter
generates. One module per area; `apply()` installs them all, once per process.

- `kms`: AWS::KMS::Key with its tags, key spec and usage.
- `kms_keys`: a key's asymmetric key material made on first use (moto makes an RSA key for
  every key, symmetric ones too: most of a large deploy's time).
- `lambda_models`: AWS::Lambda::Alias, and AWS::Lambda::Version's Ref and attributes.
- `stacksets` (with `stack_update`): StackSet instances and their updates as AWS makes them;
  `stack_update` also updates ordinary stacks (conditions that flip, exports that follow).
- `cfn_evaluation`: Fn::Cidr; exports only for Outputs that exist; stack resources listed
  only when their condition holds.
- `apigateway`: AWS::ApiGateway::Method as CloudFormation defines it.
- `workload_models`, `landing_zone_models` (through `cfn_model`): resource types moto's API
  implements but its CloudFormation skips.
- `rollback`: a resource that cannot be created fails and rolls back its stack.
- `organizations`: the services an organization can delegate.
- `s3`: bucket policies' conditional Deny statements.
- `custom_resources`: Charter's own custom-resource handler, run in-process.
- `iam`: AWS-managed policies in every account (lazily); a role's ManagedPolicyArns.
- `ec2`: GetEbsDefaultKmsKeyId.
- `sso`: AWS::SSO::PermissionSet through CloudFormation; job-function managed policies found
  under their path.
- `operation_ids`: a StackSet operation done once per OperationId, however often it is retried.
"""

from __future__ import annotations

from charter.local.patches import (
    apigateway,
    cfn_evaluation,
    custom_resources,
    ec2,
    iam,
    kms,
    kms_keys,
    lambda_models,
    landing_zone_models,
    operation_ids,
    organizations,
    rollback,
    s3,
    sso,
    stack_update,
    stacksets,
    workload_models,
)
from charter.local.patches.cfn_model import _MODELS as _MODELS

_PATCHED = False


def apply() -> None:
    """Install every patch into moto, in this order, once per process (later calls do nothing)."""
    global _PATCHED
    if _PATCHED:
        return
    kms.patch_kms_key()
    kms_keys.make_key_material_on_first_use()
    lambda_models.add_lambda_alias_model()
    stacksets.patch_service_managed_stacksets()
    stack_update.plain_stacks_update_as_aws_does()
    cfn_evaluation.export_only_when_output_exists()
    cfn_evaluation.list_only_resources_that_exist()
    cfn_evaluation.add_fn_cidr()
    lambda_models.add_lambda_version_attributes()
    apigateway.patch_api_gateway_method()
    workload_models.add_workload_resource_models()
    rollback.failed_resources_roll_back()
    organizations.add_delegated_admin_services()
    s3.patch_bucket_policy_conditions()
    landing_zone_models.add_resource_models()
    custom_resources.patch_custom_resources()
    iam.lazy_aws_managed_policies()
    ec2.add_ebs_default_kms_key_read()
    iam.attach_role_managed_policies()
    sso.managed_policies_under_their_path()
    sso.add_permission_set_model()
    operation_ids.stackset_operations_once_per_operation_id()  # wraps what `stacksets` installed
    _PATCHED = True

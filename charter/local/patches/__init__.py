"""Fixes, inside the embedded AWS only, for what moto gets wrong about templates and APIs
that real AWS accepts. Each patch makes moto behave like AWS; none changes what Charter
generates. One module per area; `apply()` installs them all, once per process.

- `kms`: AWS::KMS::Key with its tags, key spec and usage.
- `lambda_models`: AWS::Lambda::Alias, and AWS::Lambda::Version's Ref and attributes.
- `stacksets` (with `stack_update`): StackSet instances and their updates as AWS makes them;
  `stack_update` also updates ordinary stacks (conditions that flip, exports that follow).
- `cfn_evaluation`: Fn::Cidr; exports only for Outputs that exist; stack resources listed
  only when their condition holds.
- `apigateway`: AWS::ApiGateway::Method as CloudFormation defines it.
- `workload_models`, `landing_zone_models` (through `cfn_model`): resource types moto's API
  implements but its CloudFormation skips.
- `rollback`: a resource that cannot be created fails and rolls back its stack.
- `organizations`: the services an organization can delegate; ListAccounts needs an organization.
- `s3`: bucket policies' conditional Deny statements; a CloudFormation bucket's versioning,
  Object Lock and replication rule (checked as S3 checks it).
- `custom_resources`: Charter's own custom-resource handler, run in-process.
- `iam`: AWS-managed policies in every account (lazily); a role's ManagedPolicyArns.
- `ec2`: GetEbsDefaultKmsKeyId.
- `cloudtrail`: a trail's HasInsightSelectors.
- `sso`: AWS::SSO::PermissionSet through CloudFormation; job-function managed policies found
  under their path.
- `performance`: costs that grow with the organization paid once (templates parsed once, KMS
  key material made on first use, regions listed once per service), and per-request costs of
  moto's dispatch (an action found without listing the class, account backends without the
  global lock, role sessions found by key, an answer's member names worked out once per shape and looked up directly, request ids drawn without `choice`, a new DynamoDB item measured once).
- `lambda_invoke`: Lambda functions run from their artifacts.
- `charter.local.stepfunctions` (not here: an executor): state machine executions run.
- `sagemaker_pipelines`: pipeline executions run their Processing steps locally and emit
  SageMaker's events; EventBridge rules invoke their Lambda targets.
- `servicequotas`: Lambda's concurrency quota, as the embedded Lambda enforces it.
- `auto_deployment`: a StackSet's AutoDeployment kept and returned by DescribeStackSet.
"""

from __future__ import annotations

import os

from charter.errors import CharterError
from charter.local.answers import state
from charter.local.patches import (
    apigateway,
    auto_deployment,
    cfn_evaluation,
    cloudtrail,
    custom_resources,
    ec2,
    iam,
    kms,
    lambda_invoke,
    lambda_models,
    landing_zone_models,
    organizations,
    performance,
    rollback,
    s3,
    sagemaker_pipelines,
    servicequotas,
    sso,
    stack_update,
    stacksets,
    workload_models,
)
from charter.local.patches.cfn_model import _MODELS as _MODELS

_PATCHED = False
#: The moto these patches change (pyproject.toml pins it exactly). Each patch's scenario in
#: tests/local/test_moto_patches.py fails on this moto unpatched; see charter/local/README.md.
MOTO_VERSION = "5.2.1"
#: Set to install the patches on another moto, to run tests/local/test_moto_patches.py
#: against it (which then says which patches the new moto no longer needs).
UPGRADE_ENV = "CHARTER_MOTO_UPGRADE"


class MotoVersionError(CharterError):
    """The installed moto is not the one the embedded AWS's patches were made for."""

    code = "CHARTER-311"
    fix = (f"Install the pinned moto (`pip install -e .` installs moto {MOTO_VERSION}); to try another version, "
           f"set {UPGRADE_ENV}=1 and run tests/local/test_moto_patches.py (charter/local/README.md).")


def check_version() -> None:
    import moto

    if moto.__version__ != MOTO_VERSION and not os.environ.get(UPGRADE_ENV):
        raise MotoVersionError(
            f"the embedded AWS patches moto {MOTO_VERSION}, but moto {moto.__version__} is installed: its "
            "internals may differ, so the embedded AWS could answer unlike AWS without saying so")


def apply() -> None:
    """Install every patch into moto, in this order, once per process (later calls do nothing)."""
    global _PATCHED
    if _PATCHED:
        return
    check_version()
    performance.parse_each_template_once()
    performance.make_kms_key_material_when_used()
    performance.regions_once_per_service()
    performance.per_request_costs()
    kms.patch_kms_key()
    lambda_models.add_lambda_alias_model()
    stacksets.patch_stacksets()
    stack_update.plain_stacks_update_as_aws_does()
    cfn_evaluation.export_only_when_output_exists()
    cfn_evaluation.list_only_resources_that_exist()
    cfn_evaluation.add_fn_cidr()
    lambda_models.add_lambda_version_attributes()
    apigateway.patch_api_gateway_method()
    workload_models.add_workload_resource_models()
    rollback.failed_resources_roll_back()
    servicequotas.answer_lambda_concurrency()
    organizations.add_delegated_admin_services()
    organizations.members_see_their_organization()
    s3.patch_bucket_policy_conditions()
    s3.bucket_properties_from_cloudformation()
    landing_zone_models.add_resource_models()
    custom_resources.patch_custom_resources()
    lambda_invoke.run_functions_from_their_artifacts()
    iam.lazy_aws_managed_policies()
    ec2.add_ebs_default_kms_key_read()
    cloudtrail.organization_trails_in_member_accounts()
    iam.attach_role_managed_policies()
    organizations.accounts_need_an_organization()
    sso.managed_policies_under_their_path()
    sso.add_permission_set_model()
    state.reset_with_moto()
    sagemaker_pipelines.run_pipeline_executions()
    sagemaker_pipelines.lambda_targets()
    from charter.local import stepfunctions  # a module of its own: it is an executor, not a fix

    stepfunctions.run_state_machine_executions()
    auto_deployment.keep_auto_deployment()
    _PATCHED = True

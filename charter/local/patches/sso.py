"""IAM Identity Center on the embedded AWS as AWS answers it: AWS::SSO::PermissionSet through
CloudFormation, and job-function managed policies in permission sets."""

from __future__ import annotations


def add_permission_set_model() -> None:
    """AWS::SSO::PermissionSet: moto's API has permission sets, but its CloudFormation skips
    the type (creates nothing, and a Fn::GetAtt of its PermissionSetArn fails the stack).
    Here CloudFormation makes it through moto's own backend, with its session duration and
    AWS-managed policies (moto checks each policy ARN exists, as AWS does), so the identity
    stack's outputs hold real ARNs that `charter deploy` then assigns."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.ssoadmin.models import ssoadmin_backends

    from charter.local.patches.cfn_model import _MODELS

    class PermissionSetModel(CloudFormationModel):
        def __init__(self, account_id: str, region: str, instance_arn: str, arn: str) -> None:
            self.account_id, self.region, self.instance_arn, self.arn = account_id, region, instance_arn, arn

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SSO::PermissionSet"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "PermissionSetArn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            p = cloudformation_json.get("Properties", {})
            backend = ssoadmin_backends[account_id][region_name]
            made = backend.create_permission_set(p.get("Name") or resource_name, p.get("Description"), p["InstanceArn"],
                                                 p.get("SessionDuration"), p.get("RelayStateType"), p.get("Tags") or [])
            arn = made["PermissionSetArn"]
            for policy_arn in p.get("ManagedPolicies") or []:
                backend.attach_managed_policy_to_permission_set(p["InstanceArn"], arn, policy_arn)
            return cls(account_id, region_name, p["InstanceArn"], arn)

        def delete(self, account_id: str, region_name: str) -> None:
            ssoadmin_backends[self.account_id][self.region].delete_permission_set(self.instance_arn, self.arn)

    PermissionSetModel.__name__ = "SSOPermissionSet"
    _MODELS.append(PermissionSetModel)
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def managed_policies_under_their_path() -> None:
    """AWS-managed policies with a path (`job-function/ViewOnlyAccess`) attach to a permission
    set: moto 5.2 reads the policy's path from a `path` key its own policy data spells
    `Path`, so it rejects every job-function policy's real ARN as non-existent."""
    import json

    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.ssoadmin.exceptions import ResourceNotFoundException
    from moto.ssoadmin.models import ManagedPolicy, SSOAdminBackend

    def find(self, managed_policy_arn: str) -> ManagedPolicy:
        if self.aws_managed_policies is None:
            self.aws_managed_policies = json.loads(aws_managed_policies_data)
        name = managed_policy_arn.split("/")[-1]
        policy = self.aws_managed_policies.get(name)
        if policy is not None:
            path = policy.get("Path") or policy.get("path") or "/"
            if managed_policy_arn == f"arn:{self.partition}:iam::aws:policy{path}{name}":
                return ManagedPolicy(managed_policy_arn, name)
        raise ResourceNotFoundException(f"Policy does not exist with ARN: {managed_policy_arn}")

    SSOAdminBackend._find_managed_policy = find

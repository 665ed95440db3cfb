"""AWS::Lambda::Alias and AWS::Lambda::Version in moto's CloudFormation as AWS has them."""

from __future__ import annotations

from charter.local.patches.cfn_model import _MODELS


def add_lambda_alias_model() -> None:
    """AWS::Lambda::Alias, which moto's Lambda API supports but its CloudFormation does not:
    without it every stack that points API Gateway or permissions at an alias fails."""
    from moto.awslambda.models import lambda_backends
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    class LambdaAliasModel(CloudFormationModel):
        def __init__(self, alias, function: str = "") -> None:
            self.alias = alias
            self.function = function

        def delete(self, account_id: str, region_name: str) -> None:
            # a stack update that replaces the alias (new provisioned concurrency, a new
            # version) deletes the old one first; without this the new one was refused as
            # "Alias already exists" and the whole UpdateStack failed
            lambda_backends[account_id][region_name].delete_alias(self.alias.name, self.function)

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::Lambda::Alias"

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @property
        def physical_resource_id(self) -> str:
            return self.alias.arn

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in ("AliasArn",)

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.alias.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            props = cloudformation_json["Properties"]
            backend = lambda_backends[account_id][region_name]
            function = str(props["FunctionName"]).split(":function:")[-1].split(":")[0]
            alias = backend.create_alias(name=props["Name"], function_name=function,
                                         function_version=str(props.get("FunctionVersion", "$LATEST")),
                                         description=props.get("Description", ""), routing_config=None)
            return cls(alias, function)

    _MODELS.append(LambdaAliasModel)
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


def add_lambda_version_attributes() -> None:
    """AWS::Lambda::Version's Ref (the version's ARN) and Fn::GetAtt Version / FunctionArn,
    which moto 5.2.1 lacks: an alias pointing at `!GetAtt V.Version` crashed the request
    (HTTP 500) instead of deploying."""
    from moto.awslambda import models as lam

    original = lam.LambdaVersion.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        version = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        fn = lam.lambda_backends[account_id][region_name].get_function(
            cloudformation_json["Properties"]["FunctionName"])
        version.function_arn = fn.function_arn.split(":$LATEST")[0]  # the unqualified ARN
        return version

    lam.LambdaVersion.create_from_cloudformation_json = classmethod(create)
    lam.LambdaVersion.physical_resource_id = property(lambda self: f"{self.function_arn}:{self.version}")
    lam.LambdaVersion.has_cfn_attr = classmethod(lambda cls, attr: attr in ("Version", "FunctionArn"))
    lam.LambdaVersion.get_cfn_attribute = (
        lambda self, attr: str(self.version) if attr == "Version" else self.function_arn)

"""A StackSet's AutoDeployment, kept and answered as AWS does."""

from __future__ import annotations

from typing import Any


def keep_auto_deployment() -> None:
    """AWS keeps a service-managed StackSet's AutoDeployment (CreateStackSet, changed by
    UpdateStackSet when given) and DescribeStackSet returns it; moto dropped it, so a deploy
    that turns auto-deployment off (`landing_zone.deploy.autodeploy`) could never see that
    it had."""
    from moto.cloudformation.responses import CloudFormationResponse

    def keeping(original: Any) -> Any:
        def call(self: Any) -> Any:
            result = original(self)
            auto = self._get_params().get("AutoDeployment")
            if auto is not None:
                stackset = self.cloudformation_backend.describe_stack_set(self._get_param("StackSetName"))
                stackset.auto_deployment = {"Enabled": str(auto.get("Enabled")).lower() == "true", **(
                    {"RetainStacksOnAccountRemoval": str(auto["RetainStacksOnAccountRemoval"]).lower() == "true"}
                    if "RetainStacksOnAccountRemoval" in auto else {})}
            return result
        return call

    CloudFormationResponse.create_stack_set = keeping(CloudFormationResponse.create_stack_set)
    CloudFormationResponse.update_stack_set = keeping(CloudFormationResponse.update_stack_set)

"""A stack whose resource cannot be created fails and rolls back, as on AWS."""

from __future__ import annotations


def failed_event(stack, exc: BaseException, status: str) -> tuple[str, str]:
    """Add the `status` event (CREATE_FAILED, UPDATE_FAILED) naming the resource `exc` came
    from (the stack itself when unknown) and why; returns (logical id, reason)."""
    from moto.cloudformation import models as cfn

    logical, kind = getattr(exc, "charter_resource", (stack.name, "AWS::CloudFormation::Stack"))
    reason = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
    stack.events.append(cfn.Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical,
                                  physical_resource_id="", resource_type=kind, resource_status=status,
                                  resource_status_reason=reason, resource_properties=None))
    return logical, reason


def failed_resources_roll_back() -> None:
    """A resource that cannot be created fails its stack as on AWS: a CREATE_FAILED event
    names the resource and the reason, what was made is deleted and the stack ends
    ROLLBACK_COMPLETE. moto let the exception escape the CreateStack call (HTTP 500, which
    SDKs report as an unparseable response). Template errors (an unknown export, a Fn::GetAtt
    of an undefined resource) still fail the CreateStack call itself, as on AWS."""
    from moto.cloudformation import exceptions as cfn_errors
    from moto.cloudformation import models as cfn
    from moto.cloudformation import parsing

    original_parse = parsing.parse_and_create_resource
    original_create = cfn.Stack.create_resources

    def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):
        try:
            return original_parse(logical_id, resource_json, resources_map, account_id, region_name)
        except Exception as exc:
            if not hasattr(exc, "charter_resource"):  # the innermost resource is the cause
                exc.charter_resource = (logical_id, resource_json.get("Type", ""))
            raise

    def create_resources(self) -> None:
        try:
            original_create(self)
        except (cfn_errors.ValidationError, cfn_errors.ExportNotFound, cfn_errors.UnformattedGetAttTemplateException):
            # refused as a whole, as AWS refuses it: no stack remains (moto kept a half-made
            # one, whose name then blocked the corrected template) and nothing it made
            backend = cfn.cloudformation_backends[self.account_id][self.region_name]
            backend.stacks.pop(self.stack_id, None)
            for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == self.stack_id]:
                backend.exports.pop(name)
            try:
                self.resource_map.delete()
            except Exception:  # noqa: BLE001, S110 - best effort, what was made before the error
                pass
            raise
        except Exception as exc:  # noqa: BLE001 - the stack fails and rolls back, as on AWS
            logical, reason = failed_event(self, exc, "CREATE_FAILED")
            self._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=f"The following resource(s) "
                                                                               f"failed to create: [{logical}].")
            try:
                self.resource_map.delete()
            except Exception:  # noqa: BLE001, S110 - a rollback that cannot delete everything still ends
                pass
            self._add_stack_event("ROLLBACK_COMPLETE")
            self.status = "ROLLBACK_COMPLETE"
            kind = getattr(exc, "charter_resource", (logical, "AWS::CloudFormation::Stack"))[1]
            # as AWS words a StackSet instance's StatusReason
            self.rollback_reason = f"ResourceLogicalId:{logical}, ResourceType:{kind}, ResourceStatusReason:{reason}"

    parsing.parse_and_create_resource = parse_and_create_resource
    cfn.Stack.create_resources = create_resources

"""Updating a stack to a new template and parameters as CloudFormation does (what a StackSet
update does to each instance's stack)."""

from __future__ import annotations


def _template_references(node, refs: set[str], conditions: set[str]) -> None:
    """Names a template fragment depends on: Ref, Fn::GetAtt and Fn::Sub targets in `refs`,
    Fn::If conditions in `conditions`."""
    import re

    if isinstance(node, list):
        for item in node:
            _template_references(item, refs, conditions)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "Ref" and isinstance(value, str):
            refs.add(value)
        elif key == "Fn::GetAtt":
            refs.add(value[0] if isinstance(value, list) else str(value).split(".")[0])
        elif key == "Fn::Sub":
            text, local = (value[0], value[1]) if isinstance(value, list) else (value, {})
            refs.update(m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", str(text)) if m not in local)
            _template_references(local, refs, conditions)
        elif key == "Fn::If" and isinstance(value, list) and value:
            conditions.add(str(value[0]))
            _template_references(value[1:], refs, conditions)
        else:
            _template_references(value, refs, conditions)


def update_stack(backend, stack, template: str, parameters: dict[str, str]) -> None:
    """Update `stack` to `template` with `parameters` as CloudFormation does: a resource whose
    definition, parameters, conditions and referenced resources are all unchanged is kept
    (same physical id, so what imports or references it stays valid); a resource whose
    condition became false or that left the template is deleted; every other one is made
    anew from its new definition (AWS updates many of those in place, but the outcome, the
    resource as the new template describes it, is the same). The stack's outputs and its
    exports in the account and region follow.

    moto's own update diffs only the template text, so a resource whose Condition turned
    true with new parameters (the VPC of a network StackSet once its CIDR override arrives)
    was never created, and the exports kept their values from creation.
    """
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.parsing import ResourceMap

    old = stack.resource_map
    # parsed afresh: moto's parsing edits the definitions it creates from (adds "Properties")
    old_json = (stack.parse_template(stack.template) or {}).get("Resources") or {}
    stack.template = template
    stack._parse_template()
    new = ResourceMap(stack.stack_id, stack.name, parameters, stack.tags, account_id=stack.account_id,
                      region_name=stack.region_name, template=stack.template_dict,
                      cross_stack_resources=backend.exports)
    new.load()
    new_json = (stack.parse_template(template) or {}).get("Resources") or {}
    changed_parameters = {k for k in set(old.resolved_parameters) | set(new.resolved_parameters)
                          if old.resolved_parameters.get(k) != new.resolved_parameters.get(k)}
    def holds(conditions, name: str) -> bool:  # indexing evaluates a condition not yet evaluated
        return name in conditions and bool(conditions[name])

    old_conditions, new_conditions = old.lazy_condition_map, new.lazy_condition_map
    changed_conditions = {c for c in set(old_conditions) | set(new_conditions)
                          if holds(old_conditions, c) != holds(new_conditions, c)}
    made = {lid for lid in old_json if lid in old._parsed_resources}

    def wanted(lid: str) -> bool:
        condition = new_json[lid].get("Condition")
        return not condition or holds(new_conditions, condition)

    def was_wanted(lid: str) -> bool:
        condition = old_json[lid].get("Condition")
        return not condition or holds(old_conditions, condition)

    depends: dict[str, set[str]] = {}
    keep = set()
    for lid in made:
        if lid not in new_json or old_json[lid] != new_json[lid] or not wanted(lid):
            continue
        refs: set[str] = set()
        conditions: set[str] = set()
        _template_references(new_json[lid], refs, conditions)
        if refs & changed_parameters or conditions & changed_conditions:
            continue
        depends[lid] = {r for r in refs if r in new_json}
        keep.add(lid)
    def anew(lid: str) -> bool:
        """Made (again) by this update: replaced, or new to the stack. A resource moto never
        makes (a type its CloudFormation skips) is neither, before and after alike."""
        if lid in keep:
            return False
        return lid in made or lid not in old_json or (wanted(lid) and not was_wanted(lid))

    shrinking = True
    while shrinking:  # a resource that references one made anew is made anew too
        dropped = {lid for lid in keep if any(anew(d) for d in depends[lid])}
        keep -= dropped
        shrinking = bool(dropped)

    gone = made - keep
    for _ in range(len(gone) + 1):  # dependents first: retry what a dependency still blocks
        if not gone:
            break
        for lid in sorted(gone):
            resource = old._parsed_resources.get(lid)
            try:
                if resource is not None and not isinstance(resource, str):
                    old._delete_resource(resource, old_json[lid])
            except Exception:  # noqa: BLE001, S112 - still referenced: the next pass deletes it
                continue
            old._parsed_resources.pop(lid, None)
            gone.discard(lid)

    new._parsed_resources.update({lid: old._parsed_resources[lid] for lid in keep})
    new.create(stack.template_dict)
    stack.resource_map, stack.parameters = new, parameters
    stack.output_map = stack._create_output_map()
    exports = stack.exports
    others = {name for name, e in backend.exports.items() if e.exporting_stack_id != stack.stack_id}
    clash = others & {e.name for e in exports}
    if clash:
        raise ValidationError(stack.stack_id, message=f"Export names must be unique across a given region: "
                                                      f"{', '.join(sorted(clash))}")
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        backend.exports.pop(name)
    backend.exports.update({e.name: e for e in exports})
    stack._add_stack_event("UPDATE_COMPLETE")
    stack.status = "UPDATE_COMPLETE"


def plain_stacks_update_as_aws_does() -> None:
    """UpdateStack on an ordinary stack goes through `update_stack` too: moto's own update
    left a resource whose Condition turned true uncreated (and made it on the next update,
    whatever the condition then was) and dropped exports that appeared."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend

    from charter.local.patches.rollback import failed_event

    def backend_update_stack(self, name, template, role_arn, parameters, tags):
        stack = self.get_stack(name)
        resolved = self._resolve_update_parameters(instance=stack, incoming_params=parameters)
        stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
        try:
            update_stack(self, stack, template, resolved)
        except ValidationError:
            raise  # refused as a whole, as AWS refuses a bad template
        except Exception as exc:  # noqa: BLE001 - the update fails with an event, as on AWS
            # moto let the resource's error escape the UpdateStack call in the error format of
            # the resource's service (JSON in an XML API), which SDKs cannot parse
            logical, _ = failed_event(stack, exc, "UPDATE_FAILED")
            stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE",
                                   resource_status_reason=f"The following resource(s) failed to update: [{logical}].")
            stack.status = "UPDATE_ROLLBACK_COMPLETE"
            return stack
        stack.role_arn = role_arn
        if tags is not None:
            stack.tags = tags
        return stack

    CloudFormationBackend.update_stack = backend_update_stack

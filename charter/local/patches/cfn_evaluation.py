"""Template evaluation moto's CloudFormation lacks or gets wrong: Fn::Cidr, and the exports of
Outputs whose Condition is false."""

from __future__ import annotations


def export_only_when_output_exists() -> None:
    """An Output with a false Condition does not exist on AWS, so neither does its export;
    moto exported it anyway, with the value None (list_exports showed `charter-vpc-id` in an
    account without a VPC, and Fn::ImportValue of it then failed with "No export named")."""
    from moto.cloudformation import parsing

    def exports(self) -> list:
        out = []
        for value in (self._output_json_map or {}).values():
            condition, conditions = value.get("Condition"), self._resource_map.lazy_condition_map
            if not value.get("Export") or (condition and not (condition in conditions and conditions[condition])):
                continue
            out.append(parsing.Export(self._stack_id, parsing.clean_json(value["Export"].get("Name"), self._resource_map),
                                      parsing.clean_json(value.get("Value"), self._resource_map)))
        return out

    parsing.OutputMap.exports = property(exports)


def add_fn_cidr() -> None:
    """Fn::Cidr, which CloudFormation has and moto 5.2.1 lacks: moto left the function
    unevaluated, so a subnet's `Fn::Select [24, Fn::Cidr [...]]` failed with KeyError 24.

    As AWS defines it: the first `count` blocks of `cidrBits` host bits each (a /21 for 11
    bits of IPv4, a /64 for 64 bits of IPv6) carved from `ipBlock` in address order.
    """
    import ipaddress

    from moto.cloudformation import parsing
    from moto.cloudformation.exceptions import ValidationError

    if getattr(parsing.clean_json, "charter_fn_cidr", False):
        return
    original = parsing.clean_json

    def clean_json(resource_json, resources_map):
        if isinstance(resource_json, dict) and "Fn::Cidr" in resource_json:
            block, count, bits = (original(v, resources_map) for v in resource_json["Fn::Cidr"])
            try:
                network = ipaddress.ip_network(str(block))
                prefix = network.max_prefixlen - int(bits)
                blocks = []
                for subnet in network.subnets(new_prefix=prefix):
                    if len(blocks) == int(count):
                        break
                    blocks.append(str(subnet))
            except ValueError as exc:
                raise ValidationError(message=f"Template error: Fn::Cidr {[block, count, bits]}: {exc}") from None
            if len(blocks) < int(count):
                raise ValidationError(message=f"Template error: Fn::Cidr {block} holds only {len(blocks)} "
                                              f"blocks of {bits} bits, not {count}")
            return blocks
        return original(resource_json, resources_map)

    clean_json.charter_fn_cidr = True  # type: ignore[attr-defined]
    # clean_json recurses through the module's global name, so nested uses are covered too
    parsing.clean_json = clean_json


def list_only_resources_that_exist() -> None:
    """ListStackResources / DescribeStackResources name only the resources the stack has: moto
    listed a resource whose Condition is false as an empty entry (logical id '', no type)."""
    from moto.cloudformation.models import Stack

    Stack.stack_resources = property(lambda self: [r for r in self.resource_map.values() if r is not None])

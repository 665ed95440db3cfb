"""AWS CloudFormation limits checked at synth, so nothing fails half-way through a deploy."""

from __future__ import annotations

from typing import Any, Literal

from charter.errors import LimitError
from charter.landing_zone.config.model import Limits


def check_template(name: str, data: dict[str, Any], body_bytes: int, limits: Limits) -> Literal["inline", "s3"]:
    """Raise LimitError for a template AWS would reject; say how it must be uploaded."""
    resources = len(data.get("Resources", {}))
    if resources > limits.template_max_resources:
        raise LimitError(
            f"stack '{name}' has {resources} resources; CloudFormation allows {limits.template_max_resources}",
            hint="split the stack (for example fewer accounts per OU stack) or raise limits.template_max_resources",
        )
    for section, limit in (("Parameters", limits.template_max_parameters), ("Outputs", limits.template_max_outputs)):
        count = len(data.get(section, {}))
        if count > limit:
            raise LimitError(f"stack '{name}' has {count} {section.lower()}; CloudFormation allows {limit}",
                             hint="split the stack")
    if body_bytes > limits.template_max_bytes_s3:
        raise LimitError(
            f"stack '{name}' template is {body_bytes:,} bytes; CloudFormation accepts {limits.template_max_bytes_s3:,} from S3",
            hint="split the stack",
        )
    return "inline" if body_bytes <= limits.template_max_bytes_inline else "s3"

"""Template parameters whose values exist only at deploy time.

Account ids and the organization id are not known when `charter synth` runs (accounts may
not exist yet). A builder that needs one adds it with `context_parameter`; `charter
deploy` fills every parameter named here from the organization it has resolved. Any other
parameter must have a default or a value in `Deployment.parameter_overrides`.
"""

from __future__ import annotations

from troposphere import Parameter, Template

CONTEXT_PARAMETERS: dict[str, tuple[str, str]] = {
    # name: (AllowedPattern, description)
    "OrganizationId": (r"^o-[a-z0-9]{10,32}$", "Id of the AWS Organization (o-xxxx)."),
    "RootId": (r"^r-[0-9a-z]{4,32}$", "Id of the organization root (r-xxxx)."),
    "ManagementAccountId": (r"^\d{12}$", "Management account id."),
    "LogArchiveAccountId": (r"^\d{12}$", "Log-archive account id."),
    "AuditAccountId": (r"^\d{12}$", "Audit account id."),
    "SecurityAccountId": (r"^\d{12}$", "Security (delegated administrator) account id."),
}


def context_parameter(t: Template, name: str) -> Parameter:
    """Add (once) the deploy-time parameter `name` to `t` and return it."""
    if name in t.parameters:
        return t.parameters[name]
    pattern, description = CONTEXT_PARAMETERS[name]
    return t.add_parameter(Parameter(name, Type="String", AllowedPattern=pattern, Description=description))

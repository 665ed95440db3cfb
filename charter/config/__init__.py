"""The org config (ground floor): the model of `org.yaml`, its loader with located errors, the
cross-field checks every domain relies on, the starter file.

Commands load through `charter.landing_zone.config.load_config`, which adds the checks only the
landing zone can make (SCP guardrail names). Code that only reads an already validated config
(the evidence collector Lambda) imports the model alone: this package imports nothing else.
"""

from .model import OrgConfig

__all__ = ["OrgConfig"]

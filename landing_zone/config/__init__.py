"""The org config: model, loader with located errors, cross-field checks, starter file."""

from .loader import load_config, load_config_text
from .model import OrgConfig

__all__ = ["OrgConfig", "load_config", "load_config_text"]

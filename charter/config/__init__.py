"""The org config: model, loader with located errors, cross-field checks, starter file.

The loader (and the cross-field checks, which know the landing zone's guardrails) is
imported when first asked for, so code that only reads an already validated config (the
evidence collector Lambda) imports the model alone.
"""

import importlib
from typing import Any

from .model import OrgConfig

__all__ = ["OrgConfig", "load_config", "load_config_text"]


def __getattr__(name: str) -> Any:
    if name in ("load_config", "load_config_text"):
        # by name, so that following this package's imports (an artifact's import closure)
        # does not take the loader, and the guardrails it checks against, into a package
        # that only reads a validated config
        return getattr(importlib.import_module(f"{__name__}.loader"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

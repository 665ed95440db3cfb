"""Builders registered by name, with the control ids they implement.

`charter builders` lists them; the control catalog names them; the matrix checks that
each one's controls show up in the synthesized Metadata. Modules under
`landing_zone/builders/` are discovered automatically, so adding a builder is adding a
file (the way cfn-lint discovers its rules).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from charter.landing_zone.config.model import OrgConfig

from .stacks import StackSpec

BuildFn = Callable[[OrgConfig], Iterable[StackSpec]]


@dataclass(frozen=True)
class Builder:
    name: str
    controls: tuple[str, ...]
    description: str
    build: BuildFn
    module: str
    #: The org.yaml setting its stacks' size follows (named if one breaks an AWS limit).
    grows_with: str = ""


_BUILDERS: dict[str, Builder] = {}


def builder(name: str, *, controls: Iterable[str], description: str,
            grows_with: str = "") -> Callable[[BuildFn], BuildFn]:
    def register(fn: BuildFn) -> BuildFn:
        if name in _BUILDERS and _BUILDERS[name].module != fn.__module__:
            raise RuntimeError(f"builder {name!r} registered twice")
        _BUILDERS[name] = Builder(name, tuple(controls), description, fn, fn.__module__, grows_with)
        return fn

    return register


def builders(package: str = "charter.landing_zone.builders") -> dict[str, Builder]:
    """Every registered builder, importing the builder modules of `package` first."""
    pkg = importlib.import_module(package)
    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{package}.{mod.name}")
    return {n: b for n, b in sorted(_BUILDERS.items()) if b.module.startswith(package + ".")}

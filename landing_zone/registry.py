"""Builders registered by name, with the control ids they implement.

`@builder(name, controls=[...])` is the one place a builder is linked to its controls:
`charter builders` lists them, the control matrix derives "which builders implement a
control" from here, and a test checks that the resources each builder emits carry exactly
the ids it declares. `evaluates=` names controls a builder's resources only check (the
Config rules of `config_rules`), which never make a control implemented. Modules under
`landing_zone/builders/` are discovered automatically, so adding a builder is adding a
file (the way cfn-lint discovers its rules); the workload stacks register the same way
under `workloads/stacks/`. An id the catalog does not define fails when builders load.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from charter.config.model import OrgConfig

from .stacks import StackSpec

#: Landing-zone builders take the config and return stacks; workload stack builders take
#: the environment's context and return one template (`workloads.synth` wraps it).
BuildFn = Callable[[OrgConfig], Iterable[StackSpec]] | Callable[..., Any]


@dataclass(frozen=True)
class Builder:
    name: str
    controls: tuple[str, ...]
    description: str
    build: BuildFn
    module: str
    #: Controls its resources check without implementing them (Config rules).
    evaluates: tuple[str, ...] = ()
    #: Controls the org config adds to what it implements (custom SCP statements name theirs);
    #: the config loader checks those ids against the catalog.
    from_config: Callable[[OrgConfig], Iterable[str]] | None = None
    #: The org.yaml setting its stacks' size follows (named if one breaks an AWS limit).
    grows_with: str = ""

    def implements(self, cfg: OrgConfig | None = None) -> frozenset[str]:
        """The controls this builder implements (for `cfg`, with what the config adds)."""
        extra = self.from_config(cfg) if (cfg is not None and self.from_config) else ()
        return frozenset(self.controls) | frozenset(extra)

    def tagged(self, cfg: OrgConfig | None = None) -> frozenset[str]:
        """Every id a resource of this builder may carry."""
        return self.implements(cfg) | frozenset(self.evaluates)


LANDING_ZONE = "charter.landing_zone.builders"

_BUILDERS: dict[str, Builder] = {}
_CHECKED: set[str] = set()


def builder(name: str, *, controls: Iterable[str], description: str, evaluates: Iterable[str] = (),
            from_config: Callable[[OrgConfig], Iterable[str]] | None = None,
            grows_with: str = "") -> Callable[[BuildFn], BuildFn]:
    def register(fn: BuildFn) -> BuildFn:
        if name in _BUILDERS and _BUILDERS[name].module != fn.__module__:
            raise RuntimeError(f"builder {name!r} registered twice")
        own = tuple(controls)
        _BUILDERS[name] = Builder(name, own, description, fn, fn.__module__,
                                  tuple(c for c in dict.fromkeys(evaluates) if c not in own), from_config,
                                  grows_with)
        return fn

    return register


def builders(package: str = LANDING_ZONE) -> dict[str, Builder]:
    """Every registered builder, importing the builder modules of `package` first; a builder
    naming a control id the catalog does not define raises `UnknownControlError`."""
    pkg = importlib.import_module(package)
    for mod in pkgutil.iter_modules(pkg.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{package}.{mod.name}")
    found = {n: b for n, b in sorted(_BUILDERS.items()) if b.module.startswith(package + ".")}
    for b in found.values():
        if b.name not in _CHECKED:
            _check(b)
            _CHECKED.add(b.name)
    return found


def builder_of(fn: Callable[..., Any]) -> Builder | None:
    """The registered builder whose build function is `fn`."""
    return next((b for b in _BUILDERS.values() if b.build is fn), None)


def _check(b: Builder) -> None:
    # Looked up when builders load, not at import: the catalog is data another package owns.
    from charter.controls.catalog import code_location, require_known

    require_known([*b.controls, *b.evaluates], code_location(b.build), f"builder {b.name!r}")

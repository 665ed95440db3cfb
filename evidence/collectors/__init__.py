"""Evidence collectors, registered by name with the control ids they evidence.

One module per AWS area (`iam`, `cloudtrail`, ...); each defines `COLLECTOR =
register(Collector(...))`. Modules are discovered, so adding an area is adding a file.
`charter evidence collectors` lists them (`all_collectors()`), and `collectors_for(control)`
answers "which collectors evidence IAM-03?".
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import partial

from charter.evidence.collectors.base import Collector, check_name

_REGISTRY: dict[str, Collector] = {}
_NOT_COLLECTORS = {"base"}
_discovered = False


def register(collector: Collector) -> Collector:
    """Register a collector; its `checks` are the one place it is linked to the controls it
    evidences, and an id the control catalog does not define fails here, at import."""
    from charter.controls.catalog import code_location, require_known

    if collector.name in _REGISTRY and _REGISTRY[collector.name] is not collector:
        raise ValueError(f"collector '{collector.name}' registered twice")
    for control, check in collector.checks:
        fn = check.func if isinstance(check, partial) else check
        require_known([control], code_location(fn), f"collector {collector.name!r} check {check_name(check)!r}")
    _REGISTRY[collector.name] = collector
    return collector


def discover() -> None:
    """Import every collector module once (each registers itself)."""
    global _discovered
    if _discovered:
        return
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_COLLECTORS and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    _discovered = True


def all_collectors() -> list[Collector]:
    discover()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get(name: str) -> Collector:
    discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        from charter.evidence.collectors.base import UnknownCollectorError

        raise UnknownCollectorError(
            f"unknown evidence collector '{name}'",
            hint="choose from: " + ", ".join(sorted(_REGISTRY)),
        ) from None


def collectors_for(control: str) -> list[Collector]:
    return [c for c in all_collectors() if control in c.controls]


__all__ = ["Collector", "register", "discover", "all_collectors", "get", "collectors_for"]

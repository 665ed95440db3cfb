"""Which code implements or evidences each control, joined from where each link is declared.

The catalog describes a control; it does not say which code implements it. Each link is
declared once, in code, beside that code, and this module only reads those registries:

- builders: `@builder(name, controls=[...], evaluates=[...])` (landing zone and workload stacks);
- Config rules: `charter.managed_rules.MANAGED_RULES` (rule -> controls);
- SCP statements: `Guardrail.control` of `landing_zone.scp.guardrails` (and, for one org,
  the `control` of each custom statement in org.yaml);
- evidence: `Collector.checks` of every `evidence/collectors/<name>.py`.

`disagreements(catalog, links)` lists every place where the catalog and the registries
do not fit together (an id no control defines, an automated control nothing implements,
an attestation control a builder claims to implement, a builder whose resources carry
ids it does not declare or never carry one it declares); the spine test asserts it is empty.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .catalog import Catalog, default_catalog


def all_builders() -> dict[str, Any]:
    """Landing-zone builders and workload stack builders together (the matrix's view)."""
    from charter.landing_zone.registry import LANDING_ZONE, builders
    from charter.workloads.synth import WORKLOAD_BUILDERS

    return {**builders(LANDING_ZONE), **builders(WORKLOAD_BUILDERS)}


@dataclass(frozen=True)
class CheckRef:
    """One collector check that evidences a control."""

    collector: str
    check: str

    def __str__(self) -> str:
        return f"{self.collector}.{self.check}"


@dataclass
class ControlLinks:
    """Everything that implements or evidences one control."""

    #: Builders whose resources implement it (`@builder(controls=...)`).
    builders: list[str] = field(default_factory=list)
    #: Builders whose resources only check it (`@builder(evaluates=...)`: Config rules).
    evaluated_by: list[str] = field(default_factory=list)
    config_rules: list[str] = field(default_factory=list)
    scp_guardrails: list[str] = field(default_factory=list)
    checks: list[CheckRef] = field(default_factory=list)
    #: From the catalog: Charter modules that are the control themselves; AWS Security Hub controls.
    tooling: list[str] = field(default_factory=list)
    security_hub: list[str] = field(default_factory=list)

    @property
    def collectors(self) -> list[str]:
        return sorted({c.collector for c in self.checks})

    @property
    def implemented(self) -> bool:
        """Something declares that it implements the control (not merely checks it)."""
        return bool(self.builders or self.scp_guardrails or self.tooling)


@dataclass
class Links:
    by_control: dict[str, ControlLinks]
    #: Every registered builder by name (landing zone and workloads).
    builders: dict[str, Any]
    #: Ids a registry names that the catalog does not define: (where, id).
    unknown: list[tuple[str, str]] = field(default_factory=list)

    def get(self, control_id: str) -> ControlLinks:
        return self.by_control.get(control_id) or ControlLinks()


def _add(by: dict[str, ControlLinks], cid: str) -> ControlLinks:
    return by.setdefault(cid, ControlLinks())


def load_links(catalog: Catalog | None = None) -> Links:
    """Read every registry (importing the builder and collector modules) and join them by id."""
    from charter.evidence.collectors import all_collectors
    from charter.evidence.collectors.base import check_name
    from charter.landing_zone.scp.guardrails import GUARDRAILS
    from charter.managed_rules import MANAGED_RULES

    catalog = catalog or default_catalog()
    by: dict[str, ControlLinks] = {}
    unknown: list[tuple[str, str]] = []

    def note(cid: str, where: str) -> ControlLinks:
        if cid not in catalog:
            unknown.append((where, cid))
        return _add(by, cid)

    found = all_builders()
    for b in found.values():
        for cid in b.controls:
            note(cid, f"builder {b.name}").builders.append(b.name)
        for cid in b.evaluates:
            note(cid, f"builder {b.name} (evaluates)").evaluated_by.append(b.name)
    for rule, spec in MANAGED_RULES.items():
        for cid in spec.controls:
            note(cid, f"Config rule {rule}").config_rules.append(rule)
    for g in GUARDRAILS.values():
        note(g.control, f"SCP guardrail {g.id}").scp_guardrails.append(g.id)
    for col in all_collectors():
        for cid, check in col.checks:
            note(cid, f"collector {col.name}").checks.append(CheckRef(col.name, check_name(check)))
    for c in catalog:
        links = _add(by, c.id)
        links.tooling = list(c.tooling)
        links.security_hub = list(c.security_hub)
    return Links(by_control=by, builders=found, unknown=unknown)


@lru_cache(maxsize=1)
def default_links() -> Links:
    """The packaged catalog's links, read once per process."""
    return load_links()


def _module_present(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def disagreements(catalog: Catalog, links: Links, stacks: Iterable[Any] = ()) -> list[str]:
    """Every place the catalog and the registries disagree (empty when the spine holds).

    With `stacks` (synthesized with every feature switched on), also: a builder whose
    resources carry an id it does not declare, or never carry one it declares."""
    out = [f"{where} names {cid}, which the catalog does not define" for where, cid in links.unknown]
    for c in catalog:
        ln = links.get(c.id)
        if c.kind == "automated" and not ln.implemented:
            out.append(f"{c.id}: automated, but no builder, SCP guardrail or tooling declares it"
                       + (f" (only checked by {', '.join(ln.evaluated_by)})" if ln.evaluated_by else ""))
        if c.kind != "automated" and (ln.builders or ln.scp_guardrails):
            out.append(f"{c.id}: {c.kind}, but implemented by "
                       + ", ".join([*ln.builders, *ln.scp_guardrails]))
        out += [f"{c.id}: tooling {m} is not installed" for m in ln.tooling if not _module_present(m)]
    tagged: dict[str, set[str]] = {}
    for stack in stacks:
        ids = tagged.setdefault(stack.spec.builder, set())
        for res in (stack.data.get("Resources") or {}).values():
            ids.update(((res.get("Metadata") or {}).get("Charter") or {}).get("Controls") or [])
    for name, ids in sorted(tagged.items()):
        b = links.builders.get(name)
        if b is None:
            out.append(f"stacks of {name!r} come from no registered builder")
            continue
        declared = set(b.controls) | set(b.evaluates)
        out += [f"builder {name}: resources carry {cid}, which it does not declare" for cid in sorted(ids - declared)]
        out += [f"builder {name}: declares {cid}, but no resource it emits carries it"
                for cid in sorted(declared - ids)]
    return out

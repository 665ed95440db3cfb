"""Loading `org.yaml` for the landing zone: the ground floor's loader (`charter.config`, every
problem at its file:line:column) plus the checks only the landing zone can make: the SCP
guardrail ids, targets and condition operators of `scps:`, and the control ids custom
statements name (checked against the control catalog).

Every command loads through here, so a typo in `scps:` is bad input (exit 2) before anything
is synthesized. The config model itself stays on the ground floor, free of the guardrails
(which build awacs statements), so the evidence Lambda reads a validated config without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from charter.config import loader
from charter.config.checks import Problem, did_you_mean
from charter.config.model import ROOT, OrgConfig
from charter.controls.catalog import default_catalog


def load_config(path: str | Path, *, landing_zone: bool = True) -> OrgConfig:
    """Load and check `org.yaml` (`charter.config.loader.load_config`, with the SCP checks)."""
    return loader.load_config(path, landing_zone=landing_zone, checks=(scp_references,))


def load_config_text(text: str, path: str | Path = "org.yaml", *, landing_zone: bool = True) -> OrgConfig:
    """`load_config` for text already read (`path` names it in errors)."""
    return loader.load_config_text(text, path, landing_zone=landing_zone, checks=(scp_references,))


def scp_references(cfg: OrgConfig) -> Iterator[Problem]:
    """Guardrail ids, SCP targets and custom statements' condition operators and control ids."""
    # imported at check time: the guardrail registry builds awacs statements
    from charter.landing_zone.scp.guardrails import GUARDRAILS, is_condition_operator

    catalog = default_catalog()

    targets = [ROOT, *[ou.name for ou in cfg.ous]]
    known = sorted(GUARDRAILS)
    if cfg.scps.guardrails != "default":
        for i, gid in enumerate(cfg.scps.guardrails):
            if gid not in GUARDRAILS:
                yield (("scps", "guardrails", i), f"unknown guardrail '{gid}'", did_you_mean(gid, known))
    for i, gid in enumerate(cfg.scps.exclude):
        if gid not in GUARDRAILS:
            yield (("scps", "exclude", i), f"unknown guardrail '{gid}'", did_you_mean(gid, known))
    for i, target in enumerate(cfg.scps.targets):
        if target not in targets:
            yield (("scps", "targets", i), f"target '{target}' is not an OU", did_you_mean(target, targets))
    if cfg.scps.suspended_ou and cfg.scps.suspended_ou not in targets:
        yield (("scps", "suspended_ou"), f"suspended OU '{cfg.scps.suspended_ou}' does not exist",
               "add it under `ous:` or set `suspended_ou: null`")
    sids: set[str] = set()
    for i, stmt in enumerate(cfg.scps.custom):
        if stmt.sid in sids:
            yield (("scps", "custom", i, "sid"), f"duplicate sid '{stmt.sid}'", "give each custom statement a unique sid")
        sids.add(stmt.sid)
        for op in (stmt.condition or {}):
            if not is_condition_operator(op):
                yield (("scps", "custom", i, "condition", op), f"'{op}' is not an IAM condition operator",
                       "use an operator such as StringEquals, StringNotLike, ArnNotLike, Bool")
        for j, target in enumerate(stmt.targets):
            if target not in targets:
                yield (("scps", "custom", i, "targets", j), f"target '{target}' is not an OU",
                       did_you_mean(target, targets))
        if stmt.control not in catalog:
            # it would be dropped from the control matrix, with the statement it should explain
            yield (("scps", "custom", i, "control"), f"unknown control id '{stmt.control}' (not in the control catalog)",
                   did_you_mean(stmt.control, list(catalog.by_id)) + " (`charter controls show ID` shows a control)")

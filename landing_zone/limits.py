"""AWS limits a config can exceed, checked by `charter validate` and `charter synth`.

Organizations quotas that depend only on org.yaml (accounts, OUs, nesting, root emails)
are config checks with a file:line:column (`config/checks.py: quotas`). What depends on
what Charter generates is checked here, on the synthesized stacks, before anything is
written or deployed: every CloudFormation template limit, the StackSet limits, and the
SCP limits (`scp/packing.py` raises those while packing). Each breach is reported with
the stack, the limit, the value, and the setting that changes it; all of them at once.

The limits are settings (`limits:` in org.yaml), so a quota AWS raises needs no new
Charter release. troposphere enforces AWS's template limits itself while a builder adds
resources, with a bare ValueError; `synthesize` turns that into a LimitError naming the
builder (`builder_overflow`), so no troposphere error ever reaches a user.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from charter.config.model import Limits, OrgConfig
from charter.errors import LimitError


@dataclass(frozen=True)
class Breach:
    """One AWS limit one stack exceeds."""

    stack: str
    limit: str  # "resources per template"
    value: int
    allowed: int
    setting: str  # the `limits.` key that holds the limit
    grows_with: str = ""  # what in org.yaml drives the value

    def render(self) -> str:
        grows = f"; it grows with {self.grows_with}" if self.grows_with else ""
        return (f"stack '{self.stack}': {self.value:,} {self.limit}, AWS allows {self.allowed:,} "
                f"(limits.{self.setting}){grows}")


def template_breaches(name: str, data: dict[str, Any], body_bytes: int, limits: Limits,
                      grows_with: str = "") -> list[Breach]:
    """Every CloudFormation template limit `data` (a template as a dict) exceeds."""
    out: list[Breach] = []

    def over(limit: str, value: int, allowed: int, setting: str) -> None:
        if value > allowed:
            out.append(Breach(name, limit, value, allowed, setting, grows_with))

    over("resources per template", len(data.get("Resources") or {}), limits.template_max_resources,
         "template_max_resources")
    over("parameters per template", len(data.get("Parameters") or {}), limits.template_max_parameters,
         "template_max_parameters")
    over("outputs per template", len(data.get("Outputs") or {}), limits.template_max_outputs, "template_max_outputs")
    mappings = data.get("Mappings") or {}
    over("mappings per template", len(mappings), limits.template_max_mappings, "template_max_mappings")
    for mapping in mappings.values():
        over("attributes in one mapping", len(mapping), limits.template_max_mapping_attributes,
             "template_max_mapping_attributes")
    over("bytes of template body (uploaded through S3)", body_bytes, limits.template_max_bytes_s3,
         "template_max_bytes_s3")
    over("bytes of template description", len(str(data.get("Description") or "").encode()),
         limits.template_max_description_bytes, "template_max_description_bytes")
    over("dynamic references ({{resolve:...}})", _dynamic_references(data), limits.template_max_dynamic_references,
         "template_max_dynamic_references")
    longest = max((len(k) for section in ("Resources", "Parameters", "Outputs", "Mappings")
                   for k in (data.get(section) or {})), default=0)
    over("characters in a logical id", longest, limits.template_max_name_chars, "template_max_name_chars")
    return out


def _dynamic_references(node: Any) -> int:
    if isinstance(node, str):
        return node.count("{{resolve:")
    if isinstance(node, dict):
        return sum(_dynamic_references(v) for v in node.values())
    if isinstance(node, list):
        return sum(_dynamic_references(v) for v in node)
    return 0


def upload(body_bytes: int, limits: Limits) -> Literal["inline", "s3"]:
    """How deploy passes the template: inline up to 51,200 bytes, through S3 above."""
    return "inline" if body_bytes <= limits.template_max_bytes_inline else "s3"


def stackset_breaches(cfg: OrgConfig, stacks: Iterable[Any]) -> list[Breach]:
    """StackSets per administrator account and stack instances per StackSet."""
    lim = cfg.limits
    sets = [s for s in stacks if s.spec.deployment.kind == "stackset"]
    out = []
    if len(sets) > lim.stacksets_max:
        out.append(Breach("(all)", "StackSets in the administrator account", len(sets), lim.stacksets_max,
                          "stacksets_max", "the baseline switches and the environments in use"))
    for s in sets:
        count = instance_count(cfg, s.spec.deployment)
        if count > lim.stackset_max_instances:
            out.append(Breach(s.name, "stack instances (accounts x regions)", count, lim.stackset_max_instances,
                              "stackset_max_instances", "the accounts it targets x its regions"))
    return out


def instance_count(cfg: OrgConfig, dep: Any) -> int:
    """Accounts x regions a StackSet reaches (service-managed to OUs: every account below them)."""
    if dep.target_accounts:
        return len(dep.target_accounts) * len(dep.regions)
    below = cfg.subtree(dep.target_ous)
    return sum(1 for a in cfg.accounts if a.ou in below) * len(dep.regions)



def check_stacks(cfg: OrgConfig, stacks: Iterable[Any]) -> list[Breach]:
    """Every limit the synthesized `stacks` break (template and StackSet limits)."""
    stacks = list(stacks)
    out: list[Breach] = []
    for s in stacks:
        out += template_breaches(s.name, s.data, len(s.body.encode()), cfg.limits, s.spec.grows_with)
    return out + stackset_breaches(cfg, stacks)


def raise_breaches(breaches: list[Breach]) -> None:
    if not breaches:
        return
    lines = [b.render() for b in breaches]
    head = lines[0] if len(lines) == 1 else f"{len(lines)} AWS limits exceeded:\n  " + "\n  ".join(lines)
    raise LimitError(head, hint=_HINT)


_HINT = ("change what the stack grows with (the setting named), or raise the `limits:` value "
         "if AWS raised that quota for your account")

_TROPOSPHERE = re.compile(r"Maximum (?:number of )?(resources|outputs|mappings|parameters) (\d+) reached")


def builder_overflow(builder: str, exc: ValueError, grows_with: str = "") -> LimitError | None:
    """troposphere's own limit error while builder `builder` ran, as a LimitError (None for
    any other ValueError, which is a bug and must surface as one)."""
    m = _TROPOSPHERE.search(str(exc))
    if not m:
        return None
    what, allowed = m.group(1), int(m.group(2))
    grows = f"; it grows with {grows_with}" if grows_with else ""
    return LimitError(f"builder '{builder}': a stack it builds needs more than {allowed} {what} per template, "
                      f"which CloudFormation does not allow{grows}",
                      hint=f"reduce what it grows with{' (' + grows_with + ')' if grows_with else ''}")

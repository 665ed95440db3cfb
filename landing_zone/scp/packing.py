"""Pack SCP statements into as few policies per target as AWS's limits allow.

AWS measures an SCP's size in characters including whitespace, so Charter measures the
minified JSON it will upload. Statements that share exactly the same targets are packed
together (first-fit decreasing, deterministic), and each target's attached-policy count is
checked against the per-target limit, where AWS's FullAWSAccess takes one slot.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from awacs.aws import Statement

from charter.config.model import ROOT, OrgConfig
from charter.errors import LimitError

from .guardrails import SUSPENDED_CONTROL, custom_statements, selected, suspended_statements

VERSION = "2012-10-17"
_EMPTY_DOC = '{"Version":"2012-10-17","Statement":[]}'


def minify(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"))


@dataclass(frozen=True)
class ScpStatement:
    control: str
    targets: tuple[str, ...]
    body: dict[str, Any]

    @property
    def sid(self) -> str:
        return self.body["Sid"]

    @property
    def size(self) -> int:
        return len(minify(self.body))


@dataclass
class PackedPolicy:
    name: str
    targets: tuple[str, ...]
    statements: list[ScpStatement] = field(default_factory=list)

    @property
    def document(self) -> dict[str, Any]:
        return {"Version": VERSION, "Statement": [s.body for s in self.statements]}

    @property
    def size(self) -> int:
        return len(minify(self.document))

    @property
    def controls(self) -> list[str]:
        return sorted({s.control for s in self.statements})


def collect_statements(cfg: OrgConfig) -> list[ScpStatement]:
    out: list[ScpStatement] = []
    targets = tuple(cfg.scps.targets)
    for rail in selected(cfg):
        out += [ScpStatement(rail.control, targets, _body(s)) for s in rail.build(cfg)]
    if cfg.scps.suspended_ou:
        out += [ScpStatement(SUSPENDED_CONTROL, (cfg.scps.suspended_ou,), _body(s)) for s in suspended_statements()]
    for control, stmt_targets, stmt in custom_statements(cfg):
        out.append(ScpStatement(control, tuple(stmt_targets), _body(stmt)))
    return out


def _body(stmt: Statement) -> dict[str, Any]:
    return json.loads(stmt.to_json())


def _label(targets: tuple[str, ...]) -> str:
    if len(targets) == 1:
        return "root" if targets[0] == ROOT else "".join(c if c.isalnum() else "-" for c in targets[0].lower())
    return "shared-" + hashlib.sha256("|".join(sorted(targets)).encode()).hexdigest()[:6]


def pack(cfg: OrgConfig, statements: list[ScpStatement] | None = None) -> list[PackedPolicy]:
    """Pack statements into policies; raise LimitError when a target cannot fit."""
    statements = collect_statements(cfg) if statements is None else statements
    limit = cfg.limits.scp_max_chars
    groups: dict[tuple[str, ...], list[ScpStatement]] = {}
    for stmt in statements:
        if stmt.size + len(_EMPTY_DOC) > limit:
            raise LimitError(
                f"SCP statement {stmt.sid} ({stmt.control}) is {stmt.size + len(_EMPTY_DOC)} characters minified; "
                f"one SCP may hold {limit}",
                hint="split the statement's actions into two statements, or shorten its resource list",
            )
        groups.setdefault(tuple(sorted(set(stmt.targets))), []).append(stmt)

    policies: list[PackedPolicy] = []
    for targets in sorted(groups):
        bins: list[list[ScpStatement]] = []
        sizes: list[int] = []
        for stmt in sorted(groups[targets], key=lambda s: (-s.size, s.sid)):
            for i, used in enumerate(sizes):
                if used + 1 + stmt.size <= limit:  # +1: the comma between statements
                    bins[i].append(stmt)
                    sizes[i] = used + 1 + stmt.size
                    break
            else:
                bins.append([stmt])
                sizes.append(len(_EMPTY_DOC) + stmt.size)
        label = _label(targets)
        for i, members in enumerate(bins, start=1):
            policies.append(PackedPolicy(f"charter-{label}-{i}", targets, sorted(members, key=lambda s: s.sid)))
    _check_slots(cfg, policies)
    return policies


def _check_slots(cfg: OrgConfig, policies: list[PackedPolicy]) -> None:
    lim = cfg.limits
    slots = lim.scp_max_per_target - (1 if lim.full_aws_access_takes_slot else 0)
    per_target: dict[str, list[PackedPolicy]] = {}
    for policy in policies:
        for target in policy.targets:
            per_target.setdefault(target, []).append(policy)
    for target, attached in sorted(per_target.items()):
        if len(attached) > slots:
            chars = sum(p.size for p in attached)
            where = "the organization root" if target == ROOT else f"OU '{target}'"
            raise LimitError(
                f"SCPs for {where} need {len(attached)} policies ({chars} characters minified, "
                f"{lim.scp_max_chars} per policy) but only {slots} can be attached: AWS allows "
                f"{lim.scp_max_per_target} per target"
                + (" and FullAWSAccess takes one" if lim.full_aws_access_takes_slot else ""),
                hint=f"exclude guardrails under `scps.exclude`, move custom statements to child OUs, "
                f"or raise `limits.scp_max_per_target` if AWS raised the quota for {where}",
            )

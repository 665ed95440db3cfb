"""Policy documents, parsed once into statements the evaluator can match quickly."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from charter.policy.matching import (
    KNOWN_OPERATORS,
    Context,
    arn_matches,
    condition_holds,
    substitute,
)

#: What kind of policy a document is; named in every decision and in AWS's deny messages.
PolicyKind = Literal["scp", "identity", "boundary", "resource", "trust", "session"]

#: How AWS names each kind in an explicit-deny AccessDenied message.
AWS_KIND_NAMES: dict[str, str] = {
    "scp": "service control policy", "identity": "identity-based policy", "boundary": "permissions boundary",
    "resource": "resource-based policy", "trust": "resource-based policy", "session": "session policy",
}


def _wildcard(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def _tuple(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, int | float):
        return (str(value),)
    return tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in value)


def _principals(value: Any) -> dict[str, tuple[str, ...]] | None:
    if value is None:
        return None
    if value == "*":
        return {"AWS": ("*",)}
    return {k: _tuple(v) or () for k, v in dict(value).items()}


@dataclass(frozen=True)
class Statement:
    effect: Literal["Allow", "Deny"]
    sid: str = ""
    actions: tuple[str, ...] | None = None
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] | None = None
    not_resources: tuple[str, ...] | None = None
    principals: dict[str, tuple[str, ...]] | None = None
    not_principals: dict[str, tuple[str, ...]] | None = None
    #: (operator, key, values), all of which must hold
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Statement:
        effect = body.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise ValueError(f"statement {body.get('Sid', '')!r}: Effect must be Allow or Deny, not {effect!r}")
        conditions: list[tuple[str, str, tuple[str, ...]]] = []
        for operator, pairs in (body.get("Condition") or {}).items():
            base = operator.rpartition(":")[2]
            base = base[: -len("IfExists")] if base.endswith("IfExists") else base
            if base not in KNOWN_OPERATORS:
                raise ValueError(f"statement {body.get('Sid', '')!r}: unknown condition operator {operator}")
            for key, values in pairs.items():
                conditions.append((operator, key, _tuple(values) or ()))
        return cls(effect=effect, sid=str(body.get("Sid", "")), actions=_tuple(body.get("Action")),
                   not_actions=_tuple(body.get("NotAction")), resources=_tuple(body.get("Resource")),
                   not_resources=_tuple(body.get("NotResource")), principals=_principals(body.get("Principal")),
                   not_principals=_principals(body.get("NotPrincipal")), conditions=tuple(conditions))

    def __post_init__(self) -> None:
        # Actions are matched for every request: exact names in a set, wildcards in one regex.
        patterns = self.actions if self.actions is not None else self.not_actions or ()
        exact = frozenset(p.lower() for p in patterns if "*" not in p and "?" not in p)
        wild = [p for p in patterns if "*" in p or "?" in p]
        regex = re.compile("^(?:" + "|".join(_wildcard(p) for p in wild) + ")$", re.IGNORECASE) if wild else None
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_wild", regex)

    # -- matching ------------------------------------------------------------------------
    def _action_hit(self, action: str) -> bool:
        return action.lower() in self._exact or (self._wild is not None and self._wild.match(action) is not None)  # type: ignore[attr-defined]

    def matches_action(self, action: str) -> bool:
        if self.actions is not None:
            return self._action_hit(action)
        if self.not_actions is not None:
            return not self._action_hit(action)
        return False

    def matches_resource(self, resource: str | None, context: Context, *, unknown: bool) -> bool:
        """`resource` None means the request's resource is not known (the embedded AWS
        cannot always tell): a specific pattern then matches when `unknown` says so."""
        patterns = self.resources if self.resources is not None else self.not_resources
        if patterns is None:
            return True  # trust policies and other resource policies may omit Resource
        if resource is None:
            if any(p == "*" for p in patterns):
                return self.resources is not None
            return unknown
        hit = any(arn_matches(substitute(p, context), resource) for p in patterns)
        return hit if self.resources is not None else not hit

    def matches_conditions(self, context: Context) -> bool:
        return all(condition_holds(op, key, values, context) for op, key, values in self.conditions)


@dataclass(frozen=True)
class Policy:
    kind: PolicyKind
    #: What the policy is, as a person finds it: "SCP charter-root-1 (Root)", "AdministratorAccess".
    name: str
    statements: tuple[Statement, ...] = field(default_factory=tuple)
    #: The document as JSON, for `fill`.
    source: str = field(default="", compare=False, repr=False)

    @classmethod
    def parse(cls, kind: PolicyKind, name: str, document: Mapping[str, Any] | str) -> Policy:
        doc = json.loads(document) if isinstance(document, str) else document
        body = doc.get("Statement", [])
        if isinstance(body, Mapping):
            body = [body]
        source = document if isinstance(document, str) else json.dumps(doc)
        return cls(kind=kind, name=name, statements=tuple(Statement.parse(s) for s in body), source=source)

    @property
    def has_placeholders(self) -> bool:
        return "{account}" in self.source or "{region}" in self.source

    def fill(self, account: str, region: str) -> Policy:
        """The policy as deployed in one account and region (templates' `{account}`/`{region}`)."""
        if not self.has_placeholders:
            return self
        return Policy.parse(self.kind, self.name, self.source.replace("{account}", account).replace("{region}", region))

    def as_kind(self, kind: PolicyKind) -> Policy:
        return Policy(kind, self.name, self.statements, self.source)

    def __len__(self) -> int:
        return len(self.statements)

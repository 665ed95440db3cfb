"""The evidence artifact: what one collector proved about one account and region.

Shaped for an auditor's IPE (information produced by the entity) test: the source and
the exact query (every AWS call with its parameters), the full population with a result
per item, proof that every paginator was drained, who asked (caller ARN), when (UTC) and
with which version of Charter, plus the raw responses the results were computed from.
The SHA-256 is over the canonical JSON of everything else, so any change is detectable.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: `gap`: the item could not be judged because what it is judged on could not be read (an
#: unreadable credential report, say). It is neither a pass nor a failure: the auditor sees
#: the reason and the control is not evidenced for that item.
Result = Literal["pass", "fail", "not_applicable", "gap"]


class ApiCall(BaseModel):
    """One AWS API call as made: service, operation, parameters, pages read."""

    model_config = ConfigDict(extra="forbid")

    service: str
    operation: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    region: str
    pages: int = 1
    #: True when the paginator was drained to its last page (or the call is not paginated).
    drained: bool = True


class PopulationItem(BaseModel):
    """One member of the population examined, with its result and why."""

    model_config = ConfigDict(extra="forbid")

    id: str  # e.g. an ARN, a user name, a bucket name
    control: str  # the control id this item's result speaks to
    result: Result
    reason: str
    attributes: dict[str, Any] = Field(default_factory=dict)


class Artifact(BaseModel):
    """One piece of evidence. `kind="gap"` records an account/region that could not be read."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    kind: Literal["evidence", "gap", "campaign"] = "evidence"
    collector: str  # e.g. "iam"
    controls: list[str]
    criteria: list[str] = Field(default_factory=list)
    account_id: str
    account_name: str = ""
    region: str
    collected_at: datetime
    caller_arn: str
    charter_version: str
    calls: list[ApiCall] = Field(default_factory=list)
    population: list[PopulationItem] = Field(default_factory=list)
    raw: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None  # for gaps: what failed and how to fix it

    @property
    def failed(self) -> list[PopulationItem]:
        return [p for p in self.population if p.result == "fail"]

    @property
    def all_drained(self) -> bool:
        return all(c.drained for c in self.calls)

    def canonical_json(self) -> bytes:
        """Deterministic bytes: sorted keys, no whitespace, UTC ISO times."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                          default=str).encode()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)

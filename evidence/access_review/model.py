"""Data of an access-review campaign: snapshot rows, decisions, the closing report."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from charter.evidence.artifact import ApiCall

PrincipalType = Literal["iam-user", "iam-role", "sso-user", "sso-group"]
AccessType = Literal["console", "access-key", "group", "managed-policy", "inline-policy", "permission-set"]
DecisionValue = Literal["keep", "revoke", "modify"]
QUARTER = re.compile(r"^(\d{4})Q([1-4])$")

#: The columns a reviewer sees and must not change, in workbook order.
SNAPSHOT_COLUMNS = ("row_id", "account_name", "account_id", "principal_type", "principal", "access_type",
                    "access", "details", "flags")


class Account(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    owner: str  # the reviewer


class AccessRow(BaseModel):
    """One principal's one access in one account: the unit a reviewer decides on."""

    model_config = ConfigDict(extra="forbid")

    account_id: str
    account_name: str
    reviewer: str
    principal_type: PrincipalType
    principal: str
    principal_id: str = ""  # user/role name, or the Identity Store id for sso principals
    access_type: AccessType
    access: str  # policy ARN, group name, access key id, permission set name, "login profile"
    access_ref: str = ""  # what revoking needs (e.g. the permission set ARN)
    details: dict[str, str] = Field(default_factory=dict)
    flags: list[str] = Field(default_factory=list)

    @property
    def row_id(self) -> str:
        """Stable across snapshots: the same access gets the same id, so close can verify removal."""
        key = "|".join([self.account_id, self.principal_type, self.principal, self.access_type, self.access])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def cells(self) -> dict[str, str]:
        """The snapshot columns as the workbook shows them (strings)."""
        return {
            "row_id": self.row_id,
            "account_name": self.account_name,
            "account_id": self.account_id,
            "principal_type": self.principal_type,
            "principal": self.principal,
            "access_type": self.access_type,
            "access": self.access,
            "details": "; ".join(f"{k}={v}" for k, v in sorted(self.details.items())),
            "flags": ", ".join(sorted(self.flags)),
        }


def row_hash(cells: dict[str, Any]) -> str:
    """Hash of a row's snapshot cells as read back from a workbook (None reads as '')."""
    values = ["" if cells.get(c) is None else str(cells.get(c)) for c in SNAPSHOT_COLUMNS]
    return hashlib.sha256(json.dumps(values, separators=(",", ":")).encode()).hexdigest()


class Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    taken_at: datetime
    caller_arn: str
    accounts: list[Account]
    rows: list[AccessRow]
    #: Principals examined but not put up for review, with why (e.g. AWS service-linked roles).
    excluded: list[dict[str, str]] = Field(default_factory=list)
    #: Accounts that could not be read: the review of those accounts is incomplete.
    gaps: list[dict[str, str]] = Field(default_factory=list)
    calls: list[ApiCall] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def by_id(self) -> dict[str, AccessRow]:
        return {row.row_id: row for row in self.rows}

    def for_reviewer(self, reviewer: str) -> list[AccessRow]:
        return [r for r in self.rows if r.reviewer == reviewer]

    @property
    def reviewers(self) -> list[str]:
        return sorted({r.reviewer for r in self.rows} | {a.owner for a in self.accounts})


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    row_id: str
    decision: DecisionValue
    comment: str = ""


class ReviewerDecisions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reviewer: str
    recorded_at: datetime
    workbook_sha256: str
    decisions: list[Decision]


class Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    quarter: str
    started_at: datetime
    snapshot_sha256: str
    status: Literal["open", "closed"] = "open"
    closed_at: datetime | None = None


class Revocation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    row_id: str
    account_id: str
    principal: str
    access_type: str
    access: str
    reviewer: str
    comment: str = ""
    applied: bool = False
    verified: bool = False
    error: str = ""


class CampaignReport(BaseModel):
    """What the closing writes into the evidence store (signed with the run's manifest)."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: str
    quarter: str
    started_at: datetime
    closed_at: datetime
    reviewers: list[dict[str, Any]]
    decisions: dict[str, int]
    revocations: list[Revocation]
    exceptions: list[str]
    snapshot_sha256: str
    verification_snapshot_taken_at: datetime

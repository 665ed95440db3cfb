"""The pydantic model of the SOC2 criteria list and of the control catalog.

A control is data: what it does, which criteria it serves, how Charter implements it
(builders, SCP guardrails, Config rules, Security Hub controls, or Charter's own tooling),
how it is evidenced, who owns it, how an auditor tests it and samples it, and which
config switches must be on for it to be implemented. The matrix reads nothing else.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ControlId = Annotated[str, Field(pattern=r"^[A-Z]{2,4}-\d{2}$")]
CriterionId = Annotated[str, Field(pattern=r"^(CC\d\.\d|A1\.\d|C1\.\d|PI1\.\d|P\d\.\d)$")]
Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
RunbookId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
#: A dotted path into OrgConfig whose value must be truthy, e.g. `baseline.macie.enabled`.
ConfigSwitch = Annotated[str, Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")]

Category = Literal["security", "availability", "confidentiality", "processing_integrity", "privacy"]
Kind = Literal["automated", "attestation", "inherited"]
Frequency = Literal["continuous", "daily", "quarterly", "annual", "per-change"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Criterion(_Strict):
    id: CriterionId
    category: Category
    group: str
    title: str = Field(min_length=5)


class ImplementedBy(_Strict):
    """What makes an automated control real. The matrix looks for resources tagged with the
    control id in what `builders` emit; `tooling` names Charter modules that implement a
    control without emitting a resource (the linter, an evidence collector)."""

    builders: list[Slug] = Field(default_factory=list)
    scp_guardrails: list[RunbookId] = Field(default_factory=list)
    config_rules: list[Annotated[str, Field(pattern=r"^[A-Z0-9_]+$")]] = Field(default_factory=list)
    security_hub: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9]+\.\d+$")]] = Field(default_factory=list)
    tooling: list[Annotated[str, Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")]] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.builders or self.scp_guardrails or self.tooling)


class Control(_Strict):
    id: ControlId
    title: str = Field(min_length=10)
    description: str = Field(min_length=20)
    criteria: list[CriterionId] = Field(min_length=1)
    kind: Kind
    implemented_by: ImplementedBy = Field(default_factory=ImplementedBy)
    #: Evidence collector names (evidence/collectors/<name>.py).
    evidence: list[Slug] = Field(default_factory=list)
    #: What else an auditor receives (signed reports, tickets, the lint report).
    evidence_notes: str = ""
    frequency: Frequency
    owner: str = Field(min_length=3)
    test_procedure: str = Field(min_length=20)
    population: str = Field(min_length=10)
    runbook: RunbookId | None = None
    #: Config switches that must be on for the control to be implemented.
    requires: list[ConfigSwitch] = Field(default_factory=list)
    #: For inherited controls: whose SOC2 report covers it.
    inherited_from: str | None = None

    @model_validator(mode="after")
    def _kind_rules(self) -> Control:
        if len(set(self.criteria)) != len(self.criteria):
            raise ValueError("criteria are listed twice")
        if self.kind == "automated" and self.implemented_by.empty:
            raise ValueError("an automated control needs implemented_by.builders, scp_guardrails or tooling")
        if self.kind == "attestation" and not self.runbook:
            raise ValueError("an attestation control needs the runbook that operates it")
        if self.kind == "inherited" and not self.inherited_from:
            raise ValueError("an inherited control needs inherited_from (whose SOC2 report covers it)")
        if self.kind != "automated" and not self.implemented_by.empty:
            raise ValueError(f"a {self.kind} control cannot be implemented by builders or tooling")
        return self

    @property
    def family(self) -> str:
        return self.id.split("-")[0]


class CatalogFile(_Strict):
    """One `controls/catalog/<family>.yaml`."""

    family: Annotated[str, Field(pattern=r"^[A-Z]{2,4}$")]
    title: str
    controls: list[Control] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids_in_family(self) -> CatalogFile:
        for c in self.controls:
            if c.family != self.family:
                raise ValueError(f"{c.id} is not in family {self.family}")
        return self


class CriteriaFile(_Strict):
    version: str
    categories: dict[Category, str]
    criteria: list[Criterion] = Field(min_length=1)

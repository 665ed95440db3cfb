"""The pydantic model of the SOC2 criteria list and of the control catalog.

A control is data about the control itself: what it does, which criteria it serves, its
kind, who owns it, how an auditor tests and samples it, how often, the runbook that
operates it, and which config switches must be on for it to be implemented. Which
builders, Config rules, SCP statements and collector checks implement or evidence it is
NOT here: each is declared once in code beside that code (`@builder(controls=...)`,
`managed_rules.MANAGED_RULES`, `Guardrail.control`, `Collector.checks`), and
`controls.links` joins them. Two references stay in the catalog because no Charter code
owns them: `tooling` (a Charter module that is itself the control, e.g. the linter) and
`security_hub` (the AWS Security Hub controls that check the same thing).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ControlId = Annotated[str, Field(pattern=r"^[A-Z]{2,4}-\d{2}$")]
CriterionId = Annotated[str, Field(pattern=r"^(CC\d\.\d|A1\.\d|C1\.\d|PI1\.\d|P\d\.\d)$")]
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


class Control(_Strict):
    id: ControlId
    title: str = Field(min_length=10)
    description: str = Field(min_length=20)
    criteria: list[CriterionId] = Field(min_length=1)
    kind: Kind
    #: Charter modules that are the control themselves, without emitting a resource.
    tooling: list[Annotated[str, Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")]] = Field(default_factory=list)
    #: AWS Security Hub controls that check the same thing (e.g. `CloudTrail.1`).
    security_hub: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9]+\.\d+$")]] = Field(default_factory=list)
    #: What an auditor receives besides collector artifacts (signed reports, tickets, the lint report).
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
        if self.kind == "attestation" and not self.runbook:
            raise ValueError("an attestation control needs the runbook that operates it")
        if self.kind == "inherited" and not self.inherited_from:
            raise ValueError("an inherited control needs inherited_from (whose SOC2 report covers it)")
        if self.kind != "automated" and self.tooling:
            raise ValueError(f"a {self.kind} control cannot be implemented by tooling")
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

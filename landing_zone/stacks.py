"""What a builder returns: a template plus how and where it deploys."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from troposphere import Template


class Deployment(BaseModel):
    """How a stack reaches AWS; recorded in plan.json and read by `charter deploy`.

    - `stack`: one CloudFormation stack in `account` (an account name, or `management`)
      in each of `regions`.
    - `stackset` SERVICE_MANAGED: auto-deployed to every account of `target_ous` in
      `regions` (never reaches the management account, as AWS documents).
    - `stackset` SELF_MANAGED: to the named `target_accounts`, which is the only way to
      reach the management account through a StackSet.
    - `organizations`: applied through the Organizations API by `charter deploy` (OUs,
      accounts, SCPs); the template is kept for review and lint, never deployed.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["stack", "stackset", "organizations"]
    permission_model: Literal["SERVICE_MANAGED", "SELF_MANAGED"] | None = None
    account: str | None = None
    regions: list[str]
    target_ous: list[str] = Field(default_factory=list)
    target_accounts: list[str] = Field(default_factory=list)
    #: Per-account parameter values (account name -> parameter -> value).
    parameter_overrides: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: Deploy wave: lower waves finish before higher ones start.
    order: int = 0
    depends_on: list[str] = Field(default_factory=list)


@dataclass
class StackSpec:
    name: str  # short name, e.g. "organization"; the file is out/<name>.yaml
    template: Template
    deployment: Deployment
    #: The builder that made it, for the control matrix ("charter.landing_zone.builders.organization").
    builder: str = ""
    #: Facts the runbooks and deploy need that are not in the template (RTO/RPO, ...).
    facts: dict[str, object] = field(default_factory=dict)
    #: The org.yaml setting this stack's size follows, named when it breaks an AWS limit.
    grows_with: str = ""

"""Deploy-time values: the organization's ids, resolved once, filled into templates.

`landing_zone.context.CONTEXT_PARAMETERS` names the parameters builders may use; this
module gives them values from the organization deploy has just reconciled (or, for
`charter plan`, from the journal), plus the OU and account ids StackSet targets need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from charter.config.model import ROOT, OrgConfig
from charter.landing_zone.context import CONTEXT_PARAMETERS

#: Placeholder for ids that do not exist yet (plan and dry runs).
PENDING = "(new)"


@dataclass
class DeployContext:
    organization_id: str = ""
    root_id: str = ""
    management_account_id: str = ""
    ou_ids: dict[str, str] = field(default_factory=dict)  # OU name -> id ("Root" included)
    account_ids: dict[str, str] = field(default_factory=dict)  # account name -> id

    def values(self, cfg: OrgConfig) -> dict[str, str]:
        """Every context parameter that has a value now."""
        def acct(env: str) -> str:
            return self.account_ids.get(cfg.account(env).name, "")

        out = {
            "OrganizationId": self.organization_id,
            "RootId": self.root_id,
            "ManagementAccountId": self.management_account_id,
            "LogArchiveAccountId": acct("log-archive"),
            "AuditAccountId": acct("audit"),
            "SecurityAccountId": acct("security"),
        }
        assert set(out) == set(CONTEXT_PARAMETERS), "context.py and landing_zone/context.py disagree"
        return {k: v for k, v in out.items() if v}

    def ou_id(self, name: str) -> str:
        if name == ROOT:
            return self.root_id or PENDING
        return self.ou_ids.get(name, PENDING)

    def account_id(self, name: str) -> str:
        """An account name (or `management`) to its id."""
        if name == "management":
            return self.management_account_id
        return self.account_ids.get(name, PENDING)

    def account_name(self, account_id: str) -> str:
        if account_id == self.management_account_id:
            return "management"
        for name, aid in self.account_ids.items():
            if aid == account_id:
                return name
        return account_id

    def substitute(self, value: object, cfg: OrgConfig) -> object:
        """Replace `${Name}` context references inside API-step parameters."""
        if isinstance(value, str):
            for key, val in self.values(cfg).items():
                value = value.replace("${" + key + "}", val)
            for name, aid in self.account_ids.items():
                value = value.replace("${account:" + name + "}", aid)
            return value
        if isinstance(value, list):
            return [self.substitute(v, cfg) for v in value]
        if isinstance(value, dict):
            return {k: self.substitute(v, cfg) for k, v in value.items()}
        return value


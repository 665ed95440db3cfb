"""The usage assumptions of `org.yaml`'s `cost:` section, resolved per environment.

Each value comes back with the setting it was read from, so every estimate line can say
`cost.environments.prod.nat_gb_per_vpc = 100` or `cost.usage.log_gb_per_account = 2
(default)`, and a reader knows exactly what to change.
"""

from __future__ import annotations

from dataclasses import dataclass

from charter.config.cost import DEFAULT_ENVIRONMENTS
from charter.config.model import OrgConfig


@dataclass(frozen=True, slots=True)
class Assumed:
    value: float
    setting: str  # dotted path in org.yaml

    @property
    def text(self) -> str:
        return f"{self.setting} = {number(self.value)}"


def number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.4g}"


class Assumptions:
    def __init__(self, cfg: OrgConfig) -> None:
        self.cfg = cfg
        self.settings = cfg.cost
        self._cache: dict[tuple[str, str], Assumed] = {}

    def usage(self, environment: str, name: str) -> Assumed:
        key = (environment, name)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._usage(environment, name)
        return hit

    def _usage(self, environment: str, name: str) -> Assumed:
        override = self.settings.environments.get(environment)  # type: ignore[call-overload]
        if override is not None and getattr(override, name) is not None:
            return Assumed(float(getattr(override, name)), f"cost.environments.{environment}.{name}")
        built_in = DEFAULT_ENVIRONMENTS.get(environment, {}).get(name)
        if built_in is not None and name not in self.settings.usage.model_fields_set:
            return Assumed(float(built_in), f"cost.environments.{environment}.{name}")
        value = getattr(self.settings.usage, name)
        if value is None:
            raise KeyError(f"cost.usage.{name} has no default; read it with `explicit`")
        return Assumed(float(value), f"cost.usage.{name}")

    def explicit(self, environment: str, name: str) -> Assumed | None:
        """A setting without a default (`evidence_runs_per_day`): None unless org.yaml sets it."""
        override = self.settings.environments.get(environment)  # type: ignore[call-overload]
        if override is not None and getattr(override, name) is not None:
            return Assumed(float(getattr(override, name)), f"cost.environments.{environment}.{name}")
        value = getattr(self.settings.usage, name)
        return None if value is None else Assumed(float(value), f"cost.usage.{name}")

    def optimization(self, name: str) -> Assumed:
        return Assumed(float(getattr(self.settings.optimization, name)), f"cost.optimization.{name}")

    def agent_calls(self, agent: str) -> Assumed:
        calls = self.settings.optimization.agent_calls.get(agent, 0)
        return Assumed(float(calls), f"cost.optimization.agent_calls.{agent}")

    @property
    def horizon(self) -> Assumed:
        return Assumed(float(self.settings.horizon_months), "cost.horizon_months")

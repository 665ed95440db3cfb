"""`estimate(cfg, stacks)`: the monthly cost of synthesized stacks, and the cost of one optimization.

Takes the stacks as data (`landing_zone.synth.SynthesizedStack` or anything with `name`,
`data` and `spec.deployment`), so it runs on the landing zone, the workloads or both, and
on templates read back from an output directory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from charter.config.model import OrgConfig

from .engine import Estimator, Res
from .lines import Line
from .prices import PriceBook, load
from .targets import StackLike


@dataclass(frozen=True, slots=True)
class Driver:
    service: str
    dimension: str
    monthly_usd: float
    lines: int
    setting: str


@dataclass
class Estimate:
    lines: list[Line]
    #: environment -> the lines of ONE optimization there
    per_optimization: dict[str, list[Line]]
    prices_as_of: str
    prices_origin: str
    monthly_target: float
    per_optimization_target: float
    environment: str | None = None
    #: price key -> what it prices (labels drivers that group differently named lines)
    descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(x.monthly_usd for x in self.lines if x.monthly_usd is not None)

    @property
    def unknown(self) -> list[Line]:
        return [x for x in self.lines if x.monthly_usd is None]

    def optimization_total(self, env: str) -> float:
        return sum(x.monthly_usd for x in self.per_optimization.get(env, []) if x.monthly_usd is not None)

    def optimization_unknown(self, env: str) -> int:
        return sum(1 for x in self.per_optimization.get(env, []) if x.monthly_usd is None)

    def by(self, attr: str) -> dict[str, float]:
        """Known monthly cost grouped by a line attribute (account, environment, stack, service, region)."""
        out: dict[str, float] = defaultdict(float)
        for x in self.lines:
            if x.monthly_usd is not None:
                out[getattr(x, attr)] += x.monthly_usd
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def by_control(self) -> dict[str, float]:
        """Known monthly cost of the resources that implement each control (a resource serving
        several controls counts toward each, so these do not add up to the total)."""
        out: dict[str, float] = defaultdict(float)
        for x in self.lines:
            if x.monthly_usd is not None:
                for c in x.controls or ("(none)",):
                    out[c] += x.monthly_usd
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def drivers(self, n: int = 10) -> list[Driver]:
        """The biggest costs, grouped by what is billed, each with the setting that changes it."""
        groups: dict[tuple[str, str], list[Line]] = defaultdict(list)
        for x in self.lines:
            if x.monthly_usd is not None:
                groups[(x.service, x.price_key)].append(x)
        out = []
        for (service, _), lines in groups.items():
            settings: dict[str, float] = defaultdict(float)
            for x in lines:
                settings[x.setting or "fixed by the templates"] += abs(x.monthly_usd or 0)
            dims = {x.dimension.split(": ", 1)[-1] for x in lines}  # "Step: what" -> "what"
            dimension = dims.pop() if len(dims) == 1 else self.descriptions.get(lines[0].price_key, lines[0].dimension)
            out.append(Driver(service, dimension, sum(x.monthly_usd or 0 for x in lines), len(lines),
                              max(settings, key=lambda k: settings[k])))
        return sorted(out, key=lambda d: -d.monthly_usd)[:n]

    def checks(self) -> list[tuple[str, float, float, bool]]:
        """(what, value, target, holds) for the specification's targets."""
        out = [("monthly", self.total, self.monthly_target, self.total <= self.monthly_target)]
        for env in sorted(self.per_optimization):
            value = self.optimization_total(env)
            out.append((f"per optimization ({env})", value, self.per_optimization_target,
                        value <= self.per_optimization_target))
        return out


def estimate(cfg: OrgConfig, stacks: Iterable[StackLike], prices: PriceBook | None = None,
             environment: str | None = None) -> Estimate:
    from .rules.ai import PER_OPTIMIZATION

    book = prices or load()
    est = Estimator(cfg, book)
    est.place(stacks)
    lines = list(est.run())
    per_opt: dict[str, list[Line]] = defaultdict(list)
    for p in est.placed:
        fn = PER_OPTIMIZATION.get(p.type)
        if fn is not None:
            per_opt[p.instance.environment].extend(fn(Res(est, p), 1))
    if environment is not None:
        lines = [x for x in lines if x.environment == environment]
        per_opt = {k: v for k, v in per_opt.items() if k == environment}
    return Estimate(lines=lines, per_optimization=dict(per_opt), prices_as_of=book.as_of, prices_origin=book.origin,
                    monthly_target=cfg.cost.targets.monthly_usd,
                    per_optimization_target=cfg.cost.targets.per_optimization_usd, environment=environment,
                    descriptions={k: e.description for k, e in book.snapshot.prices.items()})

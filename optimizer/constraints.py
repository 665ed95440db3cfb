"""Portfolio constraints and their feasibility checks.

The fast solvers only understand the common structure *budget + per-asset box*;
:meth:`Constraints.is_box_budget` tells the dispatcher when that applies.
Everything else (groups, turnover, long-short leverage) is expressed as generic
linear constraints for the general solvers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import OptimizerError


@dataclass(frozen=True)
class GroupBound:
    """Bound on the total weight of a group of assets (e.g. a sector)."""

    name: str
    members: tuple[int, ...]
    lower: float = -np.inf
    upper: float = np.inf


@dataclass
class Constraints:
    """Budget, long-only / long-short with leverage, bounds, groups, turnover.

    ``min_weight``/``max_weight`` may be scalars or per-asset arrays.  In the
    long-short case (``long_only=False``) the gross exposure ``sum |w|`` is
    limited by ``leverage``.  ``max_turnover`` limits ``sum |w - current|``.
    """

    budget: float = 1.0
    long_only: bool = True
    leverage: float = 1.0
    min_weight: float | Sequence[float] | None = None
    max_weight: float | Sequence[float] | None = None
    groups: list[GroupBound] = field(default_factory=list)
    max_turnover: float | None = None
    current_weights: Sequence[float] | None = None

    # ------------------------------------------------------------------ bounds
    def bounds(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-asset lower/upper bounds implied by all settings."""
        if self.long_only:
            lo_default, hi_default = 0.0, self.budget if self.budget > 0 else np.inf
        else:
            lo_default, hi_default = -self.leverage, self.leverage
        lb = _expand(self.min_weight, n, lo_default, "min_weight")
        ub = _expand(self.max_weight, n, hi_default, "max_weight")
        if self.long_only:
            lb = np.maximum(lb, 0.0)
        if np.any(lb > ub + 1e-15):
            i = int(np.argmax(lb - ub))
            raise OptimizerError(
                f"constraints: min_weight {lb[i]:g} exceeds max_weight {ub[i]:g} for asset {i}; "
                "make min_weight <= max_weight"
            )
        return lb, ub

    def is_box_budget(self) -> bool:
        """True when only budget + box bounds apply (the fast-path structure)."""
        return self.long_only and not self.groups and self.max_turnover is None

    # ------------------------------------------------------------ feasibility
    def check_feasible(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Raise a clear :class:`OptimizerError` if the bounds cannot meet the budget."""
        if n <= 0:
            raise OptimizerError("constraints: no assets available to invest in; check the data window")
        lb, ub = self.bounds(n)
        if lb.sum() > self.budget + 1e-12:
            raise OptimizerError(
                f"constraints: budget {self.budget:g} is below the sum of min_weight ({lb.sum():g}) over "
                f"{n} assets; lower min_weight or raise the budget"
            )
        if ub.sum() < self.budget - 1e-12:
            raise OptimizerError(
                f"constraints: budget {self.budget:g} is unreachable, max_weight sums to only {ub.sum():g} "
                f"over {n} assets; raise max_weight to at least {self.budget / n:.4g} or add assets"
            )
        if not self.long_only and self.leverage < abs(self.budget):
            raise OptimizerError(
                f"constraints: leverage {self.leverage:g} is below |budget| {abs(self.budget):g}; raise leverage"
            )
        for g in self.groups:
            members = [m for m in g.members if m < n]
            glo, ghi = lb[members].sum(), ub[members].sum()
            if g.lower > ghi + 1e-12 or g.upper < glo - 1e-12 or g.lower > g.upper:
                raise OptimizerError(
                    f"constraints: group '{g.name}' bounds [{g.lower:g}, {g.upper:g}] cannot be met "
                    f"given its members' weight bounds [{glo:g}, {ghi:g}]; widen the group bounds"
                )
        if self.max_turnover is not None:
            if self.max_turnover < 0:
                raise OptimizerError("constraints: max_turnover must be >= 0")
            if self.current_weights is None:
                raise OptimizerError("constraints: max_turnover needs current_weights")
        return lb, ub

    def with_current(self, weights: np.ndarray | None) -> Constraints:
        """Copy with ``current_weights`` replaced (used at each rebalance)."""
        from dataclasses import replace

        return replace(self, current_weights=None if weights is None else np.asarray(weights, float))

    def restricted(self, keep: np.ndarray) -> Constraints:
        """Constraints on the asset subset ``keep`` (indices), e.g. assets alive at a rebalance."""
        from dataclasses import replace

        remap = {int(old): new for new, old in enumerate(keep)}

        def sub(x):
            if x is None or np.isscalar(x):
                return x
            arr = np.asarray(x, float)
            return arr[keep]

        groups = [
            GroupBound(g.name, tuple(remap[m] for m in g.members if m in remap), g.lower, g.upper)
            for g in self.groups
        ]
        return replace(
            self,
            min_weight=sub(self.min_weight),
            max_weight=sub(self.max_weight),
            groups=groups,
            current_weights=sub(self.current_weights),
        )


def _expand(value, n: int, default: float, name: str) -> np.ndarray:
    if value is None:
        return np.full(n, float(default))
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise OptimizerError(f"constraints: {name} has {arr.size} entries but there are {n} assets; give one per asset")
    return arr.copy()


def project_box_budget(v: np.ndarray, lb: np.ndarray, ub: np.ndarray, budget: float) -> np.ndarray:
    """Euclidean projection onto {lb <= w <= ub, sum w = budget} by bisection on the shift.

    Used to get a feasible starting point; exact to ~1e-15 after 100 halvings.
    """
    lo = float(np.min(v - ub)) - 1.0
    hi = float(np.max(v - lb)) + 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        s = np.clip(v - mid, lb, ub).sum()
        if s > budget:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-16 * max(1.0, abs(mid)):
            break
    w = np.clip(v - 0.5 * (lo + hi), lb, ub)
    # Distribute the tiny residual onto a free coordinate to hit the budget exactly.
    resid = budget - w.sum()
    free = np.where((w > lb) & (w < ub))[0]
    if free.size:
        w[free[0]] = np.clip(w[free[0]] + resid, lb[free[0]], ub[free[0]])
    return w

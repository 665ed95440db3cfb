"""Single-period optimiser in estimator style: configure, ``fit(returns)``, read ``weights_``."""

from __future__ import annotations

import numpy as np

from .constraints import Constraints
from .errors import OptimizerError
from .objectives import Inputs, make_objective
from .returns import make_returns_model
from .risk import Moments, make_risk_model
from .scenarios import make_scenarios

NEEDS = {
    "min_variance": ("cov",),
    "mean_variance": ("cov", "mu"),
    "max_sharpe": ("cov", "mu"),
    "max_diversification": ("cov",),
    "risk_parity": ("cov",),
    "min_cvar": ("scenarios",),
    "mean_cvar": ("scenarios", "mu"),
}


class PortfolioOptimizer:
    """Compose a risk model, a returns model, scenarios, an objective and constraints.

    >>> opt = PortfolioOptimizer(objective="min_variance", risk_model="ledoit_wolf")
    >>> opt.fit(returns).weights_        # doctest: +SKIP
    """

    def __init__(
        self,
        objective: str = "min_variance",
        objective_params: dict | None = None,
        risk_model: str = "ledoit_wolf",
        risk_params: dict | None = None,
        returns_model: str = "historical",
        returns_params: dict | None = None,
        scenarios: str = "historical",
        scenario_params: dict | None = None,
        constraints: Constraints | None = None,
        seed: int = 0,
    ):
        self.objective = objective
        self.objective_params = objective_params or {}
        self.risk_model = risk_model
        self.risk_params = risk_params or {}
        self.returns_model = returns_model
        self.returns_params = returns_params or {}
        self.scenarios = scenarios
        self.scenario_params = scenario_params or {}
        self.constraints = constraints or Constraints()
        self.seed = seed
        self._obj = make_objective(objective, **self.objective_params)
        self._state: dict = {}

    def uses_moments(self) -> bool:
        """True when the covariance estimate is a function of the window's mean and scatter,
        so a walk-forward can supply incrementally updated :class:`~optimizer.risk.Moments`."""
        return "cov" in NEEDS[self.objective] and self.risk_model != "ewma"

    def estimate(self, X: np.ndarray, moments: Moments | None = None) -> Inputs:
        needs = NEEDS[self.objective]
        inp = Inputs(state=self._state)
        if "cov" in needs:
            inp.cov = make_risk_model(self.risk_model, **self.risk_params).fit(X, moments=moments).covariance_
        if "mu" in needs:
            inp.mu = make_returns_model(self.returns_model, **self.returns_params).fit(X).mean_
        if "scenarios" in needs:
            inp.scenarios = make_scenarios(self.scenarios, X, seed=self.seed, **self.scenario_params)
        return inp

    def fit(self, X: np.ndarray, current_weights: np.ndarray | None = None,
            moments: Moments | None = None) -> PortfolioOptimizer:
        """Estimate inputs from the returns window ``X`` and solve.

        ``moments`` (optional) are ``X``'s precomputed mean and scatter, used by the
        covariance estimators that need nothing else (see :class:`~optimizer.risk.RollingMoments`).
        """
        X = np.asarray(X, float)
        if X.ndim != 2:
            raise OptimizerError("fit: returns must be a 2-D array (time x assets)")
        inp = self.estimate(X, moments)
        c = self.constraints if current_weights is None else self.constraints.with_current(current_weights)
        w = self._obj.solve(inp, c)
        self.weights_ = np.asarray(w, float)
        self.inputs_ = inp
        return self

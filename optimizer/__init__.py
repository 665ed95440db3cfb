"""Charter's portfolio optimisation engine (numpy + scipy only).

Estimator-style API: configure objects in the constructor, ``fit(data)``, read
results from attributes ending in ``_``.

>>> from optimizer import generate_market, PortfolioOptimizer, WalkForward
>>> md = generate_market(n_assets=20, n_days=600, seed=1)
>>> wf = WalkForward(PortfolioOptimizer("min_variance"), lookback=126).fit(md)
>>> round(wf.metrics_["volatility"], 2) > 0
True
"""

from .backtest import WalkForward
from .constraints import Constraints, GroupBound
from .data import MarketData, load_market
from .errors import OptimizerError
from .metrics import deflated_sharpe_ratio, performance
from .portfolio import PortfolioOptimizer
from .search import HyperparameterSearch, SearchSpace, Settings, aggregate, run_shard, shard
from .synthetic import generate_market

__all__ = [
    "Constraints",
    "GroupBound",
    "HyperparameterSearch",
    "MarketData",
    "OptimizerError",
    "PortfolioOptimizer",
    "SearchSpace",
    "Settings",
    "WalkForward",
    "aggregate",
    "deflated_sharpe_ratio",
    "generate_market",
    "load_market",
    "performance",
    "run_shard",
    "shard",
]

"""Solvers: fast paths specialised for portfolio structure plus scipy-based general ones."""

from .cvar import cvar_full_lp, cvar_value, solve_cvar
from .qp import QPResult, solve_box_budget_qp, solve_general_qp

__all__ = [
    "QPResult",
    "solve_box_budget_qp",
    "solve_general_qp",
    "solve_cvar",
    "cvar_full_lp",
    "cvar_value",
]

"""Errors raised by the optimizer engine.

Every problem a *user* can cause (bad data, bad job file, infeasible constraints)
is reported as :class:`OptimizerError` with a one-line message saying what went
wrong, where, and how to fix it, so the CLI can print it without a traceback.
"""

from __future__ import annotations


class OptimizerError(ValueError):
    """A user-fixable problem: bad input, ill-posed or infeasible optimisation."""

"""The line every benchmark prints about the terms of its comparison (issue #24: a sceptical
reader is told the core budget, the repetitions, the order and what agreement was asserted)."""

from __future__ import annotations

import os


def cpus() -> str:
    """The CPUs this process may use and how busy the machine is."""
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"CPUs {sorted(os.sched_getaffinity(0))} (load average {load})"


def terms(budget: str, repetitions: str, order: str, agreement: str) -> str:
    return (f"core budget: {budget}; {cpus()}\nrepetitions: {repetitions}\norder: {order}\n"
            f"agreement asserted: {agreement}")

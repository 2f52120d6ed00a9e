"""The one status vocabulary of a solve, and the gap between a plan and its bound.

``Status`` is a ``str`` enum, so ``result.status == "optimal"`` and JSON output keep
working: the strings are the contract (docs/scenario.md §7, ``summary.json``).
"""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    OPTIMAL = "optimal"          # proven within the gap of the best possible
    FEASIBLE = "feasible"        # a plan, not proven optimal (time limit, cancel)
    INFEASIBLE = "infeasible"    # the rules cannot all hold
    NO_SOLUTION = "no_solution"  # stopped before any plan was found

    @property
    def has_plan(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


STATUSES = tuple(s.value for s in Status)


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """|bound − objective| / max(|objective|, |bound|): 0 when proven optimal, at most 1."""
    if objective is None or bound is None:
        return None
    diff = abs(bound - objective)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / max(abs(objective), abs(bound))

"""The one status vocabulary of a solve, why a solve has no plan, and the gap between a
plan and its bound.

``Status`` is a ``str`` enum, so ``result.status == "optimal"`` and JSON output keep
working: the strings are the contract (docs/scenario.md §7, ``summary.json``).
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any, Mapping


class Status(StrEnum):
    OPTIMAL = "optimal"          # proven within the gap of the best possible
    FEASIBLE = "feasible"        # a plan, not proven optimal (time limit, cancel)
    INFEASIBLE = "infeasible"    # the rules cannot all hold
    NO_SOLUTION = "no_solution"  # stopped before any plan was found

    @property
    def has_plan(self) -> bool:
        return self in (Status.OPTIMAL, Status.FEASIBLE)


STATUSES = tuple(s.value for s in Status)
TIME_LIMIT = "time_limit"       # summary.json's "stopped_by" when the time limit ended the search


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """|bound − objective| / max(|objective|, |bound|): 0 when proven optimal, at most 1."""
    if objective is None or bound is None:
        return None
    diff = abs(bound - objective)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / max(abs(objective), abs(bound))


def no_plan_message(status: str, summary: Mapping[str, Any]) -> str:
    """Why a solve has no plan, in the words the CLI, studies and reports use ("" when it
    has one). ``summary`` is its summary.json: the conflicting rules, how it stopped."""
    if status not in STATUSES:         # a summary.json from elsewhere: say what it says
        return f"status '{status}'"
    status = Status(status)
    if status.has_plan:
        return ""
    if status == Status.INFEASIBLE:
        conflict = summary.get("conflicting_constraints") or []
        return "the rules cannot all hold" + (
            f": conflict between {', '.join(conflict)}" if conflict else "")
    if summary.get("cancelled"):
        return "the solve was cancelled before a plan was found"
    if summary.get("stopped_by") == TIME_LIMIT:
        return "no plan found within the time limit"
    return "the solver stopped without a plan (see the notes)"

"""Name the rules that make a scenario infeasible.

A deletion filter (Chinneck, *Feasibility and Infeasibility in Optimization*, 2008) over
rule families: drop one rule at a time and keep it dropped if the rest are still
infeasible. What is left is a minimal set of rules that cannot hold together.
"""
from __future__ import annotations

from typing import Callable

from formulations.scenario import Scenario


def minimal_conflict(scenario: Scenario, is_infeasible: Callable[[Scenario], bool]) -> list[str]:
    """A minimal list of rule names that together are infeasible ([] if none found)."""
    keep = scenario.constraints.active()
    for name in list(keep):
        trial = [k for k in keep if k != name]
        dropped = [k for k in scenario.constraints.active() if k not in trial]
        if is_infeasible(scenario.without_rules(dropped)):
            keep = trial
    return keep

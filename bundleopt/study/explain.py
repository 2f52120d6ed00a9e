"""What each rule costs: the optimum with one rule removed, minus the plan's objective.

For every rule the scenario imposes (each leaf key under ``constraints``, named by its
path: ``max_offers``, ``fairness.coverage``, ``price_change.max_relative``, …) the
scenario is solved exactly without that rule; ``cost = objective_without − objective``
of the plan. The plan is feasible without the rule too, so for an optimal plan and an
optimal relaxed solve the cost is ≥ 0: what the merchandiser pays for the rule.
"""
from __future__ import annotations

import pandas as pd

from formulations.errors import BundleoptError
from formulations.evaluate import evaluate_plan
from formulations.scenario import Scenario

from solver.api import solve
from .executors import make_executor
from .sweep import SolveSettings, solve_kwargs


def _solve_without(base: Scenario, job: tuple) -> tuple[str, float | None, str]:
    rule, plan, settings = job
    try:
        res = solve(base.without_rule(rule), **solve_kwargs(settings, warm_start=plan))
    except BundleoptError as e:
        return "invalid", None, str(e)
    return res.status, res.objective, ""


def rule_costs(scenario: Scenario, plan: pd.DataFrame, *, executor: str = "local",
               workers: int | None = None, address: str | None = None,
               settings: SolveSettings = SolveSettings(explain=False)) -> pd.DataFrame:
    """rule_costs.csv: ``rule, objective_without, cost, status`` (status of the solve
    without the rule; ``cost`` is exact only where it is ``optimal``)."""
    objective = evaluate_plan(scenario, plan).objective
    rules = scenario.constraints.active()
    jobs = [(r, plan, settings) for r in rules]
    out: list = [None] * len(jobs)
    for i, got in make_executor(executor, workers=workers, address=address).run(
            _solve_without, scenario, jobs):
        out[i] = got
    rows = [{"rule": r, "objective_without": obj,
             "cost": None if obj is None else obj - objective, "status": status}
            for r, (status, obj, _) in zip(rules, out)]
    return pd.DataFrame(rows, columns=["rule", "objective_without", "cost", "status"])

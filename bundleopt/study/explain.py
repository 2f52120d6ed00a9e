"""What each rule costs: the optimum with one rule removed, minus the plan's objective.

For every rule the scenario imposes (each leaf key under ``constraints``, named by its
path: ``max_offers``, ``fairness.coverage``, ``price_change.max_relative``, …) the
scenario is solved exactly without that rule; ``cost = objective_without − objective``
of the plan. The plan is feasible without the rule too, so for an optimal plan and an
optimal relaxed solve the cost is ≥ 0: what the merchandiser pays for the rule.

A plan that breaks rules is not an optimal plan of the scenario, so its costs are not
what the rules cost: ``plan_breaks`` says, on each rule's row, what the plan does wrong
(evaluate_plan's words; blank where it keeps the rule), and anything else it breaks
that is not a rule to switch off (a price off the ladder) gets a row of its own with no
cost (status ``not_solved``).
"""
from __future__ import annotations

import pandas as pd

from formulations.errors import BundleoptError
from formulations.evaluate import evaluate_plan
from formulations.scenario import Scenario

from solver.api import solve
from .executors import make_executor
from .plans import refuse_season, rules_broken
from .sweep import SolveSettings, solve_kwargs

RULE_COST_COLUMNS = ["rule", "objective_without", "cost", "status", "plan_breaks"]


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
    """rule_costs.csv: ``rule, objective_without, cost, status, plan_breaks`` (status of
    the solve without the rule; ``cost`` is exact only where it is ``optimal``;
    ``plan_breaks``: see the module docstring)."""
    refuse_season(scenario, "explain")
    ev = evaluate_plan(scenario, plan)
    broken = rules_broken(ev.violations)
    rules = scenario.constraints.active()
    jobs = [(r, plan, settings) for r in rules]
    out: list = [None] * len(jobs)
    for i, got in make_executor(executor, workers=workers, address=address).run(
            _solve_without, scenario, jobs):
        out[i] = got
    rows = [{"rule": r, "objective_without": obj,
             "cost": None if obj is None else obj - ev.objective, "status": status,
             "plan_breaks": broken.get(r, "")}
            for r, (status, obj, _) in zip(rules, out)]
    rows += [{"rule": r, "objective_without": None, "cost": None, "status": "not_solved",
              "plan_breaks": words} for r, words in broken.items() if r not in rules]
    return pd.DataFrame(rows, columns=RULE_COST_COLUMNS)

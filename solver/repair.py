"""A solver's plan that breaks a rule when priced exactly, made to keep every rule.

Only MNL models can return such a plan: a segment that sees an attraction past ``e^20``
is relaxed (:mod:`formulations.mnl`), so its shares in the model need not be its exact
ones, and the exact evaluation may give it to an offer whose product then runs out.
Where the heuristic's first plan keeps every rule it replaces such a plan
(``solver.api``); where there is none (MNL with competitor prices, a season without a
first plan), the plan is repaired here: rows are dropped one at a time, each time the
one whose removal leaves the fewest broken rules and then earns the most, until none is
broken. Each step re-prices the plan, as a row dropped sends its shoppers
to the other offers (under MNL) and may run another product out. Where a rule needs
offers on sale (``must_offer``) the repair may find nothing, and the solve then reports
no plan.
"""
from __future__ import annotations

import pandas as pd

from formulations.evaluate import Evaluation, evaluate_plan
from formulations.scenario import Scenario

# Each step prices every row left without it; past this many evaluations the repair gives
# up (a solver plan that breaks a rule is rare, and its broken rows few)
MAX_EVALUATIONS = 400


def repaired(scenario: Scenario, plan: pd.DataFrame, ev: Evaluation
             ) -> tuple[pd.DataFrame, Evaluation] | None:
    """``plan`` (``ev`` its evaluation) with rows dropped until it breaks no rule, as
    ``(plan, evaluation)``; ``None`` if no such plan was found."""
    plan = plan.reset_index(drop=True)
    evaluations = 0
    while ev.violations:
        if not len(plan) or evaluations + len(plan) > MAX_EVALUATIONS:
            return None
        tries = []
        for i in range(len(plan)):
            rest = plan.drop(index=i).reset_index(drop=True)
            tried = evaluate_plan(scenario, rest)
            tries.append((len(tried.violations), -tried.objective, i, rest, tried))
        evaluations += len(plan)
        _, _, _, plan, ev = min(tries, key=lambda t: t[:3])
    return plan, ev

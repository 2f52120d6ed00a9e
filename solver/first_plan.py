"""The heuristic's first plan inside a solve: run it, hand it over, keep it if better.

``solver.api.solve`` runs :func:`solver.heuristic.heuristic_plan` on the model's offer
space before the exact solver starts, passes a first-choice plan to the backend as a MIP
start (HiGHS ``setSolution``, CP-SAT hints; an MNL plan only stands by, see
:func:`first_plan`), and afterwards keeps whichever plan earns more
when re-evaluated from the scenario. A kept heuristic plan has status ``feasible``,
with the solver's proven bound if it has one — never ``optimal`` on its own.
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from .deadline import Deadline, before_grace
from .heuristic import HeuristicResult, heuristic_budget, heuristic_plan, start_vector


def first_plan(built, seconds_left: float | None, cancel: threading.Event | None = None,
               warm_start=None, proven: Callable[[float], bool] | None = None,
               start_points: np.ndarray | None = None,
               improved: Callable[[float], None] | None = None, backend: str = "highs",
               ) -> tuple[HeuristicResult | None, np.ndarray | None]:
    """The heuristic's plan for a built model within its share of the ``seconds_left``
    on the solve's deadline (starting also from ``warm_start``, a plan, and from ``start_points``, the
    relaxation's plan, when given; stopping once ``proven(objective)``; telling
    ``improved(objective)`` of each better plan on the way), and the MIP
    start made from it for ``backend`` (``None, None`` if it found none; no start where it
    only stands by, see :func:`start_pays`)."""
    if built.space.no_price or not len(built.space.points):
        return None, None
    heuristic_share = heuristic_budget(seconds_left, len(built.space.arcs))
    first = heuristic_plan(built.space, heuristic_share,
                           cancel=cancel, initial=warm_start, proven=proven,
                           start_points=start_points, improved=improved)
    if first is None:
        return None, None
    if not start_pays(built.space, backend):
        return first, None
    return first, start_vector(built.model, built.space, first.points)


def first_plan_applies(built) -> bool:
    """Whether the heuristic and the segment relaxation describe this model: not a
    season's (one period's decisions; the periods are linked), nor MNL with competitor
    prices (both score a segment's no-purchase term as 1)."""
    scenario = built.space.scenario
    if built.is_season:
        return False
    return not (scenario.choice_model == "mnl" and len(scenario.competitors))


def start_pays(space, backend: str) -> bool:
    """Whether the first plan goes to the backend as its start, or only stands by (kept
    if the backend ends with a worse plan, :func:`keep_first_plan`).

    Not for MNL models: handed an MNL plan as its start, HiGHS stayed on it — at 20/60/8
    it ended at 197,172 (uniform) and 214,803 (personalized, unproven) where it reached
    201,188 and the optimum 218,581 on its own (benchmarks/results_scale_mnl_start.md);
    larger MNL models gave it no better plan either way.

    Not for HiGHS under uniform pricing: handed the start, HiGHS searched near it and
    ended lower. 60 s, 2 cores, one run each (benchmarks/families.py), start / standing by:
    family b (stock on every product) 40/150/20 seed 0 698,953 / **716,733** (the textbook
    MIP: 716,730), seed 1 428,871 / 430,630; family a 40/150/20 optimal in 3.8 / 3.2 s;
    60/250/30 a and b the same plans (969,664 and 852,264; gaps 3.12 / 3.33 % and
    3.76 / 3.68 %). Under personalized pricing the start pays: 40/150/20 c-spread optimal
    in 6.7 s with it, 10.6 s without; 60/250/30 a personalized 6.3 s against 9.0 s. CP-SAT
    keeps its hints (not measured without)."""
    if space.scenario.choice_model == "mnl":
        return False
    return not (backend == "highs" and not space.personalized)


def solver_deadline(deadline: Deadline, first: HeuristicResult | None) -> Deadline:
    """The solver's share of a solve's deadline: what is left after the build and the
    first plan, less a reserve for re-evaluating its plan afterwards (twice what one
    evaluation of the first plan took) and the backends' grace past their limit."""
    if not deadline.limited:
        return deadline
    reserve = 0.02 + 2.0 * (first.eval_seconds if first is not None else 0.02)
    return Deadline(max(0.05, before_grace(deadline.remaining() - reserve)))


def same_plan(first: HeuristicResult, built, x: np.ndarray | None) -> bool:
    """Whether a solver's solution puts on sale exactly the first plan's points."""
    if x is None:
        return False
    on = np.flatnonzero(built.model.values(x, "on_sale") > 0.5)
    return np.array_equal(on, np.sort(first.points))


def keep_first_plan(first: HeuristicResult, status: str, solver_plan_value: float | None) -> str | None:
    """The status to report if the heuristic's plan should replace the solver's, else
    ``None``. It replaces it when the solver has no plan or a worse one (both valued by
    ``evaluate_plan``). The solver's proven bound stays valid for either plan, so a
    solver that proved its own plan optimal within the gap proves this better one too;
    otherwise the plan is only ``feasible``."""
    if solver_plan_value is not None and first.objective <= solver_plan_value + 1e-9 * max(1.0, abs(solver_plan_value)):
        return None
    return "optimal" if status == "optimal" else "feasible"


def first_plan_summary(first: HeuristicResult | None) -> dict | None:
    """What summary.json says about the first plan."""
    if first is None:
        return None
    return {"objective": first.objective, "seconds": round(first.seconds, 4), "moves": first.moves}

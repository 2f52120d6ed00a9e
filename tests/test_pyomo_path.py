"""The Pyomo emitter solves to the same optimum as the sparse-matrix emitter.

``LinearModel.to_pyomo`` (used by ``bundleopt export``) and ``LinearModel.to_arrays``
(used by every solve) come from one definition; here each is solved by HiGHS through a
different door — Pyomo's ``pyomo.contrib.solver`` HiGHS interface and bundleopt's own
``HighsBackend`` — and the optima must agree. The Pyomo solution is also read back as a
plan and priced by the independent checker in ``tests/bruteforce.py``.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pyo = pytest.importorskip("pyomo.environ")
from pyomo.contrib.solver.common.factory import SolverFactory  # noqa: E402
from pyomo.contrib.solver.common.results import TerminationCondition  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import evaluate_plan_frame  # noqa: E402
from random_scenarios import make_scenario, random_scenario  # noqa: E402

from formulations.build import build_model  # noqa: E402
from formulations.scenario import Scenario  # noqa: E402
from formulations.options import SolverOptions  # noqa: E402
from solver.backends.highs import HighsBackend  # noqa: E402

REL = 1e-6
INFEASIBLE = (TerminationCondition.provenInfeasible, TerminationCondition.infeasibleOrUnbounded)


def _array_path(sc: Scenario):
    built = build_model(sc)
    raw = HighsBackend().solve(built.model.to_arrays(), SolverOptions(mip_gap=1e-9, threads=1))
    return built, raw


def _pyomo_path(built):
    m = built.model.to_pyomo()
    res = SolverFactory("highs").solve(
        m, rel_gap=1e-9, threads=1, load_solutions=False,
        raise_exception_on_nonoptimal_result=False)
    plan = None
    if res.termination_condition == TerminationCondition.convergenceCriteriaSatisfied:
        res.solution_loader.load_vars()
        rows = [(b, s, float(p)) for (b, s, p), v in m.on_sale.items()
                if v.value is not None and v.value > 0.5]
        plan = pd.DataFrame(rows, columns=["bundle_id", "segment_id", "price"])
    return res, plan


def assert_paths_agree(sc: Scenario) -> None:
    built, raw = _array_path(sc)
    res, plan = _pyomo_path(built)
    if raw.status == "infeasible":
        assert res.termination_condition in INFEASIBLE, res.termination_condition
        return
    assert raw.status == "optimal"
    assert res.termination_condition == TerminationCondition.convergenceCriteriaSatisfied
    assert math.isclose(res.incumbent_objective, raw.objective, rel_tol=REL, abs_tol=REL), (
        res.incumbent_objective, raw.objective)
    feasible, objective, details = evaluate_plan_frame(sc, plan)
    assert feasible, details.violations
    assert math.isclose(objective, raw.objective, rel_tol=REL, abs_tol=REL)


# (pricing, choice model, rules) — every rule family appears in some case
CASES = [
    ("uniform", "first_choice", {"min_margin", "max_offers", "must_offer"}),
    ("uniform", "first_choice", {"inventory", "no_arbitrage", "coverage"}),
    ("uniform", "mnl", {"max_offers", "inventory", "exclude"}),
    ("uniform", "mnl", {"no_arbitrage", "price_change"}),
    ("personalized", "first_choice", {"max_offers", "max_offers_per_segment",
                                      "max_price_spread"}),
    ("personalized", "first_choice", {"coverage", "inventory", "no_arbitrage"}),
    ("personalized", "mnl", {"max_offers", "max_price_spread", "must_offer"}),
    ("personalized", "mnl", {"max_offers_per_segment", "inventory", "coverage"}),
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_random_scenarios_same_optimum(case: int, seed: int) -> None:
    pricing, choice, rules = CASES[case]
    rng = np.random.default_rng(1000 * case + seed)
    objective = "revenue" if (case + seed) % 3 == 0 else "profit"
    sc = random_scenario(rng, pricing=pricing, choice_model=choice, objective=objective,
                         constraints=set(rules))
    assert_paths_agree(sc)


def _handmade(**settings) -> Scenario:
    # three products, their singles, two pairs and a triple; two segments
    return make_scenario(
        products=[("P1", 4, 10, None), ("P2", 3, 6, 60), ("P3", 1, 3, None)],
        bundles=[("A", {"P1": 1}), ("B", {"P2": 1}), ("C", {"P3": 1}),
                 ("AB", {"P1": 1, "P2": 1}, 0.1), ("BC", {"P2": 1, "P3": 1}),
                 ("ABC", {"P1": 1, "P2": 1, "P3": 1}, 0.05)],
        segments=[("young", 100, 0.6), ("old", 50, 0.9)],
        wtp=[("young", "A", 10), ("young", "AB", 15), ("young", "ABC", 17.5),
             ("young", "C", 2.5), ("old", "B", 6), ("old", "BC", 8.5), ("old", "AB", 12),
             ("old", "ABC", 14)],
        **settings)


@pytest.mark.parametrize("pricing", ["uniform", "personalized"])
@pytest.mark.parametrize("choice", ["first_choice", "mnl"])
def test_handmade_scenario_with_side_constraints(pricing: str, choice: str) -> None:
    constraints = {"max_offers": 3, "inventory": True, "no_arbitrage": True,
                   "must_offer": ["C"], "coverage": ["young", "old"], "min_margin": 0.2}
    if pricing == "personalized":
        constraints.update(max_offers_per_segment=2, max_price_spread=0.1)
    sc = _handmade(pricing=pricing, choice_model=choice, constraints=constraints,
                   discounts=(0.0, 0.1, 0.2))
    assert_paths_agree(sc)


def test_must_offer_without_prices_is_infeasible_on_both_paths() -> None:
    # every ladder price of A breaks a 70 % margin floor, yet A must be on sale
    sc = _handmade(constraints={"min_margin": 0.7, "must_offer": ["A"]},
                   discounts=(0.0, 0.1))
    assert_paths_agree(sc)

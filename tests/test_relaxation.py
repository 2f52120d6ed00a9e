"""The segment relaxation bound (solver/relaxation.py) against brute force.

A bound is only a bound if it is never below the optimum: checked on random scenarios of
every kind, with every rule. Where nothing links the segments (personalized prices, or a
single segment, and only rules that prune points) the relaxation *is* the problem, so
there the bound must equal the brute-force optimum — which also shows it is not loose.
A solve whose first plan meets the bound within the gap asked for is proven optimal
without the MIP, and its reported bound is the relaxation's.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import brute_force  # noqa: E402
from random_scenarios import CONSTRAINT_NAMES, random_scenario  # noqa: E402

from formulations.offers import build_offer_space  # noqa: E402
from solver.api import solve  # noqa: E402
from formulations.rules.inventory import units_per_sale  # noqa: E402
from solver.relaxation import inventory_lagrangian, segment_relaxation, segment_relaxation_bound  # noqa: E402

TOL = dict(rel=1e-6, abs=1e-6)
KINDS = [(p, c) for p in ("uniform", "personalized") for c in ("first_choice", "mnl")]


def _optimum(sc) -> float:
    best, _ = brute_force(sc)
    return 0.0 if best is None else best


@pytest.mark.parametrize("pricing, choice", KINDS)
@pytest.mark.parametrize("seed", range(6))
def test_bound_is_never_below_the_optimum(pricing: str, choice: str, seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    rules = set(rng.choice(CONSTRAINT_NAMES, size=int(rng.integers(0, 4)), replace=False))
    sc = random_scenario(rng, pricing=pricing, choice_model=choice, constraints=rules,
                         max_plans=400, negative_wtp=0.2 if seed % 2 else 0.0)
    best, _ = brute_force(sc)
    bound = segment_relaxation_bound(build_offer_space(sc))
    if best is None or bound is None:
        return          # infeasible, or nothing can be sold: nothing to bound
    assert bound >= best - 1e-6 * max(1.0, abs(best)), (bound, best, sorted(rules))


@pytest.mark.parametrize("choice", ["first_choice", "mnl"])
@pytest.mark.parametrize("seed", range(6))
def test_bound_is_the_optimum_when_nothing_links_the_segments(choice: str, seed: int) -> None:
    rng = np.random.default_rng(2000 + seed)
    rules = {"min_margin", "exclude", "price_change"} if seed % 3 == 0 else set()
    sc = random_scenario(rng, pricing="personalized", choice_model=choice, constraints=rules,
                         max_plans=600)
    bound = segment_relaxation_bound(build_offer_space(sc))
    assert (bound or 0.0) == pytest.approx(_optimum(sc), **TOL)


@pytest.mark.parametrize("choice", ["first_choice", "mnl"])
def test_a_first_plan_that_meets_the_bound_is_proven_without_the_mip(choice: str) -> None:
    rng = np.random.default_rng(77)
    for _ in range(20):       # find a scenario whose first plan meets the bound
        sc = random_scenario(rng, pricing="personalized", choice_model=choice, max_plans=600)
        res = solve(sc, mip_gap=1e-4)
        if any("no MIP solve was needed" in n for n in res.summary["notes"]):
            break
    else:
        pytest.fail("the first plan never met the relaxation bound on 20 rule-free scenarios")
    assert res.status == "optimal" and res.summary["bound_source"] == "segment relaxation"
    assert res.objective == pytest.approx(_optimum(sc), rel=1e-4, abs=1e-6)
    assert res.gap <= 1e-4 and res.bound >= res.objective


def test_a_tighter_relaxation_replaces_the_solvers_bound() -> None:
    """Uniform MNL stopped early: the reported bound is the smaller proven one."""
    rng = np.random.default_rng(5)
    sc = random_scenario(rng, choice_model="mnl", max_plans=600)
    res = solve(sc, time_limit=30)
    relax = segment_relaxation_bound(build_offer_space(sc))
    assert res.bound <= relax * (1 + 1e-9)
    assert res.bound >= _optimum(sc) - 1e-6
    if res.summary["bound_source"] == "segment relaxation":
        assert res.bound == pytest.approx(relax)


@pytest.mark.parametrize("pricing", ["uniform", "personalized"])
@pytest.mark.parametrize("seed", range(8))
def test_inventory_priced_bound_is_proven_and_no_looser(pricing: str, seed: int) -> None:
    """First choice with inventory (and sometimes one more rule): the bound with the
    inventory priced in stays ≥ the brute-force optimum and ≤ the plain one (λ = 0)."""
    rng = np.random.default_rng(3000 + seed)
    rules = {"inventory"} | ({"min_margin"} if seed % 2 else set())
    sc = random_scenario(rng, pricing=pricing, choice_model="first_choice", constraints=rules,
                         max_plans=400)
    space = build_offer_space(sc)
    bound = segment_relaxation_bound(space)
    if bound is None:
        return
    limited = units_per_sale(space)
    if limited is not None:
        Q, inventory = limited
        assert bound <= inventory_lagrangian(space, Q, inventory, np.zeros(len(inventory)))
    best, _ = brute_force(sc)
    if best is not None:
        assert bound >= best - 1e-6 * max(1.0, abs(best)), (bound, best, sorted(rules))


def test_inventory_prices_are_the_lps_duals() -> None:
    """Strong duality: L(λ) at the prices used equals the optimum of the LP it relaxes,
    solved independently (scipy's HiGHS on every arc, not one column per offer). A sign
    or row mix-up in reading the duals would leave L(λ) above it."""
    from scipy.optimize import linprog
    from formulations.synthetic import synthetic_scenario

    sc = synthetic_scenario(60, seed=0, n_segments=8, n_products=20, pricing="personalized",
                            wtp_level="product", short_share=0.35,
                            constraints={"min_margin": 0.1, "inventory": True})
    space = build_offer_space(sc)
    Q, inventory = units_per_sale(space)
    arcs = space.arcs
    s, b = arcs["s"].to_numpy(), arcs["b"].to_numpy()
    n = space.size[s].astype(float)
    seg = np.zeros((len(space.size), len(arcs)))
    seg[s, np.arange(len(arcs))] = 1.0
    units = (Q[b].toarray() * n[:, None]).T
    lp = linprog(-(n * arcs["value"].to_numpy(float)), A_ub=np.vstack([seg, units]),
                 b_ub=np.r_[np.ones(len(space.size)), inventory], bounds=(0, None), method="highs")
    assert lp.status == 0
    plain = inventory_lagrangian(space, Q, inventory, np.zeros(len(inventory)))
    assert -lp.fun < plain * (1 - 1e-3), "inventory does not bind here: the test shows nothing"
    assert segment_relaxation_bound(space) == pytest.approx(-lp.fun, rel=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_the_inventory_lps_plan_keeps_inventory_in_personalized_mode(seed: int) -> None:
    """The plan read off the LP (each segment whose purchase the LP takes whole is
    offered that point) is feasible for the independent checker when inventory is the
    only rule, and earns what the LP's whole columns say."""
    from bruteforce import evaluate, plan_from_frame
    from solver.heuristic import _plan

    rng = np.random.default_rng(4000 + seed)
    sc = random_scenario(rng, pricing="personalized", choice_model="first_choice",
                         constraints={"inventory"}, max_plans=400)
    space = build_offer_space(sc)
    relaxation = segment_relaxation(space)
    if relaxation.points is None:
        assert units_per_sale(space) is None or not (space.arcs["value"] > 0).any()
        return
    feasible, value, ev = evaluate(sc, plan_from_frame(sc, _plan(space, relaxation.points)))
    assert feasible, ev.violations
    arcs = space.arcs
    own = arcs["s"].to_numpy() == space.points["seg"].to_numpy()[arcs["j"].to_numpy()]
    bought = arcs[own & np.isin(arcs["j"].to_numpy(), relaxation.points)]
    assert len(bought) == len(relaxation.points)          # one purchase per point offered
    earned = float((space.size[bought["s"].to_numpy()] * bought["value"].to_numpy()).sum())
    assert value == pytest.approx(earned, rel=1e-9, abs=1e-6)
    assert value <= relaxation.bound

"""What-if studies through the Python API, without writing a single file.

Objectives are checked against ``tests/bruteforce.py`` (written from the spec alone,
independent of ``formulations.evaluate``) and against a hand calculation; what-ifs are
checked by the ordering a tighter rule must give (never a higher optimum).
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import evaluate_plan_frame  # noqa: E402

import solver.api as api  # noqa: E402
from formulations import (CapabilityError, ParameterError, load_scenario,  # noqa: E402
                          scenario_from_tables)
from formulations.evaluate import evaluate_plan  # noqa: E402
from solver.api import solve  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REL = 1e-6

# The tiny scenario of test_cli.py as JSON tables (SERVICE.md): profit optimum 890 by
# hand — young buy AB at 14.40 (7.40 × 100), old buy B at 6.00 (3 × 50).
PAYLOAD = {
    "scenario": {"pricing": "uniform", "choice_model": "first_choice", "objective": "profit",
                 "price_ladder": {"discounts": [0.0, 0.1]}, "constraints": {"min_margin": 0.1}},
    "products": [{"product_id": "P1", "unit_cost": 4, "list_price": 10},
                 {"product_id": "P2", "unit_cost": 3, "list_price": 6}],
    "bundles": [{"bundle_id": "A", "product_id": "P1", "quantity": 1},
                {"bundle_id": "B", "product_id": "P2", "quantity": 1},
                {"bundle_id": "AB", "product_id": "P1", "quantity": 1},
                {"bundle_id": "AB", "product_id": "P2", "quantity": 1}],
    "segments": [{"segment_id": "young", "size": 100, "price_sensitivity": 0.5},
                 {"segment_id": "old", "size": 50, "price_sensitivity": 0.8}],
    "wtp": [{"segment_id": "young", "bundle_id": "A", "wtp": 10},
            {"segment_id": "young", "bundle_id": "AB", "wtp": 15},
            {"segment_id": "old", "bundle_id": "B", "wtp": 6},
            {"segment_id": "old", "bundle_id": "AB", "wtp": 12}],
}


@pytest.fixture(scope="module")
def week():
    return load_scenario(ROOT / "examples" / "grocery_week")


@pytest.fixture
def tiny():
    return scenario_from_tables(PAYLOAD, name="tiny")


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=REL)


def test_solve_from_tables_writes_nothing_and_matches_hand_optimum(tiny, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = solve(tiny)
    assert os.listdir(tmp_path) == []
    assert res.status == "optimal"
    assert res.objective == pytest.approx(890.0, rel=1e-9)
    assert isinstance(res.plan, pd.DataFrame) and isinstance(res.summary, dict)
    assert list(res.plan.columns)[:3] == ["bundle_id", "segment_id", "price"]
    json.dumps(res.summary)            # JSON-ready as it is: no numpy scalars, no NaN
    assert res.summary["violations"] == []
    assert res.has_plan and not res.cancelled


def test_what_if_max_offers_never_raises_the_optimum(week):
    # grocery_week pins two offers (which sell nothing) and asks for coverage of two
    # segments, so very small caps are infeasible; these are not
    results = {}
    for k in (12, 6, 4, 3):
        res = solve(week.with_constraints(max_offers=k), time_limit=60)
        assert res.status == "optimal", (k, res.status)
        assert res.summary["kpis"]["offers_on_sale"] <= k
        assert res.summary["violations"] == []
        results[k] = res.objective
    ks = sorted(results, reverse=True)
    for loose, tight in zip(ks, ks[1:]):
        assert results[tight] <= results[loose] * (1 + REL) + REL, results
    # the original scenario is unchanged by the what-ifs
    assert week.constraints.max_offers == 25


def test_plan_reevaluated_independently_equals_objective(week):
    res = solve(week, time_limit=60)
    assert res.has_plan
    feasible, objective, details = evaluate_plan_frame(week, res.plan)
    assert feasible, details.violations
    assert _same(objective, res.objective)
    assert _same(evaluate_plan(week, res.plan).objective, res.objective)
    assert _same(res.plan["expected_profit"].sum(), res.objective)
    assert res.summary["violations"] == []
    assert res.bound is not None and res.bound >= res.objective * (1 - REL)


def test_what_if_revenue_and_relaxing_rules(tiny):
    base = solve(tiny).objective
    # dropping the margin floor can only help
    assert solve(tiny.with_constraints(min_margin=None)).objective >= base * (1 - REL)
    # excluding the pair leaves young with A at 10 (600) and old with B at 6 (150)
    assert solve(tiny.with_constraints(exclude=["AB"])).objective == pytest.approx(750.0)
    rev = solve(tiny.replace(objective="revenue"))
    assert rev.objective == pytest.approx(1740.0)
    assert _same(rev.plan["expected_revenue"].sum(), rev.objective)


def test_infeasible_what_if_names_the_conflict(tiny):
    res = solve(tiny.with_constraints(max_offers=1, must_offer=["A", "B"]))
    assert res.status == "infeasible" and not res.has_plan
    assert res.objective is None and len(res.plan) == 0
    assert sorted(res.summary["conflicting_constraints"]) == ["max_offers", "must_offer"]
    message = res.no_plan_message
    assert message.startswith("the rules cannot all hold: conflict between ")
    assert "max_offers" in message and "must_offer" in message
    assert solve(tiny).no_plan_message == ""


@pytest.mark.parametrize("status, summary, words", [
    ("infeasible", {"conflicting_constraints": []}, "the rules cannot all hold"),
    ("no_solution", {"stopped_by": "time_limit"}, "no plan found within the time limit"),
    ("no_solution", {"cancelled": True, "stopped_by": None}, "cancelled before a plan was found"),
    ("no_solution", {}, "without a plan"),
    ("feasible", {"stopped_by": "time_limit"}, ""),
])
def test_no_plan_message_says_why(status, summary, words):
    from solver.status import no_plan_message

    message = no_plan_message(status, summary)
    assert (words in message) if words else message == ""
    assert "conflict" not in message


def test_versions_are_recorded_as_text_and_missing_ones_said_so(tiny, monkeypatch):
    from importlib import metadata

    from solver.machine import VERSIONED_PACKAGES, package_versions

    versions = solve(tiny).summary["versions"]
    assert set(versions) == {"python", *VERSIONED_PACKAGES}
    assert all(isinstance(v, str) and v for v in versions.values())
    real = metadata.version

    def without_pyomo(name):
        if name == "pyomo":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", without_pyomo)
    assert package_versions()["pyomo"] == "not installed"
    assert package_versions()["numpy"] == real("numpy")


@pytest.mark.parametrize("option, value, name", [
    ("time_limit", 0, "time_limit"),
    ("time_limit", -3.0, "time_limit"),
    ("time_limit", "10", "time_limit"),
    ("mip_gap", 1.5, "mip_gap"),
    ("threads", 0, "threads"),
    ("threads", 2.5, "threads"),
    ("backend", "gurobi", "backend"),
])
def test_bad_options_raise_parameter_error(tiny, option, value, name):
    with pytest.raises(ParameterError) as err:
        solve(tiny, **{option: value})
    msg = str(err.value)
    # scikit-learn style: "The 'x' option must be … Got … instead."
    assert msg.startswith(f"The '{name}' option must be"), msg
    assert f"Got {value!r} instead." in msg, msg
    assert "\n" not in msg


def test_cpsat_refuses_mnl_before_building(tiny, monkeypatch):
    built = []
    real = api.build_model
    monkeypatch.setattr(api, "build_model", lambda sc, backend=None: built.append(sc) or real(sc, backend))
    mnl = tiny.replace(choice_model="mnl")
    with pytest.raises(CapabilityError) as err:
        solve(mnl, backend="cpsat")
    assert "cpsat" in str(err.value) and "mnl" in str(err.value)
    assert built == []
    # the same scenario is fine with HiGHS (and the spy does see that build)
    assert solve(mnl, backend="highs").status == "optimal"
    assert len(built) == 1


def test_mnl_objective_matches_the_independent_evaluator(tiny):
    mnl = tiny.replace(choice_model="mnl")
    res = solve(mnl)
    assert res.status == "optimal"
    feasible, objective, _ = evaluate_plan_frame(mnl, res.plan)
    assert feasible and _same(objective, res.objective)
    assert _same(res.plan["expected_profit"].sum(), res.objective)


def test_the_first_plan_is_highs_start_only_under_personalized_pricing() -> None:
    """Uniform pricing: HiGHS ends higher without the start (solver.first_plan.start_pays);
    the plan still stands by, so a solve never returns less than the first plan."""
    from formulations.offers import build_offer_space
    from formulations.synthetic import synthetic_scenario
    from solver.first_plan import start_pays

    sc = synthetic_scenario(12, seed=1, n_segments=3, n_products=4, wtp_level="product",
                            short_share=1.0, constraints={"inventory": True})
    uniform = build_offer_space(sc)
    personal = build_offer_space(sc.replace(pricing="personalized"))
    assert not start_pays(uniform, "highs")
    assert start_pays(personal, "highs") and start_pays(uniform, "cpsat")
    assert not start_pays(build_offer_space(sc.replace(choice_model="mnl",
                                                       pricing="personalized")), "highs")
    res = solve(sc, time_limit=30)
    first = res.summary["first_plan"]
    assert first is not None and res.objective >= first["objective"] - 1e-6


def test_a_solver_plan_that_breaks_a_rule_when_priced_exactly_is_not_returned():
    """A (one P1, price 10, cost 1, WTP 40: e^30) and B (one P2, 5, cost 1, WTP 30: e^25),
    β 1, 100 shoppers, 60 P1 in stock. The segment is past e^20, so the MNL model relaxes
    its shares (formulations.mnl): A and B on sale, 60 buy A and 40 B, within the stock,
    a profit of 700 against 400 for B alone. Exactly, A takes 99.3 % of the segment and
    P1 runs over; the only plan that keeps the stock sells B alone (400)."""
    from random_scenarios import make_scenario

    sc = make_scenario(products=[("P1", 1, 10, 60), ("P2", 1, 5, None)],
                       bundles=[("A", {"P1": 1}), ("B", {"P2": 1})], segments=[("s", 100, 1.0)],
                       wtp=[("s", "A", 40), ("s", "B", 30)], discounts=[0], choice_model="mnl",
                       constraints={"inventory": True})
    r = solve(sc)
    # the solver's own plan was the split one (the note says so), and it is not returned
    assert any("breaks a rule when re-evaluated exactly" in n for n in r.summary["notes"]), r.summary["notes"]
    ev = evaluate_plan(sc, r.plan[["bundle_id", "segment_id", "price"]])
    assert ev.violations == [] and r.summary["violations"] == []
    assert list(r.plan["bundle_id"]) == ["B"] and r.objective == pytest.approx(ev.objective)
    assert r.status == "feasible"          # the solver's proof was about the capped model


def test_a_rule_breaking_solver_plan_without_a_first_plan_is_repaired():
    """The case above with a competitor on the market (priced out of reach, so it changes
    no share): MNL with competitor prices has no first plan to fall back on, so the
    solver's split plan is repaired by taking offers off sale — here A, which leaves B
    alone, the best plan that keeps the stock (brute force over the four plans)."""
    from itertools import combinations

    from random_scenarios import make_scenario

    sc = make_scenario(products=[("P1", 1, 10, 60), ("P2", 1, 5, None)],
                       bundles=[("A", {"P1": 1}), ("B", {"P2": 1})], segments=[("s", 100, 1.0)],
                       wtp=[("s", "A", 40), ("s", "B", 30)], discounts=[0], choice_model="mnl",
                       constraints={"inventory": True})
    sc = sc.replace(competitors=pd.DataFrame({"bundle_id": ["B"], "product_id": [""],
                                              "price": [1000.0], "period": [""]}))
    r = solve(sc)
    assert r.summary["first_plan"] is None
    assert any("offers were taken off sale" in n for n in r.summary["notes"]), r.summary["notes"]
    price = {"A": 10.0, "B": 5.0}
    plans = [pd.DataFrame({"bundle_id": list(c), "segment_id": "*", "price": [price[b] for b in c]})
             for k in range(3) for c in combinations(["A", "B"], k)]
    kept = [ev for ev in (evaluate_plan(sc, p) for p in plans) if not ev.violations]
    assert r.status == "feasible" and r.summary["violations"] == []
    assert r.objective == pytest.approx(max(ev.objective for ev in kept))
    assert list(r.plan["bundle_id"]) == ["B"]


def test_segments_past_the_cap_are_relaxed_not_split():
    """A (value 11, e^29), B (3, e^24, must be offered) and C (9, e^21). Capped at e^20,
    the model split the segment evenly and preferred {A, B, C} (23/3 a shopper against 7
    for {A, B}), reporting it optimal with a bound below what {A, B} earns priced exactly
    (10.9464 a shopper; {A, B, C} 10.9457). A competitor out of reach leaves no first plan
    to fall back on. Relaxed instead (formulations.mnl), the model's bound holds (at least
    the brute-force optimum over the four plans that offer B), and a plan is called optimal
    only if its exact value meets the bound."""
    from itertools import combinations

    from random_scenarios import make_scenario

    sc = make_scenario(products=[("P1", 1, 12, None), ("P2", 1, 4, None), ("P3", 1, 10, None)],
                       bundles=[("A", {"P1": 1}), ("B", {"P2": 1}), ("C", {"P3": 1})],
                       segments=[("s", 100, 1.0)], wtp=[("s", "A", 41), ("s", "B", 28), ("s", "C", 31)],
                       discounts=[0], choice_model="mnl", constraints={"must_offer": ["B"]})
    sc = sc.replace(competitors=pd.DataFrame({"bundle_id": ["B"], "product_id": [""],
                                              "price": [1000.0], "period": [""]}))
    price = {"A": 12.0, "B": 4.0, "C": 10.0}
    value = {c: evaluate_plan(sc, pd.DataFrame({"bundle_id": ["B", *c], "segment_id": "*",
                                                "price": [price[b] for b in ("B", *c)]})).objective
             for k in range(3) for c in combinations(["A", "C"], k)}
    best = max(value.values())
    assert best == value[("A",)] > value[("A", "C")]
    r = solve(sc)
    assert r.summary["first_plan"] is None
    assert any("shares are relaxed" in n for n in r.summary["notes"]), r.summary["notes"]
    # the relaxed segment may buy A alone from {A, B} or {A, B, C} alike (1,100 both): the
    # bound is that, the plan is what it earns priced exactly, and neither is called optimal
    assert r.bound == pytest.approx(1100.0, rel=1e-6) and r.bound >= best
    assert r.objective <= best + 1e-9 and r.objective >= value[("A", "C")] - 1e-9
    assert r.status == "feasible" and r.gap > 1e-3

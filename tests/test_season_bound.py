"""The season's relaxation bound (solver/season_bound.py) against brute force.

A bound is only a bound if it is never below the optimum: checked on every random season
of tests/test_season.py (both choice models and pricing modes, each markdown rule, stock
with receipts, salvage, competitors). Where nothing links the segments or the periods
(personalized prices, no stock, no rule across periods) the relaxation *is* the season,
so there it must equal the optimum; pricing the stock must never loosen it, and must
tighten it where stock binds. A solve whose first plan meets it is proven without the MIP.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce_season import season_brute_force  # noqa: E402
from test_season import CASES, MIXES, _rng, check_season, random_season  # noqa: E402

import solver.season_bound as season_bound  # noqa: E402
from formulations.build import build_model  # noqa: E402
from solver.api import solve  # noqa: E402

REL = 1e-6


def _season(pricing, choice_model, mix, k):
    return random_season(_rng("season", pricing, choice_model, mix, k), pricing=pricing,
                         choice_model=choice_model, objective=("profit", "revenue")[k % 2],
                         rules=MIXES[mix])


@pytest.mark.parametrize("pricing, choice_model, mix, k", CASES)
def test_bound_is_never_below_the_optimum(pricing, choice_model, mix, k):
    sc = _season(pricing, choice_model, mix, k)
    best, plan = season_brute_force(sc)
    bound = season_bound.season_relaxation_bound(build_model(sc, "highs"))
    if best is None or bound is None:
        return              # infeasible, or nothing can be sold: nothing to bound
    assert bound >= best - REL * max(1.0, abs(best)), (bound, best, plan)


@pytest.mark.parametrize("choice_model", ["first_choice", "mnl"])
@pytest.mark.parametrize("k", range(4))
def test_bound_is_the_optimum_when_nothing_links_segments_or_periods(choice_model, k):
    sc = random_season(_rng("unlinked", choice_model, k), pricing="personalized",
                       choice_model=choice_model, objective=("profit", "revenue")[k % 2],
                       rules=set())
    best, _ = season_brute_force(sc)
    bound = season_bound.season_relaxation_bound(build_model(sc, "highs"))
    assert (bound or 0.0) == pytest.approx(best or 0.0, rel=REL, abs=REL)


@pytest.mark.parametrize("choice_model", ["first_choice", "mnl"])
def test_pricing_the_stock_tightens_the_bound(monkeypatch, choice_model):
    """Over the random seasons with stock: the priced bound is never above the bound
    with the stock dropped (no column generation round), and below it where stock binds."""
    tighter = 0
    for pricing, choice, mix, k in CASES:
        if choice != choice_model or "inventory" not in MIXES[mix]:
            continue
        built = build_model(_season(pricing, choice, mix, k), "highs")
        priced = season_bound.season_relaxation_bound(built)
        with monkeypatch.context() as m:
            m.setattr(season_bound, "ROUNDS", 0)
            dropped = season_bound.season_relaxation_bound(built)
        if priced is None:
            assert dropped is None
            continue
        assert priced <= dropped * (1 + 1e-12) + 1e-9
        tighter += priced < dropped * (1 - 1e-6)
    assert tighter >= 2


@pytest.mark.parametrize("choice_model", ["first_choice", "mnl"])
@pytest.mark.parametrize("mix", ["plain", "stock", "max_changes"])
def test_a_first_plan_that_meets_the_bound_is_proven_without_the_mip(choice_model, mix):
    """Personalized seasons, where the bound is often exact: the solve's answer is still
    the brute-force optimum, its plan re-evaluates to it, and where no MIP ran the bound
    reported is the relaxation's."""
    found = []
    for k in range(2):
        sc = _season("personalized", choice_model, mix, k)
        check_season(sc)
        r = solve(sc)
        if any("no MIP solve was needed" in n for n in r.summary["notes"]):
            found.append(r)
            assert r.status == "optimal" and r.summary["bound_source"] == "segment relaxation"
            assert r.bound == pytest.approx(r.objective, rel=1e-6, abs=1e-6)
    if mix == "plain":
        assert found, "an unlinked season's first plan meets its exact bound"


def test_the_reported_bound_is_never_looser_than_the_relaxations():
    """Under MNL the season MIP's own bound stays near its LP relaxation's; the solve
    reports the relaxation's where it is tighter, and it is a bound on the plan."""
    sc = _season("uniform", "mnl", "everything", 1)
    r = solve(sc, time_limit=20)
    assert r.bound is not None and r.bound >= r.objective * (1 - 1e-9)
    relaxed = season_bound.season_relaxation_bound(build_model(sc, "highs"))
    assert r.bound <= relaxed * (1 + 1e-9)

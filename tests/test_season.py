"""Season plans (SCENARIO.md §8) against exhaustive enumeration, and the backends against
each other: random tiny seasons (2–3 periods, up to 3 offers, 2 segments) for both choice
models and both pricing modes, with each markdown rule, stock carried over with
receipts, salvage and competitors. Expected values come from ``bruteforce_season.py``,
never from ``solve``."""
from __future__ import annotations

import dataclasses
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce_season import evaluate_season, plans_from_frame, season_brute_force  # noqa: E402
from random_scenarios import make_scenario  # noqa: E402

from formulations.scenario import Horizon  # noqa: E402
from formulations.validate import validate_scenario  # noqa: E402
import solver.api  # noqa: E402
from solver.api import solve  # noqa: E402

REL = ABS = 1e-6


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, parts)).encode()))


def random_season(rng: np.random.Generator, *, pricing: str, choice_model: str, objective: str,
                  rules: set[str]):
    """A tiny random season a user could load (validated)."""
    personalized = pricing == "personalized"
    n_products = int(rng.integers(2, 4))
    pids = [f"P{i}" for i in range(n_products)]
    stock = "inventory" in rules
    products = [(p, round(float(rng.uniform(1, 4)), 2), round(float(rng.uniform(6, 12)), 2),
                 (float(rng.integers(4, 25)) if rng.random() < 0.8 else None) if stock else None)
                for p in pids]
    bundles = [(f"S_{p}", {p: 1}) for p in pids]
    bundles.append(("B", {pids[0]: 1, pids[1]: 1}, float(rng.choice([0.0, 0.1]))))
    rng.shuffle(bundles)
    bundles = bundles[:2 if personalized else 3]
    ref = {b[0]: sum(q * p[2] for p in products for pid, q in b[1].items() if p[0] == pid)
           for b in bundles}
    segments = [(s, round(float(rng.uniform(2, 12)), 1), round(float(rng.uniform(0.3, 1.2)), 2))
                for s in ("s1", "s2")]
    wtp = [(s, b, round(ref[b] * float(rng.uniform(0.7, 1.3)), 2))
           for s, *_ in segments for b in ref if rng.random() < 0.85]
    if not wtp:
        wtp = [("s1", bundles[0][0], ref[bundles[0][0]])]
    constraints: dict = {}
    if stock:
        constraints["inventory"] = True
    if "no_increase" in rules:
        constraints["no_increase"] = True
    if "max_changes" in rules:
        constraints["max_changes"] = int(rng.integers(0, 2))
    if "min_gap" in rules:
        constraints["min_gap"] = int(rng.integers(2, 4))
    if "price_change" in rules:
        constraints["max_price_change"] = round(float(rng.uniform(0.05, 0.25)), 2)
    if "max_offers" in rules:
        constraints["max_offers"] = 1
    if "must_offer" in rules:
        constraints["must_offer"] = (bundles[0][0],)
    discounts = [0.0, round(float(rng.uniform(0.1, 0.3)), 2)]
    previous = []
    if rules & {"no_increase", "max_changes", "price_change", "min_gap"}:
        for b in ref:
            if rng.random() < 0.6:
                d = float(rng.choice(discounts + [0.05]))
                seg = "*" if not personalized or rng.random() < 0.5 else "s1"
                previous.append((b, seg, round(ref[b] * (1 - d), 2)))
    sc = make_scenario(products=products, bundles=bundles, segments=segments, wtp=wtp,
                       previous_plan=previous, constraints=constraints, pricing=pricing,
                       choice_model=choice_model, objective=objective, discounts=discounts)
    periods = int(rng.integers(2, 3 if personalized else 4))
    labels = tuple(str(t) for t in range(1, periods + 1))
    salvage = round(float(rng.uniform(0, 0.8)), 2) if stock else 0.0
    sizes = [(t, s, round(float(rng.uniform(0, 14)), 1)) for t in labels for s, *_ in segments
             if rng.random() < 0.5]
    receipts = [(t, p, float(rng.integers(0, 8))) for t in labels[1:] for p in pids
                if stock and rng.random() < 0.4]
    comp = []
    if "competitors" in rules:
        for _ in range(int(rng.integers(1, 3))):
            if rng.random() < 0.5:
                b = str(rng.choice(list(ref)))
                comp.append((b, "", round(ref[b] * float(rng.uniform(0.7, 1.1)), 2), ""))
            else:
                p = str(rng.choice(pids))
                lp = next(x[2] for x in products if x[0] == p)
                comp.append(("", p, round(lp * float(rng.uniform(0.6, 1.1)), 2),
                             str(rng.choice(labels)) if rng.random() < 0.5 else ""))
    seg = sc.segments.assign(switching_cost=[round(float(rng.uniform(0, 1.5)), 2)
                                             if "competitors" in rules else np.nan for _ in segments])
    sc = dataclasses.replace(
        sc, segments=seg, horizon=Horizon(labels, salvage),
        periods=pd.DataFrame(sizes, columns=["period", "segment_id", "size"]).astype({"size": float}),
        receipts=pd.DataFrame(receipts, columns=["period", "product_id", "units"]).astype({"units": float}),
        competitors=pd.DataFrame(comp, columns=["bundle_id", "product_id", "price", "period"]).astype(
            {"price": float}))
    return validate_scenario(sc, source="random")


def check_season(sc, backend: str = "highs") -> float | None:
    """solve() agrees with the enumeration; its plan re-evaluates to its objective."""
    best, best_plan = season_brute_force(sc)
    result = solve(sc, backend=backend)
    ctx = f"\nbrute force: {best} {best_plan}\nplan:\n{result.plan}"
    if best is None:
        assert result.status == "infeasible", f"expected infeasible, got {result.status}" + ctx
        return None
    assert result.status == "optimal", result.status + ctx
    assert result.objective == pytest.approx(best, rel=REL, abs=ABS), ctx
    assert list(result.plan.columns[:4]) == ["period", "bundle_id", "segment_id", "price"]
    ev = evaluate_season(sc, plans_from_frame(sc, result.plan))
    assert ev.feasible, f"plan breaks {ev.violations}" + ctx
    assert ev.objective == pytest.approx(result.objective, rel=REL, abs=ABS), ctx
    solver_obj = result.summary.get("solver_objective")
    assert solver_obj is None or solver_obj == pytest.approx(ev.objective, rel=1e-5, abs=1e-5), ctx
    assert result.summary["violations"] == []
    return result.objective


MIXES = {
    "plain": set(),
    "stock": {"inventory"},
    "no_increase": {"no_increase", "inventory"},
    "max_changes": {"max_changes"},
    "min_gap": {"min_gap"},
    "price_change": {"price_change"},
    "competitors": {"competitors", "inventory"},
    "markdown": {"no_increase", "max_changes", "min_gap", "max_offers"},
    "everything": {"inventory", "no_increase", "max_changes", "price_change", "competitors",
                   "must_offer"},
}
CASES = [(p, c, m, k) for p in ("uniform", "personalized") for c in ("first_choice", "mnl")
         for m in MIXES for k in range(2)]


@pytest.fixture
def mip_only(monkeypatch):
    """The season's MIP always runs: without the relaxation's bound a first plan is never
    proven before it (tests/test_season_bound.py checks the bound and that shortcut)."""
    monkeypatch.setattr(solver.api, "season_relaxation", lambda built, until=None: (None, None))


@pytest.mark.parametrize("pricing, choice_model, mix, k", CASES)
def test_season_matches_brute_force(pricing, choice_model, mix, k, mip_only):
    rng = _rng("season", pricing, choice_model, mix, k)
    objective = ("profit", "revenue")[k % 2]
    sc = random_season(rng, pricing=pricing, choice_model=choice_model, objective=objective,
                       rules=MIXES[mix])
    check_season(sc)


@pytest.mark.parametrize("pricing, mix, k", [(p, m, k) for p in ("uniform", "personalized")
                                             for m in ("stock", "markdown", "everything")
                                             for k in range(2)])
def test_season_cpsat_agrees_with_highs(pricing, mix, k, mip_only):
    rng = _rng("season-cpsat", pricing, mix, k)
    sc = random_season(rng, pricing=pricing, choice_model="first_choice", objective="profit",
                       rules=MIXES[mix])
    highs = check_season(sc, "highs")
    cpsat = check_season(sc, "cpsat")
    assert (highs is None) == (cpsat is None)
    if highs is not None:
        assert cpsat == pytest.approx(highs, rel=REL, abs=ABS)


ONE_PERIOD_MIXES = ["margin_cap", "inventory", "pins", "arbitrage", "coverage_seg_cap",
                    "fairness", "price_change", "inv_arb_cap"]


@pytest.mark.parametrize("pricing, choice_model, mix", [
    (p, c, m) for p in ("uniform", "personalized") for c in ("first_choice", "mnl")
    for m in ONE_PERIOD_MIXES])
def test_a_one_period_season_earns_what_the_one_period_scenario_does(pricing, choice_model, mix):
    """`horizon: {periods: 1}` is the one-period model built the season's way (idle points
    kept, the stock as one cumulative row, price_change as rows): the same optimum."""
    from random_scenarios import random_scenario
    from test_bruteforce import MIXES as ONE_PERIOD

    rng = _rng("one-period-season", pricing, choice_model, mix)
    sc = random_scenario(rng, pricing=pricing, choice_model=choice_model, objective="profit",
                         constraints=ONE_PERIOD[mix])
    season = validate_scenario(dataclasses.replace(sc, horizon=Horizon(("1",), 0.0)), source="random")
    one, many = solve(sc), solve(season)
    assert many.status == one.status
    if one.objective is not None:
        assert many.objective == pytest.approx(one.objective, rel=REL, abs=ABS)


@pytest.mark.parametrize("choice_model, mix, k", [
    (c, m, k) for c in ("first_choice", "mnl") for m in ("stock", "no_increase", "markdown", "everything")
    for k in range(3)])
def test_each_period_on_its_own_is_a_season_plan(choice_model, mix, k):
    """The first plan's second candidate (solver.season_start.weekly_plan) keeps every rule
    of the season — stock carried over, the markdown history — and the first plan a solve
    reports is at least as good as it; the solve earns at least the third candidate (each
    period solved exactly, found beside the MIP)."""
    from formulations.evaluate import evaluate_plan
    from solver.season_start import weekly_plan

    rng = _rng("weekly", choice_model, mix, k)
    sc = random_season(rng, pricing="uniform", choice_model=choice_model, objective="profit",
                       rules=MIXES[mix])
    result = solve(sc)
    first = result.summary["first_plan"]
    for exact in (False, True):         # the second candidate, and the third (each period solved)
        plan = weekly_plan(sc, 0.5 if not exact else 10.0, solve=solve if exact else None)
        if plan is None:
            continue
        ev = evaluate_plan(sc, plan)
        assert ev.violations == [], (exact, ev.violations, plan)
        if first is not None and first.get("objective") is not None and not exact:
            assert first["objective"] >= ev.objective - 1e-6
        # the season solve never earns less than each period solved on its own
        assert result.objective is not None and result.objective >= ev.objective - 1e-6, exact


@pytest.mark.parametrize("choice_model", ["first_choice", "mnl"])
def test_exact_weeks_beside_the_mip_is_a_season_plan(choice_model):
    """The third candidate as the solve runs it (solver.season_start.ExactWeeks): each
    period solved in order within the solver's deadline, re-evaluated on the season, its
    points the season model's, and kept by the solve only where it earns more."""
    from formulations.build import build_model
    from formulations.evaluate import evaluate_plan
    from solver.api import _better_first, _FirstPlan
    from solver.deadline import Deadline
    from solver.first_plan import same_plan
    from solver.season_start import ExactWeeks

    rng = _rng("exact-weeks", choice_model)
    sc = random_season(rng, pricing="uniform", choice_model=choice_model, objective="profit",
                       rules=MIXES["everything"])
    built = build_model(sc, "highs")
    assert ExactWeeks.applies(built, 10 ** 9, "highs") and ExactWeeks.applies(built, 0, "cpsat")
    # a season model solved in this process's HiGHS, one solve at a time: not beside it
    assert not ExactWeeks.applies(built, built.model.to_arrays().A.nnz, "highs")
    found = ExactWeeks(built, Deadline(30), solve).start().result()
    assert found is not None
    ev = evaluate_plan(sc, found.plan)
    assert ev.violations == [] and ev.objective == pytest.approx(found.objective, rel=1e-9, abs=1e-9)
    x = np.zeros(built.model.num_cols)
    x[built.model.vars["on_sale"].cols()[found.points]] = 1.0
    assert same_plan(found, built, x)
    worse = dataclasses.replace(found, objective=found.objective - 1.0)
    assert _better_first(_FirstPlan(plan=worse), found).plan is found
    assert _better_first(_FirstPlan(plan=found), worse).plan is found
    assert _better_first(_FirstPlan(), None).plan is None
    # stopped at once: no plan, and the solve's own first plan stands
    assert ExactWeeks(built, Deadline(30), solve).start().result(stop=True) is None


@pytest.mark.parametrize("choice_model, mix, k", [
    (c, m, k) for c in ("first_choice", "mnl") for m in ("stock", "markdown", "everything") for k in range(2)])
def test_season_beside_its_exact_weeks_matches_brute_force(monkeypatch, choice_model, mix, k,
                                                           mip_only):
    """Where the season's MIP runs beside its periods' exact solves (big seasons: forced
    here by sending every HiGHS solve to a child process), a first-choice uniform season
    is solved on the model without ladder rows, presolved, and no race; the plan is the
    brute-force optimum either way."""
    import solver.backends.highs_process as highs_process
    import solver.season_start as season_start
    monkeypatch.setattr(highs_process, "IN_PROCESS_MAX_NNZ", 0)
    monkeypatch.setattr(season_start, "IN_PROCESS_MAX_NNZ", 0)
    rng = _rng("beside", choice_model, mix, k)
    sc = random_season(rng, pricing="uniform", choice_model=choice_model,
                       objective=("profit", "revenue")[k], rules=MIXES[mix])
    model = solve(sc).summary["model"]
    assert model["side_by_side"] is None
    if choice_model == "first_choice":
        assert model["formulation"] == "season_first_choice_uniform"
    check_season(sc)


@pytest.mark.parametrize("mix, k", [(m, k) for m in ("stock", "markdown", "everything") for k in range(2)])
def test_an_mnl_season_with_a_time_limit_runs_its_periods_instead_of_the_mip(monkeypatch, mix, k):
    """Under MNL with a time limit, a season whose periods are solved exactly beside its
    MIP (forced here, as above) runs them instead of the MIP: the plan keeps every rule,
    earns at least what they earn one after the other, and the reported bound is still
    above the brute-force optimum. Without a limit the MIP runs."""
    import solver.backends.highs_process as highs_process
    import solver.season_start as season_start
    from formulations.evaluate import evaluate_plan
    monkeypatch.setattr(highs_process, "IN_PROCESS_MAX_NNZ", 0)
    monkeypatch.setattr(season_start, "IN_PROCESS_MAX_NNZ", 0)
    rng = _rng("instead", mix, k)
    sc = random_season(rng, pricing="uniform", choice_model="mnl", objective="profit",
                       rules=MIXES[mix])
    best = season_brute_force(sc)[0]
    r = solve(sc, time_limit=20)
    skipped = "the season's MIP is not run" in " ".join(r.summary["notes"])
    assert skipped or r.status == "optimal", r.summary["notes"]   # proven by the first plan
    if skipped:     # no matrix was built for it: the summary sizes the model all the same
        from formulations.build import build_model
        form, size = build_model(sc, "highs").model.to_arrays(), r.summary["model"]
        assert (size["variables"], size["constraints"], size["integer_variables"]) == (
            form.A.shape[1], form.A.shape[0], int(form.integer.sum()))
        assert size["nonzeros"] >= form.A.nnz
    if best is None:
        return
    ev = evaluate_plan(sc, r.plan[["period", "bundle_id", "segment_id", "price"]])
    assert ev.violations == [] and r.objective == pytest.approx(ev.objective, rel=1e-9, abs=1e-6)
    assert r.objective <= best + 1e-6 * max(1.0, abs(best))
    assert r.bound is not None and r.bound >= best - 1e-6 * max(1.0, abs(best))
    weekly = season_start.weekly_plan(sc, 10.0, solve=solve, charged=False)
    if weekly is not None and not evaluate_plan(sc, weekly).violations:
        assert r.objective >= evaluate_plan(sc, weekly).objective - 1e-6 * max(1.0, abs(best))
    unlimited = solve(sc)
    assert "the season's MIP is not run" not in " ".join(unlimited.summary["notes"])
    assert unlimited.objective == pytest.approx(best, rel=1e-6, abs=1e-6)


def test_progress_shows_the_best_plan_so_far():
    """A plan found beside the solver, or a first plan standing by, stays the best plan
    shown while the solver's own plans are worse; bounds pass through as reported."""
    import time

    from solver.api import _ProgressRelay
    seen = []
    relay = _ProgressRelay(seen.append, time.perf_counter())
    relay.backend(1.0, 10.0, 20.0)
    relay.backend(2.0, 8.0, 19.0)
    relay.backend(3.0, None, 18.0)
    relay.beside(12.0)
    relay.backend(4.0, 11.0, 17.0)
    relay.beside(9.0)
    assert [p.objective for p in seen] == [10.0, 10.0, 10.0, 12.0, 12.0, 12.0]
    assert [p.bound for p in seen] == [20.0, 19.0, 18.0, 18.0, 17.0, 17.0]

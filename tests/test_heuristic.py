"""The first-plan heuristic against brute force, and its hand-over to the solvers.

Every plan the heuristic returns must be feasible and worth exactly what the
independent checker (``bruteforce.py``) says, never more than the brute-force optimum;
when brute force finds no feasible plan, the heuristic must not return one. Its MIP
start must be a feasible point of the exact model with the same value; and a solve
that stops before the solver beats it returns it as ``feasible``, never ``optimal``.
"""
from __future__ import annotations

import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import brute_force, evaluate, plan_from_frame  # noqa: E402
from random_scenarios import random_scenario  # noqa: E402
from test_bruteforce import MIXES  # noqa: E402

from formulations.build import build_model  # noqa: E402
from formulations.evaluate import evaluate_plan  # noqa: E402
from solver.api import solve  # noqa: E402
from formulations.options import SolverOptions  # noqa: E402
from solver.backends.highs import HighsBackend  # noqa: E402
from solver.heuristic import (_forced_start, _plan, _randomized_greedy, _Search,  # noqa: E402
                              heuristic_plan, start_vector)

CASES = [(p, c, m, k)
         for p in ("uniform", "personalized")
         for c in ("first_choice", "mnl")
         for m in MIXES
         for k in range(2)]


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, ("heuristic",) + parts)).encode()))


@pytest.mark.parametrize("pricing, choice_model, mix, k", CASES)
def test_heuristic_plan_is_feasible_and_priced_right(pricing, choice_model, mix, k):
    sc = random_scenario(_rng(pricing, choice_model, mix, k), pricing=pricing,
                         choice_model=choice_model, objective=("profit", "revenue")[k],
                         constraints=MIXES[mix])
    best, _ = brute_force(sc)
    built = build_model(sc)
    res = heuristic_plan(built.space, 5.0)
    if best is None:
        assert res is None, "a plan for a scenario brute force finds infeasible"
        return
    if res is None:
        # allowed (a heuristic may fail), but only where rules force offers on sale
        assert set(sc.constraints.active()) & {"must_offer", "coverage"}, "no plan without forcing rules"
        return
    feasible, value, ev = evaluate(sc, plan_from_frame(sc, res.plan))
    assert feasible, ev.violations
    assert res.objective == pytest.approx(value, rel=1e-9, abs=1e-9)
    assert value <= best + 1e-6 * max(1.0, abs(best))

    # a restart's randomized greedy plan keeps every rule and is priced right too
    h = _Search(built.space)
    forced = _forced_start(h, np.full(h.n_groups, -1, np.int64))
    start_obj, start_ok = h.evaluate(forced) if forced is not None else (None, False)
    if not start_ok:
        assert set(sc.constraints.active()) & {"must_offer", "coverage"}, "no restart without forcing rules"
    for seed in range(3 if start_ok else 0):
        sel, obj = _randomized_greedy(h, forced, start_obj, lambda: False, np.random.default_rng(seed))
        ok, worth, ev = evaluate(sc, plan_from_frame(sc, _plan(built.space, sel[sel >= 0])))
        assert ok, ev.violations
        assert obj == pytest.approx(worth, rel=1e-9, abs=1e-6)

    # the MIP start is a point of the exact model worth the same: fix what it gives
    x0 = start_vector(built.model, built.space, res.points)
    form = built.model.to_arrays()
    given = ~np.isnan(x0)
    form.lb, form.ub = form.lb.copy(), form.ub.copy()
    form.lb[given] = form.ub[given] = x0[given]
    raw = HighsBackend().solve(form, SolverOptions(mip_gap=1e-9))
    assert raw.status == "optimal", "the MIP start is not a feasible point of the model"
    assert raw.x is not None
    assert evaluate_plan(sc, built.plan_from_solution(raw.x)).objective == pytest.approx(value, rel=1e-6, abs=1e-6)


def _midsize(n: int = 150, segments: int = 20, seed: int = 0, choice_model: str = "first_choice"):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from midsize import midsize_scenario
    return midsize_scenario(n, seed, n_segments=segments, min_margin=0.1, choice_model=choice_model)


def test_stopped_solve_returns_the_first_plan_as_feasible_only():
    sc = _midsize()
    res = solve(sc, time_limit=1.0)
    assert res.status in ("feasible", "optimal")
    assert res.summary["first_plan"] is not None
    ev = evaluate_plan(sc, res.plan)
    assert not ev.violations and res.objective == pytest.approx(ev.objective)
    assert res.objective >= res.summary["first_plan"]["objective"] - 1e-6
    if res.status == "optimal":
        # only the solver proves optimality: it must come with a bound that shows it
        assert res.gap is not None and res.gap <= 1e-6
    if res.bound is not None:
        assert res.bound >= res.objective - 1e-6 * abs(res.objective)


@pytest.mark.parametrize("pricing, choice_model", [(p, c) for p in ("uniform", "personalized")
                                                   for c in ("first_choice", "mnl")])
def test_a_warm_start_is_a_start_never_a_result(pricing, choice_model):
    """Started from a brute-force optimal plan, the search keeps at least its value; a
    solve warm-started from a neighbour's plan (or from a plan of another scenario) still
    returns the brute-force optimum."""
    rng = _rng("warm", pricing, choice_model)
    for _ in range(4):
        sc = random_scenario(rng, pricing=pricing, choice_model=choice_model,
                             constraints=MIXES[list(MIXES)[1]])
        best, plan = brute_force(sc)
        if best is None or plan is None:
            continue
        opt = solve(sc)
        assert opt.objective == pytest.approx(best, rel=1e-6, abs=1e-6)
        first = heuristic_plan(build_model(sc).space, 5.0, initial=opt.plan)
        assert first is not None and first.objective >= best - 1e-6 * max(1.0, abs(best))
        other = random_scenario(rng, pricing=pricing, choice_model=choice_model)
        for start in (opt.plan, solve(other).plan):
            res = solve(sc, warm_start=start)
            assert res.status == "optimal"
            assert res.objective == pytest.approx(best, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("choice_model", ["first_choice", "mnl"])
def test_the_search_reports_each_better_plan_as_it_finds_it(choice_model):
    # progress during the first plan's search: each value reported is a plan the search
    # held, so they rise, and the last is what the returned plan earns (evaluate_plan)
    sc = _midsize(60, 8, seed=2, choice_model=choice_model)
    seen = []
    first = heuristic_plan(build_model(sc).space, 2.0, improved=seen.append)
    assert first is not None and seen
    assert all(b > a for a, b in zip(seen, seen[1:]))
    assert seen[-1] == pytest.approx(first.objective, rel=1e-9)
    snaps = []
    res = solve(sc, time_limit=3.0, progress=snaps.append)
    shown = [p for p in snaps if p.objective is not None]
    best_first = res.summary["first_plan"]["objective"]
    assert shown and shown[0].objective <= best_first * (1 + 1e-9)
    assert any(p.objective == pytest.approx(best_first, rel=1e-9) for p in shown)
    assert all(b.elapsed >= a.elapsed for a, b in zip(snaps, snaps[1:]))

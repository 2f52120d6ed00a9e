"""The race of the ladder model and its twin, on HiGHS presolved or on CP-SAT (solver/race.py).

Uniform first-choice solves on two cores run it for models HiGHS solves in a child
process; brute-force scenarios are smaller, so here the race is forced on them (both
runs in child processes): its plans against brute force, the twin as an exact model of
its own, the race's answer as the better plan and the tighter bound, where it is
skipped, and that it stops.
"""
from __future__ import annotations

import sys
import threading
import time
import zlib
from pathlib import Path

import highspy
import numpy as np
import pytest

import solver.backends.highs_process as highs_process
import solver.race as race_module

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_scenarios import random_scenario  # noqa: E402
from test_bruteforce import MIXES, brute_force, check_against_brute_force  # noqa: E402

from formulations.build import add_twin, build_model, carry_on_sale  # noqa: E402
from formulations.options import SolverOptions  # noqa: E402
from solver.api import solve  # noqa: E402
from solver.backends import RawSolution, SolveControl  # noqa: E402
from solver.backends.highs import HighsBackend  # noqa: E402
from solver.deadline import Deadline  # noqa: E402
from solver.race import _Board, _merge, race, race_applies  # noqa: E402
from solver.status import Status  # noqa: E402


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, ("race",) + parts)).encode()))


@pytest.fixture
def forced(monkeypatch):
    """Race every uniform first-choice solve, both runs in child processes."""
    monkeypatch.setattr(race_module, "RACE_MIN_NONZEROS", 0)
    monkeypatch.setattr(highs_process, "IN_PROCESS_MAX_NNZ", 0)
    return monkeypatch


def _twin_on(monkeypatch, twin: str) -> None:
    """Make the twin run on ``twin`` whatever the model's size."""
    monkeypatch.setattr(race_module, "CPSAT_TWIN_MAX_ARCS", 10 ** 9 if twin == "cpsat" else -1)


def _twinned(sc):
    built = build_model(sc, "highs")
    assert add_twin(built)
    return built


def _stocked(seed: int):
    return random_scenario(_rng("stock", seed), pricing="uniform", constraints=MIXES["inv_arb_cap"])


@pytest.mark.parametrize("mix", sorted(MIXES))
def test_the_twin_alone_matches_brute_force(mix):
    """Solved on its own (presolve on), the twin's plan is the brute-force optimum."""
    sc = random_scenario(_rng("twin", mix), pricing="uniform", constraints=MIXES[mix])
    built = _twinned(sc)
    assert built.twin.presolve
    raw = HighsBackend().solve(built.twin.to_arrays(), SolverOptions(time_limit=60))
    best, _ = brute_force(sc)
    if best is None:
        assert raw.status == Status.INFEASIBLE
        return
    assert raw.status == Status.OPTIMAL
    x = carry_on_sale(raw.x, built.twin, built.model, 0.0)
    from formulations.evaluate import evaluate_plan
    ev = evaluate_plan(sc, built.plan_from_solution(x))
    assert not ev.violations
    assert ev.objective == pytest.approx(best, rel=1e-7, abs=1e-6)


@pytest.mark.parametrize("twin", ["highs", "cpsat"])
@pytest.mark.parametrize("mix", ["none", "inventory", "inv_arb_cap", "price_change", "pins"])
@pytest.mark.parametrize("objective", ["profit", "revenue"])
def test_race_matches_brute_force(forced, mix, objective, twin):
    _twin_on(forced, twin)
    sc = random_scenario(_rng("forced", mix, objective), pricing="uniform", objective=objective,
                         constraints=MIXES[mix])
    model = solve(sc).summary["model"]
    assert (model["side_by_side"], model["side_by_side_backend"]) == ("first_choice_uniform", twin)
    check_against_brute_force(sc)


def test_the_twin_runs_on_cpsat_only_for_small_one_period_models():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_season import season_scenario
    from families import family_scenario
    small = _twinned(family_scenario("b", (20, 60, 8, 7), 0))
    big = _twinned(family_scenario("b", (40, 150, 20, 7), 0))
    assert len(small.space.arcs) <= race_module.CPSAT_TWIN_MAX_ARCS < len(big.space.arcs)
    assert race_module.twin_backend(small) == "cpsat"
    assert race_module.twin_backend(big) == "highs"
    season = _twinned(season_scenario("b", (20, 60, 8), 3, 0, 0.2, None))
    assert race_module.twin_backend(season) == "highs"


@pytest.mark.parametrize("seed", range(3))
def test_one_thread_skips_the_race_and_agrees(forced, seed):
    sc = _stocked(seed)
    raced, alone = solve(sc), solve(sc, threads=1)
    assert raced.summary["model"]["side_by_side"] == "first_choice_uniform"
    assert alone.summary["model"]["side_by_side"] is None
    assert raced.status == alone.status
    if raced.objective is not None:
        assert raced.objective == pytest.approx(alone.objective, rel=1e-7, abs=1e-6)


def test_race_only_where_it_applies(forced):
    assert race_applies("highs", None, 2, 1) and race_applies("highs", 4, 8, 1)
    assert not race_applies("highs", 1, 8, 1)
    assert not race_applies("highs", None, 1, 1)
    assert not race_applies("cpsat", None, 8, 1)
    personalized = random_scenario(_rng("pers"), pricing="personalized")
    mnl = random_scenario(_rng("mnl"), pricing="uniform", choice_model="mnl")
    for sc in (personalized, mnl):        # no ladder rows: nothing to race
        assert not add_twin(build_model(sc, "highs"))
        assert solve(sc).summary["model"]["side_by_side"] is None


def test_carry_refuses_models_of_other_scenarios():
    a, b = _twinned(_stocked(0)), _twinned(_stocked(1))
    with pytest.raises(ValueError, match="different on_sale keys"):
        carry_on_sale(np.zeros(a.twin.num_cols), a.twin, b.model, 0.0)


def _raw(status, x, obj, bound):
    return RawSolution(Status(status), x, obj, bound, 1.0, notes=[f"{status} run"])


HIGHS_TWICE = (HighsBackend, HighsBackend)


def test_merge_takes_the_better_plan_and_the_tighter_bound():
    """The plan of one run and the bound of the other prove optimality together."""
    built = _twinned(_stocked(2))
    n_model, n_twin = built.model.num_cols, built.twin.num_cols
    on_twin = built.twin.vars["on_sale"].cols()
    x_twin = np.zeros(n_twin)
    x_twin[on_twin[0]] = 1.0
    raws = [_raw("feasible", np.zeros(n_model), 90.0, 100.0), _raw("feasible", x_twin, 99.995, 120.0)]
    ctl = SolveControl(Deadline(10))
    board = _Board("max", 1e-4, ctl)
    out = _merge(built, raws, board, 1e-4, False, ctl, HIGHS_TWICE)
    assert out.status == Status.OPTIMAL        # 99.995 against the bound 100
    assert out.objective == 99.995 and out.bound == 100.0
    assert len(out.x) == n_model
    assert np.flatnonzero(built.model.values(out.x, "on_sale")).tolist() == [0]
    assert ("the plan is first_choice_uniform on HiGHS (presolved)'s, "
            "the bound first_choice_ladder_uniform on HiGHS's") in out.notes[-1]
    # apart by more than the gap: feasible, stopped by the limit
    raws[1] = _raw("feasible", x_twin, 95.0, 120.0)
    out = _merge(built, raws, _Board("max", 1e-4, ctl), 1e-4, False, ctl, HIGHS_TWICE)
    assert out.status == Status.FEASIBLE and out.objective == 95.0 and out.stopped_by == "time_limit"
    # neither has a plan and one proved the model infeasible
    out = _merge(built, [_raw("infeasible", None, None, None), _raw("no_solution", None, None, None)],
                 _Board("max", 1e-4, ctl), 1e-4, False, ctl, HIGHS_TWICE)
    assert out.status == Status.INFEASIBLE and out.x is None


@pytest.mark.parametrize("twin", ["highs", "cpsat"])
def test_cancel_stops_both_runs(monkeypatch, twin):
    """A cancel ends a race of runs that take seconds (family b at 20/60/8) at once."""
    _twin_on(monkeypatch, twin)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from families import family_scenario
    built = _twinned(family_scenario("b", (20, 60, 8, 7), 0))
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    t0 = time.perf_counter()
    out = race(HighsBackend, built, (built.model.to_arrays(), built.twin.to_arrays()),
               SolverOptions(time_limit=60), SolveControl(Deadline(60), cancel=cancel))
    assert out.cancelled and time.perf_counter() - t0 < 3.0
    assert out.status != Status.OPTIMAL and out.stopped_by is None


def test_callback_bounds_are_bounds_with_a_mip_start():
    """With a MIP start, HiGHS used to complete it by a restricted MIP that reported its
    own bound (the start's value) through our callbacks, and the race stopped on it
    claiming optimal (season b 40/150/10 × 8). Every bound passed on must be a bound:
    at least every plan found, and never just the start's value."""
    from solver.api import _build, _first_plan, _ProgressRelay
    from solver.backends.highs_child import load, quiet_highs, watch_mip
    from solver.backends.highs_run import HighsRun, model_arrays
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_season import season_scenario
    sc = season_scenario("b", (20, 60, 8), 3, 0, 0.2, None)
    model = _build(sc, "highs", 1, Deadline(None))
    first = _first_plan(model, sc.solver, Deadline(30), _ProgressRelay(None, time.perf_counter()),
                        None, None)
    assert first.start is not None
    h, log, seen = quiet_highs(), [], []
    load(h, model_arrays(model.form, HighsRun(seconds_left=8, start=first.start)), log)
    watch_mip(h, lambda obj, bound, x: seen.append((obj, bound)), lambda bound: seen.append((None, bound)))
    try:
        h.run()
    finally:   # let go of this thread's HiGHS scheduler, as highspy's own solves do
        highspy.Highs.resetThreadScheduler(False)
    assert "MIP start solution is feasible" in "".join(log)
    best = max(o for o, _ in seen if o is not None)
    bounds = [b for _, b in seen if b is not None]
    assert all(b >= best - 1e-6 * abs(best) for b in bounds), (best, bounds)
    assert h.getModelStatus() != highspy.HighsModelStatus.kOptimal   # 8 s do not prove it
    start_value = first.plan.objective
    assert not [b for b in bounds if abs(b - start_value) <= 1e-6 * abs(start_value)]

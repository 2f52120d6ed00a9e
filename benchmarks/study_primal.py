r"""Study (issue 9): can the primal side close the uniform-price gap at 60/250/30?

    python benchmarks/study_primal.py [--size 60/250/30] [--seed 0] [--budget 30]

At 60/250/30 uniform, bundleopt's first plan (967,430 at 60 s) is 0.2 % below what the
textbook MIP finds in 60 s (969,517), and HiGHS, handed that plan as its start, never
improves it. HiGHS without a start once reached 978,732 (the local search then lifts that
to 980,654): the better plans are in another basin. This script measures four ways of
getting there, each from the first plan, each plan re-valued by ``evaluate_plan``:

``ils``    the first plan's iterated local search with a longer budget;
``ruin``   ruin and recreate: take a share of the offers on sale off, descend again, keep
           the best (30 % and 60 % ruined);
``lns``    MIP neighbourhoods: fix every offer outside a random share (15 %, 40 %) to
           the incumbent's choice and let HiGHS (with presolve) solve the rest exactly;
``basin``  the local search started from HiGHS's own plan (HiGHS run without a start).

Measured (2-core box, seed 0, 30 s each; this script's output): the first plan with a
6 s budget is 968,733, and ``ils`` ends there too (at 15.7 s; also with ten times the
fruitless-kick allowance, or kicks of up to 5 or 9 moves, tried by hand); ``ruin``
968,733 at 30 % and 60 %; ``lns`` 968,733 — 20 of 21 sub-MIPs at 15 % and 3 of 5 at 40 %
proved the incumbent optimal in its neighbourhood; ``basin``: HiGHS alone reached 975,392
in 60 s and the local search lifts that to 980,655. At 200/1000/50/20 the search's plan
does not move from an 8 s to a 90 s budget (2,263,242). Every move- and neighbourhood-
based search settles in the first plan's basin; none was kept. Which basin HiGHS's own
search reaches depends on its thread setting and the load beside it (as a child process
at 60 s: 978,732 alone with default threads, 965,637 with one thread, 961,806 with a
second HiGHS on the other core) — too fragile to race a second HiGHS for. Tried by hand
too: rounding the root LP (0.2 s; per offer its largest point where the offer's LP total
is at least 0.5 / 0.3 / 0.1) and descending from there gave 968,733 / 961,956 / 947,974.
What was kept instead starts elsewhere: randomized greedy restarts before the kicks
(``study_restarts.py``), which reach 969,664 here within the first plan's 4 s.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import numpy as np  # noqa: E402

from bench_scale import make_scenario  # noqa: E402
from formulations.build import build_model  # noqa: E402
from solver.backends.highs_child import final_result, load, quiet_highs  # noqa: E402
from solver.backends.highs_run import HighsRun, model_arrays  # noqa: E402
from solver.heuristic import _local_search, _Search, heuristic_plan, start_vector  # noqa: E402


def ruin(h: _Search, points: np.ndarray, share: float, budget: float, seed: int = 1) -> float:
    """Ruin-and-recreate from ``points``: the best objective found in ``budget`` s."""
    rng = np.random.default_rng(seed)
    best_sel = h.state(points)
    best, _ = h.evaluate(best_sel)
    stop = time.perf_counter() + budget
    stopped = (lambda: time.perf_counter() > stop)
    while not stopped():
        new = best_sel.copy()
        on = np.flatnonzero(new >= 0)
        new[rng.choice(on, size=max(1, int(share * len(on))), replace=False)] = -1
        for _ in range(int(rng.integers(0, 3))):
            j = int(rng.integers(h.n_points))
            new[h.point_group[j]] = j
        obj, ok = h.evaluate(new)
        if ok:
            new, obj, _ = _local_search(h, new, obj, stopped)
            if obj > best + 1e-6:
                best_sel, best = new, obj
    return best


def lns(built, h: _Search, points: np.ndarray, share: float, budget: float, sub_limit: float,
        seed: int = 0) -> tuple[float, int, int]:
    """MIP neighbourhoods: best objective, sub-MIPs solved, and how many proved the
    incumbent optimal in their neighbourhood."""
    form, space = built.model.to_arrays(), built.space
    on_cols = built.model.vars["on_sale"].cols()
    offer = space.points["b"].to_numpy()
    n_offers = offer.max() + 1
    rng = np.random.default_rng(seed)
    best = h.evaluate(h.state(points))[0]
    on = np.zeros(len(offer))
    on[points] = 1.0
    stop, runs, proved = time.perf_counter() + budget, 0, 0
    while time.perf_counter() < stop:
        free = np.isin(offer, rng.choice(n_offers, max(1, int(share * n_offers)), replace=False))
        lb, ub = form.lb.copy(), form.ub.copy()
        lb[on_cols[~free]] = ub[on_cols[~free]] = on[~free]
        sub = dataclasses.replace(form, lb=lb, ub=ub, presolve=True)
        hs = quiet_highs()
        _, integrality = load(hs, model_arrays(sub, HighsRun(
            seconds_left=sub_limit, mip_gap=1e-6, threads=1,
            start=start_vector(built.model, space, points))), [])
        hs.run()
        status, x, obj, _ = final_result(hs, integrality)
        runs += 1
        if x is None:
            continue
        found = np.flatnonzero(x[on_cols] > 0.5)
        value, ok = h.evaluate(h.state(found))
        if ok and value > best + 1e-6:
            best, points = value, found
            on[:] = 0.0
            on[points] = 1.0
        elif status == "optimal":
            proved += 1
    return best, runs, proved


def highs_plan(built, limit: float):
    """HiGHS's own plan (presolve on, no start), as price points."""
    form = dataclasses.replace(built.model.to_arrays(), presolve=True)
    hs = quiet_highs()
    _, integrality = load(hs, model_arrays(form, HighsRun(seconds_left=limit, mip_gap=1e-4)), [])
    hs.run()
    _, x, obj, _ = final_result(hs, integrality)
    return None if x is None else built.plan_from_solution(x), obj


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="60/250/30")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=30.0)
    args = ap.parse_args(argv)
    sc = make_scenario(args.size, "uniform", args.seed)
    built = build_model(sc)
    h = _Search(built.space)
    first = heuristic_plan(built.space, 6.0)
    print(f"first plan (6 s): {first.objective:,.0f}")
    longer = heuristic_plan(built.space, args.budget)
    print(f"ils, {args.budget:g} s: {longer.objective:,.0f} in {longer.seconds:.1f} s")
    for share in (0.3, 0.6):
        print(f"ruin {share:.0%}: {ruin(h, first.points, share, args.budget):,.0f}")
    for share, sub in ((0.15, 3.0), (0.4, 8.0)):
        best, runs, proved = lns(built, h, first.points, share, args.budget, sub)
        print(f"lns {share:.0%}: {best:,.0f} ({runs} sub-MIPs, {proved} proved the incumbent "
              "optimal in its neighbourhood)")
    plan, obj = highs_plan(built, 60.0)
    if plan is not None:
        polished = heuristic_plan(built.space, args.budget, initial=plan)
        print(f"basin: HiGHS alone 60 s {obj:,.0f}; local search from it {polished.objective:,.0f}")


if __name__ == "__main__":
    main()

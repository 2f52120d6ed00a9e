r"""Study (issue 9): do randomized restarts pay in the first plan's search?

    python benchmarks/study_restarts.py [--sizes 20/60/8,40/150/20,60/250/30]
        [--modes uniform,personalized] [--choice first_choice] [--seeds 3]

``study_primal.py`` found that every search started from the first plan — kicks,
ruin-and-recreate, MIP neighbourhoods — ends in the first plan's basin. This study
compares, on the benchmark's instances and with the budget a 60 s solve gives the first
plan (``heuristic_budget``), the search without restarts (``RESTARTS = 0``, the search
before this change) against the default (randomized greedy restarts for up to half the
budget, ending after ``RESTARTS`` fruitless ones) and restarts without that patience.
Each cell is the plan's value (``evaluate_plan``), its change against no restarts, and
the seconds the search took. One run per cell, on a 2-core box: the search is
time-bounded, so the numbers move a little with the load.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from bench_scale import make_scenario  # noqa: E402
from formulations.build import build_model  # noqa: E402
import solver.heuristic as heuristic  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="20/60/8,40/150/20,60/250/30")
    ap.add_argument("--modes", default="uniform,personalized")
    ap.add_argument("--choice", default="first_choice", choices=("first_choice", "mnl"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--limit", type=float, default=58.0, help="what is left of the solve's limit")
    args = ap.parse_args()
    default = heuristic.RESTARTS
    arms = {"none": 0, f"default ({default})": default, "no patience": 10**9}
    print(f"choice model: {args.choice}\n")
    print("| size | pricing | seed | budget s | " + " | ".join(arms) + " |")
    print("|---|---|---|---|" + "---|" * len(arms))
    for label in args.sizes.split(","):
        for mode in args.modes.split(","):
            for seed in range(args.seeds):
                space = build_model(make_scenario(label, mode, seed, args.choice)).space
                budget = heuristic.heuristic_budget(args.limit, len(space.arcs))
                cells, base = [], None
                for restarts in arms.values():
                    heuristic.RESTARTS = restarts
                    r = heuristic.heuristic_plan(space, budget)
                    base = base if base is not None else r.objective
                    cells.append(f"{r.objective:,.0f} ({(r.objective / base - 1) * 100:+.2f} %, {r.seconds:.1f} s)")
                heuristic.RESTARTS = default
                print(f"| {label} | {mode} | {seed} | {budget:.1f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

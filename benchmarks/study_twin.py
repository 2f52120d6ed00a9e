r"""Study (issue 18): which solver should run the race's twin, HiGHS or CP-SAT?

    python benchmarks/study_twin.py --cases e:0,e:1,e:2,b:0 [--size 40/150/20] [--limit 60]

The race (``solver/race.py``) runs the ladder model on HiGHS beside its twin, the same
model without the ladder rows. This script solves each case twice through
``solver.solve``, once with the twin on HiGHS (presolved) and once on CP-SAT (two
workers), by moving ``solver.race.CPSAT_TWIN_MAX_ARCS`` either side of the model's arc
count, and prints one JSON line per run: status, plan, bound, gap, wall seconds, and
whose plan and bound were kept. Family ``e`` ignores ``--size`` (it is the fitted
scenario). Results: ``results_race.md``, "CP-SAT as the twin".
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import solver.race as race  # noqa: E402
from families import family_scenario  # noqa: E402
from solver import solve  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", required=True, help="family:seed,... e.g. e:0,b:1")
    ap.add_argument("--size", default="40/150/20/7", help="products/candidates/segments/points")
    ap.add_argument("--limit", type=float, default=60.0)
    ap.add_argument("--twins", default="highs,cpsat")
    args = ap.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("/"))
    for case in args.cases.split(","):
        family, seed = case.split(":")
        sc = family_scenario(family, None if family == "e" else size, int(seed))
        for twin in args.twins.split(","):
            race.CPSAT_TWIN_MAX_ARCS = 10 ** 9 if twin == "cpsat" else -1
            t0 = time.perf_counter()
            res = solve(sc, time_limit=args.limit)
            print(json.dumps({
                "family": family, "seed": int(seed), "size": "fitted" if family == "e" else args.size,
                "twin": twin, "ran": res.summary["model"]["side_by_side_backend"],
                "status": str(res.status), "objective": res.objective, "bound": res.bound,
                "gap": res.gap, "wall_s": round(time.perf_counter() - t0, 1),
                "kept": [n for n in res.summary["notes"] if "side by side" in n]}), flush=True)


if __name__ == "__main__":
    main()

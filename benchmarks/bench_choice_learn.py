"""MNL pricing against choice-learn, side by side in one run (issue 9).

    pip install --no-deps choice-learn     # its optimiser needs only numpy and OR-Tools
    python benchmarks/bench_choice_learn.py [--sizes 100x6x10,200x6x10] [--limit 120]

choice-learn's ``ORToolsLatentClassPricingOptimizer`` solves latent-class MNL joint
assortment and pricing with the same linearisation bundleopt uses for ``mnl``
(Méndez-Díaz et al. 2014, ``formulations/mnl.py``), built element by element through
OR-Tools' ``pywraplp`` and solved with CBC. Each size ``ITEMSxPRICESxCLASSES`` is one
uniform-pricing MNL scenario from ``formulations.synthetic`` (every item sold alone, no
rules). choice-learn is handed exactly bundleopt's offer space: per class and item, the
attraction ``exp(β (w − p))`` of each ladder point (0 where bundleopt pruned the point) and
the seller's value per sale. Both plans are re-priced by ``evaluate_plan``, so the
objective column compares plans, not solver reports.

choice-learn (1.3.3) counts ``len(itemwise_values) - 1`` items when no outside option is
given, so the last item would be silently dropped: a zero-attraction dummy item is
appended to keep all of ours. Its solver has no time limit of its own; the CBC solver
it builds is given ``--limit`` through ``SetTimeLimit``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from formulations.evaluate import evaluate_plan  # noqa: E402
from formulations.mnl import attraction  # noqa: E402
from formulations.offers import build_offer_space  # noqa: E402
from formulations.synthetic import synthetic_scenario  # noqa: E402


def make_scenario(label: str, seed: int = 0):
    items, prices, classes = (int(v) for v in label.split("x"))
    discounts = tuple(round(0.05 * i, 2) for i in range(prices))
    return synthetic_scenario(items, seed=seed, n_segments=classes, n_products=items,
                              discounts=discounts, choice_model="mnl",
                              name=f"mnl-{label}-{seed}")


def choice_learn_inputs(sc):
    """bundleopt's offer space as choice-learn's arrays (classes × items × prices)."""
    space = build_offer_space(sc)
    pts, arcs = space.points, space.arcs
    n_b, n_s = len(space.bundle_ids), len(space.segment_ids)
    k = pts.groupby("b").cumcount().to_numpy()            # point's slot on its offer's ladder
    width = int(k.max()) + 1
    values = np.zeros((n_b + 1, width))                   # + the dummy item (see above)
    prices = np.full((n_b, width), np.nan)
    values[pts["b"].to_numpy(), k] = pts["value"].to_numpy()
    prices[pts["b"].to_numpy(), k] = pts["price"].to_numpy()
    util = np.zeros((n_s, n_b + 1, width))
    j = arcs["j"].to_numpy()
    util[arcs["s"].to_numpy(), pts["b"].to_numpy()[j], k[j]] = attraction(arcs)
    return space, util, values, prices


def run_choice_learn(sc, limit: float) -> dict:
    from choice_learn.toolbox.or_tools_opt import ORToolsLatentClassPricingOptimizer

    t0 = time.perf_counter()
    space, util, values, prices = choice_learn_inputs(sc)
    opt = ORToolsLatentClassPricingOptimizer(
        class_weights=space.size.tolist(), class_utilities=util.tolist(),
        itemwise_values=values.tolist(), assortment_size=len(space.bundle_ids))  # no cap
    opt.solver.SetTimeLimit(int(limit * 1000))
    build = time.perf_counter() - t0
    opt.base_set_objective_function()
    status = opt.solver.Solve()
    wall = time.perf_counter() - t0
    on = [(i, k) for (i, k), y in opt.y.items() if i >= 1 and i - 1 < len(prices)
          and y.solution_value() > 0.5]
    plan = pd.DataFrame({"bundle_id": [space.bundle_ids[i - 1] for i, _ in on],
                         "segment_id": "*", "price": [prices[i - 1, k] for i, k in on]})
    from ortools.linear_solver import pywraplp
    label = {pywraplp.Solver.OPTIMAL: "optimal", pywraplp.Solver.FEASIBLE: "feasible"}.get(
        status, "no_solution")
    ev = evaluate_plan(sc, plan) if label != "no_solution" else None
    return {"method": "choice-learn (CBC)", "status": label, "build": build, "wall": wall,
            "objective": None if ev is None else ev.objective,
            "bound": opt.solver.Objective().BestBound() if label != "no_solution" else None}


def run_bundleopt(sc, limit: float) -> dict:
    from solver.api import solve

    t0 = time.perf_counter()
    res = solve(sc, time_limit=limit)
    wall = time.perf_counter() - t0
    ev = evaluate_plan(sc, res.plan) if res.has_plan else None
    return {"method": "bundleopt (HiGHS)", "status": str(res.status), "build": res.build_seconds,
            "wall": wall, "objective": None if ev is None else ev.objective, "bound": res.bound}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100x6x10,200x6x10")
    ap.add_argument("--limit", type=float, default=120.0)
    ap.add_argument("--out", default=str(HERE / "results_choice_learn.md"))
    a = ap.parse_args(argv)
    load = os.getloadavg()[0]
    rows = []
    for label in a.sizes.split(","):
        sc = make_scenario(label)
        runs = [run_bundleopt(sc, a.limit), run_choice_learn(sc, a.limit)]
        ours = runs[0]["wall"]
        for r in runs:
            rows.append({"size": label, **r, "wall_ratio": r["wall"] / ours})
            print(f"{label} {r['method']}: {r['status']} {r['objective']} in {r['wall']:.1f}s",
                  flush=True)
    lines = ["# MNL pricing: bundleopt against choice-learn", "",
             f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at start, "
             f"limit {a.limit:g} s, one run per cell, run one after the other in one process. "
             "Objectives are both plans re-priced by `evaluate_plan`.", "",
             "| items × prices × classes | method | status | objective | proven bound | "
             "build s | wall s | wall / bundleopt |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']} | {r['method']} | {r['status']} | "
                     f"{'–' if r['objective'] is None else format(r['objective'], ',.2f')} | "
                     f"{'–' if r['bound'] is None else format(r['bound'], ',.2f')} | "
                     f"{r['build']:.2f} | {r['wall']:.1f} | {r['wall_ratio']:.2f} |")
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

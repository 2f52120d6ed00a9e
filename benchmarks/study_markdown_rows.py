"""Markdown rows of a season: the last-price state ``S`` against the ceiling state ``C``
(issue 19, formulations/rules/last_price.py), side by side on the issue's instance.

    # OLD: a copy of the code before the ceiling state, e.g.
    #   mkdir /tmp/old && git archive <commit> formulations solver demand bundleopt | tar -x -C /tmp/old
    python benchmarks/study_markdown_rows.py --old /tmp/old --seeds 0,1 --limit 60

Instance (as ``bench_season.py`` builds it): family ``b`` of ``families.py`` at
40 products / 150 offers / 10 segments, 7 ladder points, stock on every product
scaled by half the periods, 8 periods whose segment sizes are the family's × a
seasonal factor U(0.6, 1.4) per period, salvage 0.2, uniform first choice,
``markdown: {no_increase: true, max_changes: 2}``. For each code tree (``--old`` and
this one) a child process builds the season model and reports its size, the bound of
its LP relaxation (integrality dropped, HiGHS simplex; does not depend on the load of
the machine) and a full ``solver.solve`` (HiGHS) within ``--limit`` seconds: objective,
bound and proven gap (these do depend on the load). Results: ``--out``
(``results_markdown_rows.md``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
NEW = HERE.parent
MARKDOWN = {"no_increase": True, "max_changes": 2}


def season_scenario(seed: int, periods: int = 8, size=(40, 150, 10), salvage: float = 0.2):
    """The module docstring's season (validated)."""
    sys.path[:0] = [str(HERE)]
    from families import family_scenario

    from formulations.scenario import Horizon
    from formulations.validate import validate_scenario

    products, offers, segments = size
    sc = family_scenario("b", (products, offers, segments, 7), seed)
    rng = np.random.default_rng([seed, 19, periods])
    inv = sc.products["inventory"].to_numpy(float)
    drawn = np.round(sc.segments["size"].sum() * rng.uniform(0.10, 0.60, len(inv)))
    inv = np.round(np.where(np.isfinite(inv), inv, drawn) * periods / 2)
    labels = tuple(str(t) for t in range(1, periods + 1))
    factor = rng.uniform(0.6, 1.4, periods)
    sizes = pd.DataFrame({"period": np.repeat(labels, len(sc.segments)),
                          "segment_id": np.tile(sc.segments.index.to_numpy(dtype=object), periods),
                          "size": np.round(np.outer(factor, sc.segments["size"].to_numpy(float)).ravel(), 1)})
    sc = dataclasses.replace(sc, products=sc.products.assign(inventory=inv), horizon=Horizon(labels, salvage),
                             periods=sizes, name=f"season-b-{seed}-{periods}")
    sc = validate_scenario(sc, source="study")
    return sc.with_constraints(inventory=True, **MARKDOWN)


def lp_bound(form) -> tuple[float, float]:
    """The LP relaxation's optimum of a MatrixForm and the seconds it took."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    A = form.A.tocsc()
    h.passModel(A.shape[1], A.shape[0], A.nnz, 1, -1 if form.sense == "max" else 1, 0.0,
                form.cost, form.lb, form.ub,
                np.where(np.isfinite(form.lo), form.lo, -highspy.kHighsInf),
                np.where(np.isfinite(form.hi), form.hi, highspy.kHighsInf),
                A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data,
                np.zeros(A.shape[1], np.int32))          # integrality dropped
    t0 = time.perf_counter()
    h.run()
    return h.getInfo().objective_function_value, time.perf_counter() - t0


def child(seed: int, limit: float) -> dict:
    """One code tree's measurements (run with that tree first on ``sys.path``)."""
    from formulations.build import build_model
    from solver.api import solve

    sc = season_scenario(seed)
    built = build_model(sc, "highs")
    form = built.model.to_arrays()
    bound, seconds = lp_bound(form)
    res = solve(sc, backend="highs", time_limit=limit)
    return {"rows": int(form.A.shape[0]), "cols": int(form.A.shape[1]), "nnz": int(form.A.nnz),
            "families": sorted(built.model.cons), "lp_bound": bound, "lp_seconds": seconds,
            "status": res.status, "objective": res.objective, "bound": res.bound, "gap": res.gap}


def measure(tree: Path, seed: int, limit: float) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(NEW)]))
    out = subprocess.run([sys.executable, __file__, "--child", str(seed), "--limit", str(limit)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", type=Path, help="a copy of the code before the ceiling state")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--limit", type=float, default=60.0)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=HERE / "results_markdown_rows.md")
    a = ap.parse_args()
    if a.child is not None:
        print(json.dumps(child(a.child, a.limit)))
        return
    lines = ["# Markdown rows: last-price state S (old) against the ceiling state C (new)", "",
             f"`python benchmarks/study_markdown_rows.py --limit {a.limit:g}` — 40/150/10 × 8 periods, "
             "family b, no_increase + max_changes 2, uniform first choice, HiGHS, 2 shared cores.", "",
             "| seed | rows old | rows new | LP bound old | LP bound new | objective old | objective new "
             "| gap old | gap new |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for seed in (int(s) for s in a.seeds.split(",")):
        r = {}
        for name, tree in (("old", a.old), ("new", NEW)):
            r[name] = measure(tree, seed, a.limit)
            print(seed, name, {k: v for k, v in r[name].items() if k != "families"}, flush=True)
        o, n = r["old"], r["new"]
        lines.append(f"| {seed} | {o['rows']} | {n['rows']} | {o['lp_bound']:.2f} | {n['lp_bound']:.2f} "
                     f"| {o['objective']:.2f} | {n['objective']:.2f} | {100 * o['gap']:.2f} % "
                     f"| {100 * n['gap']:.2f} % |")
        a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

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
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NEW = HERE.parent


def season_scenario(seed: int, periods: int = 8, size=(40, 150, 10), salvage: float = 0.2):
    """The module docstring's season (validated): family b of ``bench_season.py``."""
    sys.path[:0] = [str(HERE)]
    from bench_season import season_scenario as family_season

    return family_season("b", size, periods, seed, salvage, None)


def _highs(form, integral: bool):
    import highspy

    # its own hand-over, not the backend's: this runs against older code trees too
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    A = form.A.tocsc()
    h.passModel(A.shape[1], A.shape[0], A.nnz, 1, -1 if form.sense == "max" else 1, 0.0,
                form.cost, form.lb, form.ub,
                np.where(np.isfinite(form.lo), form.lo, -highspy.kHighsInf),
                np.where(np.isfinite(form.hi), form.hi, highspy.kHighsInf),
                A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data,
                (form.integer if integral else np.zeros(A.shape[1], bool)).astype(np.int32))
    return h


def lp_bound(form) -> tuple[float, float, np.ndarray]:
    """The LP relaxation's optimum of a MatrixForm (integrality dropped), the seconds it
    took and its solution."""
    h = _highs(form, integral=False)
    t0 = time.perf_counter()
    h.run()
    return (h.getInfo().objective_function_value, time.perf_counter() - t0,
            np.asarray(h.getSolution().col_value))


def root_bound(form, limit: float) -> tuple[float, float, float]:
    """HiGHS's dual bound after the root node (cuts included; one thread, the presolve
    the backend uses: deterministic, so load only changes the seconds), its incumbent
    and the seconds it took."""
    h = _highs(form, integral=True)
    h.setOptionValue("mip_max_nodes", 1)
    h.setOptionValue("presolve", "on" if form.presolve else "off")
    h.setOptionValue("time_limit", limit)
    t0 = time.perf_counter()
    h.run()
    info = h.getInfo()
    return info.mip_dual_bound, info.objective_function_value, time.perf_counter() - t0


def paths_outside_hull(built, sol: np.ndarray, max_changes: int = 2) -> tuple[int, int]:
    """How many (audience, offer)s of an LP solution have on-sale values ``x_{t·}``
    outside the convex hull of the price paths that keep ``no_increase`` and
    ``max_changes`` (no history), and how many have any. The hull is the projection of
    a unit flow over the states (last price level or none, changes used) through the
    periods — a path polytope, so integral: x is inside iff that flow LP is feasible.
    If none is outside, no formulation of the markdown rows can lower the LP bound."""
    from scipy.optimize import linprog
    import scipy.sparse as sp

    fam = built.model.vars["on_sale"]
    keys = fam.keys.assign(x=sol[fam.cols()])
    labels = list(built.season.horizon.labels)
    P, KC = len(labels), max_changes
    outside = used = 0
    for _, g in keys.groupby(["bundle", "segment"]):
        prices = np.sort(g["price"].unique())
        K = len(prices)
        X = np.zeros((P, K))
        X[g["period"].map({t: i for i, t in enumerate(labels)}).to_numpy(),
          np.searchsorted(prices, g["price"].to_numpy())] = g["x"].to_numpy()
        if X.max() < 1e-6:
            continue
        used += 1
        state = lambda k, m: 1 + k * (KC + 1) + m            # 0: no last price yet
        arcs = [(0, 0, -1)] + [(0, state(k, 0), k) for k in range(K)]
        for k in range(K):
            for m in range(KC + 1):
                arcs += [(state(k, m), state(k, m), -1), (state(k, m), state(k, m), k)]
                arcs += [(state(k, m), state(k2, m + 1), k2) for k2 in range(k) if m < KC]
        fr, to, lv = (np.array(a) for a in zip(*arcs))
        na, S = len(arcs), 1 + K * (KC + 1)
        rows, cols, vals, rhs = [], [], [], []

        def row(idx, coef, b):
            rows.extend([len(rhs)] * len(idx))
            cols.extend(idx)
            vals.extend(coef)
            rhs.append(b)

        for t in range(P):
            for s in range(S):
                out, inn = np.flatnonzero(fr == s), np.flatnonzero(to == s)
                if t == 0:
                    row(t * na + out, [1.0] * len(out), 1.0 if s == 0 else 0.0)
                else:
                    row(np.r_[t * na + out, (t - 1) * na + inn], [1.0] * len(out) + [-1.0] * len(inn), 0.0)
            for k in range(K):
                idx = np.flatnonzero(lv == k)
                row(t * na + idx, [1.0] * len(idx), X[t, k])
        A = sp.csr_matrix((vals, (rows, cols)), shape=(len(rhs), P * na))
        res = linprog(np.zeros(P * na), A_eq=A, b_eq=np.array(rhs), bounds=(0, None), method="highs")
        outside += res.status != 0
    return outside, used


def child(seed: int, limit: float, root_limit: float) -> dict:
    """One code tree's measurements (run with that tree first on ``sys.path``)."""
    from formulations.build import build_model
    from solver.api import solve

    sc = season_scenario(seed)
    built = build_model(sc, "highs")
    form = built.model.to_arrays()
    bound, seconds, sol = lp_bound(form)
    outside, used = paths_outside_hull(built, sol)
    root, root_obj, root_s = root_bound(form, root_limit)
    out = {"rows": int(form.A.shape[0]), "cols": int(form.A.shape[1]), "nnz": int(form.A.nnz),
           "lp_bound": bound, "lp_seconds": seconds, "outside_hull": outside, "offers_on_sale": used,
           "root_bound": root, "root_incumbent": root_obj, "root_seconds": root_s}
    if limit > 0:
        res = solve(sc, backend="highs", time_limit=limit)
        out.update(status=res.status, objective=res.objective, bound=res.bound, gap=res.gap)
    return out


def measure(tree: Path, seed: int, limit: float, root_limit: float) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), str(NEW)]))
    out = subprocess.run([sys.executable, __file__, "--child", str(seed), "--limit", str(limit),
                          "--root-limit", str(root_limit)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", type=Path, help="a copy of the code before the ceiling state")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--limit", type=float, default=60.0)
    ap.add_argument("--root-limit", type=float, default=1800.0)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=HERE / "results_markdown_rows.md")
    a = ap.parse_args()
    if a.child is not None:
        print(json.dumps(child(a.child, a.limit, a.root_limit)))
        return
    lines = ["# Markdown rows: last-price state S (old) against the ceiling state C (new)", "",
             f"`python benchmarks/study_markdown_rows.py --seeds {a.seeds} --limit {a.limit:g}` — "
             "40/150/10 × 8 periods, family b, no_increase + max_changes 2, uniform first choice, "
             "HiGHS, 2 cores shared with other work (seconds are load-dependent; bounds are not).", "",
             "| seed | formulation | rows | nonzeros | LP bound | LP x outside the paths' hull | root bound "
             "(1 node) | root s | objective | bound | gap |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    results = []
    for seed in (int(s) for s in a.seeds.split(",")):
        for name, tree in (("old", a.old), ("new", NEW)):
            r = measure(tree, seed, a.limit, a.root_limit)
            print(seed, name, r, flush=True)
            results.append({"seed": seed, "formulation": name, **r})
            solved = (f"| {r['objective']:.2f} | {r['bound']:.2f} | {100 * r['gap']:.2f} % |"
                      if "gap" in r else "| | | |")
            lines.append(f"| {seed} | {name} | {r['rows']} | {r['nnz']} | {r['lp_bound']:.2f} "
                         f"| {r['outside_hull']} of {r['offers_on_sale']} | {r['root_bound']:.2f} "
                         f"| {r['root_seconds']:.0f} {solved}")
            a.out.write_text("\n".join(lines) + "\n")
            a.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

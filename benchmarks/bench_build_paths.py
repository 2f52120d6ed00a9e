"""Benchmark: the two ways one LinearModel is emitted — sparse matrix vs Pyomo.

    python benchmarks/bench_build_paths.py [--sizes 100x10x7,300x20x10,1000x50x10,1000x50x20]
                                           [--pyomo-limit 120] [--out benchmarks/build_paths.md]

A size ``CxSxL`` is C candidate offers, S segments and an L-point price ladder, in a
uniform first-choice profit scenario with a margin floor, an offer cap and limited
inventory for a third of the products (``formulations.synthetic``, seeded). For each size
it times

* ``build_offer_space`` (pruning, price points, choice arcs) and the formulation
  (``build_first_choice``) — together ``build_model``;
* ``LinearModel.to_arrays`` (the path every solve uses);
* ``LinearModel.to_pyomo`` (the path of ``bundleopt export``), in a child process
  killed after ``--pyomo-limit`` seconds; once a size times out, larger ones are skipped;
* handing the matrix to HiGHS with ``HighsLp`` + ``Highs.passModel``, and through
  highspy's numpy-array ``passModel`` overload, as the backend does.

The fast paths are timed best of 3; ``to_pyomo`` once (it is the slow one).

It prints a markdown table and writes it to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from formulations.scenario import Scenario  # noqa: E402
from formulations.synthetic import synthetic_scenario  # noqa: E402


def build_paths_scenario(n_candidates: int, n_segments: int, n_ladder: int,
                         seed: int = 0) -> Scenario:
    """Uniform first-choice scenario: C offers (all singles, then 2–3 item bundles)."""
    return synthetic_scenario(
        n_candidates, seed=seed, n_segments=n_segments,
        discounts=tuple(np.round(np.linspace(0.0, 0.4, n_ladder), 4)), short_share=1 / 3,
        constraints={"min_margin": 0.1, "max_offers": max(5, n_candidates // 20),
                     "inventory": True},
        name=f"{n_candidates}x{n_segments}x{n_ladder}")


def pass_to_highs(form) -> float:
    """Seconds to hand a MatrixForm to HiGHS the way ``HighsBackend`` does."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    t0 = time.perf_counter()
    A = form.A.tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = A.shape[1], A.shape[0]
    lp.col_cost_ = form.cost
    lp.col_lower_, lp.col_upper_ = form.lb, form.ub
    lp.row_lower_ = np.where(np.isfinite(form.lo), form.lo, -highspy.kHighsInf)
    lp.row_upper_ = np.where(np.isfinite(form.hi), form.hi, highspy.kHighsInf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = A.shape[1], A.shape[0]
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.integrality_ = [highspy.HighsVarType.kInteger if v else highspy.HighsVarType.kContinuous
                       for v in form.integer]
    h.passModel(lp)
    return time.perf_counter() - t0


def pass_arrays_to_highs(form) -> float:
    """Seconds to hand the same MatrixForm over with highspy's numpy ``passModel``
    overload (no ``HighsLp`` attribute copies), as the backend does
    (``highs_child._pass_model``)."""
    import highspy

    from solver.backends.highs_child import _pass_model
    from solver.backends.highs_run import HighsRun, model_arrays

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    t0 = time.perf_counter()
    _pass_model(h, model_arrays(form, HighsRun()), form.lb, form.ub, form.integer.astype(np.int32))
    seconds = time.perf_counter() - t0
    assert h.getNumNz() == form.A.nnz and h.getLp().sense_ == (
        highspy.ObjSense.kMaximize if form.sense == "max" else highspy.ObjSense.kMinimize)
    return seconds



def measure(size: tuple[int, int, int], repeat: int = 3) -> dict:
    """Fast-path timings, best of ``repeat`` (the machine may be shared)."""
    from formulations.first_choice import build_first_choice
    from formulations.offers import build_offer_space

    sc = build_paths_scenario(*size)
    best: dict = {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        space = build_offer_space(sc)
        t1 = time.perf_counter()
        model = build_first_choice(space)
        t2 = time.perf_counter()
        form = model.to_arrays()
        t3 = time.perf_counter()
        times = {"offer_space": t1 - t0, "formulation": t2 - t1, "build_model": t2 - t0,
                 "to_arrays": t3 - t2, "highs_pass": pass_to_highs(form),
                 "highs_arrays": pass_arrays_to_highs(form)}
        best = {k: min(v, best.get(k, np.inf)) for k, v in times.items()}
    return {"points": len(space.points), "arcs": len(space.arcs), "cols": model.num_cols,
            "rows": model.num_rows, "nnz": int(form.A.nnz), **best}


def measure_pyomo(size: tuple[int, int, int]) -> dict:
    import pyomo.environ as pyo  # imported before timing: its ~2 s import is not the emitter's

    from formulations.build import build_model

    model = build_model(build_paths_scenario(*size)).model
    t0 = time.perf_counter()
    m = model.to_pyomo()
    t1 = time.perf_counter()
    return {"to_pyomo": t1 - t0,
            "pyomo_vars": sum(len(v) for v in m.component_objects(pyo.Var))}


def _child_pyomo(size: tuple[int, int, int], limit: float) -> dict | None:
    code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); "
            f"from bench_build_paths import measure_pyomo; "
            f"print(json.dumps(measure_pyomo({size!r})))")
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=limit)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100x10x7,300x20x10,1000x50x10,1000x50x20")
    ap.add_argument("--pyomo-limit", type=float, default=120.0)
    ap.add_argument("--out", default=str(HERE / "build_paths.md"))
    args = ap.parse_args()
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]

    header = ("| size C×S×L | price points | choice arcs | variables | constraints | non-zeros "
              "| offer space s | formulation s | build_model s | to_arrays s "
              "| HiGHS via HighsLp s | HiGHS via arrays s | to_pyomo s | Pyomo ÷ arrays |")
    lines = [header, "|" + "---|" * 14]
    pyomo_dead = False
    for size in sizes:
        r = measure(size)
        py = None if pyomo_dead else _child_pyomo(size, args.pyomo_limit)
        if py is None:
            pyomo_dead = True
            pyo_txt, ratio = f"> {args.pyomo_limit:.0f} (skipped)", "–"
        else:
            pyo_txt = f"{py['to_pyomo']:.2f}"
            ratio = f"{py['to_pyomo'] / max(r['to_arrays'], 1e-9):.0f}×"
        lines.append(
            f"| {'×'.join(map(str, size))} | {r['points']:,} | {r['arcs']:,} | {r['cols']:,} "
            f"| {r['rows']:,} | {r['nnz']:,} | {r['offer_space']:.2f} | {r['formulation']:.2f} "
            f"| {r['build_model']:.2f} | {r['to_arrays']:.3f} | {r['highs_pass']:.3f} "
            f"| {r['highs_arrays']:.3f} | {pyo_txt} | {ratio} |")
        print(lines[-1], flush=True)

    from importlib.metadata import version

    env = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
           f"Python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}, "
           f"Pyomo {version('pyomo')}, highspy {version('highspy')}")
    text = "\n".join([
        "# Build paths: sparse matrix vs Pyomo",
        "",
        "Generated by `python benchmarks/bench_build_paths.py` "
        f"(uniform first-choice profit scenarios, seed 0). Machine: {env}.",
        "",
        *lines, ""])
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

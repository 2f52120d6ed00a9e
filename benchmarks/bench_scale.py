"""Benchmark at retail scale (issue 9): first plan, time to 1 % gap, gap at 60 s / 120 s.

    python benchmarks/bench_scale.py            # the full run (≈ 40 min on 2 cores)
    python benchmarks/bench_scale.py --quick    # small sizes, short limits (CI-affordable)

For each size (products / candidates / segments [/ ladder points]) and pricing mode it
generates one uniform-first-choice-style scenario with ``midsize.py`` (min_margin 0.1,
inventory on about a third of the products, continuous WTPs so no ties) and runs, one
after the other in this process:

* ``bundleopt`` — ``solver.solve`` as shipped: the first plan (solver/heuristic.py)
  handed to HiGHS as a MIP start, the default formulation for the shape
  (``summary.json → model.formulation``), HiGHS in a child process;
* ``cpsat`` — the same with ``--backend cpsat`` (the first plan as hints);
* ``today`` — the formulation and solve path before issue 9: ``first_choice`` rows
  only (``mnl``: the same MNL model), no first plan;
* ``textbook`` (uniform only) — the textbook reservation-price MIP (``textbook.py``)
  straight into highspy; its plan is re-priced by ``evaluate_plan`` under bundleopt's
  exact rules (ties included).

Each run records its incumbent and proven bound over time (progress callbacks), from
the start of the model build. Reported: the model build and HiGHS's hand-off (from the
call until the solver holds the model, a child process's start included), time to the
first plan, time to a proven gap ≤
1 %, the gap at 60 s and 120 s (against the run's own proven bound only), the final
plan's re-evaluated value and how far the plan held at 10 s is from the best plan any
method found ("best known"). A plot of gap over time goes to ``results_scale.png``,
the table to ``results_scale.md`` and the raw traces to ``results_scale.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from midsize import midsize_scenario  # noqa: E402

SIZES = {  # label: products, candidates, segments, ladder points
    "20/60/8": (20, 60, 8, 7),
    "40/150/20": (40, 150, 20, 7),
    "60/250/30": (60, 250, 30, 7),
    "200/1000/50/20": (200, 1000, 50, 20),
}
METHODS = ("bundleopt", "cpsat", "today", "textbook")


def make_scenario(label: str, pricing: str, seed: int = 0, choice: str = "first_choice"):
    products, candidates, segments, points = SIZES[label]
    # 5 % steps keep every ladder point a whole number of cents (midsize.py)
    discounts = tuple(round(0.05 * i, 2) for i in range(points))
    sc = midsize_scenario(candidates, seed, n_segments=segments, min_margin=0.1,
                          n_products=products, discounts=discounts, choice_model=choice)
    return sc if pricing == "uniform" else sc.replace(pricing="personalized")


def _gap(obj, bound):
    if obj is None or bound is None:
        return None
    return max(0.0, bound - obj) / max(abs(obj), abs(bound), 1e-9)


class Trace:
    """Best incumbent and best proven bound seen, over time from ``t0``."""

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.points: list[tuple[float, float | None, float | None]] = []
        self.obj: float | None = None
        self.bound: float | None = None

    def add(self, t: float, obj, bound) -> None:
        if obj is not None and np.isfinite(obj) and (self.obj is None or obj > self.obj):
            self.obj = float(obj)
        if bound is not None and np.isfinite(bound) and (self.bound is None or bound < self.bound):
            self.bound = float(bound)
        self.points.append((t, self.obj, self.bound))

    def at(self, t: float):
        obj = bound = None
        for tt, o, b in self.points:
            if tt <= t:
                obj, bound = o, b
        return obj, bound

    def first_plan(self):
        return next((t for t, o, _ in self.points if o is not None), None)

    def time_to_gap(self, g: float):
        return next((t for t, o, b in self.points if _gap(o, b) is not None and _gap(o, b) <= g), None)


def run_solve(sc, limit: float, backend: str = "highs", today: bool = False) -> dict:
    import solver.api as api
    from formulations.build import build_model
    from formulations.first_choice import build_first_choice
    from formulations.mnl import build_mnl
    from formulations.offers import build_offer_space

    saved = api.build_model, api.first_plan
    if today:
        def base_model(scenario):
            from formulations.build import BuiltModel
            space = build_offer_space(scenario)
            build = build_first_choice if scenario.choice_model == "first_choice" else build_mnl
            model = build(space)
            if scenario.choice_model == "first_choice":
                model.presolve = True      # before issue 9 HiGHS presolved every first-choice model
            return BuiltModel(space, model)
        api.build_model, api.first_plan = base_model, (lambda *a, **k: (None, None))
    else:
        api.build_model = build_model
    t0 = time.perf_counter()
    tr = Trace(t0)
    try:
        res = api.solve(sc, backend=backend, time_limit=limit,
                        progress=lambda p: tr.add(p.elapsed, p.objective, p.bound))
    finally:
        api.build_model, api.first_plan = saved
    wall = time.perf_counter() - t0
    tr.add(wall, res.objective, res.bound)
    if res.status == "optimal":
        tr.add(wall, res.objective, res.objective if res.bound is None else res.bound)
    return {"trace": tr, "status": res.status, "objective": res.objective, "bound": res.bound,
            "wall": wall, "build": res.build_seconds, "handoff": res.summary.get("handoff_seconds"),
            "formulation": res.summary["model"].get("formulation"),
            "first_plan": (res.summary.get("first_plan") or {}).get("objective")}


def run_textbook(sc, limit: float) -> dict:
    """:func:`_textbook` in a forked child, killed 10 s past the limit: HiGHS does not
    check its time limit inside presolve, which at 200/1000/50/20 ran for 2,359 s."""
    import multiprocessing as mp

    t0 = time.perf_counter()
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=lambda: q.put(_textbook(sc, limit)), daemon=True)
    p.start()
    try:
        return q.get(timeout=limit + 10.0)
    except Exception:      # queue.Empty: still in HiGHS
        p.kill()
        wall = time.perf_counter() - t0
        tr = Trace(t0)
        return {"trace": tr, "status": "killed", "objective": None, "bound": None,
                "wall": wall, "build": None, "handoff": None, "formulation": "textbook",
                "first_plan": None}
    finally:
        p.join(5)


def _textbook(sc, limit: float) -> dict:
    import highspy

    from formulations.evaluate import evaluate_plan
    from textbook import _points, build_textbook

    t0 = time.perf_counter()
    tr = Trace(t0)
    lp = build_textbook(sc)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 1e-6)
    h.setOptionValue("time_limit", float(max(0.05, limit - (time.perf_counter() - t0))))
    h.passModel(lp)

    def cb(e):
        tr.add(time.perf_counter() - t0, e.data_out.objective_function_value, e.data_out.mip_dual_bound)

    h.cbMipImprovingSolution.subscribe(cb)
    h.cbMipLogging.subscribe(cb)
    h.run()
    wall = time.perf_counter() - t0
    info = h.getInfo()
    has = info.primal_solution_status == 2
    objective = None
    if has:
        pts = _points(sc)
        x = np.array(h.getSolution().col_value)[:len(pts)]
        on = pts[x > 0.5]
        plan = pd.DataFrame({"bundle_id": on["bundle_id"].to_numpy(dtype=object), "segment_id": "*",
                             "price": on["price"].to_numpy(float)})
        ev = evaluate_plan(sc, plan)
        objective = None if ev.violations else ev.objective
    tr.add(wall, info.objective_function_value if has else None, info.mip_dual_bound)
    status = "optimal" if h.getModelStatus() == highspy.HighsModelStatus.kOptimal else (
        "feasible" if has else "no_solution")
    return {"trace": tr, "status": status, "objective": objective, "bound": info.mip_dual_bound,
            "wall": wall, "build": None, "handoff": None, "formulation": "textbook",
            "first_plan": None}


def fmt(v, spec=".1f", none="–"):
    return none if v is None else format(v, spec)


def pct(v):
    return "–" if v is None else f"{100 * v:.2f} %"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20/60/8 only, 10 s limits")
    ap.add_argument("--sizes", default=None, help="comma-separated labels of SIZES")
    ap.add_argument("--modes", default="uniform,personalized")
    ap.add_argument("--choice", default="first_choice", choices=("first_choice", "mnl"),
                    help="choice model of the scenarios (mnl: CP-SAT and the textbook MIP, "
                    "first-choice only, are skipped)")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--limit", type=float, default=None,
                    help="time limit per run (default 60 s up to 60/250/30, 120 s above)")
    ap.add_argument("--out", default=str(HERE / "results_scale"))
    a = ap.parse_args(argv)
    sizes = (["20/60/8"] if a.quick else list(SIZES)) if a.sizes is None else a.sizes.split(",")
    modes, methods = a.modes.split(","), a.methods.split(",")
    rows, traces = [], {}
    load = os.getloadavg()[0]
    for label in sizes:
        limit = a.limit or (10.0 if a.quick else 120.0 if SIZES[label][1] >= 1000 else 60.0)
        for pricing in modes:
            sc = make_scenario(label, pricing, choice=a.choice)
            runs = {}
            for m in methods:
                if m == "textbook" and pricing != "uniform" or (
                        a.choice == "mnl" and m in ("textbook", "cpsat")):
                    continue
                print(f"{label} {pricing} {m} (limit {limit:g} s) ...", flush=True)
                if m == "textbook":
                    runs[m] = run_textbook(sc, limit)
                else:
                    runs[m] = run_solve(sc, limit, backend="cpsat" if m == "cpsat" else "highs",
                                        today=(m == "today"))
                r = runs[m]
                print(f"   {r['status']} obj {r['objective']} bound {r['bound']} wall {r['wall']:.1f}s",
                      flush=True)
            best = max((r["objective"] for r in runs.values() if r["objective"] is not None), default=None)
            for m, r in runs.items():
                tr = r["trace"]
                o10, _ = tr.at(10.0)
                o60, b60 = tr.at(60.0)
                o120, b120 = tr.at(120.0)
                rows.append({
                    "size": label if a.choice == "first_choice" else f"{label} mnl",
                    "pricing": pricing, "method": m, "limit": limit,
                    "formulation": r["formulation"], "status": r["status"],
                    "first_plan_s": tr.first_plan(), "to_1pct_s": tr.time_to_gap(0.01),
                    "gap_60": _gap(o60, b60) if limit >= 60 else None,
                    "gap_120": _gap(o120, b120) if limit >= 120 else None,
                    "gap_final": _gap(tr.obj, tr.bound),
                    "plan_10s_vs_best": None if (o10 is None or not best) else (best - o10) / abs(best),
                    "objective": r["objective"], "best_known": best, "wall": r["wall"],
                    "over_limit": r["wall"] / limit - 1.0, "build": r["build"],
                    "handoff": r.get("handoff"),
                })
                traces[f"{rows[-1]['size']}|{pricing}|{m}"] = tr.points
            # written after every size and mode, so a stopped run keeps what it measured
            write(rows, traces, Path(a.out), load, a.quick, echo=False)
    write(rows, traces, Path(a.out), load, a.quick)


def write(rows: list[dict], traces: dict, out: Path, load: float, quick: bool, echo: bool = True) -> None:
    lines = [f"# Scale benchmark ({'quick' if quick else 'full'} run)", "",
             f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at start "
             "(a shared machine: other work ran at the same time, times are noisy). "
             "One run per cell. Gaps are against each run's own proven bound; `plan@10s` is "
             "how far the plan held at 10 s is below the best plan any method found "
             "(re-evaluated by `evaluate_plan`).", "",
             "| size | pricing | method | formulation | limit s | status | first plan s | "
             "to 1 % s | gap 60 s | gap 120 s | final gap | plan@10s vs best | objective | wall s | "
             "build s | hand-off s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join([
            r["size"], r["pricing"], r["method"], str(r["formulation"]), fmt(r["limit"], "g"), r["status"],
            fmt(r["first_plan_s"]), fmt(r["to_1pct_s"]), pct(r["gap_60"]), pct(r["gap_120"]),
            pct(r["gap_final"]), pct(r["plan_10s_vs_best"]), fmt(r["objective"], ",.2f"),
            fmt(r["wall"]), fmt(r["build"], ".2f"), fmt(r.get("handoff"), ".2f")]) + " |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "traces": traces}, indent=1))
    if echo:
        print("\n".join(lines))
    plot(rows, traces, out.with_suffix(".png"))


def plot(rows: list[dict], traces: dict, path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install -e '.[bench]'): no plot")
        return
    # a row's size is a SIZES label, followed by " mnl" for --choice mnl
    order = {label: i for i, label in enumerate(SIZES)}     # other sizes (a fitted one) last
    panels = sorted({(r["size"], r["pricing"]) for r in rows},
                    key=lambda k: (order.get(k[0].split()[0], len(order)), k[0], k[1]))
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.6 * len(panels)), squeeze=False)
    for ax, (size, pricing) in zip(axes[:, 0], panels):
        for key, pts in traces.items():
            s, p, m = key.split("|")
            if (s, p) != (size, pricing):
                continue
            t = [q[0] for q in pts if _gap(q[1], q[2]) is not None]
            g = [max(_gap(q[1], q[2]), 1e-6) for q in pts if _gap(q[1], q[2]) is not None]
            if t:
                ax.step(t, g, where="post", label=m)
        ax.set_yscale("log")
        ax.axhline(0.01, color="grey", lw=0.5, ls="--")
        ax.set_title(f"{size} {pricing}", fontsize=9)
        ax.set_ylabel("proven gap")
        ax.legend(fontsize=7)
    axes[-1, 0].set_xlabel("seconds from start of build")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()

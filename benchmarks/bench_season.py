"""Season benchmark (issue 19, Targets): one season plan against planning each week on its own.

    # the issue's configuration (hours on 2 shared cores):
    python benchmarks/bench_season.py --families a,b,c-offers,d --size 40/150/10 --periods 8 \\
        --limit 120 --seeds 0,1,2 --mnl-periods 4
    # a small one (what results_season.md records):
    python benchmarks/bench_season.py --families a,b --size 20/60/8 --periods 4 --limit 30 --seeds 0

Scenarios: a family of ``families.py`` at ``--size`` (products/offers/segments, 7 ladder
points), with stock on every product — a product its family leaves unlimited gets stock
for U(0.1, 0.6) of all shoppers of a period, as family ``b`` draws it — and the stock of
every product multiplied by ``--stock-scale`` (default: half the periods: one period's
stock of the family lasts about half the season). ``--periods`` periods whose segment
sizes are the family's × a seasonal factor U(0.6, 1.4) drawn per period (the same for
every segment), salvage ``--salvage`` (0.2) of unit cost, ``markdown: {no_increase: true,
max_changes: 2}``, uniform first choice as the family has it; then the same scenario at
``--mnl-periods`` periods under MNL (the segments' price sensitivities of the family).

For each it measures the season solve (``solver.solve``, HiGHS, ``--limit`` seconds): time
to a first plan (the first incumbent the progress reports), proven gap at the limit,
objective. Then **each week on its own**: week t is solved as a one-period season
(horizon ``(t,)``, the season's shoppers and competitors of t) with the stock the
earlier weeks' plans leave (as the season model evaluates them), the same markdown
history — ``previous_plan`` = each offer's last price on sale so far, so ``no_increase``
holds against it, and an offer that has used its ``max_changes`` may only be sold at its
last price (its ``prices.csv`` rows) — and no salvage except in the last week (the
stock left then is valued as the season values it); each week gets ``limit / periods``
seconds. The weeks' plans together are scored by the season model
(``evaluate_plan`` on the season): the issue's target is that the season plan never
earns less. Results go to ``--out`` (``results_season.md`` / ``.json``), rewritten
after every instance.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from families import family_scenario  # noqa: E402

from formulations.evaluate import evaluate_plan  # noqa: E402
from formulations.scenario import Horizon, Scenario  # noqa: E402
from formulations.validate import validate_scenario  # noqa: E402
from solver.api import solve  # noqa: E402

MARKDOWN = {"no_increase": True, "max_changes": 2}
PRICE_TOL = 0.005


def season_scenario(family: str, size: tuple[int, int, int], periods: int, seed: int,
                    salvage: float, stock_scale: float | None, choice: str = "first_choice") -> Scenario:
    """The module docstring's season for ``family`` (validated)."""
    products, offers, segments = size
    sc = family_scenario(family, (products, offers, segments, 7), seed)
    rng = np.random.default_rng([seed, 19, periods])
    inv = sc.products["inventory"].to_numpy(float)
    drawn = np.round(sc.segments["size"].sum() * rng.uniform(0.10, 0.60, len(inv)))
    scale = periods / 2 if stock_scale is None else stock_scale
    inv = np.round(np.where(np.isfinite(inv), inv, drawn) * scale)
    labels = tuple(str(t) for t in range(1, periods + 1))
    factor = rng.uniform(0.6, 1.4, periods)
    sizes = pd.DataFrame({"period": np.repeat(labels, len(sc.segments)),
                          "segment_id": np.tile(sc.segments.index.to_numpy(dtype=object), periods),
                          "size": np.round(np.outer(factor, sc.segments["size"].to_numpy(float)).ravel(), 1)})
    sc = dataclasses.replace(sc, products=sc.products.assign(inventory=inv), horizon=Horizon(labels, salvage),
                             periods=sizes, choice_model=choice, name=f"season-{family}-{seed}-{periods}-{choice}")
    sc = validate_scenario(sc, source="bench")
    return sc.with_constraints(inventory=True, **MARKDOWN)


def timed_solve(sc: Scenario, limit: float) -> dict:
    t0 = time.perf_counter()
    first: list[float] = []

    def seen(p) -> None:
        if p.objective is not None and not first:
            first.append(p.elapsed)

    res = solve(sc, time_limit=limit, progress=seen)
    wall = time.perf_counter() - t0
    fp = res.summary.get("first_plan") or {}
    return {"status": res.status, "objective": res.objective, "bound": res.bound, "gap": res.gap,
            "first_plan_s": first[0] if first else (wall if res.objective is not None else None),
            "constant_first_plan": fp.get("objective"), "wall": wall, "plan": res.plan,
            "status_quo": (res.summary.get("status_quo") or {}).get("objective")}


def week_by_week(season: Scenario, limit_per_week: float) -> dict:
    """Each week on its own (module docstring), scored by the season model."""
    labels = season.horizon.labels
    inv = season.products["inventory"].copy()
    receipts = season.period_receipts()
    last = season.previous_plan[["bundle_id", "segment_id", "price"]].copy()
    moves = pd.DataFrame({"bundle_id": pd.Series(dtype=object), "segment_id": pd.Series(dtype=object)})
    k = int(MARKDOWN["max_changes"])
    plans, t0, statuses = [], time.perf_counter(), []
    for i, t in enumerate(labels):
        have = inv + receipts.loc[t].reindex(inv.index).fillna(0.0)
        sizes = season.periods[season.periods["period"] == t]
        count = moves.groupby(["bundle_id", "segment_id"]).size()
        spent = count[count >= k].reset_index()[["bundle_id", "segment_id"]]
        frozen = last.merge(spent, on=["bundle_id", "segment_id"])
        week = dataclasses.replace(
            season, products=season.products.assign(inventory=have.clip(lower=0.0)),
            horizon=Horizon((t,), season.horizon.salvage if i == len(labels) - 1 else 0.0),
            periods=sizes, receipts=season.receipts.iloc[0:0],
            competitors=season.competitors[season.competitors["period"].isin(["", t])],
            previous_plan=last.reset_index(drop=True),
            prices=pd.concat([season.prices[~season.prices["bundle_id"].isin(frozen["bundle_id"])],
                              frozen[["bundle_id", "price"]]], ignore_index=True))
        week = validate_scenario(week, source="bench")
        res = solve(week, time_limit=limit_per_week)
        statuses.append(res.status)
        if not res.has_plan:
            continue
        plan = res.plan[["period", "bundle_id", "segment_id", "price"]]
        plans.append(plan)
        sold = evaluate_plan(week, plan).products.set_index("product_id")["units"]
        inv = have - sold.reindex(inv.index).fillna(0.0)
        # markdown history: a change is a price other than the last one on sale
        now = plan[["bundle_id", "segment_id", "price"]]
        merged = now.merge(last, on=["bundle_id", "segment_id"], how="left", suffixes=("", "_last"))
        moved = merged["price_last"].notna() & ((merged["price"] - merged["price_last"]).abs() > PRICE_TOL)
        moves = pd.concat([moves, merged.loc[moved, ["bundle_id", "segment_id"]]], ignore_index=True)
        last = pd.concat([last, now]).drop_duplicates(["bundle_id", "segment_id"], keep="last")
    whole = pd.concat(plans, ignore_index=True) if plans else pd.DataFrame(
        columns=["period", "bundle_id", "segment_id", "price"])
    ev = evaluate_plan(season, whole)
    return {"objective": ev.objective, "violations": ev.violations, "statuses": statuses,
            "wall": time.perf_counter() - t0}


def run(family: str, size, periods: int, seed: int, limit: float, salvage: float,
        stock_scale: float | None, choice: str) -> dict:
    sc = season_scenario(family, size, periods, seed, salvage, stock_scale, choice)
    print(f"{family} {choice} {periods} periods seed {seed}: season solve (limit {limit:g} s) ...", flush=True)
    s = timed_solve(sc, limit)
    print(f"  {s['status']} objective {s['objective']} gap {s['gap']} first plan {s['first_plan_s']}", flush=True)
    w = week_by_week(sc, limit / periods)
    print(f"  week by week {w['objective']:.2f} ({', '.join(w['statuses'])})", flush=True)
    ev = evaluate_plan(sc, s["plan"]) if s["objective"] is not None else None
    return {"family": family, "choice": choice, "periods": periods, "seed": seed, "limit": limit,
            "status": s["status"], "objective": s["objective"], "gap": s["gap"],
            "first_plan_s": s["first_plan_s"], "constant_first_plan": s["constant_first_plan"],
            "wall": s["wall"], "plan_violations": None if ev is None else ev.violations,
            "weekly_objective": w["objective"], "weekly_violations": w["violations"],
            "weekly_statuses": w["statuses"], "weekly_wall": w["wall"], "status_quo": s["status_quo"],
            "season_minus_weekly": None if s["objective"] is None else s["objective"] - w["objective"]}


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.2f} %"


def _money(v) -> str:
    return "–" if v is None else f"{v:,.2f}"


def write(rows: list[dict], out: Path, args: argparse.Namespace, load: float) -> None:
    lines = ["# Season benchmark (issue 19)", "",
             f"{platform.machine()}, {os.cpu_count()} cores (shared), load average {load:.1f} at start. "
             f"Command: `python benchmarks/bench_season.py {' '.join(sys.argv[1:])}`.", "",
             f"Size {args.size} (products/offers/segments), 7 ladder points, stock on every product "
             f"× {args.stock_scale or 'periods/2'}, seasonal factor U(0.6, 1.4) per period, salvage "
             f"{args.salvage:g}, markdown {MARKDOWN}; HiGHS, {args.limit:g} s for the season, "
             f"limit / periods for each week on its own. All objectives are the season model's "
             "(evaluate_plan on the season): profit + salvage.", "",
             "| family | choice | periods | seed | status | gap at limit | first plan s | season plan | "
             "each week on its own | season − weekly | status quo | violations |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        bad = (r["plan_violations"] or []) + (r["weekly_violations"] or [])
        lines.append("| " + " | ".join([
            r["family"], r["choice"], str(r["periods"]), str(r["seed"]), r["status"], _pct(r["gap"]),
            "–" if r["first_plan_s"] is None else f"{r['first_plan_s']:.1f}", _money(r["objective"]),
            _money(r["weekly_objective"]), _money(r["season_minus_weekly"]), _money(r["status_quo"]),
            "; ".join(bad) or "none"]) + " |")
    never_less = [r["season_minus_weekly"] >= -1e-6 for r in rows if r["season_minus_weekly"] is not None]
    lines += ["", f"The season plan earns at least as much as each week on its own in "
              f"{sum(never_less)} of {len(never_less)} runs."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=str))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--families", default="a,b")
    ap.add_argument("--size", default="40/150/10", help="products/offers/segments")
    ap.add_argument("--periods", type=int, default=8, help="first choice; 0: no first-choice runs")
    ap.add_argument("--mnl-periods", type=int, default=4, help="0: no MNL runs")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--limit", type=float, default=120.0, help="season solve, seconds")
    ap.add_argument("--salvage", type=float, default=0.2)
    ap.add_argument("--stock-scale", type=float, default=None, help="default: periods / 2")
    ap.add_argument("--out", default=str(HERE / "results_season"))
    args = ap.parse_args(argv)
    size = tuple(int(x) for x in args.size.split("/"))
    load = os.getloadavg()[0]
    rows: list[dict] = []
    runs = (([("first_choice", args.periods)] if args.periods else [])
            + ([("mnl", args.mnl_periods)] if args.mnl_periods else []))
    for family in args.families.split(","):
        for seed in (int(s) for s in args.seeds.split(",")):
            for choice, periods in runs:
                rows.append(run(family, size, periods, seed, args.limit, args.salvage, args.stock_scale, choice))
                write(rows, Path(args.out), args, load)


if __name__ == "__main__":
    main()

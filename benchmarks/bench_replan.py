"""Re-planning a season from sales, as the service runs it (issue 19: "a re-plan in the
service returns within its time limit + 5 %").

    python benchmarks/bench_replan.py --families b,a --size 40/150/10 --periods 8 \\
        --limits 10,30 --seed 0 [--mnl-periods 4] [--out benchmarks/results_replan.md]

For each family, choice model and limit: the season of ``bench_season.season_scenario``
(ISO-week periods from 2026-W49), written to a scenario directory with a weekly config
(``season: {start: 2026-W49}``, ``solver.time_limit`` = the limit) and a fresh SQLite
database. Week 1 is planned with ``bundleopt plan run``; sales for it are drawn as its
plan's expected units per product × U(0.8, 1.2) (at most the stock); then week 2 is
re-planned from them with ``bundleopt plan run --week W2 --sales sales.csv`` — the very
command a service schedule runs in its own process (``bundleopt.service.schedules``).
Each run is timed from the command's start to its exit, Python's start-up included, and
reported as a multiple of the limit; the target is ≤ 1.05.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from bench_season import season_scenario  # noqa: E402

from formulations.scenario import Horizon  # noqa: E402
from formulations.writing import write_scenario  # noqa: E402

TARGET = 1.05


def _iso_weeks(n: int) -> tuple[str, ...]:
    monday = pd.Timestamp("2026-11-30")          # ISO week 2026-W49
    return tuple(f"{d.isocalendar()[0]}-W{d.isocalendar()[1]:02d}"
                 for d in (monday + pd.Timedelta(weeks=i) for i in range(n)))


def _run(cmd: list[str], cwd: Path) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=3600)
    return time.perf_counter() - t0, r.returncode, (r.stdout + r.stderr)[-600:]


def run_instance(family: str, size: tuple[int, int, int], periods: int, choice: str, limit: float,
                 seed: int, work: Path) -> dict:
    sc = season_scenario(family, size, periods, seed, 0.2, None, choice=choice)
    weeks = _iso_weeks(periods)
    relabel = dict(zip(sc.horizon.labels, weeks))
    sc = dataclasses.replace(sc, horizon=Horizon(weeks, sc.horizon.salvage),
                             periods=sc.periods.assign(period=sc.periods["period"].map(relabel)),
                             solver=dataclasses.replace(sc.solver, time_limit=limit))
    here = work / f"{family}-{choice}-{limit:g}"
    here.mkdir(parents=True, exist_ok=True)
    write_scenario(sc, here / "scenario")
    (here / "season.yaml").write_text(
        f"name: bench\nscenario: scenario\nseason: {{start: {weeks[0]}}}\nexport: out/{{week}}\n")
    db = f"sqlite:///{here / 'plans.db'}"
    plan = [sys.executable, "-m", "bundleopt", "plan", "run", "season.yaml", "--db", db]
    first, code1, out1 = _run(plan + ["--week", weeks[0]], here)
    row = {"family": family, "choice": choice, "periods": periods, "limit": limit, "seed": seed,
           "first_run_s": first, "first_exit": code1}
    if code1 != 0:
        return {**row, "error": out1}
    sold = pd.read_csv(here / "out" / weeks[0] / "plan.csv")
    sold = sold[sold["period"].astype(str) == weeks[0]]
    comp = sc.components.merge(sold.groupby("bundle_id")["expected_units"].sum().rename("n"),
                               left_on="bundle_id", right_index=True)
    units = (comp["quantity"] * comp["n"]).groupby(comp["product_id"]).sum()
    rng = np.random.default_rng([seed, 2026])
    units = np.minimum(units * rng.uniform(0.8, 1.2, len(units)),
                       sc.products["inventory"].reindex(units.index).to_numpy(float))
    pd.DataFrame({"week": weeks[0], "product_id": units.index,
                  "units": np.round(units.to_numpy(float), 1)}).to_csv(here / "sales.csv", index=False)
    second, code2, out2 = _run(plan + ["--week", weeks[1], "--sales", "sales.csv"], here)
    summary = json.loads((here / "out" / weeks[1] / "summary.json").read_text()) if code2 == 0 else {}
    return {**row, "replan_s": second, "replan_exit": code2, "ratio": second / limit,
            "status": summary.get("status"), "gap": summary.get("gap"),
            "build_s": summary.get("build_seconds"), "solve_s": summary.get("solve_seconds"),
            **({} if code2 == 0 else {"error": out2})}


def write(rows: list[dict], out: Path, argv: list[str]) -> None:
    lines = ["# Re-planning a season from sales (issue 19)", "",
             f"{platform.machine()}, {os.cpu_count()} cores, load average "
             f"{os.getloadavg()[0]:.1f} at the end; `python benchmarks/bench_replan.py "
             f"{' '.join(argv)}`. One run each; wall time of `bundleopt plan run` from its "
             f"start to its exit (Python's start-up, the database and the export included); "
             f"target ≤ {TARGET:g} × the limit.", "",
             "| family | choice × periods | limit s | week 1 run s (× limit) | re-plan run s | "
             "re-plan × limit | status | gap |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gap = "–" if r.get("gap") is None else f"{100 * r['gap']:.2f} %"
        lines.append(f"| {r['family']} | {r['choice']} × {r['periods']} | {r['limit']:g} | "
                     f"{r['first_run_s']:.1f} ({r['first_run_s'] / r['limit']:.2f}) | "
                     f"{r.get('replan_s', float('nan')):.1f} | "
                     f"{r.get('ratio', float('nan')):.2f} | {r.get('status') or r.get('error', '')[:60]} | {gap} |")
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1, default=str))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--families", default="b,a")
    p.add_argument("--size", default="40/150/10")
    p.add_argument("--periods", type=int, default=8)
    p.add_argument("--mnl-periods", type=int, default=4)
    p.add_argument("--limits", default="10,30")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_replan"))
    p.add_argument("--out", type=Path, default=HERE / "results_replan.md")
    a = p.parse_args(argv)
    size = tuple(int(x) for x in a.size.split("/"))
    rows = []
    for family in a.families.split(","):
        for choice, periods in (("first_choice", a.periods), ("mnl", a.mnl_periods)):
            if not periods:
                continue
            for limit in (float(x) for x in a.limits.split(",")):
                rows.append(run_instance(family, size, periods, choice, limit, a.seed, a.work))
                print(json.dumps({k: v for k, v in rows[-1].items() if k != "error"}), flush=True)
                write(rows, a.out, argv)


if __name__ == "__main__":
    main()

"""A what-if study of the personalized grocery week, on a local Ray (docs/whatif.md).

    pip install -e '.[ray]'
    python examples/whatif_study.py [OUT_DIR]        # default: whatif_out/

1. Sweep: how much does the fairness rule (``fairness.max_price_spread``) cost at each
   cap on the number of offers (``max_offers``)? 4 × 4 variants, solved on Ray.
2. The price of fairness per cap, and the variants Pareto-optimal on profit vs
   shoppers' surplus.
3. For the plan of the scenario as given: what each of its rules costs, and the best
   single moves away from it.
4. How that plan fares if the WTP estimates are off by 10 % (1,000 draws).

Everything runs on one local Ray cluster (started here, 2 CPUs, torn down at the end);
pass ``--address`` style joining through ``RayExecutor(address=...)`` for a real one.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from formulations import load_scenario
from formulations.files import atomic_write_text, json_text
from solver import solve
from bundleopt.study import RayExecutor, Study, profit_curve
from bundleopt.study.explain import rule_costs
from bundleopt.study.moves import moves
from bundleopt.study.robustness import robustness

HERE = Path(__file__).resolve().parent


def main(out: Path) -> None:
    scenario = load_scenario(HERE / "grocery_personal")
    out.mkdir(parents=True, exist_ok=True)
    with RayExecutor(workers=2) as ray:
        t0 = time.perf_counter()
        study = Study.grid(scenario, {"constraints.max_offers": [3, 4, 5, 6],
                                      "constraints.fairness.max_price_spread": [0.0, 0.05, 0.1, 0.2]})
        run = study.run(ray, progress=lambda d, n, best: print(f"  {d}/{n} done", end="\n" if d == n else "\r"))
        run.write(out / "sweep")
        print(f"sweep: {len(run.variants)} variants in {time.perf_counter() - t0:.1f}s "
              f"-> {out / 'sweep'}/results.csv, frontier.csv")

        res = run.results
        for cap, rows in res.groupby("constraints.max_offers"):
            curve = profit_curve(rows, "constraints.fairness.max_price_spread")
            costs = ", ".join(f"spread {s:g}: {c:,.0f}" for s, c in
                              zip(curve["constraints.fairness.max_price_spread"], curve["price_of_rule"]))
            print(f"  max_offers {cap}: price of fairness {costs}")
        pareto = run.frontier()
        print(f"  Pareto-optimal on (profit, surplus): {int(pareto['pareto'].sum())} of {len(pareto)}")

        plan = solve(scenario).plan
        costs = rule_costs(scenario, plan, executor=ray)
        mv = moves(scenario, plan, executor=ray)
        costs.to_csv(out / "rule_costs.csv", index=False)
        mv.to_csv(out / "moves.csv", index=False)
        print("rule costs:\n" + costs.to_string(index=False))
        print("best moves:\n" + mv.sort_values("delta", ascending=False).head(5).to_string(index=False))

    rob = robustness(scenario, plan, draws=1000, seed=0, wtp_cv=0.10)
    atomic_write_text(out / "robustness.json", json_text(rob))   # NaN as null, never half written
    print(f"robustness (WTP ±10 %): mean {rob['mean']:,.0f}, p5 {rob['p5']:,.0f}, p95 {rob['p95']:,.0f} "
          f"(as estimated {rob['plan_objective']:,.0f})")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("whatif_out"))

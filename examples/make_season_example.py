"""Generate the season example ``grocery_season`` from ``grocery_week`` (deterministic).

    python examples/make_season_example.py [OUT_ROOT]

Six weeks of a small winter assortment: the nine products of ``grocery_week`` that have
a stock, their single-item offers and the bundles made only of them, the four largest
segments. Shoppers per week follow a seasonal curve (a busy week before Christmas, a
quiet one after); bread and eggs are restocked every week, the rest once; competitors
price coffee-free staples a little below our list prices. Markdowns: prices only go
down, at most two changes per offer, at least two weeks apart; what is left at the end
is worth 10 % of its cost.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from formulations import load_scenario, write_scenario  # noqa: E402
from formulations.scenario import Constraints, Horizon  # noqa: E402

WEEKS = ("2026-W49", "2026-W50", "2026-W51", "2026-W52", "2027-W01", "2027-W02")
SEASONAL = (0.9, 1.0, 1.3, 1.1, 0.7, 0.8)      # shoppers per week, × segments.csv size
SEGMENTS = 4


def season(week_dir: Path):
    sc = load_scenario(week_dir)
    limited = sc.products.index[np.isfinite(sc.products["inventory"].to_numpy(float))]
    comp = sc.components
    only_limited = comp.groupby("bundle_id")["product_id"].apply(lambda p: p.isin(limited).all())
    offers = [b for b in sc.bundles.index if only_limited.get(b, False)]
    segments = sc.segments.sort_values("size", ascending=False).head(SEGMENTS)
    products = sc.products.loc[limited].copy()
    products["inventory"] = np.round(products["inventory"].to_numpy(float) * 1.5)
    periods = pd.DataFrame([(w, s, round(float(n) * f, 1)) for w, f in zip(WEEKS, SEASONAL)
                            for s, n in segments["size"].items()],
                           columns=["period", "segment_id", "size"])
    weekly = [p for p in ("bread-sourdough-800g", "eggs-12pk") if p in limited]
    receipts = pd.DataFrame([(w, p, 400.0) for w in WEEKS[1:] for p in weekly],
                            columns=["period", "product_id", "units"])
    singles = comp[comp["bundle_id"].isin(offers)].groupby("bundle_id").filter(
        lambda g: len(g) == 1 and g["quantity"].iloc[0] == 1)
    rivals = singles["product_id"].to_numpy()[:3]
    competitors = pd.DataFrame({
        "bundle_id": "", "product_id": rivals,
        "price": np.round(products.loc[rivals, "list_price"].to_numpy(float) * 0.92, 2),
        "period": ["", WEEKS[2], ""][:len(rivals)]})
    prev = sc.previous_plan[sc.previous_plan["bundle_id"].isin(offers)]
    return dataclasses.replace(
        sc, products=products, components=comp[comp["bundle_id"].isin(offers)],
        bundles=sc.bundles.loc[offers],
        segments=segments.assign(switching_cost=0.2),
        wtp=sc.wtp[sc.wtp["bundle_id"].isin(offers) & sc.wtp["segment_id"].isin(segments.index)],
        prices=sc.prices[sc.prices["bundle_id"].isin(offers)], previous_plan=prev,
        constraints=Constraints.of(min_margin=0.15, inventory=True, no_increase=True,
                                   max_changes=2, min_gap=2),
        solver=dataclasses.replace(sc.solver, time_limit=60),
        horizon=Horizon(WEEKS, 0.1), periods=periods, receipts=receipts,
        competitors=competitors, name="grocery_season")


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    here = Path(__file__).resolve().parent
    write_scenario(season(here / "grocery_week").replace(), root / "grocery_season")
    print(f"wrote {root / 'grocery_season'}")


if __name__ == "__main__":
    main()

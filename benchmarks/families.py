"""The benchmark's families of scenarios (issue 18): defaults are chosen on all of them.

A benchmark of one family measures its generator. Each family below is a shape users
bring, drawn at the scale benchmark's sizes (products / candidates / segments / ladder
points, ``bench_scale.SIZES``), seeded:

* ``a`` — today's ``midsize``: product-level WTP = list × segment level U(0.7, 1.2) ×
  U(0.6, 1.4), complementarity U(−0.1, 0.3), costs 40–70 % of list, stock on 35 % of
  the products (15–60 % of all shoppers), ``min_margin`` 0.1;
* ``b`` — stock on **every** product (10–60 % of all shoppers), lognormal product tastes
  (σ 0.3) × a segment level U(0.7, 1.2), costs 43–77 % of list, complementarity
  −5 … +25 %, ``min_margin`` 0.1;
* ``c-offers`` — ``b`` plus ``max_offers`` = a third of the candidates (uniform);
* ``c-spread`` — ``b`` plus ``fairness.max_price_spread: 0.1``, personalized pricing;
* ``d`` — per-offer independent WTP (``wtp_level="bundle"``), no stock;
* ``e`` — a fitted scenario: ``simulate-data`` (8 segments, 40 products, transactions
  with 20 complementary pairs) → ``fit --segments 8 --max-products 40 --max-bundles 110
  --min-baskets 10 --min-lift 1.0``, which writes 40 products, 150 offers and 8
  segments; switched to first choice, with stock on every product (10–60 % of all
  shoppers). One size only (the fitted scenario's own); cached under
  ``~/.cache/bundleopt-bench``.

Every ladder is 5 % steps from list price (7 points: 0–30 % off; 20 points at the
largest size), so every price is a whole number of cents.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from formulations.scenario import Scenario
from formulations.synthetic import synthetic_scenario

FAMILIES = ("a", "b", "c-offers", "c-spread", "d", "e")
#: The fitted family has one size: what ``fit`` writes from the simulated data.
FITTED_SIZE = "40/150/8"

STOCK_EVERYWHERE: dict[str, Any] = {"short_share": 1.0, "stock_share": (0.10, 0.60),
                                    "taste": "lognormal", "cost_share": (0.43, 0.77),
                                    "complementarity": (-0.05, 0.25)}


def family_pricing(family: str) -> str:
    return "personalized" if family == "c-spread" else "uniform"


def family_scenario(family: str, size: tuple[int, int, int, int], seed: int) -> Scenario:
    """The ``family``'s scenario at ``size`` = (products, candidates, segments, points)."""
    if family == "e":
        return fitted_scenario(seed)
    products, candidates, segments, points = size
    discounts = tuple(round(0.05 * i, 2) for i in range(points))
    common = dict(seed=seed, n_segments=segments, n_products=products, discounts=discounts,
                  pricing=family_pricing(family), name=f"family-{family}-{candidates}-{seed}")
    if family == "a":
        return synthetic_scenario(candidates, wtp_level="product", short_share=0.35,
                                  constraints={"min_margin": 0.1, "inventory": True}, **common)
    if family == "d":
        return synthetic_scenario(candidates, wtp_level="bundle",
                                  constraints={"min_margin": 0.1}, **common)
    rules: dict[str, Any] = {"min_margin": 0.1, "inventory": True}
    if family == "c-offers":
        rules["max_offers"] = max(1, candidates // 3)
    elif family == "c-spread":
        rules["max_price_spread"] = 0.1
    elif family != "b":
        raise ValueError(f"unknown family {family!r}; one of {FAMILIES}")
    return synthetic_scenario(candidates, wtp_level="product", constraints=rules,
                              **STOCK_EVERYWHERE, **common)


def fitted_scenario(seed: int, cache: Path | None = None) -> Scenario:
    """Family ``e``: simulated transactions → ``bundleopt fit`` → first choice + stock."""
    from formulations.loading import load_scenario

    cache = cache or Path(os.environ.get("BUNDLEOPT_BENCH_CACHE",
                                         Path.home() / ".cache" / "bundleopt-bench"))
    data, scn = cache / f"fitted-{seed}" / "data", cache / f"fitted-{seed}" / "scenario"
    if not (scn / "scenario.yaml").is_file():
        run = [sys.executable, "-m", "bundleopt"]
        subprocess.run(run + ["simulate-data", "--out", str(data), "--customers", "3000",
                              "--segments", "8", "--products", "40", "--days", "56",
                              "--visits-per-week", "2", "--kind", "transactions",
                              "--complements", "20", "--seed", str(seed)], check=True)
        subprocess.run(run + ["fit", str(data), "--out", str(scn), "--segments", "8",
                              "--max-products", "40", "--max-bundles", "110",
                              "--min-baskets", "10", "--min-lift", "1.0", "--bootstrap", "0",
                              "--seed", str(seed), "--quiet"], check=True)
    sc = load_scenario(scn)
    rng = np.random.default_rng(seed)
    products = sc.products.copy()
    shoppers = float(sc.segments["size"].sum())
    products["inventory"] = np.round(shoppers * rng.uniform(0.10, 0.60, len(products)))
    sc = sc.replace(products=products, choice_model="first_choice", name=f"family-e-{seed}")
    return sc.with_constraints(inventory=True)

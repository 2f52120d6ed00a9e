"""Mid-size uniform first-choice scenarios for the benchmark.

Tens of products, every product sold alone plus random 2–3 item bundles up to the
requested number of candidates, ~10 segments, a 7-point ladder, a margin floor and
binding inventory. WTPs are continuous random numbers, so first-choice ties have
probability zero and the textbook MIP (which lets the seller break ties) has the same
optimum as bundleopt's.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from formulations.scenario import Constraints, Scenario
from formulations.validate import validate_scenario


def midsize_scenario(n_candidates: int, seed: int, *, n_segments: int = 10,
                     min_margin: float = 0.15, n_products: int | None = None,
                     discounts: tuple[float, ...] | None = None) -> Scenario:
    """A uniform first-choice profit scenario with ``n_candidates`` offers
    (``n_products`` products, default candidates / 3 within [10, 60]; ``discounts``
    the ladder, default the scenario default of 7 points)."""
    rng = np.random.default_rng(seed)
    if n_products is None:
        n_products = int(np.clip(n_candidates // 3, 10, 60))
    pids = [f"P{i:03d}" for i in range(n_products)]
    # multiples of 0.20 keep every 5 %-step ladder point a whole number of cents, so no
    # price depends on how a half cent is rounded
    list_price = np.round(rng.uniform(5, 50, n_products) * 5) / 5
    unit_cost = np.round(list_price * rng.uniform(0.35, 0.7, n_products), 2)
    seg_size = rng.uniform(50, 500, n_segments)
    # about a third of the products are short: enough for 15–60 % of all shoppers
    inventory = np.where(rng.random(n_products) < 0.35,
                         np.round(seg_size.sum() * rng.uniform(0.15, 0.6, n_products)), np.nan)
    products = pd.DataFrame({"unit_cost": unit_cost, "list_price": list_price,
                             "inventory": inventory}, index=pd.Index(pids, name="product_id"))

    rows = [(f"S_{p}", p, 1) for p in pids]
    bids = [f"S_{p}" for p in pids]
    seen = set()
    while len(bids) < n_candidates:
        k = int(rng.integers(2, 4))
        members = tuple(sorted(rng.choice(n_products, size=k, replace=False)))
        if members in seen:
            continue
        seen.add(members)
        b = f"B{len(bids):04d}"
        bids.append(b)
        rows += [(b, pids[i], 1) for i in members]
    components = pd.DataFrame(rows, columns=["bundle_id", "product_id", "quantity"]).astype(
        {"quantity": "int64"})
    is_bundle = np.array([b.startswith("B") for b in bids])
    bundles = pd.DataFrame({
        "complementarity": np.where(is_bundle, rng.uniform(-0.1, 0.3, len(bids)), 0.0),
        "min_price": np.nan, "max_price": np.nan}, index=pd.Index(bids, name="bundle_id"))

    sids = [f"seg{j:02d}" for j in range(n_segments)]
    segments = pd.DataFrame({"size": seg_size, "price_sensitivity": np.nan},
                            index=pd.Index(sids, name="segment_id"))
    # per-product WTP: a segment taste level times a product-specific draw
    taste = rng.uniform(0.7, 1.2, n_segments)[:, None]
    w = list_price[None, :] * taste * rng.uniform(0.6, 1.4, (n_segments, n_products))
    wtp = pd.DataFrame({"segment_id": np.repeat(sids, n_products),
                        "product_id": np.tile(pids, n_segments),
                        "wtp": w.ravel(), "price_sensitivity": np.nan})
    scenario = Scenario(products=products, components=components, bundles=bundles,
                        segments=segments, wtp=wtp, wtp_level="product",
                        constraints=Constraints(min_margin=min_margin, inventory=True),
                        name=f"midsize-{n_candidates}-{seed}")
    if discounts is not None:
        scenario = replace(scenario, discounts=tuple(discounts))
    return validate_scenario(scenario, source="benchmark")

"""Random scenarios of any size, for benchmarks and tests: one seeded, vectorised
generator (the small scenarios the brute-force checker enumerates are drawn in
``tests/random_scenarios.py``, which needs the checker to count plans).

Every product is sold alone, then distinct random 2–3 item bundles fill the requested
number of candidates. List prices are multiples of 0.20, so every 5 %-step ladder point
is a whole number of cents and no price depends on how a half cent is rounded. WTPs are
continuous random numbers, so first-choice ties have probability zero.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .scenario import Constraints, Scenario
from .validate import validate_scenario


def synthetic_scenario(n_candidates: int, *, seed: int = 0, n_segments: int = 10,
                       n_products: int | None = None, discounts: tuple[float, ...] | None = None,
                       pricing: str = "uniform", choice_model: str = "first_choice",
                       wtp_level: str = "bundle", wtp_spread: tuple[float, float] = (0.6, 1.1),
                       short_share: float = 0.0, constraints: dict[str, Any] | None = None,
                       name: str | None = None, taste: str = "uniform",
                       cost_share: tuple[float, float] = (0.4, 0.7),
                       complementarity: tuple[float, float] = (-0.1, 0.3),
                       stock_share: tuple[float, float] = (0.15, 0.6)) -> Scenario:
    """A validated scenario with ``n_candidates`` offers and ``n_segments`` segments.

    ``n_products`` defaults to ``n_candidates // 4`` within 10…300. Per-offer WTP
    (``wtp_level="bundle"``) is the reference price × U(``wtp_spread``); per-product WTP
    is the list price × a segment taste level U(0.7, 1.2) × a product taste — U(0.6, 1.4)
    (``taste="uniform"``) or lognormal with σ 0.3 (``taste="lognormal"``) — with random
    complementarities U(``complementarity``) for the bundles. Unit costs are the list
    price × U(``cost_share``). ``short_share`` of the products get an inventory enough
    for U(``stock_share``) of all shoppers (blank otherwise; 1.0: stock on every product).
    ``constraints`` are :class:`~formulations.scenario.Constraints` fields.
    """
    if taste not in ("uniform", "lognormal"):
        raise ValueError(f"taste must be 'uniform' or 'lognormal', got {taste!r}")
    rng = np.random.default_rng(seed)
    if n_products is None:
        n_products = int(np.clip(n_candidates // 4, 10, 300))
    pids = np.array([f"P{i:04d}" for i in range(n_products)])
    list_price = np.round(rng.uniform(2, 30, n_products) * 5) / 5
    unit_cost = np.round(list_price * rng.uniform(*cost_share, n_products), 2)
    sids = np.array([f"S{i:03d}" for i in range(n_segments)])
    size = np.round(rng.uniform(50, 2000, n_segments))
    inventory = np.where(rng.random(n_products) < short_share,
                         np.round(size.sum() * rng.uniform(*stock_share, n_products)), np.nan)
    products = pd.DataFrame({"unit_cost": unit_cost, "list_price": list_price,
                             "inventory": inventory}, index=pd.Index(pids, name="product_id"))

    # bundles: draw many random 2–3 item sets at once, keep the distinct ones
    n_multi = max(0, n_candidates - n_products)
    k = rng.integers(2, 4, 3 * n_multi)
    picks = np.sort(rng.random((3 * n_multi, n_products)).argsort(axis=1)[:, :3], axis=1)
    mask = np.arange(3)[None, :] < k[:, None]
    names = np.array(["+".join(pids[p[m]]) for p, m in zip(picks, mask)], dtype=object)
    _, first = np.unique(names, return_index=True)
    first = np.sort(first)[:n_multi]
    bids = np.concatenate([pids, names[first]]).astype(object)
    comps = pd.DataFrame({
        "bundle_id": np.concatenate([pids, np.repeat(names[first], k[first])]),
        "product_id": np.concatenate([pids, pids[picks[first][mask[first]]]]),
        "quantity": 1})
    is_multi = np.arange(len(bids)) >= n_products
    kappa = (np.where(is_multi, rng.uniform(*complementarity, len(bids)), 0.0)
             if wtp_level == "product" else np.zeros(len(bids)))
    bundles = pd.DataFrame({"complementarity": kappa, "min_price": np.nan, "max_price": np.nan},
                           index=pd.Index(bids, name="bundle_id"))
    segments = pd.DataFrame({"size": size,
                             "price_sensitivity": rng.uniform(0.2, 1.2, n_segments)},
                            index=pd.Index(sids, name="segment_id"))

    if wtp_level == "bundle":
        ref = (comps["product_id"].map(products["list_price"]).groupby(comps["bundle_id"]).sum()
               .reindex(bids).to_numpy())
        s, b = np.divmod(np.arange(n_segments * len(bids)), len(bids))
        wtp = pd.DataFrame({"segment_id": sids[s], "bundle_id": bids[b],
                            "wtp": np.round(ref[b] * rng.uniform(*wtp_spread, len(b)), 2)})
    else:
        level = rng.uniform(0.7, 1.2, n_segments)[:, None]
        shape = (n_segments, n_products)
        w = list_price[None, :] * level * (rng.uniform(0.6, 1.4, shape) if taste == "uniform"
                                           else rng.lognormal(0.0, 0.3, shape))
        wtp = pd.DataFrame({"segment_id": np.repeat(sids, n_products),
                            "product_id": np.tile(pids, n_segments), "wtp": w.ravel()})
    wtp["price_sensitivity"] = np.nan
    kw: dict[str, Any] = {} if discounts is None else {"discounts": tuple(discounts)}
    sc = Scenario(products=products, components=comps, bundles=bundles, segments=segments,
                  wtp=wtp, wtp_level=wtp_level, pricing=pricing, choice_model=choice_model,
                  constraints=Constraints.of(**(constraints or {})),
                  name=name or f"synthetic-{n_candidates}x{n_segments}-{seed}", **kw)
    return validate_scenario(sc, "generated")

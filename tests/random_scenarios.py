"""Small random scenarios for exhaustive checking (see ``bruteforce.py``).

Scenarios are kept small (2–4 products, 2–5 candidate offers, 1–3 segments, 2–4
ladder points) and re-drawn until the number of plans to enumerate fits a budget,
so brute force stays well under a second. ``ties=True`` uses whole-number prices and
WTPs so surplus and value ties happen on purpose.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bruteforce import allowed_prices, offers as bf_offers, plan_count  # noqa: E402

from formulations.scenario import Constraints, Scenario  # noqa: E402

CONSTRAINT_NAMES = (
    "min_margin", "max_offers", "max_offers_per_segment", "inventory", "must_offer",
    "exclude", "no_arbitrage", "max_price_spread", "coverage", "price_change",
)
ALL_DISCOUNTS = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30)
TIE_DISCOUNTS = (0.0, 0.10, 0.20, 0.25, 0.50)


def _money(x: float, ties: bool) -> float:
    """Whole units when forcing ties, else cents."""
    return float(round(x)) if ties else float(round(x, 2))


def _draw(rng: np.random.Generator, *, pricing: str, choice_model: str, objective: str,
          constraints: set[str], wtp_level: str, ties: bool, use_prices: bool,
          n_products: int, n_offers: int, n_segments: int, n_ladder: int,
          negative_wtp: float = 0.0) -> Scenario:
    pids = [f"P{i + 1}" for i in range(n_products)]
    list_price = np.array([_money(x, ties) for x in rng.uniform(4, 20, n_products)])
    cost_share = rng.uniform(0.2, 0.7, n_products) * (rng.random(n_products) > 0.1)
    unit_cost = np.array([_money(x, ties) for x in list_price * cost_share])

    # candidates: singletons first (some products may lack one), then multi-item bundles
    singles = [p for p in pids if rng.random() < 0.85] or [pids[0]]
    singles = singles[: max(1, n_offers - 1)]
    comps: list[tuple[str, dict[str, int]]] = [(f"S_{p}", {p: 1}) for p in singles]
    for _ in range(20 * n_offers):         # few products allow only a few distinct bundles
        if len(comps) >= n_offers:
            break
        k = int(rng.integers(2, min(3, n_products) + 1))
        chosen = sorted(rng.choice(pids, size=k, replace=False).tolist())
        parts = {p: 1 for p in chosen}
        if rng.random() < 0.2:
            parts = {chosen[0]: 2}                 # a multipack: 2 × one product
        name = "B_" + "_".join(f"{p}x{q}" if q > 1 else p for p, q in parts.items())
        if name not in [c[0] for c in comps]:
            comps.append((name, parts))
    order = rng.permutation(len(comps))            # bundles.csv order matters for ties
    comps = [comps[i] for i in order]
    bids = [c[0] for c in comps]
    components = pd.DataFrame(
        [(b, p, q) for b, parts in comps for p, q in parts.items()],
        columns=["bundle_id", "product_id", "quantity"]).astype({"quantity": "int64"})
    ref = {b: sum(q * list_price[pids.index(p)] for p, q in parts.items()) for b, parts in comps}

    kappa = [float(rng.choice([-0.1, 0.0, 0.1, 0.2])) if len(parts) > 1 or sum(parts.values()) > 1
             else 0.0 for _, parts in comps]
    min_price = np.full(len(bids), np.nan)
    max_price = np.full(len(bids), np.nan)
    for j, b in enumerate(bids):
        if rng.random() < 0.15:
            min_price[j] = _money(ref[b] * rng.uniform(0.7, 0.88), ties)
        if rng.random() < 0.15:   # ≥ 0.9 R, so never below a min_price (≤ 0.88 R)
            max_price[j] = _money(ref[b] * rng.uniform(0.9, 1.0), ties)
    bundles = pd.DataFrame({"complementarity": kappa, "min_price": min_price,
                            "max_price": max_price},
                           index=pd.Index(bids, name="bundle_id"))

    sids = [f"s{i + 1}" for i in range(n_segments)]
    sizes = [float(rng.integers(5, 60)) if ties else round(float(rng.uniform(5, 60)), 3)
             for _ in sids]
    segments = pd.DataFrame({"size": sizes,
                             "price_sensitivity": rng.uniform(0.2, 1.5, n_segments)},
                            index=pd.Index(sids, name="segment_id"))

    rows = []
    items = pids if wtp_level == "product" else bids
    base = {p: list_price[pids.index(p)] for p in pids} if wtp_level == "product" else ref
    for s in sids:
        for it in items:
            if rng.random() < 0.88:
                w = base[it] * rng.uniform(0.55, 1.35)
                if negative_wtp and rng.random() < negative_wtp:
                    w = -base[it] * rng.uniform(0.0, 0.4)    # a rare buyer (mnl), never (first_choice)
                w = float(round(w)) if ties else float(w if rng.random() < 0.5 else round(w, 2))
                beta = (float(rng.uniform(0.2, 1.5))
                        if wtp_level == "bundle" and choice_model == "mnl" and rng.random() < 0.3
                        else np.nan)
                rows.append((s, it, w, beta))
    id_col = "product_id" if wtp_level == "product" else "bundle_id"
    wtp = pd.DataFrame(rows, columns=["segment_id", id_col, "wtp", "price_sensitivity"])

    discounts = tuple(sorted(rng.choice(TIE_DISCOUNTS if ties else ALL_DISCOUNTS,
                                        size=n_ladder, replace=False).tolist()))
    price_rows = []
    if use_prices:
        for b in bids:
            if rng.random() < 0.4:
                k = int(rng.integers(1, n_ladder + 1))
                for f in rng.uniform(0.6, 1.1, k):
                    price_rows.append((b, _money(ref[b] * f, ties)))
    prices = pd.DataFrame(price_rows, columns=["bundle_id", "price"]).astype({"price": float})

    # inventory: tight enough to bind for a few products
    inventory = np.full(n_products, np.nan)
    if "inventory" in constraints:
        total = sum(sizes)
        for i in range(n_products):
            if rng.random() < 0.6:
                inventory[i] = float(round(total * rng.uniform(0.1, 0.9)))
    elif rng.random() < 0.3:
        inventory[:] = 0.0    # present but must be ignored unless the constraint is on
    products = pd.DataFrame({"unit_cost": unit_cost, "list_price": list_price,
                             "inventory": inventory},
                            index=pd.Index(pids, name="product_id"))

    kw: dict = {}
    if "min_margin" in constraints:
        kw["min_margin"] = float(rng.choice([0.1, 0.2, 0.3, 0.45]))
    if "max_offers" in constraints:
        kw["max_offers"] = int(rng.integers(1, max(2, len(bids))))
    if "max_offers_per_segment" in constraints:
        kw["max_offers_per_segment"] = int(rng.integers(1, 3))
    kw["inventory"] = "inventory" in constraints
    if "must_offer" in constraints:
        kw["must_offer"] = tuple(rng.choice(bids, size=int(rng.integers(1, 3)),
                                            replace=False).tolist())
    if "exclude" in constraints:
        # pinning an offer both ways is infeasible; test that only now and then
        free = [b for b in bids if b not in kw.get("must_offer", ())]
        kw["exclude"] = (str(rng.choice(free if free and rng.random() < 0.9 else bids)),)
    kw["no_arbitrage"] = "no_arbitrage" in constraints
    if "max_price_spread" in constraints:
        kw["max_price_spread"] = float(rng.choice([0.0, 0.05, 0.1, 0.25]))
    if "coverage" in constraints:
        kw["coverage"] = (tuple(sids) if rng.random() < 0.5 else
                          tuple(rng.choice(sids, size=1).tolist()))
    previous = pd.DataFrame({"bundle_id": pd.Series(dtype=str),
                             "segment_id": pd.Series(dtype=str),
                             "price": pd.Series(dtype=float)})
    scenario = Scenario(products=products, components=components, bundles=bundles,
                        segments=segments, wtp=wtp, wtp_level=wtp_level, prices=prices,
                        previous_plan=previous, pricing=pricing, choice_model=choice_model,
                        objective=objective, discounts=discounts,
                        constraints=Constraints(**kw), name="random")
    if "price_change" in constraints:
        scenario = _with_previous_plan(rng, scenario)
    return scenario


def _with_previous_plan(rng: np.random.Generator, scenario: Scenario) -> Scenario:
    """Add a previous plan drawn from the scenario's own ladders, and an ε."""
    import dataclasses

    ladders = allowed_prices(scenario)
    offers = bf_offers(scenario)
    rows = []
    for b, offer in offers.items():
        if rng.random() < 0.35:
            continue
        ladder = ladders[b] if scenario.pricing == "uniform" else ladders[
            (scenario.segments.index[0], b)]
        if not ladder:
            ladder = [round(offer.reference_price, 2)]
        mixed = rng.random() < 0.3                  # the other mode's row shape, sometimes
        per_segment = (scenario.pricing == "personalized") != mixed
        if per_segment:
            for s in scenario.segments.index:
                if rng.random() < 0.7:
                    rows.append((b, s, float(rng.choice(ladder))))
        else:
            rows.append((b, "*", float(rng.choice(ladder))))
    previous = pd.DataFrame(rows, columns=["bundle_id", "segment_id", "price"]).astype(
        {"price": float})
    eps = float(rng.choice([0.0, 0.05, 0.1, 0.2]))
    return dataclasses.replace(
        scenario, previous_plan=previous,
        constraints=dataclasses.replace(scenario.constraints, max_price_change=eps))


def random_scenario(rng: np.random.Generator, *, pricing: str = "uniform",
                    choice_model: str = "first_choice", objective: str = "profit",
                    constraints: set[str] | frozenset[str] = frozenset(),
                    wtp_level: str | None = None, ties: bool | None = None,
                    use_prices: bool | None = None, max_plans: int = 3000,
                    max_tries: int = 200, negative_wtp: float = 0.0) -> Scenario:
    """A small random scenario whose brute-force enumeration has ≤ ``max_plans`` plans.

    ``constraints`` names entries of :data:`CONSTRAINT_NAMES` to impose (with random
    parameters). ``wtp_level`` / ``ties`` / ``use_prices`` are drawn when ``None``.
    ``negative_wtp``: the share of WTP rows drawn below 0 (0 … −0.4 × the reference
    price); at 0 (default) no random number is spent on it, so seeds draw as before.
    """
    unknown = set(constraints) - set(CONSTRAINT_NAMES)
    if unknown:
        raise ValueError(f"unknown constraint names {sorted(unknown)}")
    for attempt in range(max_tries):
        shrink = attempt // 20             # give up on size before giving up entirely
        personalized = pricing == "personalized"
        n_segments = int(rng.integers(1, 4 - shrink if shrink < 2 else 2))
        n_offers = int(rng.integers(2, max(3, 6 - shrink - (2 if personalized else 0))))
        n_products = int(rng.integers(2, 5))
        n_ladder = int(rng.integers(2, max(3, 5 - shrink)))
        scenario = _draw(
            rng, pricing=pricing, choice_model=choice_model, objective=objective,
            constraints=set(constraints),
            wtp_level=wtp_level or str(rng.choice(["bundle", "product"])),
            ties=bool(rng.random() < 0.5) if ties is None else ties,
            use_prices=bool(rng.random() < 0.3) if use_prices is None else use_prices,
            n_products=n_products, n_offers=n_offers, n_segments=n_segments,
            n_ladder=n_ladder, negative_wtp=negative_wtp)
        if "no_arbitrage" in constraints and not _has_arbitrage_pair(scenario):
            continue
        if plan_count(scenario) <= max_plans:
            return scenario
    raise RuntimeError("could not draw a small enough scenario")


def _has_arbitrage_pair(scenario: Scenario) -> bool:
    """Some multi-item offer whose every product has a component offer."""
    offs = bf_offers(scenario)
    comp = {o.component_of for o in offs.values() if o.component_of}
    return any(o.total_quantity >= 2 and set(o.components) <= comp for o in offs.values())


def make_scenario(*, products: list[tuple], bundles: list[tuple], segments: list[tuple],
                  wtp: list[tuple], wtp_level: str = "bundle", prices: list[tuple] = (),
                  previous_plan: list[tuple] = (), constraints: dict | None = None,
                  **settings) -> Scenario:
    """A hand-written scenario from plain tuples (for hand-computed tests).

    ``products``: ``(product_id, unit_cost, list_price, inventory or None)``;
    ``bundles``: ``(bundle_id, {product_id: quantity}[, complementarity[, min, max]])``;
    ``segments``: ``(segment_id, size[, beta])``; ``wtp``: ``(segment_id, id, wtp[, beta])``;
    ``settings``: ``pricing``, ``choice_model``, ``objective``, ``discounts``.
    """
    nan = float("nan")
    prod = pd.DataFrame(
        [(p, float(c), float(lp), nan if q is None else float(q)) for p, c, lp, q in products],
        columns=["product_id", "unit_cost", "list_price", "inventory"]).set_index("product_id")
    comps = pd.DataFrame([(b[0], p, q) for b in bundles for p, q in b[1].items()],
                         columns=["bundle_id", "product_id", "quantity"]).astype(
        {"quantity": "int64"})
    full = [tuple(b) + (0.0, None, None)[len(b) - 2:] for b in bundles]
    bund = pd.DataFrame(
        [(b, float(k), nan if lo is None else float(lo), nan if hi is None else float(hi))
         for b, _, k, lo, hi in full],
        columns=["bundle_id", "complementarity", "min_price", "max_price"]).set_index("bundle_id")
    seg = pd.DataFrame([(s[0], float(s[1]), float(s[2]) if len(s) > 2 else nan)
                        for s in segments],
                       columns=["segment_id", "size", "price_sensitivity"]).set_index("segment_id")
    id_col = "bundle_id" if wtp_level == "bundle" else "product_id"
    w = pd.DataFrame([(r[0], r[1], float(r[2]), float(r[3]) if len(r) > 3 else nan)
                      for r in wtp], columns=["segment_id", id_col, "wtp", "price_sensitivity"])
    pr = pd.DataFrame(list(prices), columns=["bundle_id", "price"]).astype({"price": float})
    prev = pd.DataFrame(list(previous_plan), columns=["bundle_id", "segment_id", "price"]).astype(
        {"price": float})
    if "discounts" in settings:
        settings["discounts"] = tuple(settings["discounts"])
    cons = dict(constraints or {})
    for key in ("must_offer", "exclude", "coverage"):
        if key in cons:
            cons[key] = tuple(cons[key])
    return Scenario(products=prod, components=comps, bundles=bund, segments=seg, wtp=w,
                    wtp_level=wtp_level, prices=pr, previous_plan=prev,
                    constraints=Constraints.of(**cons), **settings)

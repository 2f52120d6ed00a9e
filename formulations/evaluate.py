"""What a plan earns, re-evaluated from the scenario alone — no model, no solver.

Given the offers on sale and their prices, the choice model of SCENARIO.md §4 gives each
segment's expected purchases, from which follow units, revenue, profit, inventory use,
shopper surplus, which rules of §6 hold and which are tight. Reported objectives are
computed here, so they are what the plan really earns whatever the solver thought.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .offers import MONEY_DECIMALS, ladder, to_cents
from .scenario import Scenario

TOL = 1e-6


@dataclass
class Evaluation:
    plan: pd.DataFrame            # plan.csv rows
    segments: pd.DataFrame        # per-segment purchases and surplus
    products: pd.DataFrame        # per-product units and inventory use
    revenue: float
    profit: float
    units: float
    objective: float
    violations: list[str] = field(default_factory=list)
    binding: list[str] = field(default_factory=list)

    @property
    def margin(self) -> float | None:
        return self.profit / self.revenue if self.revenue > 0 else None


def _seen(scenario: Scenario, plan: pd.DataFrame) -> pd.DataFrame:
    """One row per (segment, offer) a segment sees, with its price."""
    segs = pd.DataFrame({"segment_id": scenario.segments.index.to_numpy(dtype=object)})
    uni = plan[plan["segment_id"] == "*"].drop(columns="segment_id").merge(segs, how="cross")
    per = plan[plan["segment_id"] != "*"]
    seen = pd.concat([uni, per], ignore_index=True)[["segment_id", "bundle_id", "price"]]
    seen["row"] = np.concatenate([
        np.repeat(np.flatnonzero((plan["segment_id"] == "*").to_numpy()), len(segs)),
        np.flatnonzero((plan["segment_id"] != "*").to_numpy())]).astype(int)
    return seen


def evaluate_plan(scenario: Scenario, plan: pd.DataFrame) -> Evaluation:
    """Evaluate ``plan`` (columns ``bundle_id, segment_id, price``) on ``scenario``."""
    if scenario.objective == "expected_profit":
        from .robust import collapse_segments, saa_scenario

        ev = evaluate_plan(saa_scenario(scenario), plan)   # the average over the draws
        ev.segments = collapse_segments(ev.segments)
        return ev
    plan = plan[["bundle_id", "segment_id", "price"]].reset_index(drop=True).copy()
    plan["price"] = plan["price"].astype(float)
    order = {b: i for i, b in enumerate(scenario.bundles.index)}
    cost = scenario.offer_costs()
    seen = _seen(scenario, plan)
    w = scenario.offer_wtp()
    seen = seen.merge(w, on=["segment_id", "bundle_id"], how="left")
    size = scenario.segments["size"].reindex(seen["segment_id"]).to_numpy(float)
    price = seen["price"].to_numpy(float)
    c_b = cost.reindex(seen["bundle_id"]).to_numpy(float)
    value = price - c_b if scenario.objective == "profit" else price
    wtp = seen["wtp"].to_numpy(float)
    surplus = np.round(wtp - price, MONEY_DECIMALS)
    seg_codes = pd.Index(scenario.segments.index).get_indexer(seen["segment_id"])

    if scenario.choice_model == "first_choice":
        cand = seen.assign(surplus=surplus, value=value, order=seen["bundle_id"].map(order),
                           i=np.arange(len(seen)))
        cand = cand[np.isfinite(surplus) & (surplus >= 0)]
        best = cand.sort_values(["segment_id", "surplus", "value", "order"],
                                ascending=[True, False, False, True], kind="stable"
                                ).drop_duplicates("segment_id")
        prob = np.zeros(len(seen))
        prob[best["i"].to_numpy()] = 1.0
        seg_surplus = np.zeros(len(scenario.segments))
        np.add.at(seg_surplus, seg_codes[best["i"].to_numpy()],
                  size[best["i"].to_numpy()] * best["surplus"].to_numpy())
    else:
        beta = seen["beta"].to_numpy(float)
        z = np.where(np.isfinite(wtp), beta * (wtp - price), -np.inf)
        v = np.exp(np.minimum(z, 50.0))
        denom = 1.0 + np.bincount(seg_codes, weights=v, minlength=len(scenario.segments))
        prob = v / denom[seg_codes]
        beta_s = scenario.segments["price_sensitivity"].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            seg_surplus = np.where(np.isfinite(beta_s),
                                   scenario.segments["size"].to_numpy(float) * np.log(denom) / beta_s, np.nan)

    sales = size * prob
    seen["units"] = sales
    rows = pd.DataFrame({"row": seen["row"], "units": sales, "rev": sales * price,
                         "pro": sales * (price - c_b)}).groupby("row").sum()
    out = plan.copy()
    out["expected_units"] = rows["units"].reindex(out.index).fillna(0.0).to_numpy()
    out["expected_revenue"] = rows["rev"].reindex(out.index).fillna(0.0).to_numpy()
    out["expected_profit"] = rows["pro"].reindex(out.index).fillna(0.0).to_numpy()
    out["_order"] = out["bundle_id"].map(order)
    seg_order = {s: i for i, s in enumerate(scenario.segments.index)}
    out["_seg"] = out["segment_id"].map(lambda s: -1 if s == "*" else seg_order.get(s, 10**9))
    out = out.sort_values(["_order", "_seg"]).drop(columns=["_order", "_seg"]).reset_index(drop=True)

    purchases = np.bincount(seg_codes, weights=sales, minlength=len(scenario.segments))
    segments = pd.DataFrame({"segment_id": scenario.segments.index.to_numpy(dtype=object),
                             "size": scenario.segments["size"].to_numpy(float),
                             "expected_purchases": purchases, "surplus": seg_surplus})

    comp = scenario.components
    by_offer = pd.Series(sales).groupby(seen["bundle_id"].to_numpy()).sum()
    use = comp.assign(units=comp["quantity"].to_numpy(float) *
                      by_offer.reindex(comp["bundle_id"]).fillna(0.0).to_numpy())
    units_by_product = use.groupby("product_id")["units"].sum()
    products = pd.DataFrame({"product_id": scenario.products.index.to_numpy(dtype=object)})
    products["units"] = units_by_product.reindex(products["product_id"]).fillna(0.0).to_numpy()
    products["inventory"] = scenario.products["inventory"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        products["utilisation"] = products["units"] / products["inventory"]

    revenue = float(out["expected_revenue"].sum())
    profit = float(out["expected_profit"].sum())
    ev = Evaluation(out, segments, products, revenue, profit, float(out["expected_units"].sum()),
                    profit if scenario.objective == "profit" else revenue)
    _check(scenario, plan, seen, ev)
    return ev


# ----------------------------------------------------------------- rule checks
def _check(scenario: Scenario, plan: pd.DataFrame, seen: pd.DataFrame, ev: Evaluation) -> None:
    c = scenario.constraints
    bad, tight = ev.violations, ev.binding
    cost = scenario.offer_costs()
    known = set(scenario.bundles.index)
    unknown = set(plan["bundle_id"]) - known
    if unknown:
        bad.append(f"unknown offers {sorted(unknown)}")
        return
    if plan.duplicated(["bundle_id", "segment_id"]).any() or (
            (plan["segment_id"] == "*").any() and (plan["segment_id"] != "*").any()):
        bad.append("an offer has more than one price for the same shoppers")
    on_sale = set(plan["bundle_id"])
    if set(c.exclude) & on_sale:
        bad.append(f"exclude: {sorted(set(c.exclude) & on_sale)} on sale")
    if set(c.must_offer) - on_sale:
        bad.append(f"must_offer: {sorted(set(c.must_offer) - on_sale)} not on sale")

    lad = ladder(scenario)
    allowed = set(zip(lad["bundle_id"], to_cents(lad["price"].to_numpy())))
    off = [(b, p) for b, p in zip(plan["bundle_id"], to_cents(plan["price"].to_numpy(float)))
           if (b, p) not in allowed]
    if off:
        bad.append(f"prices not on the ladder: {off[:3]}")

    if c.max_offers is not None:
        n = len(on_sale)
        if n > c.max_offers:
            bad.append(f"max_offers: {n} > {c.max_offers}")
        elif n == c.max_offers:
            tight.append("max_offers")
    if c.max_offers_per_segment is not None:
        per = seen.groupby("segment_id")["bundle_id"].nunique()
        if (per > c.max_offers_per_segment).any():
            bad.append("max_offers_per_segment exceeded")
        elif (per == c.max_offers_per_segment).any():
            tight.append("max_offers_per_segment")
    if c.inventory:
        p = ev.products
        lim = np.isfinite(p["inventory"].to_numpy())
        over = lim & (p["units"].to_numpy() > p["inventory"].to_numpy() + TOL * np.maximum(1, p["inventory"].to_numpy()))
        at = lim & ~over & (p["units"].to_numpy() >= p["inventory"].to_numpy() - TOL * np.maximum(1, p["inventory"].to_numpy()))
        if over.any():
            bad.append(f"inventory exceeded for {p['product_id'][over].tolist()}")
        tight += [f"inventory:{pid}" for pid in p["product_id"][at]]
    if c.coverage:
        ok = seen[np.round(seen["wtp"].to_numpy(float) - seen["price"].to_numpy(float), MONEY_DECIMALS) >= 0]
        counts = ok.groupby("segment_id").size()
        for s in c.coverage:
            if counts.get(s, 0) == 0:
                bad.append(f"fairness.coverage: segment {s} sees no offer within its WTP")
            elif counts.get(s, 0) == 1:
                tight.append(f"fairness.coverage:{s}")
    if c.max_price_spread is not None:
        g = seen.groupby("bundle_id")["price"].agg(["min", "max"])
        ratio_ok = g["max"] <= (1 + c.max_price_spread) * g["min"] + 1e-9
        if not ratio_ok.all():
            bad.append(f"fairness.max_price_spread broken for {g.index[~ratio_ok].tolist()}")
        if (np.abs(g["max"] - (1 + c.max_price_spread) * g["min"]) <= 1e-6).any() and (g["max"] > g["min"]).any():
            tight.append("fairness.max_price_spread")
    if c.no_arbitrage:
        _check_arbitrage(scenario, seen, bad, tight)
    if c.min_margin is not None:
        p = plan["price"].to_numpy(float)
        cb = cost.reindex(plan["bundle_id"]).to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            low = ~((p > 0) & (p - cb >= c.min_margin * p - 1e-9))
        if low.any():
            bad.append(f"min_margin broken for {plan['bundle_id'][low].tolist()}")
    if c.max_price_change is not None and len(scenario.previous_plan):
        prev = scenario.previous_plan
        pairs = plan.merge(prev, on="bundle_id", suffixes=("", "_old"))
        match = ((pairs["segment_id"] == pairs["segment_id_old"]) | (pairs["segment_id"] == "*")
                 | (pairs["segment_id_old"] == "*"))
        pairs = pairs[match]
        move = np.abs(pairs["price"] - pairs["price_old"])
        lim = c.max_price_change * pairs["price_old"]
        if (move > lim + 1e-9).any():
            bad.append("price_change.max_relative broken")
    _edge_rules(scenario, plan, lad, tight)


def _check_arbitrage(scenario: Scenario, seen: pd.DataFrame, bad: list, tight: list) -> None:
    comp = scenario.components
    nparts = comp.groupby("bundle_id")["product_id"].count()
    total = comp.groupby("bundle_id")["quantity"].sum()
    single = comp[(comp["bundle_id"].map(nparts) == 1) & (comp["quantity"] == 1)]
    comp_offer = single.set_index("bundle_id")["product_id"]
    price_of = {(s, b): p for s, b, p in zip(seen["segment_id"], seen["bundle_id"], seen["price"])}
    by_seg: dict = {}
    for s, b, p in zip(seen["segment_id"], seen["bundle_id"], seen["price"]):
        if b in comp_offer.index:
            by_seg.setdefault((s, comp_offer[b]), []).append(p)
    for (s, b), p in price_of.items():
        if total.get(b, 0) < 2:
            continue
        parts = comp[comp["bundle_id"] == b]
        cheapest = [min(by_seg.get((s, i), [np.inf])) for i in parts["product_id"]]
        if not np.all(np.isfinite(cheapest)):
            continue
        separate = float(np.dot(parts["quantity"].to_numpy(float), cheapest))
        if p > separate + 1e-9:
            bad.append(f"no_arbitrage: {b} costs {p} but its parts {separate:.2f} for {s}")
        elif p >= separate - 1e-6:
            tight.append(f"no_arbitrage:{b}")


def _edge_rules(scenario: Scenario, plan: pd.DataFrame, lad: pd.DataFrame, tight: list) -> None:
    """Price-removing rules are tight when an offered price's ladder neighbour was cut by them."""
    c = scenario.constraints
    cost = scenario.offer_costs()
    bounds = scenario.bundles[["min_price", "max_price"]]
    rules = {}
    if c.min_margin is not None:
        rules["min_margin"] = lambda b, p: p > 0 and p - cost[b] >= c.min_margin * p - 1e-9
    rules["min_price/max_price"] = lambda b, p: not (p < bounds.at[b, "min_price"] - 1e-9) and not (
        p > bounds.at[b, "max_price"] + 1e-9)
    if c.max_price_change is not None and len(scenario.previous_plan):
        prev = scenario.previous_plan.groupby("bundle_id")["price"].apply(list).to_dict()
        rules["price_change.max_relative"] = lambda b, p: all(
            abs(p - o) <= c.max_price_change * o + 1e-9 for o in prev.get(b, []))
    ladders = lad.sort_values("price").groupby("bundle_id")["price"].apply(list).to_dict()
    for name, ok in rules.items():
        for b, p in zip(plan["bundle_id"], plan["price"]):
            lst = ladders.get(b, [])
            if p not in lst:
                continue
            i = lst.index(p)
            near = [lst[k] for k in (i - 1, i + 1) if 0 <= k < len(lst)]
            if any(not ok(b, q) for q in near):
                tight.append(name)
                break

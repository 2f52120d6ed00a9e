"""What a plan earns, re-evaluated from the scenario alone — no model, no solver.

Given the offers on sale and their prices, the choice model of docs/scenario.md §4 gives each
segment's expected purchases, from which follow units, revenue, profit, inventory use,
shopper surplus, which rules of §6 hold and which are tight. Reported objectives are
computed here, so they are what the plan really earns whatever the solver thought.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .competitors import outside_attraction, outside_surplus
from .money import MONEY_DECIMALS, to_cents
from .offers import ladder, within_bounds
from .rules import PlanView, check_rules
from .scenario import Scenario


# attractions exp(β(w − p)) are capped at e^50 (beyond, shares are 1 to 1e-21 anyway); the
# heuristic, the relaxation bound and robustness scoring use the same cap
EXP_CAP = 50.0


def capped_attraction(beta, wtp, price) -> np.ndarray:
    """MNL attraction ``exp(β (w − p))`` as the plan evaluator computes it: capped at
    ``e^EXP_CAP``, and 0 where there is no WTP (NaN)."""
    wtp = np.asarray(wtp, dtype=float)
    z = np.where(np.isfinite(wtp), beta * (wtp - price), -np.inf)
    return np.exp(np.minimum(z, EXP_CAP))


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
    # a season's (formulations.season_evaluate): KPIs per period, and the salvage value of
    # the stock left (``products`` then has ``receipts`` and ``left`` too)
    periods: pd.DataFrame | None = None
    salvage: float = 0.0

    @property
    def margin(self) -> float | None:
        return self.profit / self.revenue if self.revenue > 0 else None


def seen_offers(scenario: Scenario, plan: pd.DataFrame) -> pd.DataFrame:
    """One row per (segment, offer) a segment sees, with its price and plan ``row``
    (a ``*`` row of the plan is seen by every segment)."""
    segs = pd.DataFrame({"segment_id": scenario.segments.index.to_numpy(dtype=object)})
    uni = plan[plan["segment_id"] == "*"].drop(columns="segment_id").merge(segs, how="cross")
    per = plan[plan["segment_id"] != "*"]
    seen = pd.concat([uni, per], ignore_index=True)[["segment_id", "bundle_id", "price"]]
    seen["row"] = np.concatenate([
        np.repeat(np.flatnonzero((plan["segment_id"] == "*").to_numpy()), len(segs)),
        np.flatnonzero((plan["segment_id"] != "*").to_numpy())]).astype(int)
    return seen


def evaluate_plan(scenario: Scenario, plan: pd.DataFrame) -> Evaluation:
    """Evaluate ``plan`` (columns ``bundle_id, segment_id, price``; a season's with
    ``period`` first) on ``scenario``."""
    if scenario.is_season:
        from .season_evaluate import evaluate_season

        return evaluate_season(scenario, plan)
    if scenario.objective == "expected_profit":
        from .robust import collapse_segments, saa_scenario

        ev = evaluate_plan(saa_scenario(scenario), plan)   # the average over the draws
        ev.segments = collapse_segments(ev.segments)
        return ev
    plan = plan[["bundle_id", "segment_id", "price"]].reset_index(drop=True).copy()
    plan["price"] = plan["price"].astype(float)
    order = {b: i for i, b in enumerate(scenario.bundles.index)}
    cost = scenario.offer_costs()
    seen = seen_offers(scenario, plan)
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
        # a shopper buys ours only if it is at least as good as the competitors' best
        outside = outside_surplus(scenario)[seg_codes]
        cand = cand[np.isfinite(surplus) & (surplus >= 0) & (surplus >= outside)]
        best = cand.sort_values(["segment_id", "surplus", "value", "order"],
                                ascending=[True, False, False, True], kind="stable"
                                ).drop_duplicates("segment_id")
        prob = np.zeros(len(seen))
        prob[best["i"].to_numpy()] = 1.0
        seg_surplus = np.zeros(len(scenario.segments))
        np.add.at(seg_surplus, seg_codes[best["i"].to_numpy()],
                  size[best["i"].to_numpy()] * best["surplus"].to_numpy())
    else:
        v = capped_attraction(seen["beta"].to_numpy(float), wtp, price)
        denom = 1.0 + outside_attraction(scenario, EXP_CAP) + np.bincount(
            seg_codes, weights=v, minlength=len(scenario.segments))
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
    """What the plan breaks and which rules bind: the plan's own shape here, each rule
    in its module (:func:`formulations.rules.check_rules`)."""
    bad, tight = ev.violations, ev.binding
    unknown = set(plan["bundle_id"]) - set(scenario.bundles.index)
    if unknown:
        bad.append(f"unknown offers {sorted(unknown)}")
        return
    if plan.duplicated(["bundle_id", "segment_id"]).any() or (
            (plan["segment_id"] == "*").any() and (plan["segment_id"] != "*").any()):
        bad.append("an offer has more than one price for the same shoppers")
    lad = ladder(scenario)
    allowed = set(zip(lad["bundle_id"], to_cents(lad["price"].to_numpy())))
    off = [(b, p) for b, p in zip(plan["bundle_id"], to_cents(plan["price"].to_numpy(float)))
           if (b, p) not in allowed]
    if off:
        bad.append(f"prices not on the ladder: {off[:3]}")

    cost = scenario.offer_costs()
    priced = plan.assign(cost=cost.reindex(plan["bundle_id"]).to_numpy(float))
    near = _ladder_neighbours(priced, lad).assign(
        cost=lambda f: cost.reindex(f["bundle_id"]).to_numpy(float))
    view = PlanView(priced, near, seen, ev.products, ev.units, bad, tight)
    check_rules(scenario, view)
    if not within_bounds(scenario, near).all():
        tight.append("min_price/max_price")


def _ladder_neighbours(plan: pd.DataFrame, lad: pd.DataFrame) -> pd.DataFrame:
    """The ladder points next to each price on sale (``bundle_id, segment_id, price``):
    a rule that forbids one of them is what stops the price moving, so it binds."""
    ladders = lad.sort_values("price").groupby("bundle_id")["price"].apply(list).to_dict()
    rows = []
    for b, s, p in zip(plan["bundle_id"], plan["segment_id"], plan["price"]):
        lst = ladders.get(b, [])
        if p in lst:
            i = lst.index(p)
            rows += [(b, s, lst[k]) for k in (i - 1, i + 1) if 0 <= k < len(lst)]
    return pd.DataFrame(rows, columns=["bundle_id", "segment_id", "price"]).astype(
        {"bundle_id": object, "segment_id": object, "price": float})

"""What a plan earns, re-evaluated from the scenario alone — no model, no solver.

Given the offers on sale and their prices, the choice model of docs/scenario.md §4 gives each
segment's expected purchases, from which follow units, revenue, profit, inventory use,
shopper surplus, which rules of §6 hold and which are tight. Reported objectives are
computed here, so they are what the plan really earns whatever the solver thought.
A season plan (a ``period`` column) is evaluated period by period and then across
periods (:func:`evaluate_season`: stock carried over, markdown rules, salvage).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .competitors import outside_attraction, outside_surplus
from .money import MONEY_DECIMALS, to_cents
from .offers import ladder, within_bounds
from .rules import PlanView, SeasonView, check_rules, check_season_rules
from .scenario import Scenario
from .season import salvage_per_unit


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
    # a season's (evaluate_season): KPIs per period, and the salvage value of
    # the stock left (``products`` then has ``receipts`` and ``left`` too)
    periods: pd.DataFrame | None = None
    salvage: float = 0.0
    # a season's stock per period and product with a finite inventory: units sold in
    # the period, receipts, stock left at its end
    stock: pd.DataFrame | None = None

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
    cents = to_cents(plan["price"].to_numpy(float))
    on = pd.MultiIndex.from_arrays([plan["bundle_id"].to_numpy(object), cents]).isin(
        pd.MultiIndex.from_arrays([lad["bundle_id"].to_numpy(object), to_cents(lad["price"].to_numpy())]))
    off = [(b, float(c)) for b, c in zip(plan["bundle_id"].to_numpy(object)[~on], cents[~on])]
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
    a rule that forbids one of them is what stops the price moving, so it binds.

    With the ladder sorted by offer, then price, a price at position ``i`` of its
    offer's run has neighbours ``i − 1`` (unless it opens the run) and ``i + 1``
    (unless it closes it); rows come out in plan order, the lower neighbour first. A
    price not on its offer's ladder has none."""
    code = pd.factorize(lad["bundle_id"])[0]
    order = np.lexsort((lad["price"].to_numpy(float), code))
    b_sorted = lad["bundle_id"].to_numpy(object)[order]
    p_sorted = lad["price"].to_numpy(float)[order]
    c = code[order]
    change = c[1:] != c[:-1]
    opens, closes = np.r_[True, change], np.r_[change, True]
    at = pd.DataFrame({"bundle_id": b_sorted, "price": p_sorted, "at": np.arange(len(c))})
    found = plan[["bundle_id", "segment_id", "price"]].reset_index(drop=True).merge(
        at, on=["bundle_id", "price"], how="inner", sort=False)
    i = found["at"].to_numpy(int)
    pos = np.stack([i - 1, i + 1], axis=1).ravel()
    ok = np.stack([~opens[i], ~closes[i]], axis=1).ravel()
    pos = pos[ok]
    return pd.DataFrame({"bundle_id": np.repeat(found["bundle_id"].to_numpy(object), 2)[ok],
                         "segment_id": np.repeat(found["segment_id"].to_numpy(object), 2)[ok],
                         "price": p_sorted[pos]}).astype(
        {"bundle_id": object, "segment_id": object, "price": float})


# ----------------------------------------------------------------- seasons
# A season plan (docs/scenario.md, "Seasons"): each period is evaluated as the one-period
# plan it is, on the period's slice of the scenario (its shoppers N_st and competitor
# prices), with every rule that holds period by period checked there; then the stock is
# carried over (units sold up to each period against the stock plus the receipts so
# far), the rules that link periods are checked (check_season_rules) and the stock left
# at the end is valued at salvage × unit cost.


def evaluate_season(scenario: Scenario, plan: pd.DataFrame) -> Evaluation:
    """Evaluate a season plan (``period, bundle_id, segment_id, price``)."""
    labels = tuple(scenario.horizon.labels)
    if "period" not in plan.columns and plan.empty:
        plan = plan.assign(period=pd.Series(dtype=object))       # no plan at all
    plan = plan[["period", "bundle_id", "segment_id", "price"]].reset_index(drop=True).copy()
    plan["period"] = plan["period"].astype(str)
    plan["price"] = plan["price"].astype(float)
    violations: list[str] = []
    stray = sorted(set(plan["period"]) - set(labels))
    if stray:
        violations.append(f"periods outside the horizon: {stray}")
    evs = [evaluate_plan(scenario.period_slice(t),
                         plan[plan["period"] == t].drop(columns="period")) for t in labels]
    for t, ev in zip(labels, evs):
        violations += [f"period {t}: {v}" for v in ev.violations]
    binding = list(dict.fromkeys(b for ev in evs for b in ev.binding))

    rows = pd.concat([ev.plan.assign(period=t) for t, ev in zip(labels, evs)], ignore_index=True)
    rows = rows[["period"] + [c for c in rows.columns if c != "period"]]
    segments = pd.concat([ev.segments.assign(period=t) for t, ev in zip(labels, evs)],
                         ignore_index=True)
    segments = segments[["period"] + [c for c in segments.columns if c != "period"]]

    inv = scenario.products["inventory"]
    units = np.stack([ev.products["units"].to_numpy(float) for ev in evs])   # periods × products
    receipts = scenario.period_receipts().reindex(columns=inv.index).fillna(0.0).to_numpy(float)
    limited = np.isfinite(inv.to_numpy(float))
    stock = pd.DataFrame({
        "period": np.repeat(np.asarray(labels, dtype=object), int(limited.sum())),
        "product_id": np.tile(inv.index[limited].to_numpy(dtype=object), len(labels)),
        "units": units[:, limited].ravel(),
        "inventory": np.tile(inv.to_numpy(float)[limited], len(labels)),
        "receipts": receipts[:, limited].ravel()})
    view = SeasonView(plan, labels, stock, violations, binding)
    check_season_rules(scenario, view)
    lim = inv.to_numpy(float)[limited][None, :]
    run = pd.DataFrame({"period": stock["period"], "product_id": stock["product_id"],
                        "units": stock["units"], "receipts": stock["receipts"],
                        "left": (lim + np.cumsum(receipts[:, limited], axis=0)
                                 - np.cumsum(units[:, limited], axis=0)).ravel()})

    total = units.sum(axis=0)
    arrived = receipts.sum(axis=0)
    products = pd.DataFrame({"product_id": inv.index.to_numpy(dtype=object), "units": total,
                             "inventory": inv.to_numpy(float)})
    products["receipts"] = np.where(limited, arrived, np.nan)
    products["left"] = products["inventory"] + products["receipts"] - total
    with np.errstate(invalid="ignore", divide="ignore"):
        products["utilisation"] = total / (products["inventory"] + products["receipts"])
    left = products["left"].to_numpy(float)
    salvage = float(np.nansum(salvage_per_unit(scenario) * np.where(limited, left, 0.0)))

    periods = pd.DataFrame({
        "period": list(labels),
        "revenue": [ev.revenue for ev in evs], "profit": [ev.profit for ev in evs],
        "units": [ev.units for ev in evs],
        "offers_on_sale": [int(ev.plan["bundle_id"].nunique()) for ev in evs],
        "objective": [ev.objective for ev in evs]})
    revenue, profit = float(periods["revenue"].sum()), float(periods["profit"].sum())
    objective = float(periods["objective"].sum()) + salvage
    return Evaluation(rows, segments, products, revenue, profit, float(periods["units"].sum()),
                      objective, view.violations, view.binding, periods, salvage, run)

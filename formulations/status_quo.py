r"""The status quo of a season: what holding today's prices all season would earn — a
model estimate, scored by the season model (docs/model.md, "Against the status quo").

The status quo plan is ``previous_plan.csv`` (its last period: what is on the shelf
now), or, without one, every single-product offer (one product, quantity 1) at its list
price to everyone. It is held in every period of the horizon. Each period is the
one-period model of its choice model on the period's slice (its shoppers ``N_st``, its
competitor prices), exactly as :func:`formulations.evaluate.evaluate_season` scores a
season plan; the one difference is the stock. The season model forbids selling more
than the stock; a held plan cannot stop itself, so here **sales stop when stock runs
out**, period by period, by proportional rationing:

- ``S_it``: the stock of product ``i`` at the start of period ``t`` (the stock left after
  ``t − 1`` plus the receipts of ``t``); ``d_bt``: offer ``b``'s expected units in period
  ``t`` without a limit; ``u_it = Σ_b q_ib d_bt`` what they would take of ``i``.
- Each product's fill rate ``r_it = min(1, S_it / u_it)`` (1 where ``u_it = 0``); an
  offer sells the fraction ``f_bt = min_{i ∈ b} r_it`` of its demand — an offer sharing
  a short product with others is cut as much as that product is, in every segment
  alike, and a bundle stops when any of its products runs out. Then
  ``Σ_b q_ib f_bt d_bt ≤ r_it u_it ≤ S_it``: the stock is never oversold.
- A shopper who finds an offer sold out buys nothing instead (no switching to another
  offer: a lost sale). Revenue and profit of each plan row scale with ``f_bt``.

With stock for everything the result is ``evaluate_season``'s value of the held plan.
The objective is the season's: Σ_t profit (or revenue) + σ Σ_i c_i (stock left).
The rules of §6 and the markdown rules are checked on the held plan (the stock aside:
running out is what the rationing above models); a status quo that breaks one is still
scored, and ``violations`` says which.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .evaluate import evaluate_season
from .scenario import Scenario
from .season import salvage_per_unit

LABEL = "model estimate"


@dataclass
class StatusQuo:
    source: str                   # "previous_plan.csv" or "list prices of single products"
    plan: pd.DataFrame            # period, bundle_id, segment_id, price, expected_*, filled
    periods: pd.DataFrame         # period, revenue, profit, units, objective, sold_out
    products: pd.DataFrame        # product_id, units, inventory, receipts, left
    revenue: float
    profit: float
    units: float
    salvage: float
    objective: float
    stock_outs: pd.DataFrame      # period, product_id: wanted more than the stock left then
    violations: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        """Whether the held plan is a plan of the season model: no rule broken and no
        stock running out (then its value is the season model's value of it)."""
        return not self.violations and self.stock_outs.empty


def status_quo_plan(scenario: Scenario) -> tuple[pd.DataFrame, str]:
    """The plan held (``bundle_id, segment_id, price``) and where it comes from."""
    prev = scenario.previous_plan
    if len(prev):
        return prev[["bundle_id", "segment_id", "price"]].reset_index(drop=True), "previous_plan.csv"
    comp = scenario.components
    shape = comp.groupby("bundle_id").agg(n=("product_id", "size"), q=("quantity", "sum"))
    single = shape.index[(shape["n"] == 1) & (shape["q"] == 1)]
    ids = scenario.bundles.index[scenario.bundles.index.isin(single)]
    ref = scenario.reference_prices().reindex(ids).to_numpy(float)
    return (pd.DataFrame({"bundle_id": ids.to_numpy(dtype=object), "segment_id": "*",
                          "price": np.round(ref, 2)}), "list prices of single products")


def evaluate_status_quo(scenario: Scenario) -> StatusQuo:
    """Score the status quo on a season (module docstring)."""
    held, source = status_quo_plan(scenario)
    labels = tuple(scenario.horizon.labels)
    plan = pd.concat([held.assign(period=t) for t in labels], ignore_index=True)
    plan = plan[["period", "bundle_id", "segment_id", "price"]]
    free = scenario.without_rule("inventory")       # running out is rationed below, not a breach
    ev = evaluate_season(free, plan)
    rows = ev.plan.reset_index(drop=True)

    inv = scenario.products["inventory"]
    limited = np.isfinite(inv.to_numpy(float))
    if not scenario.constraints.get("inventory"):
        limited = np.zeros(len(inv), bool)       # the model sets no stock limit: nor does this
    pids = inv.index[limited]
    comp = scenario.components[scenario.components["product_id"].isin(pids)]
    offers = pd.Index(scenario.bundles.index)
    # Q: limited products × offers, q_ib
    Q = sp.csr_matrix((comp["quantity"].to_numpy(float),
                       (pids.get_indexer(comp["product_id"]), offers.get_indexer(comp["bundle_id"]))),
                      shape=(len(pids), len(offers)))
    receipts = scenario.period_receipts().reindex(columns=pids).fillna(0.0).to_numpy(float)
    period_of = pd.Index(labels).get_indexer(rows["period"].astype(str))
    offer_of = offers.get_indexer(rows["bundle_id"])
    demand = np.zeros((len(labels), len(offers)))              # d_bt without a limit
    np.add.at(demand, (period_of, offer_of), rows["expected_units"].to_numpy(float))
    comp_p = pids.get_indexer(comp["product_id"])
    comp_b = offers.get_indexer(comp["bundle_id"])

    stock = inv.to_numpy(float)[limited].copy()
    fill = np.ones((len(labels), len(offers)))
    sold = np.zeros((len(labels), len(pids)))
    out_t, out_i = [], []
    for t in range(len(labels)):                # periods are sequential: stock carries over
        stock += receipts[t]
        need = Q @ demand[t]
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(need > stock, stock / need, 1.0)
        f = np.ones(len(offers))
        np.minimum.at(f, comp_b, rate[comp_p])
        fill[t] = f
        sold[t] = Q @ (demand[t] * f)
        stock = np.maximum(stock - sold[t], 0.0)
        short = np.flatnonzero(rate < 1.0)
        out_t += [labels[t]] * len(short)
        out_i += list(pids[short])

    row_fill = fill[period_of, offer_of]
    rows = rows.assign(expected_units=rows["expected_units"] * row_fill,
                       expected_revenue=rows["expected_revenue"] * row_fill,
                       expected_profit=rows["expected_profit"] * row_fill, filled=row_fill)
    by_period = rows.groupby("period", sort=False)[
        ["expected_revenue", "expected_profit", "expected_units"]].sum().reindex(list(labels)).fillna(0.0)
    value = "expected_profit" if scenario.objective == "profit" else "expected_revenue"
    stock_outs = pd.DataFrame({"period": pd.Series(out_t, dtype=object),
                               "product_id": pd.Series(out_i, dtype=object)})
    periods = pd.DataFrame({
        "period": list(labels), "revenue": by_period["expected_revenue"].to_numpy(),
        "profit": by_period["expected_profit"].to_numpy(), "units": by_period["expected_units"].to_numpy(),
        "objective": by_period[value].to_numpy(),
        "sold_out": stock_outs.groupby("period").size().reindex(list(labels)).fillna(0).astype(int).to_numpy()})

    products = ev.products[["product_id", "inventory", "receipts"]].copy()
    units_all = np.zeros(len(products))
    units_all[limited] = sold.sum(axis=0)
    # products with no stock limit: their units as evaluated, every offer of theirs filled
    unlimited = scenario.components[~scenario.components["product_id"].isin(pids)]
    if len(unlimited):
        d_b = (demand * fill).sum(axis=0)
        use = unlimited["quantity"].to_numpy(float) * d_b[offers.get_indexer(unlimited["bundle_id"])]
        per = pd.Series(use).groupby(unlimited["product_id"].to_numpy()).sum()
        units_all[~limited] = per.reindex(inv.index[~limited]).fillna(0.0).to_numpy()
    products["units"] = units_all
    products["left"] = products["inventory"] + products["receipts"] - products["units"]
    finite = np.isfinite(products["left"].to_numpy(float))
    salvage = float(np.sum(salvage_per_unit(scenario)[finite] * products["left"].to_numpy(float)[finite]))
    violations = list(ev.violations)
    return StatusQuo(source, rows, periods, products, float(periods["revenue"].sum()),
                     float(periods["profit"].sum()), float(periods["units"].sum()), salvage,
                     float(periods["objective"].sum()) + salvage, stock_outs, violations)


def status_quo_summary(sq: StatusQuo, plan_objective: float | None) -> dict:
    """summary.json's ``status_quo``: the held plan's season, and what the plan earns above it."""
    left = sq.products[np.isfinite(sq.products["inventory"].to_numpy(float))]
    return {
        "label": LABEL,
        "source": sq.source,
        "objective": sq.objective,
        "revenue": sq.revenue,
        "profit": sq.profit,
        "units": sq.units,
        "salvage_value": sq.salvage,
        "plan_minus_status_quo": None if plan_objective is None else plan_objective - sq.objective,
        "periods": sq.periods.to_dict(orient="records"),
        "stock_left": [{"product_id": p, "left": float(v)} for p, v in zip(left["product_id"], left["left"])],
        "stock_outs": sq.stock_outs.to_dict(orient="records"),
        "breaks_rules": sq.violations,
    }

"""What a season plan earns, re-evaluated from the scenario alone (docs/scenario.md, "Seasons").

Each period is evaluated as the one-period plan it is, on the period's slice of the
scenario (its shoppers ``N_st`` and competitor prices), with every rule that holds
period by period checked there; then the stock is carried over (units sold up to each
period against the stock plus the receipts so far), the rules that link periods are
checked (:func:`formulations.rules.check_season_rules`) and the stock left at the end is
valued at ``salvage × unit cost``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .evaluate import Evaluation, evaluate_plan
from .rules import SeasonView, check_season_rules
from .scenario import Scenario


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

    total = units.sum(axis=0)
    arrived = receipts.sum(axis=0)
    products = pd.DataFrame({"product_id": inv.index.to_numpy(dtype=object), "units": total,
                             "inventory": inv.to_numpy(float)})
    products["receipts"] = np.where(limited, arrived, np.nan)
    products["left"] = products["inventory"] + products["receipts"] - total
    with np.errstate(invalid="ignore", divide="ignore"):
        products["utilisation"] = total / (products["inventory"] + products["receipts"])
    cost = scenario.products["unit_cost"].to_numpy(float)
    left = products["left"].to_numpy(float)
    salvage = float(scenario.horizon.salvage * np.nansum(cost * np.where(limited, left, 0.0)))

    periods = pd.DataFrame({
        "period": list(labels),
        "revenue": [ev.revenue for ev in evs], "profit": [ev.profit for ev in evs],
        "units": [ev.units for ev in evs],
        "offers_on_sale": [int(ev.plan["bundle_id"].nunique()) for ev in evs],
        "objective": [ev.objective for ev in evs]})
    revenue, profit = float(periods["revenue"].sum()), float(periods["profit"].sum())
    objective = float(periods["objective"].sum()) + salvage
    return Evaluation(rows, segments, products, revenue, profit, float(periods["units"].sum()),
                      objective, view.violations, view.binding, periods, salvage)

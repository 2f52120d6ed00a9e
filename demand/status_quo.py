"""A plan against the status quo, as the fitted model sees it — a model estimate, not a measured uplift.

The **status quo** keeps every product on sale alone at its observed shelf price
(``list_price``: the most common daily price in the data) and sells no bundle. Both
plans are re-evaluated from the scenario alone (:func:`formulations.evaluate.evaluate_plan`),
so the difference is what the *fitted demand model* predicts, not what an experiment
measured: it inherits every assumption of the fit (the visit assumption, segments held
fixed, the logit's price response, complementarity of mined bundles).

The interval comes from the WTP's uncertainty: in each of ``draws`` draws every
(segment, offer) WTP is redrawn from a normal with its ``wtp_sd`` by
:func:`formulations.robust.draw_wtp` (a draw below 0 counts as 0, as SCENARIO.md's robust
objective does — below a negative estimate, as the estimate; cells without ``wtp_sd``
keep their value), and both plans are evaluated on the same draw, so the interval is of
the paired difference. Draws are independent across cells — the bootstrap's
correlation between a segment's cells is not kept — so it is a rough interval.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from formulations.evaluate import evaluate_plan
from formulations.robust import draw_wtp
from formulations.scenario import Scenario

from .options import COMPARE_RANGES, check_options

LABEL = ("model estimate, not a measured uplift: both plans are evaluated with the fitted demand "
         "model; the interval reflects only the WTP standard errors (wtp_sd)")


def status_quo_plan(scenario: Scenario) -> pd.DataFrame:
    """Every single-product offer (one component, quantity 1) at its list price, to everyone; no bundles."""
    comp = scenario.components
    n = comp.groupby("bundle_id")["product_id"].transform("size")
    single = comp[(n == 1) & (comp["quantity"] == 1)]
    single = single[single["bundle_id"].isin(scenario.bundles.index)].drop_duplicates("product_id")
    price = scenario.products["list_price"].reindex(single["product_id"]).to_numpy(float)
    return pd.DataFrame({"bundle_id": single["bundle_id"].to_numpy(), "segment_id": "*", "price": price})


def _profit(scenario: Scenario, plan: pd.DataFrame) -> tuple[float, float]:
    ev = evaluate_plan(scenario, plan)
    return ev.profit, ev.revenue


def compare(scenario: Scenario, plan: pd.DataFrame, *, draws: int = 200, seed: int = 0,
            level: float = 0.90) -> dict:
    """Predicted profit of ``plan`` (columns ``bundle_id, segment_id, price``) vs the status quo.

    Returns a JSON-ready dict: ``label``, ``plan`` and ``status_quo`` (profit, revenue,
    offers), ``uplift`` (``profit`` difference, its ``interval`` at ``level`` and the
    share of draws in which the plan wins), and how it was computed.
    """
    check_options(COMPARE_RANGES, {"draws": draws})
    plan = plan[["bundle_id", "segment_id", "price"]].reset_index(drop=True)
    base = status_quo_plan(scenario)
    p_plan, r_plan = _profit(scenario, plan)
    p_base, r_base = _profit(scenario, base)
    w = scenario.wtp
    sd = w["wtp_sd"].to_numpy(float) if "wtp_sd" in w.columns else np.full(len(w), np.nan)
    sd = np.where(np.isfinite(sd), sd, 0.0)
    diffs = []
    for drawn in draw_wtp(pd.DataFrame({"wtp": w["wtp"].to_numpy(float), "sd": sd}), draws, seed):
        s = dataclasses.replace(scenario, wtp=w.assign(wtp=drawn))
        diffs.append(_profit(s, plan)[0] - _profit(s, base)[0])
    d = np.asarray(diffs)
    tail = (1 - level) / 2
    interval = [float(np.quantile(d, tail)), float(np.quantile(d, 1 - tail))] if len(d) else None
    return {
        "label": LABEL,
        "horizon": "one planning horizon (the scenario's segment sizes)",
        "plan": {"profit": p_plan, "revenue": r_plan, "offers": int(plan["bundle_id"].nunique())},
        "status_quo": {"profit": p_base, "revenue": r_base, "offers": int(len(base)),
                       "definition": "every product alone at its list price (observed regular shelf "
                                     "price), no bundles"},
        "uplift": {"profit": p_plan - p_base,
                   "relative": (p_plan - p_base) / abs(p_base) if p_base else None,
                   "interval": interval, "level": level,
                   "share_of_draws_plan_wins": float((d > 0).mean()) if len(d) else None},
        "draws": int(draws), "seed": int(seed),
        "method": "paired WTP draws: normal with wtp_sd per (segment, offer), below min(0, estimate) "
                  "counts as min(0, estimate)",
    }

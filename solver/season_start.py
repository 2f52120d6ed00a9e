"""A first plan for a season: the same offers at the same prices in every period.

The heuristic (:mod:`solver.heuristic`) searches one period's decisions. A season plan
that keeps them all season changes no price after its first period, so the markdown
rules hold whenever its prices keep them against the previous plan (the one-period
pruning of ``no_increase``, ``max_changes`` and ``price_change`` checks just that). It is
found on the *pooled* season: the first period's slice with each segment's shoppers
summed over the periods and each product's stock plus all its receipts — the season's
last cumulative stock limit. The plan is then re-evaluated on the season itself
(:func:`formulations.evaluate.evaluate_plan`); where it breaks a rule (stock running
out before a late receipt, a competitor's price in one period), there is no first plan.
Otherwise, under first choice, it is handed to the backend as its MIP start (its
``on_sale`` columns; the solver completes the rest); under MNL it only stands by; either
way it is kept if the solver ends with a worse plan, as for one period
(:mod:`solver.first_plan`). Under MNL with competitor prices the search scores the
pooled plans without them (as its one-period use does not arise there); the plan is
re-evaluated with them, so this costs only the plan's quality.
"""
from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pandas as pd

from formulations.build import BuiltModel
from formulations.evaluate import evaluate_plan
from formulations.offers import build_offer_space

from .heuristic import HeuristicResult, heuristic_budget, heuristic_plan


def pooled(scenario):
    """The season as one period: shoppers summed over the periods, stock plus receipts."""
    labels = scenario.horizon.labels
    first = scenario.period_slice(labels[0])
    sizes = scenario.period_sizes().sum(axis=0)
    inv = scenario.products["inventory"]
    arrived = scenario.period_receipts().sum(axis=0).reindex(inv.index).fillna(0.0)
    return dataclasses.replace(
        first, segments=first.segments.assign(size=sizes.reindex(first.segments.index).to_numpy(float)),
        products=scenario.products.assign(inventory=inv + arrived), period=None)


def season_first_plan(built: BuiltModel, seconds_left: float | None,
                      cancel: threading.Event | None = None
                      ) -> tuple[HeuristicResult | None, np.ndarray | None]:
    """The constant plan of the module docstring and the MIP start made from it, or
    ``None, None``."""
    season = built.season
    if built.space.no_price or not len(built.space.points):
        return None, None
    started = time.perf_counter()
    space = build_offer_space(pooled(season))
    if not len(space.points):
        return None, None
    found = heuristic_plan(space, heuristic_budget(seconds_left, len(space.arcs)), cancel=cancel)
    if found is None:
        return None, None
    labels = season.horizon.labels
    plan = pd.concat([found.plan.assign(period=t) for t in labels], ignore_index=True)
    plan = plan[["period", "bundle_id", "segment_id", "price"]]
    t0 = time.perf_counter()
    ev = evaluate_plan(season, plan)
    eval_seconds = time.perf_counter() - t0
    if ev.violations:
        return None, None
    keys = built.model.vars["on_sale"].keys
    chosen = pd.MultiIndex.from_frame(plan.astype({"price": float}))
    have = pd.MultiIndex.from_frame(keys[["period", "bundle", "segment", "price"]].astype({"price": float}))
    on = have.isin(chosen)
    points = np.flatnonzero(on)
    if len(points) != len(plan):          # a price the season model does not have
        return None, None
    x = np.full(built.model.num_cols, np.nan)
    x[built.model.vars["on_sale"].cols()] = on.astype(float)
    result = HeuristicResult(plan, ev.objective, points, time.perf_counter() - started,
                             found.moves, ev, eval_seconds)
    return result, x

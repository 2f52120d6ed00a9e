"""A first plan for a season: the same offers at the same prices in every period, or each
period planned on its own in order, whichever earns more.

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

A second candidate is **each period on its own** (:func:`weekly_plan`): the heuristic on
period 1's slice, then on period 2's with the stock period 1's plan leaves, and so on,
each with the markdown history so far — ``previous_plan`` = each offer's last price on
sale (so ``no_increase`` and ``price_change`` prune against it), and an offer that has
used its ``max_changes``, or changed less than ``min_gap`` periods ago, offered only at
its last price. It follows demand and stock through the season, which the constant plan
cannot (benchmarks/results_season.md: at 30 s the season solve ended far below planning
each week on its own). A third candidate is the same, each period solved exactly
(:func:`solver.api.solve`) within ``EXACT_WEEKS_SHARE`` of the time limit. The best of the
candidates that break no rule on the season is the first plan.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import Callable

import numpy as np
import pandas as pd

from formulations.build import BuiltModel
from formulations.evaluate import evaluate_plan
from formulations.offers import build_offer_space
from formulations.rules.base import PRICE_TOL

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
                      cancel: threading.Event | None = None,
                      improved: Callable[[float], None] | None = None,
                      solve: Callable | None = None,
                      ) -> tuple[HeuristicResult | None, np.ndarray | None]:
    """The best candidate of the module docstring and the MIP start made from it, or
    ``None, None``; ``improved`` hears the value of the heuristics' best before the
    periods are solved exactly, by ``solve`` (:func:`solver.api.solve`; without it, no
    such candidate)."""
    season = built.season
    if built.space.no_price or not len(built.space.points):
        return None, None
    started = time.perf_counter()
    space = build_offer_space(pooled(season))
    if not len(space.points):
        return None, None
    budget = heuristic_budget(seconds_left, len(space.arcs))
    found = heuristic_plan(space, budget, cancel=cancel)
    labels = season.horizon.labels
    candidates = []
    moves = 0 if found is None else found.moves
    if found is not None:
        plan = pd.concat([found.plan.assign(period=t) for t in labels], ignore_index=True)
        candidates.append(plan[["period", "bundle_id", "segment_id", "price"]])
    if len(labels) > 1 and not (cancel is not None and cancel.is_set()):
        weekly = weekly_plan(season, budget / len(labels), cancel)
        if weekly is not None:
            candidates.append(weekly)
    best, eval_seconds = _better(season, candidates, None)
    if len(labels) > 1 and not (cancel is not None and cancel.is_set()):
        per_week = exact_week_seconds(seconds_left, len(labels))
        if per_week is not None and solve is not None:
            if best is not None and improved is not None:
                improved(best[1].objective)          # a plan to show while the periods solve
            exact = weekly_plan(season, per_week, cancel, solve=solve)
            if exact is not None:
                best, more = _better(season, [exact], best)
                eval_seconds += more
    if best is None:
        return None, None
    plan, ev = best
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
                             moves, ev, eval_seconds)
    return result, x


# Each period solved exactly, in order, gets this share of a season's time limit (split
# over its periods), if that leaves each at least EXACT_WEEK_MIN_SECONDS. Measured on the
# season benchmark (40/150/10 × 8, 120 s, families a and b): the season solve never got
# past its first plan, and each week solved on its own with 15 s earned 1.5-1.6 % more.
EXACT_WEEKS_SHARE = 0.3
EXACT_WEEK_MIN_SECONDS = 1.0
EXACT_WEEK_UNLIMITED_SECONDS = 10.0


def _better(season, plans: list, best: tuple | None) -> tuple[tuple | None, float]:
    """The best of ``best`` and ``plans`` that break no rule of the season, as
    ``(plan, evaluation)``, and the seconds the evaluations took."""
    t0 = time.perf_counter()
    for plan in plans:
        ev = evaluate_plan(season, plan)
        if not ev.violations and (best is None or ev.objective > best[1].objective + 1e-9):
            best = (plan, ev)
    return best, time.perf_counter() - t0


def exact_week_seconds(seconds_left: float | None, periods: int) -> float | None:
    """The time limit of each period's exact solve in the first plan, or ``None`` for no
    such candidate."""
    if seconds_left is None:
        return EXACT_WEEK_UNLIMITED_SECONDS
    per_week = EXACT_WEEKS_SHARE * seconds_left / periods
    return per_week if per_week >= EXACT_WEEK_MIN_SECONDS else None


def weekly_plan(season, seconds_per_period: float, cancel: threading.Event | None = None,
                solve: Callable | None = None) -> pd.DataFrame | None:
    """Each period on its own, in order (module docstring): ``period, bundle_id,
    segment_id, price``, or ``None`` if a period's search found nothing. With ``solve``
    (:func:`solver.api.solve`, passed in by it), each period is solved exactly instead
    of by the heuristic alone."""
    labels = season.horizon.labels
    inv = season.products["inventory"].to_numpy(float).copy()
    arrive = season.period_receipts().reindex(columns=season.products.index).fillna(0.0).to_numpy(float)
    last = season.previous_plan[["bundle_id", "segment_id", "price"]].reset_index(drop=True)
    k = season.constraints.get("max_changes")
    gap = season.constraints.get("min_gap") or 0
    moved = pd.DataFrame({"bundle_id": pd.Series(dtype=object), "segment_id": pd.Series(dtype=object),
                          "t": pd.Series(dtype=int)})            # the changes so far
    plans = []
    for i, t in enumerate(labels):
        if cancel is not None and cancel.is_set():
            return None
        inv = inv + arrive[i]
        # offers that may not change now: out of changes, or changed too recently
        per = moved.groupby(["bundle_id", "segment_id"])["t"].agg(["size", "max"])
        stuck = np.zeros(len(per), bool)
        if k is not None:
            stuck |= per["size"].to_numpy() >= int(k)
        if gap:
            stuck |= i - per["max"].to_numpy() < int(gap)
        frozen = last.merge(per.index[stuck].to_frame(index=False), on=["bundle_id", "segment_id"])
        prices = pd.concat([season.prices[~season.prices["bundle_id"].isin(frozen["bundle_id"])],
                            frozen[["bundle_id", "price"]]], ignore_index=True)
        week = dataclasses.replace(season.period_slice(t), products=season.products.assign(inventory=inv),
                                   previous_plan=last, prices=prices, period=None)
        if solve is not None:
            now = _solved_week(solve, week, seconds_per_period, cancel)
            if now is None:
                return None
            ev = evaluate_plan(week, now)
        else:
            space = build_offer_space(week)
            found = heuristic_plan(space, seconds_per_period, cancel=cancel) if len(space.points) else None
            if found is None:
                return None
            now = found.plan[["bundle_id", "segment_id", "price"]]
            ev = found.evaluation if found.evaluation is not None else evaluate_plan(week, now)
        inv = inv - ev.products["units"].to_numpy(float)
        both = now.merge(last, on=["bundle_id", "segment_id"], how="left", suffixes=("", "_last"))
        change = both["price_last"].notna() & ((both["price"] - both["price_last"]).abs() > PRICE_TOL)
        moved = pd.concat([moved, both.loc[change, ["bundle_id", "segment_id"]].assign(t=i)], ignore_index=True)
        last = pd.concat([last, now], ignore_index=True).drop_duplicates(["bundle_id", "segment_id"], keep="last")
        plans.append(now.assign(period=t))
    plan = pd.concat(plans, ignore_index=True)
    return plan[["period", "bundle_id", "segment_id", "price"]]


def _solved_week(solve: Callable, week, seconds: float,
                 cancel: threading.Event | None) -> pd.DataFrame | None:
    """One period's plan by the whole engine."""
    res = solve(week, time_limit=seconds, cancel=cancel, explain=False)
    if not res.has_plan:
        return None
    return res.plan[["bundle_id", "segment_id", "price"]].astype({"price": float})

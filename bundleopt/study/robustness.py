"""How a plan fares when the WTP estimates are off: re-score it on N draws of the WTPs.

The draws are those of :mod:`formulations.robust` (normal with each pair's ``wtp_sd``,
else ``wtp_cv`` × |WTP|; below 0 counts as 0, below a negative estimate as the estimate). The plan is fixed; for each draw the
choice model of SCENARIO.md §4 is applied to the offers each segment sees, all draws
at once as ``draws × rows`` arrays. With zero spread every draw is the estimate itself
and the mean is the plan's objective as :func:`formulations.evaluate.evaluate_plan`
computes it.

Size: the draws are held in memory as ``draws × offers seen`` arrays (about 50 bytes a
cell at peak), so :func:`check_draws` caps ``draws`` at :data:`MAX_DRAWS` and
``draws × offers`` at :data:`MAX_DRAW_CELLS` (about half a gigabyte) before anything is
drawn; the API and the command both go through it (docs/whatif.md §5).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from formulations.errors import ParameterError, option_error
from formulations.evaluate import capped_attraction, evaluate_plan, seen_offers
from formulations.offers import MONEY_DECIMALS
from formulations.robust import draw_wtp, offer_wtp_sd, out_of_range
from formulations.scenario import Scenario

from .plans import refuse_season, rules_broken


MAX_DRAWS = 1_000_000            # draws, whatever the plan
MAX_DRAW_CELLS = 10_000_000      # draws × offers seen (or WTP pairs, the wider)


def check_draws(draws: object, offers: int | None = None) -> None:
    """Refuse ``draws`` out of range or too large to hold (``offers``: the width of the
    ``draws × offers`` arrays; None checks ``draws`` alone, as the command does before
    it reads the plan)."""
    want = out_of_range("draws", draws)
    if want is None and draws > MAX_DRAWS:
        want = f"at most {MAX_DRAWS:,}"
    if want is not None:
        raise option_error("draws", want, draws, flag="--draws")
    if offers and draws * offers > MAX_DRAW_CELLS:
        raise ParameterError(
            f"The 'draws' parameter (--draws) is too large for this plan: {draws:,} draws × {offers:,} "
            f"offers seen = {draws * offers:,} WTP values, more than the cap of {MAX_DRAW_CELLS:,} "
            f"(docs/whatif.md §5); use at most {MAX_DRAW_CELLS // offers:,} draws.")


def _seen(scenario: Scenario, plan: pd.DataFrame) -> pd.DataFrame:
    """(segment, offer, price) each segment sees, in bundles order within a segment."""
    seen = seen_offers(scenario, plan).drop(columns="row")
    order = {b: i for i, b in enumerate(scenario.bundles.index)}
    seg_code = pd.Index(scenario.segments.index).get_indexer(seen["segment_id"])
    return seen.assign(s=seg_code, o=seen["bundle_id"].map(order)).sort_values(
        ["s", "o"], kind="stable").reset_index(drop=True)


def _membership(seen: pd.DataFrame, n_seg: int) -> sp.csr_matrix:
    """Seen rows × segments, 1 where the row is the segment's."""
    return sp.csr_matrix((np.ones(len(seen)), (np.arange(len(seen)), seen["s"].to_numpy())),
                         shape=(len(seen), n_seg))


def demand_draws(scenario: Scenario, seen: pd.DataFrame, wtp: np.ndarray) -> np.ndarray:
    """Expected offers sold per (draw, seen row) for WTP draws ``wtp`` (draws × rows,
    NaN = the segment never buys that offer)."""
    price = seen["price"].to_numpy(float)
    size = scenario.segments["size"].to_numpy(float)[seen["s"].to_numpy()]
    s = seen["s"].to_numpy()
    n_seg = len(scenario.segments)
    if len(seen) == 0:
        return np.zeros((len(wtp), 0))
    if scenario.choice_model == "mnl":
        v = capped_attraction(seen["beta"].to_numpy(float), wtp, price)
        denom = 1.0 + np.asarray(_membership(seen, n_seg).T.dot(v.T)).T   # draws × segments
        return size * v / denom[:, s]
    # first choice: highest surplus ≥ 0, then the seller's value, then bundles order
    value = seen["value"].to_numpy(float)
    surplus = np.round(wtp - price, MONEY_DECIMALS)
    ok = np.isfinite(surplus) & (surplus >= 0)
    out = np.zeros_like(surplus)
    bounds = np.flatnonzero(np.r_[True, s[1:] != s[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):          # one segment's rows; draws vectorised
        sur = np.where(ok[:, a:b], surplus[:, a:b], -np.inf)
        top = ok[:, a:b] & (sur == sur.max(axis=1, keepdims=True))
        val = np.where(top, value[None, a:b], -np.inf)
        top &= val == val.max(axis=1, keepdims=True)
        pick = np.argmax(top, axis=1)                   # first in bundles order
        buys = top.any(axis=1)
        out[np.flatnonzero(buys), a + pick[buys]] = size[a]
    return out


def robustness(scenario: Scenario, plan: pd.DataFrame, *, draws: int, seed: int,
               wtp_cv: float | None = None) -> dict:
    """robustness.json content: the objective's ``mean, p5, p50, p95`` over the draws,
    ``stockout_probability`` per product (share of draws selling more than its
    inventory; 0 where unlimited), ``segment_buy_rate`` per segment (mean share of
    its shoppers who buy) and ``plan_breaks`` (rule → what the plan does wrong; empty
    for a plan that keeps every rule)."""
    refuse_season(scenario, "robustness")
    check_draws(draws)
    for name, value in (("seed", seed), ("wtp_cv", wtp_cv)):
        want = out_of_range(name, value)
        if want is not None:
            raise option_error(name, want, value, flag="--" + name.replace("_", "-"))
    sense = "revenue" if scenario.objective == "revenue" else "profit"
    plan = plan[["bundle_id", "segment_id", "price"]].reset_index(drop=True)
    ev = evaluate_plan(scenario, plan)
    seen, w = _seen_valued(scenario, plan, wtp_cv, sense)
    check_draws(draws, max(len(seen), len(w)))
    wd = draw_wtp(w, draws, seed)                                 # draws × pairs
    col = seen["col"].to_numpy(float)
    has = np.isfinite(col)
    wtp = np.full((draws, len(seen)), np.nan)
    wtp[:, has] = wd[:, col[has].astype(int)]
    demand = demand_draws(scenario, seen, wtp)                    # draws × seen rows
    objective = demand @ seen["value"].to_numpy(float)
    p5, p50, p95 = np.percentile(objective, [5, 50, 95])
    return {
        "draws": int(draws), "seed": int(seed), "wtp_cv": wtp_cv, "objective_sense": sense,
        "plan_breaks": rules_broken(ev.violations), "plan_objective": float(ev.objective),
        "mean": float(objective.mean()), "std": float(objective.std()),
        "p5": float(p5), "p50": float(p50), "p95": float(p95),
        "min": float(objective.min()), "max": float(objective.max()),
        **_stock_and_buyers(scenario, seen, demand),
    }


def _seen_valued(scenario: Scenario, plan: pd.DataFrame, wtp_cv: float | None,
                 sense: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seen rows with each one's WTP column ``col`` in the pairs ``w`` (NaN: no WTP),
    ``beta`` and the seller's ``value`` of a sale; and the pairs with their spread."""
    seen = _seen(scenario, plan)
    w = offer_wtp_sd(scenario, wtp_cv)
    w = w.assign(col=np.arange(len(w)))
    seen = seen.merge(w[["segment_id", "bundle_id", "beta", "col"]], on=["segment_id", "bundle_id"],
                      how="left", sort=False)
    cost = scenario.offer_costs().reindex(seen["bundle_id"]).to_numpy(float)
    seen["value"] = seen["price"].to_numpy(float) - (cost if sense == "profit" else 0.0)
    return seen, w


def _stock_and_buyers(scenario: Scenario, seen: pd.DataFrame, demand: np.ndarray) -> dict:
    """``stockout_probability`` per product and ``segment_buy_rate`` per segment."""
    comp = scenario.components
    prods = scenario.products.index
    rows = seen["bundle_id"].to_numpy()
    q = comp.merge(pd.DataFrame({"bundle_id": rows, "r": np.arange(len(rows))}), on="bundle_id")
    use = sp.csr_matrix((q["quantity"].to_numpy(float), (q["r"].to_numpy(), prods.get_indexer(q["product_id"]))),
                        shape=(len(rows), len(prods)))
    units = np.asarray(use.T.dot(demand.T)).T                      # draws × products
    inv = scenario.products["inventory"].to_numpy(float)
    lim = np.isfinite(inv)
    over = lim & (units > inv + 1e-6 * np.maximum(1.0, np.where(lim, inv, 0.0)))
    bought = np.asarray(_membership(seen, len(scenario.segments)).T.dot(demand.T)).T   # draws × segments
    size = scenario.segments["size"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(size > 0, bought.mean(axis=0) / size, np.nan)
    return {
        "stockout_probability": {str(p): float(x) for p, x in zip(prods, over.mean(axis=0))},
        "segment_buy_rate": {str(s): (None if not np.isfinite(r) else float(r))
                             for s, r in zip(scenario.segments.index, rate)},
    }

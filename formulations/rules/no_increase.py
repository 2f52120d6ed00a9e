r"""``markdown.no_increase: true`` — whenever an offer is on sale (per audience), its
price is at most its last price on sale (:mod:`.last_price`): prices only go down.

Pruned (every period): prices above the lowest history price of the audience and
offer — every price on sale is at most the first one, which is at most that.
Rows (seasons), per period ``t ≥ 2`` and point ``k`` of group ``g`` but its cheapest,
on the ceiling state ``C`` of :func:`.last_price.ceiling` (``C_{t-1,k-1} = 1``: the last
price is below ``p_k``): ``Σ_{k' ≥ k} x_{tk'} + C_{t-1,k-1} ≤ 1`` — not on sale at
``p_k`` or above once the last price is below it. (With the last-price state ``S`` the
row was ``x_{tj} + Σ_{p_j' < p_j} S_{t-1,j'} ≤ 1``: the same plans, a weaker
relaxation — ``benchmarks/study_markdown_rows.py``.)
"""
from __future__ import annotations

import numpy as np

from ..linear import Terms
from .base import PRICE_TOL, FlagRule, flag_disallowed
from .last_price import ceiling, history, layout, season_history
from .registry import register


class NoIncrease(FlagRule):
    key = field = "no_increase"
    section = "markdown"
    prune_stage = "audience"

    def allows(self, scenario, prices):
        if not len(scenario.previous_plan):
            return None
        lo, _ = history(scenario, prices)
        return ~(prices["price"].to_numpy(float) > lo + PRICE_TOL)

    def add_season_rows(self, rows) -> None:
        lay = layout(rows)
        C = ceiling(rows)
        n, P = lay.n_points, lay.n_periods
        if P < 2:
            return
        k = np.flatnonzero(lay.below >= 0)
        # Σ_{k' ≥ k}: per row point k, the points k' of its group at p_k or dearer
        dearer = lay.price[lay.pair_k] >= lay.price[lay.pair_j]
        pj, pk = lay.pair_j[dearer], lay.pair_k[dearer]
        row_of = np.full(n, -1)
        row_of[k] = np.arange(len(k))
        on = row_of[pj] >= 0
        pj, pk = pj[on], pk[on]
        m = len(k)
        rt = np.repeat(np.arange(1, P), len(pj))
        rk = np.repeat(np.arange(1, P), m)
        rows.model.add_constraints("no_increase", lay.keys(rows.labels[1:], lay.point_keys.iloc[k]), [
            Terms(rows.offer, (rt - 1) * m + np.tile(row_of[pj], P - 1), lay.x(rt, np.tile(pk, P - 1)),
                  np.ones(len(rt))),
            Terms(C, np.arange(m * (P - 1)), (rk - 1) * n + np.tile(lay.below[k], P - 1),
                  np.ones(m * (P - 1)))], hi=1.0)

    def check(self, scenario, view) -> None:
        flag_disallowed(self, scenario, view, self.yaml_key)

    def check_season(self, scenario, view) -> None:
        h = season_history(view.plan, view.labels, scenario)
        bad = h["price"].to_numpy(float) > h["last_lo"].to_numpy(float) + PRICE_TOL
        if bad.any():
            view.violations.append(f"{self.yaml_key} broken for "
                                   f"{sorted(set(h['bundle_id'][bad]))}")


register(NoIncrease())

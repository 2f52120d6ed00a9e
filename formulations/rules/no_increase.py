r"""``markdown.no_increase: true`` — whenever an offer is on sale (per audience), its
price is at most its last price on sale (:mod:`.last_price`): prices only go down.

Pruned (every period): prices above the lowest history price of the audience and
offer — every price on sale is at most the first one, which is at most that.
Rows (seasons), per period ``t ≥ 2`` and point ``j`` of group ``g``, on the last-price
state ``S``: ``x_{tj} + Σ_{j' ∈ g: p_j' < p_j} S_{t-1,j'} ≤ 1`` — not on sale above a
last price.
"""
from __future__ import annotations

import numpy as np

from ..linear import Terms
from .base import PRICE_TOL, FlagRule
from .last_price import history, layout, season_history, state
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
        S = state(rows)
        n, P = lay.n_points, lay.n_periods
        if P < 2:
            return
        below = lay.price[lay.pair_k] < lay.price[lay.pair_j] - PRICE_TOL
        pj, pk = lay.pair_j[below], lay.pair_k[below]
        t = np.arange(1, P)
        r = np.arange(n * (P - 1))
        rt = np.repeat(t, len(pj))
        row = (rt - 1) * n + np.tile(pj, P - 1)
        rows.model.add_constraints("no_increase", lay.keys(rows.labels[1:], lay.point_keys), [
            Terms(rows.offer, r, lay.x(r // n + 1, r % n), np.ones(len(r))),
            Terms(S, row, (rt - 1) * n + np.tile(pk, P - 1), np.ones(len(row)))], hi=1.0)

    def check(self, scenario, view) -> None:
        ok = self.allows(scenario, view.plan)
        if ok is not None and not ok.all():
            view.violations.append(f"{self.yaml_key} broken for "
                                   f"{view.plan['bundle_id'][~ok].tolist()}")

    def check_season(self, scenario, view) -> None:
        h = season_history(view.plan, view.labels, scenario)
        bad = h["price"].to_numpy(float) > h["last_lo"].to_numpy(float) + PRICE_TOL
        if bad.any():
            view.violations.append(f"{self.yaml_key} broken for "
                                   f"{sorted(set(h['bundle_id'][bad]))}")


register(NoIncrease())

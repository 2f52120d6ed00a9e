r"""``markdown.max_changes: K`` — per offer and audience, at most K periods in which it
is on sale at a price other than its last price on sale (:mod:`.last_price`; going off
sale, or coming back at the same price, is no change).

Rows (seasons): ``Σ_t c_{tg} ≤ K`` per (audience, offer) on the change variables of
:func:`.last_price.changes`. Pruned (every period): with ``K = 0``, an offer with a
history may only be sold at it.
"""
from __future__ import annotations

import numpy as np

from ..linear import Terms
from .base import PRICE_TOL, CapRule
from .last_price import changes, history, layout, season_history
from .registry import register


def changed(h) -> np.ndarray:
    """Which rows of :func:`.last_price.season_history` are changes."""
    p = h["price"].to_numpy(float)
    lo, hi = h["last_lo"].to_numpy(float), h["last_hi"].to_numpy(float)
    same = (np.abs(p - lo) <= PRICE_TOL) & (np.abs(p - hi) <= PRICE_TOL)
    return ~np.isnan(lo) & ~same


class MaxChanges(CapRule):
    key = field = "max_changes"
    section = "markdown"
    prune_stage = "audience"

    def allows(self, scenario, prices):
        if self.value(scenario) != 0 or not len(scenario.previous_plan):
            return None
        lo, hi = history(scenario, prices)
        p = prices["price"].to_numpy(float)
        return np.isnan(lo) | ((np.abs(p - lo) <= PRICE_TOL) & (np.abs(p - hi) <= PRICE_TOL))

    def add_season_rows(self, rows) -> None:
        lay = layout(rows)
        c = changes(rows)
        G, P = lay.n_groups, lay.n_periods
        m = G * P
        rows.model.add_constraints("max_changes", lay.group_keys, [
            Terms(c, np.tile(np.arange(G), P), np.arange(m), np.ones(m))],
            hi=float(self.value(rows.scenario)))

    def check(self, scenario, view) -> None:
        ok = self.allows(scenario, view.plan)
        if ok is not None and not ok.all():
            view.violations.append(f"{self.yaml_key} broken for "
                                   f"{view.plan['bundle_id'][~ok].tolist()}")

    def check_season(self, scenario, view) -> None:
        h = season_history(view.plan, view.labels, scenario)
        count = h.assign(c=changed(h)).groupby(["bundle_id", "segment_id"])["c"].sum()
        k = self.value(scenario)
        if (count > k).any():
            view.violations.append(f"{self.yaml_key} broken for "
                                   f"{sorted(set(count.index[count > k].get_level_values(0)))}")
        elif (count == k).any() and k > 0:
            view.binding.append(self.yaml_key)


register(MaxChanges())

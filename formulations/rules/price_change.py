r"""``price_change.max_relative: ε`` — an offer's price moves at most ε relative to the
price it last had on sale (:mod:`.last_price`).

One period: the last price on sale is the one in ``previous_plan.csv``, matched for the
same shoppers (the same segment, or a ``*`` row on either side), so the rule only
prunes prices, per audience. A season: period 1 is pruned so; later periods compare
with the last-price state ``S`` (point ``j`` and ``j'`` of one group are *too far*
when ``|p_j − p_j'| > ε p_j'``):

.. math::

    x_{tj} + \textstyle\sum_{j' \text{ too far from } j} S_{t-1,j'} \le 1, \qquad
    x_{tj} - \textstyle\sum_{j' \in g} S_{t-1,j'} \le 0
    \quad (j \text{ too far from a history price})

— the second says: a price too far from the history needs an earlier period on sale.
"""
from __future__ import annotations

import numpy as np

from ..checks import check_setting_number
from ..linear import Terms
from .base import PRICE_TOL, PriceRule
from .last_price import history, layout, season_history, state
from .registry import register


def too_far(price, old, eps) -> np.ndarray:
    """``|p − old| > ε old`` (with the price rules' slack); False where ``old`` is NaN."""
    with np.errstate(invalid="ignore"):
        return np.abs(price - old) > eps * old + PRICE_TOL


class PriceChange(PriceRule):
    key = "price_change.max_relative"
    field = "max_price_change"
    prune_stage = "audience"

    def validate(self, value, scenario, src) -> None:
        check_setting_number(value, self.yaml_key, src, lo=0.0)

    def allows(self, scenario, prices):
        # a season's later periods compare with its own earlier ones: rows, not pruning
        if not len(scenario.previous_plan) or scenario.is_season or scenario.period is not None:
            return None
        return ~self._far_from_history(scenario, prices)

    def _far_from_history(self, scenario, prices) -> np.ndarray:
        eps = self.value(scenario)
        lo, hi = history(scenario, prices)
        p = prices["price"].to_numpy(float)
        return too_far(p, lo, eps) | too_far(p, hi, eps)

    def add_season_rows(self, rows) -> None:
        lay = layout(rows)
        n, P = lay.n_points, lay.n_periods
        eps = self.value(rows.scenario)
        far_h = too_far(lay.price, lay.history_lo, eps) | too_far(lay.price, lay.history_hi, eps)
        model, x = rows.model, rows.offer
        first = np.flatnonzero(far_h)
        if len(first):
            model.add_constraints("price_change_first", lay.point_keys.iloc[first].assign(
                period=rows.labels[0]), [Terms(x, np.arange(len(first)), first, np.ones(len(first)))],
                hi=0.0)
        if P < 2:
            return
        S = state(rows)
        t = np.arange(1, P)
        r = np.arange(n * (P - 1))
        far = too_far(lay.price[lay.pair_j], lay.price[lay.pair_k], eps)
        pj, pk = lay.pair_j[far], lay.pair_k[far]
        rt = np.repeat(t, len(pj))
        model.add_constraints("price_change", lay.keys(rows.labels[1:], lay.point_keys), [
            Terms(x, r, lay.x(r // n + 1, r % n), np.ones(len(r))),
            Terms(S, (rt - 1) * n + np.tile(pj, P - 1), (rt - 1) * n + np.tile(pk, P - 1),
                  np.ones(len(rt)))], hi=1.0)
        if len(first):
            pj, pk = lay.pair_j[far_h[lay.pair_j]], lay.pair_k[far_h[lay.pair_j]]
            row_of = np.full(n, -1)
            row_of[first] = np.arange(len(first))
            k = len(first)
            rt = np.repeat(t, len(pj))
            rr = (rt - 1) * k + np.tile(row_of[pj], P - 1)
            jt = np.repeat(t, k)
            model.add_constraints("price_change_after_history",
                                  lay.keys(rows.labels[1:], lay.point_keys.iloc[first]), [
                Terms(x, np.arange(k * (P - 1)), lay.x(jt, np.tile(first, P - 1)), np.ones(k * (P - 1))),
                Terms(S, rr, (rt - 1) * n + np.tile(pk, P - 1), -np.ones(len(rr)))], hi=0.0)

    def check_season(self, scenario, view) -> None:
        h = season_history(view.plan, view.labels, scenario)
        eps = self.value(scenario)
        p = h["price"].to_numpy(float)
        bad = too_far(p, h["last_lo"].to_numpy(float), eps) | too_far(p, h["last_hi"].to_numpy(float), eps)
        if bad.any():
            view.violations.append(f"{self.key} broken for {sorted(set(h['bundle_id'][bad]))}")


register(PriceChange())

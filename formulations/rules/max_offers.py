"""``max_offers: K`` — at most K distinct offers on sale (to anyone).

Rows: uniform ``Σ_j x_j ≤ K``; personalized ``Σ_{j ∈ J_sb} x_j ≤ o_b`` for every
(segment, offer) and ``Σ_b o_b ≤ K`` with ``o_b`` binary ("offer b is used").
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..linear import Terms, group_rows
from .base import CapRule
from .registry import register


class MaxOffers(CapRule):
    key = field = "max_offers"
    search_cost = 0

    def add_rows(self, rows) -> None:
        model, space, offer = rows.model, rows.space, rows.offer
        k = float(self.value(space.scenario))
        pts = space.points
        n = len(pts)
        if not space.personalized:
            model.add_constraints("max_offers", pd.DataFrame({"all": ["*"]}), [
                Terms(offer, np.zeros(n, np.int64), np.arange(n), np.ones(n))], hi=k)
            return
        used = np.unique(pts["b"].to_numpy())
        on = model.add_vars("offer_used", pd.DataFrame({"bundle": space.bundle_ids[used]}),
                            lb=0.0, ub=1.0, integer=True)
        pos = {b: i for i, b in enumerate(used)}
        grp, first = group_rows(pts, ["seg", "b"])
        m = len(first)
        model.add_constraints("offer_used_link", pd.DataFrame({
            "bundle": space.bundle_ids[first["b"].to_numpy()],
            "segment": space.segment_ids[first["seg"].to_numpy()]}), [
            Terms(offer, grp, np.arange(n), np.ones(n)),
            Terms(on, np.arange(m), np.array([pos[b] for b in first["b"].to_numpy()]), -np.ones(m))],
            hi=0.0)
        model.add_constraints("max_offers", pd.DataFrame({"all": ["*"]}), [
            Terms(on, np.zeros(len(used), np.int64), np.arange(len(used)), np.ones(len(used)))],
            hi=k)

    def search_check(self, layout):
        k = self.value(layout.space.scenario)
        return lambda state: state.offers_on.sum() <= k

    def check(self, scenario, view) -> None:
        k = self.value(scenario)
        n = view.plan["bundle_id"].nunique()
        if n > k:
            view.violations.append(f"max_offers: {n} > {k}")
        elif n == k:
            view.binding.append(self.key)


register(MaxOffers())

"""``max_offers_per_segment: K`` — each segment sees at most K offers.

Rows: ``Σ_{j ∈ J_s} x_j ≤ K`` per segment (personalized); in uniform mode every segment
sees every offer on sale, so it is ``Σ_j x_j ≤ K``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..linear import Terms
from .base import CapRule
from .registry import register


class MaxOffersPerSegment(CapRule):
    key = field = "max_offers_per_segment"
    search_cost = 0

    def add_rows(self, rows) -> None:
        space = rows.space
        k = float(self.value(space.scenario))
        n = len(space.points)
        if space.personalized:
            keys = pd.DataFrame({"segment": space.segment_ids})
            row = space.points["seg"].to_numpy()
        else:
            keys, row = pd.DataFrame({"segment": ["*"]}), np.zeros(n, np.int64)
        rows.model.add_constraints("max_offers_per_segment", keys, [
            Terms(rows.offer, row, np.arange(n), np.ones(n))], hi=k)

    def search_check(self, layout):
        k = self.value(layout.space.scenario)
        if not layout.personalized:          # every segment sees every group on sale
            return lambda state: state.groups_on.sum() <= k

        def holds(state) -> bool:
            seen = layout.group_audience[state.groups_on]
            return not (np.bincount(seen, minlength=layout.n_segments) > k).any()
        return holds

    def check(self, scenario, view) -> None:
        k = self.value(scenario)
        per = view.seen.groupby("segment_id")["bundle_id"].nunique()
        if (per > k).any():
            view.violations.append("max_offers_per_segment exceeded")
        elif (per == k).any():
            view.binding.append(self.key)


register(MaxOffersPerSegment())

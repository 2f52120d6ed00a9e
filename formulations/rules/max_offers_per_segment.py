"""``max_offers_per_segment: K`` — each segment sees at most K offers.

Rows: ``Σ_{j ∈ J_s} x_j ≤ K`` per segment (personalized); in uniform mode every segment
sees every offer on sale, so it is ``Σ_j x_j ≤ K``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..checks import check_setting_number
from ..linear import Terms
from ..schema import integer
from .base import Rule
from .registry import register


class MaxOffersPerSegment(Rule):
    key = field = "max_offers_per_segment"

    def parse(self, value, key, src):
        return integer(value, key, src)

    def validate(self, value, scenario, src) -> None:
        check_setting_number(value, self.yaml_key, src, lo=0.0, integer=True)

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

    def check(self, scenario, view) -> None:
        k = self.value(scenario)
        per = view.seen.groupby("segment_id")["bundle_id"].nunique()
        if (per > k).any():
            view.violations.append("max_offers_per_segment exceeded")
        elif (per == k).any():
            view.binding.append(self.key)


register(MaxOffersPerSegment())

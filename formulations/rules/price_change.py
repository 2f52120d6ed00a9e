"""``price_change.max_relative: ε`` — with ``previous_plan.csv``, an offer on sale in
both plans moves at most ε relative to its previous price.

A price is compared with every previous price of the same offer for the same shoppers:
the same segment, or a ``*`` row (everyone) on either side. Pruned per audience.
"""
from __future__ import annotations

import numpy as np

from ..checks import ALL_SEGMENTS, check_setting_number
from .base import PRICE_TOL, PriceRule
from .registry import register


class PriceChange(PriceRule):
    key = "price_change.max_relative"
    field = "max_price_change"
    prune_stage = "audience"

    def validate(self, value, scenario, src) -> None:
        check_setting_number(value, self.yaml_key, src, lo=0.0)

    def allows(self, scenario, prices):
        prev = scenario.previous_plan
        if not len(prev):
            return None
        eps = self.value(scenario)
        prices = prices.reset_index(drop=True)
        pairs = prices[["bundle_id", "segment_id", "price"]].assign(
            row=np.arange(len(prices))).merge(
            prev[["bundle_id", "segment_id", "price"]].rename(
                columns={"segment_id": "old_segment", "price": "old"}), on="bundle_id")
        seg, old_seg = pairs["segment_id"].to_numpy(), pairs["old_segment"].to_numpy()
        same = (seg == ALL_SEGMENTS) | (old_seg == ALL_SEGMENTS) | (seg == old_seg)
        old = pairs["old"].to_numpy(float)
        bad = same & (np.abs(pairs["price"].to_numpy(float) - old) > eps * old + PRICE_TOL)
        keep = np.ones(len(prices), bool)
        keep[pairs["row"].to_numpy()[bad]] = False
        return keep


register(PriceChange())

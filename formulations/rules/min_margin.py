"""``min_margin: m`` — every offered price satisfies (p − C_b) / p ≥ m.

Pruned: ladder points below the floor are removed before any model sees them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..checks import check_setting_number
from .base import PRICE_TOL, PriceRule
from .registry import register


class MinMargin(PriceRule):
    key = field = "min_margin"

    def validate(self, value, scenario, src) -> None:
        check_setting_number(value, self.yaml_key, src, lo=0.0, hi=1.0)

    def allows(self, scenario, prices):
        m = self.value(scenario)
        p, cost = prices["price"].to_numpy(float), prices["cost"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (p > 0) & ((p - cost) >= m * p - PRICE_TOL)

    def price_floor(self, scenario) -> pd.Series:
        """The least price :meth:`allows` for each offer (``bundle_id`` index), as a
        ``min_price`` (bundles.csv, read with the same tolerance) would give it: for a
        search that charges costs of its own and keeps this rule on the real ones
        (:mod:`solver.season_start`). ``m`` below 1."""
        m = self.value(scenario)
        return (scenario.offer_costs() - PRICE_TOL) / (1.0 - m) + PRICE_TOL


register(MinMargin())

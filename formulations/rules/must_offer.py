"""``must_offer: [ids]`` — these offers are on sale (to someone).

Pruned: nothing; their points are all kept even if nobody would buy them.
Rows: ``Σ_{j ∈ b} x_j ≥ 1`` for each pinned offer ``b``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..linear import Terms
from .base import IdListRule
from .registry import register


class MustOffer(IdListRule):
    key = field = "must_offer"
    search_cost = 0

    def pinned_offers(self, scenario) -> set[str]:
        return set(self.value(scenario))

    def add_rows(self, rows) -> None:
        space = rows.space
        code = {bid: i for i, bid in enumerate(space.bundle_ids)}
        pinned = [code[bid] for bid in self.value(space.scenario) if bid in code]
        row_of = {b: r for r, b in enumerate(pinned)}
        b_of = space.points["b"].to_numpy()
        sel = np.flatnonzero(np.isin(b_of, pinned))
        rows.model.add_constraints("must_offer", pd.DataFrame({"bundle": space.bundle_ids[pinned]}), [
            Terms(rows.offer, np.array([row_of[b] for b in b_of[sel]], dtype=np.int64), sel,
                  np.ones(len(sel)))], lo=1.0)

    def start_offers(self, layout):
        return layout.offer_codes(self.value(layout.space.scenario))

    def search_check(self, layout):
        pinned = layout.offer_codes(self.value(layout.space.scenario))
        if not len(pinned):
            return None
        return lambda state: state.offers_on[pinned].all()

    def check(self, scenario, view) -> None:
        missing = set(self.value(scenario)) - set(view.plan["bundle_id"])
        if missing:
            view.violations.append(f"must_offer: {sorted(missing)} not on sale")


register(MustOffer())

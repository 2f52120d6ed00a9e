r"""``fairness.max_price_spread: δ`` — personalized: for each offer, any two segments
that see it pay prices within a factor 1 + δ of each other.

Rows (personalized, offers that more than one segment could see) with a reference
price ``r_b ∈ [0, M_b]``: ``Σ_{J_sb} p_j x_j ≤ (1+δ) r_b`` and
``r_b − Σ_{J_sb} p_j x_j + M_b Σ_{J_sb} x_j ≤ M_b`` — every seen price lies in
``[r_b, (1+δ) r_b]``, which is max ≤ (1+δ)·min. Uniform plans hold it trivially.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..checks import check_setting_number
from ..linear import Terms, group_rows
from .base import PRICE_TOL, Rule
from .registry import register


class MaxPriceSpread(Rule):
    key = "fairness.max_price_spread"
    field = "max_price_spread"
    search_cost = 2

    def validate(self, value, scenario, src) -> None:
        check_setting_number(value, self.yaml_key, src, lo=0.0)

    def add_rows(self, rows) -> None:
        space, model, offer = rows.space, rows.model, rows.offer
        if not space.personalized:
            return
        delta = self.value(space.scenario)
        pts = space.points
        b_of, price = pts["b"].to_numpy(), pts["price"].to_numpy()
        shared = [b for b in np.unique(b_of) if len(np.unique(pts["seg"].to_numpy()[b_of == b])) > 1]
        if not shared:
            return
        big_m = np.array([price[b_of == b].max() for b in shared])
        ref = model.add_vars("reference_price", pd.DataFrame({"bundle": space.bundle_ids[shared]}),
                             lb=0.0, ub=big_m, unit=0.01)
        sel = np.flatnonzero(np.isin(b_of, shared))
        sub = pts.iloc[sel]
        grp, first = group_rows(sub, ["seg", "b"])
        m = len(first)
        pos = {b: i for i, b in enumerate(shared)}
        ref_idx = np.array([pos[b] for b in first["b"].to_numpy()])
        keys = pd.DataFrame({"bundle": space.bundle_ids[first["b"].to_numpy()],
                             "segment": space.segment_ids[first["seg"].to_numpy()]})
        model.add_constraints("price_spread_upper", keys, [
            Terms(offer, grp, sel, price[sel]),
            Terms(ref, np.arange(m), ref_idx, np.full(m, -(1.0 + delta)))], hi=0.0)
        model.add_constraints("price_spread_lower", keys, [
            Terms(ref, np.arange(m), ref_idx, np.ones(m)),
            Terms(offer, grp, sel, big_m[[pos[b] for b in sub["b"].to_numpy()]] - price[sel])],
            hi=big_m[ref_idx])

    def search_check(self, layout):
        if not layout.personalized:          # one price per offer: holds trivially
            return None
        delta = self.value(layout.space.scenario)

        def holds(state) -> bool:
            if not state.groups_on.any():
                return True
            offer = layout.group_offer[state.groups_on]
            lo = np.full(layout.n_offers, np.inf)
            hi = np.full(layout.n_offers, -np.inf)
            np.minimum.at(lo, offer, state.prices_on)
            np.maximum.at(hi, offer, state.prices_on)
            used = np.isfinite(lo)
            return not (hi[used] > (1 + delta) * lo[used] + PRICE_TOL).any()
        return holds

    def check(self, scenario, view) -> None:
        delta = self.value(scenario)
        g = view.seen.groupby("bundle_id")["price"].agg(["min", "max"])
        ok = g["max"] <= (1 + delta) * g["min"] + PRICE_TOL
        if not ok.all():
            view.violations.append(f"{self.key} broken for {g.index[~ok].tolist()}")
        if (np.abs(g["max"] - (1 + delta) * g["min"]) <= 1e-6).any() and (g["max"] > g["min"]).any():
            view.binding.append(self.key)


register(MaxPriceSpread())

r"""``no_arbitrage: true`` — an offered multi-item bundle is never dearer than buying its
components separately, wherever all its components are on sale to the same shoppers.

A *component offer* of product ``i`` is an offer of one unit of ``i`` alone. For a
multi-item offer ``b`` whose every product has component offers, rows per audience
``g`` and per combination ``(c_i)`` of component offers, with ``M = max_j p_{gb}``:

.. math:: \textstyle\sum_{J_{gb}} p_j x_j - \sum_i q_{ib} \sum_{J_{g c_i}} p_j x_j
          + M \sum_i \sum_{J_{g c_i}} x_j \le M m

(``m`` products): when all components are on sale this is ``p_b ≤ Σ q p_c``; when one
is not, it is implied by ``p_b ≤ M``.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..linear import Terms
from .base import PRICE_TOL, FlagRule
from .registry import register


def component_offers(components: pd.DataFrame, offer: str = "bundle_id") -> dict:
    """For each multi-item offer: one list of its component offers per product, in
    component order (offers whose some product has no component offer are left out).

    ``components`` has columns ``offer`` (ids or codes), ``product_id``, ``quantity``.
    """
    comp = components
    tot = comp.groupby(offer)["quantity"].sum()
    nparts = comp.groupby(offer)["product_id"].count()
    single = comp[(comp[offer].map(nparts) == 1) & (comp["quantity"] == 1)]
    by_product = single.groupby("product_id")[offer].apply(list).to_dict()
    out = {}
    for b in tot.index[tot.to_numpy() >= 2]:
        lists = [by_product.get(p, []) for p in comp.loc[comp[offer] == b, "product_id"]]
        if all(lists):
            out[b] = lists
    return out


class NoArbitrage(FlagRule):
    key = field = "no_arbitrage"
    search_cost = 3

    def add_rows(self, rows) -> None:
        space = rows.space
        pts = space.points
        b_of, seg_of, price = pts["b"].to_numpy(), pts["seg"].to_numpy(), pts["price"].to_numpy()
        at = pts.groupby(["seg", "b"], sort=False).indices           # (g, b) -> point positions
        comp = space.components
        row, idx, coef, hi, keys = [], [], [], [], []
        for b, lists in component_offers(comp, "b").items():
            qty = comp[comp["b"] == b]["quantity"].to_numpy(float)
            for g in np.unique(seg_of[b_of == b]):
                jb = at.get((g, b))
                if jb is None:
                    continue
                big_m = price[jb].max()
                for combo in itertools.product(*lists):
                    parts = [at.get((g, cb)) for cb in combo]
                    if any(p is None for p in parts):
                        continue                      # a component never on sale here: no rule
                    r = len(keys)
                    keys.append((space.bundle_ids[b], "*" if g < 0 else space.segment_ids[g],
                                 "+".join(space.bundle_ids[list(combo)])))
                    row.append(np.full(len(jb), r)); idx.append(jb); coef.append(price[jb])
                    for q, jc in zip(qty, parts):
                        row.append(np.full(len(jc), r)); idx.append(jc)
                        coef.append(big_m - q * price[jc])
                    hi.append(big_m * len(parts))
        if not keys:
            return
        rows.model.add_constraints(
            "no_arbitrage", pd.DataFrame(keys, columns=["bundle", "segment", "components"]), [
                Terms(rows.offer, np.concatenate(row), np.concatenate(idx), np.concatenate(coef))],
            hi=np.array(hi))

    def search_check(self, layout):
        comp = layout.space.components
        parts = component_offers(comp, "b")
        if not parts:
            return None
        qty = {b: comp[comp["b"] == b]["quantity"].to_numpy(float) for b in parts}

        def holds(state) -> bool:
            prices = state.audience_prices             # audiences × offers, inf = off
            for b, lists in parts.items():
                own = prices[:, b]
                sold = np.isfinite(own)
                if not sold.any():
                    continue
                cheapest = np.stack([prices[:, lst].min(axis=1) for lst in lists], axis=1)
                separate = cheapest @ qty[b]            # inf where a product is not on sale
                ok = ~np.isfinite(separate) | (own <= separate + PRICE_TOL)
                if not ok[sold].all():
                    return False
            return True
        return holds

    def check(self, scenario, view) -> None:
        comp = scenario.components
        price_of = {(s, b): p for s, b, p in
                    zip(view.seen["segment_id"], view.seen["bundle_id"], view.seen["price"])}
        for b, lists in component_offers(comp).items():
            qty = comp.loc[comp["bundle_id"] == b, "quantity"].to_numpy(float)
            for s in scenario.segments.index:
                p = price_of.get((s, b))
                if p is None:
                    continue
                cheapest = [min((price_of[(s, c)] for c in lst if (s, c) in price_of),
                                default=np.inf) for lst in lists]
                if not np.all(np.isfinite(cheapest)):
                    continue
                separate = float(np.dot(qty, cheapest))
                if p > separate + PRICE_TOL:
                    view.violations.append(
                        f"no_arbitrage: {b} costs {p} but its parts {separate:.2f} for {s}")
                elif p >= separate - 1e-6:
                    view.binding.append(f"{self.key}:{b}")


register(NoArbitrage())

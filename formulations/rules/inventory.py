"""``inventory: true`` — expected units of each product ≤ its inventory (no rationing).

Rows: ``Σ_a D_a q_{i b(a)} d_a ≤ Q_i`` for each product with a finite inventory.
Pruning keeps points that earn nothing: a loss leader can divert shoppers from a
scarce product. Binds per product (``inventory:<product_id>``).

A season (stock carried over): not one row per period with the whole stock, but one
cumulative row per product and period — units sold in periods ``1…t`` at most the stock
plus the receipts of periods ``1…t``:
``Σ_{t' ≤ t} Σ_{a ∈ A_t'} D_a q_{i b(a)} d_a ≤ Q_i + Σ_{t' ≤ t} R_{it'}``.
Binds per product and period (``inventory:<product_id>@<period>``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..linear import Terms
from .base import FlagRule
from .registry import register

TOL = 1e-6          # relative slack of "at / over inventory" in the evaluator
SEARCH_TOL = 1e-7   # the first plan's search is stricter, so the plans it keeps pass the evaluator


class Inventory(FlagRule):
    key = field = "inventory"
    keeps_unprofitable_points = True
    per_period = False

    def add_season_rows(self, rows) -> None:
        limits = _limits(rows.space)
        if limits is None:
            return
        cap, per_offer = limits
        P = rows.n_periods
        stock = _stock_by_period(rows.scenario, cap)
        terms = []
        m = len(cap)
        for t, space in enumerate(rows.spaces):          # one block of terms per period
            use = per_offer[space.arcs["b"].to_numpy()].tocoo()
            a = rows.arc_start[t] + use.row
            # period t's sales count in the rows of periods t…P
            later = np.arange(t, P)
            terms.append(Terms(rows.demand, (later[:, None] * m + use.col[None, :]).ravel(),
                               np.tile(a, len(later)),
                               np.tile(rows.per_arc[a] * use.data, len(later))))
        keys = pd.DataFrame({"period": np.repeat(np.asarray(rows.labels, dtype=object), m),
                             "product": np.tile(cap.index.to_numpy(), P)})
        rows.model.add_constraints("inventory", keys, terms, hi=stock.ravel())

    def check_season(self, scenario, view) -> None:
        st = view.stock
        if not len(st):
            return
        sold = st.groupby("product_id", sort=False)["units"].cumsum().to_numpy(float)
        have = (st["inventory"] + st.groupby("product_id", sort=False)["receipts"].cumsum()).to_numpy(float)
        slack = TOL * np.maximum(1, have)
        over = sold > have + slack
        at = ~over & (sold >= have - slack)
        if over.any():
            view.violations.append(f"inventory exceeded for {sorted(set(st['product_id'][over]))}")
        view.binding.extend(f"{self.key}:{p}@{t}" for p, t in
                            zip(st["product_id"][at], st["period"][at]))

    def add_rows(self, rows) -> None:
        limits = _limits(rows.space)
        if limits is None:
            return
        cap, per_offer = limits
        use = per_offer[rows.space.arcs["b"].to_numpy()].tocoo()    # arcs × products
        rows.model.add_constraints("inventory", pd.DataFrame({"product": cap.index.to_numpy()}), [
            Terms(rows.demand, use.col, use.row, rows.per_arc[use.row] * use.data)],
            hi=cap.to_numpy(float))

    def search_check(self, layout):
        limited = units_per_sale(layout.space)
        if limited is None:
            return None
        per_sale, inventory = limited
        most = allowed_units(inventory, SEARCH_TOL)
        # the season's units: sales summed over the periods (one today)
        return lambda state: not (per_sale.T @ state.sales.sum(axis=0) > most).any()

    def check(self, scenario, view) -> None:
        p = view.products
        units, cap = p["units"].to_numpy(float), p["inventory"].to_numpy(float)
        slack = TOL * np.maximum(1, cap)
        lim = np.isfinite(cap)
        over = lim & (units > cap + slack)
        at = lim & ~over & (units >= cap - slack)
        if over.any():
            view.violations.append(f"inventory exceeded for {p['product_id'][over].tolist()}")
        view.binding.extend(f"{self.key}:{pid}" for pid in p["product_id"][at])


def _limits(space) -> tuple[pd.Series, sp.csr_matrix] | None:
    """The finite inventories (by product id) and the units of each of those products
    that one sale of each offer takes (offers × products); ``None`` if no offer takes any."""
    inv = space.scenario.products["inventory"]
    cap = inv[np.isfinite(inv.to_numpy(float))]
    comp = space.components[space.components["product_id"].isin(cap.index)]
    if not len(cap) or not len(comp):
        return None
    col = pd.Index(cap.index).get_indexer(comp["product_id"])
    per_offer = sp.csr_matrix((comp["quantity"].to_numpy(float), (comp["b"].to_numpy(), col)),
                              shape=(len(space.bundle_ids), len(cap)))
    return cap, per_offer


def units_per_sale(space) -> tuple[sp.csr_matrix, np.ndarray] | None:
    """Units of each product with a finite inventory that one sale of each offer takes
    (offers × products), and those inventories; ``None`` if the rule is off or limits
    nothing. For the searches and bounds that work on offers rather than on rows."""
    limits = _limits(space) if space.scenario.constraints.inventory else None
    if limits is None:
        return None
    cap, per_offer = limits
    return per_offer, cap.to_numpy(float)


def season_stock(scenario, space) -> tuple[sp.csr_matrix, np.ndarray] | None:
    """:func:`units_per_sale` for a season: units of each limited product per sale of each
    offer, and the stock each cumulative row allows (periods × products: stock plus the
    receipts up to and including that period); ``None`` as there."""
    limits = _limits(space) if scenario.constraints.inventory else None
    if limits is None:
        return None
    cap, per_offer = limits
    return per_offer, _stock_by_period(scenario, cap)


def _stock_by_period(scenario, cap: pd.Series) -> np.ndarray:
    return cap.to_numpy(float)[None, :] + np.cumsum(
        scenario.period_receipts()[cap.index].to_numpy(float), axis=0)


def allowed_units(inventory: np.ndarray, tol: float = TOL) -> np.ndarray:
    """The most units the evaluator accepts against each inventory (its slack ``tol``;
    the search holds its plans to ``SEARCH_TOL``)."""
    return inventory + tol * np.maximum(1, inventory)


register(Inventory())

"""Turn purchases into exposures, and derive a product catalogue from the data.

Transactions only record what was bought. The assumption used here (docs/data.md asks to
state it) is the **visit assumption**: every visit of a customer — a basket, i.e.
``basket_id`` or else one customer on one date — is one chance to buy each modelled
product at *that day's shelf price*, and the product was bought in that visit or not.
Quantity is ignored (buying 3 is one purchase), because the choice model decides
*whether* a shopper takes an offer. The day's shelf price of a product is the median
unit price (revenue / quantity) of its lines that day; on days it did not sell, the
last earlier day's price is carried forward (and the first known price backward).
The same price is used for buyers and non-buyers so a buyer's personal discount cannot
leak into the price effect. ``tests/test_demand_fit.py`` checks the assumption on
simulated visits where the true WTP is known.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from formulations.errors import DataError

from .data import DemandData


def visits(transactions: pd.DataFrame) -> pd.DataFrame:
    """One row per visit: ``visit, customer_id, date``; ``transactions`` gains a ``visit`` column."""
    key = ["customer_id", "date", "basket_id"]
    codes, uniq = pd.factorize(pd.MultiIndex.from_frame(transactions[key]))
    transactions["visit"] = codes
    v = uniq.to_frame(index=False)
    v.columns = key
    v.insert(0, "visit", np.arange(len(v)))
    return v


def daily_prices(transactions: pd.DataFrame, products: list[str]) -> pd.DataFrame:
    """Shelf price per (date, product): a dates x products frame (see module docstring)."""
    t = transactions[transactions["product_id"].isin(products)]
    unit = t["revenue"] / t["quantity"]
    med = unit.groupby([t["date"], t["product_id"]]).median().unstack("product_id")
    days = pd.Index(np.sort(transactions["date"].unique()), name="date")
    return med.reindex(index=days, columns=products).ffill().bfill()


def top_products(transactions: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` products bought in most visits (ties by id, for determinism)."""
    t = transactions.drop_duplicates(["visit", "product_id"])
    counts = t["product_id"].value_counts()
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    return [str(p) for p in counts.index[:n]]


def implied_exposures(transactions: pd.DataFrame, vis: pd.DataFrame, products: list[str]) -> pd.DataFrame:
    """Visits x products exposures under the visit assumption.

    Columns ``visit, customer_id, offer_id, price, purchased, date`` — one row per
    visit and modelled product, ``purchased`` = 1 when the product is in the basket.
    """
    prices = daily_prices(transactions, products)
    n_v, n_p = len(vis), len(products)
    day_idx = prices.index.get_indexer(vis["date"])
    price = prices.to_numpy()[day_idx]                      # visits x products
    bought = np.zeros((n_v, n_p), dtype=np.int8)
    t = transactions[transactions["product_id"].isin(products)]
    p_idx = pd.Index(products).get_indexer(t["product_id"])
    bought[t["visit"].to_numpy(), p_idx] = 1
    return pd.DataFrame({
        "visit": np.repeat(vis["visit"].to_numpy(), n_p),
        "customer_id": np.repeat(vis["customer_id"].to_numpy(), n_p),
        "offer_id": np.tile(np.asarray(products, dtype=object), n_v),
        "price": price.ravel(),
        "purchased": bought.ravel(),
        "date": np.repeat(vis["date"].to_numpy(), n_p),
    })


def catalogue(data: DemandData, offers: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """``unit_cost``, ``list_price``, ``inventory`` for each product in ``offers``' components.

    products.csv wins where it has a value. Otherwise: list price = the most common
    daily shelf price in transactions (the regular, non-promotional price), unit cost
    = median cost / quantity of its lines; with exposures only, list price = the
    highest price the product was shown at. A cost found nowhere is taken as 0 (profit
    then equals revenue) and said in the returned notes, rather than refusing to fit.
    """
    notes: list[str] = []
    ids = pd.Index(offers, name="product_id")
    out = pd.DataFrame({"unit_cost": np.nan, "list_price": np.nan, "inventory": np.nan}, index=ids)
    if data.products is not None:
        known = data.products.reindex(ids)
        for c in out.columns:
            out[c] = known[c].to_numpy(dtype=float)
    t = data.transactions
    if t is not None and len(t):
        tt = t[t["product_id"].isin(offers)]
        unit = (tt["revenue"] / tt["quantity"]).round(2)
        daily = unit.groupby([tt["date"], tt["product_id"]]).median().round(2).rename("p").reset_index()
        mode = (daily.groupby(["product_id", "p"]).size().rename("n").reset_index()
                .sort_values(["product_id", "n", "p"], ascending=[True, False, False])
                .drop_duplicates("product_id").set_index("product_id")["p"])
        out["list_price"] = out["list_price"].fillna(mode.reindex(ids))
        cost = (tt["cost"] / tt["quantity"]).groupby(tt["product_id"]).median()
        out["unit_cost"] = out["unit_cost"].fillna(cost.reindex(ids))
    e = data.exposures
    if e is not None and len(e):
        hi = e[~e["is_bundle"]].groupby("offer_id")["price"].max()
        out["list_price"] = out["list_price"].fillna(hi.reindex(ids))
    miss = out["list_price"].isna()
    if miss.any():
        pid = out.index[miss.to_numpy()][0]
        raise DataError("products.csv", f"no list_price for product {pid!r} (give it in products.csv, "
                        "or revenue in transactions.csv)", field="list_price")
    miss = out["unit_cost"].isna()
    if miss.any():
        notes.append(f"unit_cost unknown for {int(miss.sum())} product(s) "
                     f"({', '.join(map(str, out.index[miss.to_numpy()][:5]))}...): 0 assumed, so "
                     "profit equals revenue for them; give unit_cost in products.csv")
        out["unit_cost"] = out["unit_cost"].fillna(0.0)
    bad = out["list_price"] <= 0
    if bad.any():
        raise DataError("products.csv", f"list_price of product {out.index[bad.to_numpy()][0]!r} "
                        "would be 0 (give a positive list_price)", field="list_price")
    return out, notes

r"""Competitor prices: each segment's outside option (docs/scenario.md, "Competitors").

A competitor row ``c`` (``competitors.csv``: an offer or a product at price ``q_c``, for
one period or, blank, every period) gives segment ``s`` the surplus
``w_sc − q_c − λ_s`` (``λ_s`` its ``switching_cost``), where ``w_sc`` is the segment's
WTP for the same offer (``bundle_id`` rows) or for the product (``product_id`` rows:
the per-product WTP of ``wtp.csv``, else the WTP of that product's single-item offer,
else the row gives the segment no outside option). Then

* first choice: ``o_s = max(0, max_c (w_sc − q_c − λ_s))``, rounded to money decimals; a
  shopper buys our best offer only if its surplus is ``≥ o_s``. Equivalently the
  segment's surpluses are shifted by ``o_s`` (:mod:`formulations.offers`).
* MNL: ``O_s = Σ_c exp(β_sc (w_sc − q_c − λ_s))`` joins the no-purchase term,
  ``1 + O_s + Σ_b v_sb``; ``β_sc`` is the offer's ``β_sb`` where ``wtp.csv`` gives one,
  else ``β_s``, and the exponent is capped as for our own offers.

These functions read a one-period scenario (or a season's period slice): every
competitor row they see counts.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .money import MONEY_DECIMALS

if TYPE_CHECKING:
    from .scenario import Scenario


def outside_options(scenario: "Scenario") -> pd.DataFrame:
    """One row per (competitor row, segment) with a WTP: ``segment``(code) ``, surplus,
    beta`` (surplus ``w − q − λ``, before the max with 0)."""
    comp = scenario.competitors
    seg_ids = scenario.segments.index
    empty = pd.DataFrame({"segment": pd.Series(dtype=np.int64), "surplus": pd.Series(dtype=float),
                          "beta": pd.Series(dtype=float)})
    if not len(comp):
        return empty
    comp = comp.reset_index(drop=True).assign(row=lambda f: np.arange(len(f)))
    w = scenario.offer_wtp(all_offers=True)
    by_offer = comp[comp["bundle_id"] != ""].merge(w, on="bundle_id")
    prod = comp[comp["bundle_id"] == ""]
    if scenario.wtp_level == "product":
        pw = scenario.wtp[["segment_id", "product_id", "wtp"]].assign(
            beta=scenario.segments["price_sensitivity"].reindex(scenario.wtp["segment_id"]).to_numpy(float))
    else:
        # the product's single-item offer (one component, quantity 1), first in bundles order
        c = scenario.components
        n = c.groupby("bundle_id")["product_id"].transform("size")
        single = c[(n.to_numpy() == 1) & (c["quantity"].to_numpy() == 1)]
        order = scenario.bundles.index.get_indexer(single["bundle_id"])
        single = single.assign(o=order).sort_values("o", kind="stable").drop_duplicates("product_id")
        pw = single[["bundle_id", "product_id"]].merge(w, on="bundle_id").drop(columns="bundle_id")
    by_product = prod.drop(columns="bundle_id").merge(pw, on="product_id")
    rows = pd.concat([by_offer[["segment_id", "wtp", "beta", "price"]],
                      by_product[["segment_id", "wtp", "beta", "price"]]], ignore_index=True)
    if not len(rows):
        return empty
    lam = scenario.segments["switching_cost"].reindex(rows["segment_id"]).fillna(0.0).to_numpy(float)
    return pd.DataFrame({"segment": seg_ids.get_indexer(rows["segment_id"]),
                         "surplus": rows["wtp"].to_numpy(float) - rows["price"].to_numpy(float) - lam,
                         "beta": rows["beta"].to_numpy(float)})


def outside_surplus(scenario: "Scenario") -> np.ndarray:
    """``o_s`` per segment (first choice), in money decimals; zeros without competitors."""
    out = np.zeros(len(scenario.segments))
    opts = outside_options(scenario)
    if len(opts):
        np.maximum.at(out, opts["segment"].to_numpy(), opts["surplus"].to_numpy(float))
    return np.round(out, MONEY_DECIMALS)


def outside_attraction(scenario: "Scenario", cap: float) -> np.ndarray:
    """``O_s`` per segment (MNL), each exponent capped at ``cap``; zeros without competitors."""
    out = np.zeros(len(scenario.segments))
    opts = outside_options(scenario)
    if len(opts):
        z = opts["beta"].to_numpy(float) * opts["surplus"].to_numpy(float)
        np.add.at(out, opts["segment"].to_numpy(), np.exp(np.minimum(z, cap)))
    return out

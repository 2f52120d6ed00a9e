"""Candidate bundles mined from baskets, and their complementarity.

**Mining.** Over the training baskets (visits) and the modelled products, every pair
and triple whose *support* (share of baskets holding all of them) is at least
``min_support`` and whose *lift* (support over the product of the items' supports) is
at least ``min_lift`` is a candidate; the ``max_bundles`` with the highest lift win
(ties: higher support, then ids).

**Complementarity.** Lift alone mixes taste with price: two products on promotion the
same day are bought together more often even when they are unrelated. So the
*price-adjusted lift* ``L_b`` compares the baskets that hold the whole bundle with the
number the fitted model predicts if the items were bought independently at each
visit's prices: ``L_b = Σ_v Π_i y_vi / Σ_v Π_i P_vi``. A bundle's complementarity κ_b
is the WTP uplift that shifts the bundle's log-odds of purchase by ``log L_b``:
``κ_b = log L_b / mean_v(β_s(v) Σ_i w_s(v),i)`` — κ = 0 exactly when co-purchase is what
independence predicts. It is clipped to [-0.5, 1] and set to 0 when the bundle's
summed WTP is not positive (the shift would then be meaningless).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

KAPPA_RANGE = (-0.5, 1.0)


def bundle_id(products: tuple[str, ...]) -> str:
    """Id of a mined bundle: its product ids joined by ``+``."""
    return "B:" + "+".join(products)


def mine_bundles(baskets: np.ndarray, products: list[str], *, min_support: float = 0.01,
                 min_lift: float = 1.2, max_size: int = 3, max_bundles: int = 10) -> pd.DataFrame:
    """Frequent, lifted pairs and triples of a baskets x products 0/1 matrix.

    Returns ``bundle_id, products (tuple), size, count, support, lift`` sorted by lift.
    """
    cols = ["bundle_id", "products", "size", "count", "support", "lift"]
    B = np.asarray(baskets, dtype=bool)
    n = B.shape[0]
    if n == 0 or max_bundles <= 0 or len(products) < 2:
        return pd.DataFrame(columns=cols)
    Bf = B.astype(np.float32)
    single = Bf.sum(axis=0) / n
    pair = (Bf.T @ Bf) / n
    rows = []
    i, j = np.triu_indices(len(products), k=1)
    sup = pair[i, j]
    frequent = sup >= min_support
    for a, b, s in zip(i[frequent], j[frequent], sup[frequent]):
        rows.append(((a, b), s))
    if max_size >= 3:
        for a, b in zip(i[frequent], j[frequent]):
            both = Bf[:, a] * Bf[:, b]
            tri = (both @ Bf) / n
            for c in np.flatnonzero(tri >= min_support):
                if c > b:
                    rows.append(((a, b, c), tri[c]))
    out = []
    for items, s in rows:
        lift = s / np.prod(single[list(items)])
        if lift >= min_lift:
            ids = tuple(products[k] for k in items)
            out.append((bundle_id(ids), ids, len(ids), int(round(s * n)), float(s), float(lift)))
    df = pd.DataFrame(out, columns=cols)
    if df.empty:
        return df
    df = df.sort_values(["lift", "support", "bundle_id"], ascending=[False, False, True], kind="stable")
    return df.head(max_bundles).reset_index(drop=True)


def complementarity(bundles: pd.DataFrame, products: list[str], bought: np.ndarray, prob: np.ndarray,
                    visit_segment: np.ndarray, wtp: pd.DataFrame, beta: pd.Series) -> pd.DataFrame:
    """κ per mined bundle (module docstring); adds ``adjusted_lift`` and ``complementarity``.

    ``bought`` / ``prob``: visits x products observed purchases and model probabilities;
    ``visit_segment``: segment of each visit; ``wtp``: segments x products WTP frame.
    """
    out = bundles.copy()
    if out.empty:
        out["adjusted_lift"] = pd.Series(dtype=float)
        out["complementarity"] = pd.Series(dtype=float)
        return out
    pidx = {p: k for k, p in enumerate(products)}
    seg_codes = wtp.index.get_indexer(visit_segment)
    W = wtp[products].to_numpy(float)
    b = beta.reindex(wtp.index).to_numpy(float)
    lifts, kappas = [], []
    for items in out["products"]:
        cols = [pidx[p] for p in items]
        obs = float(np.prod(bought[:, cols], axis=1).sum())
        exp = float(np.prod(prob[:, cols], axis=1).sum())
        L = obs / exp if exp > 0 else np.nan
        scale = float(np.mean((b * W[:, cols].sum(axis=1))[seg_codes]))
        if not (np.isfinite(L) and L > 0 and scale > 0):
            kappa = 0.0
        else:
            kappa = float(np.clip(np.log(L) / scale, *KAPPA_RANGE))
        lifts.append(L)
        kappas.append(kappa)
    out["adjusted_lift"] = lifts
    out["complementarity"] = kappas
    return out

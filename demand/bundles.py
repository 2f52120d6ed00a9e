"""Candidate bundles mined from baskets, and their complementarity.

**Mining.** Over the baskets (visits) of the mining period and the modelled products,
every pair and triple held by at least ``min_count`` baskets (and, optionally, a share
``min_support`` of them) whose *lift* (support over the product of the items'
supports) is at least ``min_lift`` is a candidate; the ``max_bundles`` with the highest
lift win (ties: higher support, then ids). A basket count, not a share, is the floor:
with a store's worth of baskets a 1 % support floor is far above any pair's, while 30
co-occurrences already make a lift well measured. The basket matrix is sparse.

**Complementarity.** Lift alone mixes taste with price: two products on promotion the
same day are bought together more often even when they are unrelated. So the
*price-adjusted lift* ``L_b`` compares the baskets that hold the whole bundle with the
number the fitted model predicts if the items were bought independently at each
visit's prices: ``L_b = (Σ_v Π_i y_vi + a) / (Σ_v Π_i P_vi + a)``, with ``a`` = 1
pseudo-basket so that a handful of baskets cannot make it extreme. It is measured on
baskets the mining did not see (winners of a search for high lift have their lift
overstated where they were found). The bundle's **WTP uplift** δ_b is the money that
shifts its log-odds of purchase by ``log L_b``: ``δ_b = log L_b / mean_v β_s(v)`` — δ = 0
exactly when co-purchase is what independence predicts — clipped to [-0.5, 1] × the
bundle's mean shelf price ``R_b`` (the sum of its items'). The bundle's WTP per segment is
``Σ_i w_si + δ_b``. The uplift is additive, not a multiple of ``Σ_i w_si``: with rare
buyers that sum is negative (a median reservation price below 0 is what the logit gives a
product bought on a few per cent of visits), and a multiplicative ``(1 + κ) Σ w`` would
then turn a complement's uplift into a loss. Its relative size, the ``complementarity``
``κ_b = δ_b / R_b`` with R_b the list price (so about [-0.5, 1]; > 0 complements, < 0
substitutes), is what bundles.csv and the report carry.
"""
from __future__ import annotations

from functools import reduce

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import expit

KAPPA_RANGE = (-0.5, 1.0)
PSEUDO_BASKETS = 1.0


def bundle_id(products: tuple[str, ...]) -> str:
    """Id of a mined bundle: its product ids joined by ``+``."""
    return "B:" + "+".join(products)


def itemset_counts(baskets: sp.spmatrix, itemsets: list[tuple[int, ...]]) -> np.ndarray:
    """Number of baskets (rows of a 0/1 matrix) holding every column of each itemset."""
    Bc = sp.csc_matrix(baskets)
    Bc.sort_indices()
    rows = [Bc.indices[Bc.indptr[j]:Bc.indptr[j + 1]] for j in range(Bc.shape[1])]
    return np.array([len(reduce(lambda a, b: np.intersect1d(a, b, assume_unique=True),
                                [rows[j] for j in items])) for items in itemsets], dtype=float)


def mine_bundles(baskets, products: list[str], *, min_support: float = 0.0, min_count: int = 1,
                 min_lift: float = 1.2, max_size: int = 3, max_bundles: int = 10) -> pd.DataFrame:
    """Frequent, lifted pairs and triples of a baskets x products 0/1 matrix (dense or sparse).

    Returns ``bundle_id, products (tuple), size, count, support, lift`` sorted by lift.
    """
    cols = ["bundle_id", "products", "size", "count", "support", "lift"]
    B = sp.csr_matrix(baskets, dtype=np.float64)
    B.data[:] = 1.0
    n = B.shape[0]
    if n == 0 or max_bundles <= 0 or len(products) < 2:
        return pd.DataFrame(columns=cols)
    floor = max(float(min_count), min_support * n)
    single = np.asarray(B.sum(axis=0)).ravel() / n
    pair = (B.T @ B).toarray()
    i, j = np.triu_indices(len(products), k=1)
    cnt = pair[i, j]
    frequent = cnt >= floor - 1e-9
    sets = [(a, b) for a, b in zip(i[frequent], j[frequent])]
    counts = list(cnt[frequent])
    if max_size >= 3 and sets:
        Bc = B.tocsc()
        for a, b in list(sets):
            rows = np.intersect1d(Bc.indices[Bc.indptr[a]:Bc.indptr[a + 1]],
                                  Bc.indices[Bc.indptr[b]:Bc.indptr[b + 1]], assume_unique=True)
            if len(rows) < floor:
                continue
            tri = np.asarray(B[rows].sum(axis=0)).ravel()
            for c in np.flatnonzero(tri >= floor - 1e-9):
                if c > b:
                    sets.append((a, b, int(c)))
                    counts.append(tri[c])
    out = []
    for items, c in zip(sets, counts):
        s = c / n
        lift = s / np.prod(single[list(items)])
        if lift >= min_lift:
            ids = tuple(products[k] for k in items)
            out.append((bundle_id(ids), ids, len(ids), int(round(c)), float(s), float(lift)))
    df = pd.DataFrame(out, columns=cols)
    if df.empty:
        return df
    df = df.sort_values(["lift", "support", "bundle_id"], ascending=[False, False, True], kind="stable")
    return df.head(max_bundles).reset_index(drop=True)


def kappa(observed: float, expected: float, beta: float, price: float = np.inf) -> tuple[float, float]:
    """Price-adjusted lift (with the pseudo-basket) and the WTP uplift δ it implies (module
    docstring), clipped to ``KAPPA_RANGE × price``."""
    L = (observed + PSEUDO_BASKETS) / (expected + PSEUDO_BASKETS) if expected >= 0 else np.nan
    if not (np.isfinite(L) and L > 0 and beta > 0):
        return float(L), 0.0
    lo, hi = KAPPA_RANGE
    return float(L), float(np.clip(np.log(L) / beta, lo * price, hi * price))


def basket_evidence(bundles: pd.DataFrame, products: list[str], baskets: sp.spmatrix, visits: np.ndarray,
                    prices: np.ndarray, wtp: np.ndarray, beta: np.ndarray) -> pd.DataFrame:
    """Co-purchase evidence of each bundle in a set of baskets, from aggregates.

    ``baskets``: those baskets x products (0/1); ``visits``: segments x days visit counts
    of the same baskets; ``prices``: days x products shelf prices; ``wtp``: segments x
    products; ``beta``: per segment. Returns ``baskets, observed, expected, lift,
    adjusted_lift, wtp_uplift`` (δ, money) per bundle, where ``expected`` is the number of baskets the
    fitted model predicts to hold the whole bundle if its items were bought
    independently at each visit's prices (Σ over segments and days, never per visit).
    """
    pidx = {p: k for k, p in enumerate(products)}
    sets = [tuple(pidx[p] for p in items) for items in bundles["products"]]
    n = baskets.shape[0]
    obs = itemset_counts(baskets, sets) if len(sets) else np.zeros(0)
    single = np.asarray(baskets.sum(axis=0)).ravel() / max(n, 1)
    P = expit(beta[:, None, None] * (wtp[:, None, :] - prices[None, :, :]))     # S × D × J
    mean_beta = float((visits.sum(axis=1) * beta).sum() / max(visits.sum(), 1e-12))  # per visit
    rows = []
    for items, o in zip(sets, obs):
        e = float((visits * np.prod(P[:, :, list(items)], axis=2)).sum())
        L, uplift = kappa(o, e, mean_beta, float(prices[:, list(items)].sum(axis=1).mean()))
        lift = (o / n) / np.prod(single[list(items)]) if n and np.prod(single[list(items)]) > 0 else np.nan
        rows.append({"baskets": int(n), "observed": int(o), "expected": e, "lift": float(lift),
                     "adjusted_lift": L, "wtp_uplift": uplift})
    return pd.DataFrame(rows, index=bundles.index)

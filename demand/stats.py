"""Sufficient statistics of the purchase model: exposures and purchases per (segment, offer, price).

The model of DATA.md, ``P(buy) = σ(β_s (w_sb − p))``, depends on an exposure only
through its segment, offer and price. So the likelihood of any segmentation needs only,
per (segment, offer, price level), the number of exposures and of purchases — never a
visits × products table (at store scale that table had 26.6 M rows).

The statistics are kept per **customer**, so that any segmentation, and any bootstrap
reweighting of customers, aggregates them with one sparse product:

- ``groups``: the G (offer, price level) pairs;
- ``U`` (customers × basis) and ``P`` (basis × groups): customer c's exposures to group g
  are ``(U @ P)[c, g]``. From transactions (the visit assumption, :mod:`demand.exposures`)
  the basis is the day: ``U[c, d]`` = visits of c on day d, ``P[d, g]`` = 1 when g is a
  product's shelf price that day — so a visit exposes to every modelled product without
  ever being expanded. From an exposure log the basis is the group itself (``P`` = I);
- ``K`` (customers × groups): purchases.

A :class:`StatsBuilder` holds what all periods share (customers, groups, ``P``) and cuts
periods (training, validation, held-out) by a mask over visits or exposure rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .exposures import daily_prices


@dataclass
class ExposureStats:
    """Per-customer sufficient statistics of one period (see the module docstring)."""

    U: sp.csr_matrix
    P: sp.csr_matrix
    K: sp.csr_matrix
    occasions: np.ndarray            # shopping occasions per customer in the period
    groups: pd.DataFrame             # offer_id, price (shared by the builder's periods)

    @property
    def n_customers(self) -> int:
        return self.U.shape[0]

    def active(self) -> np.ndarray:
        """Customers with at least one exposure in the period."""
        return np.asarray(self.U.sum(axis=1)).ravel() > 0

    def by_segment(self, labels: np.ndarray, n_segments: int) -> tuple[np.ndarray, np.ndarray]:
        """Exposures and purchases per (segment, group): two ``n_segments × G`` arrays.

        ``labels``: segment code per customer (−1 = left out).
        """
        Z = _onehot(labels, n_segments)
        n = np.asarray(((Z @ self.U) @ self.P).todense())
        k = np.asarray((Z @ self.K).todense())
        return n, k

    def rows(self, labels: np.ndarray, segment_ids: list[str]) -> pd.DataFrame:
        """Long table ``segment_id, offer_id, price, n, k`` (and codes ``s, g``) of the cells with exposures."""
        n, k = self.by_segment(labels, len(segment_ids))
        s, g = np.nonzero(n)
        return pd.DataFrame({"segment_id": np.asarray(segment_ids, dtype=object)[s],
                             "offer_id": self.groups["offer_id"].to_numpy()[g],
                             "price": self.groups["price"].to_numpy()[g],
                             "n": n[s, g], "k": k[s, g], "s": s, "g": g})

    def customer_loss(self, labels: np.ndarray, prob: np.ndarray) -> np.ndarray:
        """Each customer's summed log-loss under per-(segment, group) probabilities ``prob``."""
        p = np.clip(prob, 1e-6, 1 - 1e-6)
        miss = -np.log1p(-p)                                  # loss of a non-purchase
        hit = -np.log(p) - miss                               # extra loss of a purchase
        lab = np.maximum(labels, 0)
        base = np.asarray(self.U @ (self.P @ miss.T))         # customers × segments
        out = base[np.arange(len(lab)), lab]
        Kc = self.K.tocoo()
        out += np.bincount(Kc.row, Kc.data * hit[lab[Kc.row], Kc.col], len(lab))
        return np.where(labels >= 0, out, 0.0)

    def bootstrap(self, labels: np.ndarray, n_segments: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exposures and purchases per (replicate, segment, group) under customer ``weights`` (B × C)."""
        B = weights.shape[0]
        G = self.P.shape[1]
        n = np.zeros((B, n_segments, G))
        k = np.zeros((B, n_segments, G))
        for s in range(n_segments):
            idx = np.flatnonzero(labels == s)
            if not len(idx):
                continue
            Wt = np.ascontiguousarray(weights[:, idx].T)       # C_s × B
            n[:, s] = (self.P.T @ (self.U[idx].T @ Wt)).T
            k[:, s] = (self.K[idx].T @ Wt).T
        return n, k


def _onehot(labels: np.ndarray, n_segments: int) -> sp.csr_matrix:
    keep = labels >= 0
    cols = np.flatnonzero(keep)
    return sp.csr_matrix((np.ones(len(cols)), (labels[keep], cols)), shape=(n_segments, len(labels)))


@dataclass
class StatsBuilder:
    """Shared structure of a fit's statistics; :meth:`period` cuts one period.

    Build with :meth:`from_transactions` (visit assumption) or :meth:`from_exposures`.
    A period mask selects *rows* (visits, or exposure rows): ``row_customer``,
    ``row_basis`` and ``row_dates`` are their customer codes, basis (day or group) and
    dates (NaT without dates); purchases are ``buy_row`` → ``buy_group``.
    """

    customers: pd.Index
    groups: pd.DataFrame
    P: sp.csr_matrix
    row_customer: np.ndarray
    row_basis: np.ndarray
    row_dates: np.ndarray
    buy_row: np.ndarray
    buy_group: np.ndarray
    buy_weight: np.ndarray
    rows_are_occasions: bool = False               # transactions: each row is a visit
    prices: pd.DataFrame | None = None             # days × products (transactions only)
    baskets: sp.csr_matrix | None = None           # rows × products, 0/1 (transactions only)

    @classmethod
    def from_transactions(cls, transactions: pd.DataFrame, vis: pd.DataFrame, products: list[str],
                          customers: pd.Index) -> "StatsBuilder":
        """Visit assumption: each visit is exposed to every product at that day's shelf price."""
        prices = daily_prices(transactions, products).round(2)
        D, J = prices.shape
        pr = prices.to_numpy()
        codes, uniq = pd.factorize(pd.MultiIndex.from_arrays([np.tile(np.arange(J), D), pr.ravel()]))
        gcode = codes.reshape(D, J)
        uj = uniq.get_level_values(0).to_numpy()
        groups = pd.DataFrame({"offer_id": np.asarray(products, dtype=object)[uj],
                               "price": uniq.get_level_values(1).to_numpy(float)})
        P = sp.csr_matrix((np.ones(D * J), (np.repeat(np.arange(D), J), gcode.ravel())), shape=(D, len(groups)))
        day = prices.index.get_indexer(vis["date"])
        cust = customers.get_indexer(vis["customer_id"])
        t = transactions[transactions["product_id"].isin(products)].drop_duplicates(["visit", "product_id"])
        v = t["visit"].to_numpy()
        j = pd.Index(products).get_indexer(t["product_id"])
        b = cls(customers, groups, P, cust, day, vis["date"].to_numpy(), v, gcode[day[v], j], np.ones(len(v)))
        b.prices = prices
        b.rows_are_occasions = True
        b.baskets = sp.csr_matrix((np.ones(len(v)), (v, j)), shape=(len(vis), J))
        return b

    @classmethod
    def from_exposures(cls, exposures: pd.DataFrame, customers: pd.Index) -> "StatsBuilder":
        """An exposure log: each row is one exposure of its customer to its (offer, price)."""
        codes, uniq = pd.factorize(pd.MultiIndex.from_frame(exposures[["offer_id", "price"]]))
        groups = pd.DataFrame({"offer_id": uniq.get_level_values(0).to_numpy(dtype=object),
                               "price": uniq.get_level_values(1).to_numpy(float)})
        G = len(groups)
        rows = np.arange(len(exposures))
        bought = exposures["purchased"].to_numpy().astype(bool)
        return cls(customers, groups, sp.identity(G, format="csr"), customers.get_indexer(exposures["customer_id"]),
                   codes, exposures["date"].to_numpy(), rows[bought], codes[bought], np.ones(int(bought.sum())))

    def period(self, mask: np.ndarray) -> ExposureStats:
        """Statistics of the rows (visits or exposures) in ``mask``."""
        C, D = len(self.customers), self.P.shape[0]
        c, d = self.row_customer[mask], self.row_basis[mask]
        U = sp.csr_matrix((np.ones(len(c)), (c, d)), shape=(C, D))
        U.sum_duplicates()
        sel = mask[self.buy_row]
        K = sp.csr_matrix((self.buy_weight[sel], (self.row_customer[self.buy_row[sel]], self.buy_group[sel])),
                          shape=(C, self.P.shape[1]))
        K.sum_duplicates()
        dates = self.row_dates[mask]
        if self.rows_are_occasions:
            occ = np.bincount(c, minlength=C).astype(float)
        elif len(dates) and not pd.isna(dates).any():
            # An occasion is a distinct (customer, date): a visit, or a day of exposures.
            occ_key = pd.DataFrame({"c": c, "d": dates}).drop_duplicates()
            occ = np.bincount(occ_key["c"].to_numpy(), minlength=C).astype(float)
        else:
            occ = (np.bincount(c, minlength=C) > 0).astype(float)
        return ExposureStats(U=U, P=self.P, K=K, occasions=occ, groups=self.groups)

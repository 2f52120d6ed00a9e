"""Segments from purchase behaviour alone: a latent-class logit fitted by EM.

When customers.csv has no feature columns, the segments can only show in what
customers bought at which price. Each latent class k has its own WTP per offer and
price sensitivity (the same logit as :mod:`demand.wtp`); a customer's exposures all
come from one class. EM alternates a weighted :class:`~demand.wtp.PriceLogit` per class
(M-step) with each customer's posterior class probabilities (E-step). It starts from
k-means on each customer's purchase rate per offer. K, when not given, minimises BIC
(``-2 log L + parameters x log(number of customers)``) over ``1..k_max``. A customer's
segment is its most probable class.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import log_expit, logsumexp
from sklearn.cluster import KMeans

from .features import exposure_features
from .wtp import PriceLogit


def _design(exp: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index]:
    cust, cids = pd.factorize(exp["customer_id"])
    offer, _ = pd.factorize(exp["offer_id"])
    X = np.zeros((len(exp), offer.max() + 2))
    X[:, 0] = exp["price"].to_numpy(float)
    X[np.arange(len(exp)), offer + 1] = 1.0
    return X, exp["purchased"].to_numpy(int), cust, pd.Index(cids, name="customer_id")


def _em(X: np.ndarray, y: np.ndarray, cust: np.ndarray, n_cust: int, resp: np.ndarray,
        max_iter: int, tol: float) -> tuple[np.ndarray, float]:
    sign = 2 * y - 1
    ll_prev = -np.inf
    k = resp.shape[1]
    for _ in range(max_iter):
        pi = resp.mean(axis=0)
        ll_ck = np.zeros((n_cust, k))
        for j in range(k):
            if pi[j] <= 0:
                ll_ck[:, j] = -np.inf
                continue
            m = PriceLogit(price_column=0, fit_intercept=False, alpha=1e-6, max_iter=50, tol=1e-8)
            m.fit(X, y, sample_weight=resp[cust, j])
            z = X @ m.coef_[0]
            ll_ck[:, j] = np.bincount(cust, log_expit(sign * z), n_cust)
        with np.errstate(divide="ignore"):
            joint = np.log(pi)[None, :] + ll_ck
        norm = logsumexp(joint, axis=1)
        resp = np.exp(joint - norm[:, None])
        ll = float(norm.sum())
        if ll - ll_prev < tol * abs(ll):
            break
        ll_prev = ll
    return resp, ll


def latent_class_segments(exposures: pd.DataFrame, n_segments: int | None = None, k_max: int = 6,
                          max_iter: int = 60, tol: float = 1e-6,
                          random_state: int = 0) -> tuple[pd.Series, dict]:
    """Class (0 = largest) per customer in ``exposures`` and a description (K, BIC per K)."""
    X, y, cust, cids = _design(exposures)
    n_cust = len(cids)
    rates = exposure_features(exposures).reindex(cids)
    R = rates.fillna(rates.mean()).fillna(0.0).to_numpy()
    if n_segments is not None and n_segments > n_cust:
        raise ValueError(f"n_segments={n_segments} but only {n_cust} customers have purchase data")
    ks = [int(n_segments)] if n_segments is not None else list(range(1, max(1, min(k_max, n_cust)) + 1))
    n_params_per_class = X.shape[1]
    best, bic = None, {}
    for k in ks:
        labels = (np.zeros(n_cust, dtype=int) if k == 1 else
                  KMeans(n_clusters=k, n_init=5, random_state=random_state).fit(R).labels_)
        resp = np.full((n_cust, k), 0.1 / max(k - 1, 1)) if k > 1 else np.ones((n_cust, 1))
        resp[np.arange(n_cust), labels] = 0.9 if k > 1 else 1.0
        resp, ll = _em(X, y, cust, n_cust, resp, max_iter, tol)
        score = -2 * ll + (k * n_params_per_class + k - 1) * np.log(n_cust)
        bic[k] = float(score)
        if best is None or score < best[0]:
            best = (score, k, resp)
    _, k, resp = best
    raw = resp.argmax(axis=1)
    order = np.argsort(-np.bincount(raw, minlength=k), kind="stable")
    remap = np.empty(k, dtype=int)
    remap[order] = np.arange(k)
    labels = pd.Series(remap[raw], index=cids, name="segment")
    info = {"method": "latent-class logit (EM)", "criterion": "given" if n_segments is not None else "bic",
            "k": int(k), "bic": {str(kk): round(v, 2) for kk, v in bic.items()},
            "mean_max_posterior": float(resp.max(axis=1).mean())}
    return labels, info

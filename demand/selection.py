"""Segments that earn their keep: K and the features chosen on held-out purchases.

A candidate segmentation is a feature set (``customers`` — customers.csv's columns;
``behaviour`` — recency, frequency, spend and category mix from transactions;
``both``) and a number of segments K (K = 1, one pooled segment, is always a
candidate). Each candidate is judged by what the segments are for — predicting
purchases:

1. cluster on features computed from the **fit** part of the training months (before
   the validation slice), fit WTP and β on that part, and score the log-likelihood of
   the **validation** slice (by default the training months' last 14 days);
2. choose by the *one-standard-error rule*: the simplest candidate (smallest K, then
   fewer features) whose validation log-loss is within one standard error of the
   best's. The standard error is of the paired difference summed per customer (a
   customer's purchases are not independent of each other), so a K that wins by noise
   is not taken;
3. every candidate is then refitted on all training months and scored on the held-out
   period — reported, never used to choose — and the chosen segments must beat K = 1
   there, or the fit says so and uses K = 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from .data import DemandData
from .features import behavioural_features, exposure_features
from .report import scores
from .segmentation import CustomerSegmenter
from .stats import ExposureStats
from .wtp import WTPEstimate, estimate_wtp_counts

FEATURE_SETS = ("customers", "behaviour", "both")


def feature_table(data: DemandData, feature_set: str, ids: pd.Index, tx: pd.DataFrame | None,
                  exp: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray]:
    """Features of every customer in ``ids`` and a mask of those to cluster on.

    Behaviour comes from ``tx`` (transactions of the period) or, without transactions,
    ``exp`` (purchase rate per offer); only customers with behaviour are clustered on it
    (the others are placed by their other features, behaviour imputed).
    """
    cust = data.customers
    cols = [] if cust is None else [c for c in cust.columns if c not in ("customer_id", "segment_id")]
    X = pd.DataFrame(index=ids)
    fit_on = np.ones(len(ids), dtype=bool)
    if feature_set in ("customers", "both") and cols:
        X = X.join(cust.set_index("customer_id")[cols])
    if feature_set in ("behaviour", "both"):
        beh = behavioural_features(tx, data.products) if tx is not None and len(tx) else exposure_features(exp)
        X = X.join(beh)
        fit_on = ids.isin(beh.index)
    return X, fit_on


def cluster(X: pd.DataFrame, fit_on: np.ndarray, k: int, seed: int, n_init: int = 4) -> np.ndarray:
    """Segment code per row of ``X`` (0 = largest), k-means / latent class into ``k``."""
    if k == 1 or X.shape[1] == 0:
        return np.zeros(len(X), dtype=int)
    model = CustomerSegmenter(n_segments=k, n_init=n_init, random_state=seed)
    model.fit(X[fit_on])
    return model.predict(X).astype(int)


def probabilities(est: WTPEstimate, segment_ids: list[str], groups: pd.DataFrame) -> np.ndarray:
    """``P(buy)`` per (segment, group); offers without a WTP get NaN."""
    W = est.cells.pivot(index="segment_id", columns="offer_id", values="wtp")
    W = W.reindex(index=segment_ids, columns=groups["offer_id"].to_numpy())
    beta = est.segments["price_sensitivity"].reindex(segment_ids).to_numpy(float)
    return expit(beta[:, None] * (W.to_numpy(float) - groups["price"].to_numpy(float)[None, :]))


def wtp_spread(est: WTPEstimate) -> float:
    """Median over offers of (highest − lowest) segment WTP: how far apart the segments are."""
    W = est.cells.pivot(index="segment_id", columns="offer_id", values="wtp")
    if len(W) < 2:
        return 0.0
    return float(np.nanmedian(W.max(axis=0) - W.min(axis=0)))


@dataclass
class Scored:
    """A segmentation fitted on one period and scored on the next."""

    labels: np.ndarray
    segment_ids: list[str]
    estimate: WTPEstimate
    rows: pd.DataFrame            # training counts per (segment, offer, price)
    score_rows: pd.DataFrame      # scored counts, with the model's ``prob``
    scores: dict
    customer_loss: np.ndarray     # summed log-loss per customer on the scored period


def fit_and_score(labels: np.ndarray, train: ExposureStats, score: ExposureStats, min_obs: int,
                  min_events: int, ids: list[str] | None = None) -> Scored:
    """WTP on ``train`` for these segment codes (named ``ids``, default S1, S2, ...), scored on ``score``."""
    k = int(labels.max()) + 1 if (labels >= 0).any() else 1
    ids = ids or [f"S{i + 1}" for i in range(k)]
    k = len(ids)
    rows = train.rows(labels, ids)
    est = estimate_wtp_counts(rows, min_obs=min_obs, min_events=min_events)
    prob = probabilities(est, ids, train.groups)
    score_rows = score.rows(labels, ids)
    p = prob[score_rows.pop("s").to_numpy(), score_rows.pop("g").to_numpy()]
    score_rows["prob"] = p
    return Scored(labels=labels, segment_ids=ids, estimate=est, rows=rows, score_rows=score_rows,
                  scores=scores(score_rows["n"].to_numpy(), score_rows["k"].to_numpy(), p),
                  customer_loss=score.customer_loss(labels, np.nan_to_num(prob, nan=1e-6)))


@dataclass
class Candidate:
    features: str
    k: int
    validation: Scored | None = None
    test: Scored | None = None
    note: str = ""
    within_one_se: bool = False
    extra: dict = field(default_factory=dict)


def one_se_choice(cands: list[Candidate], n_exposures: float) -> tuple[Candidate, dict]:
    """The simplest candidate within one (customer-clustered) standard error of the best."""
    ok = [c for c in cands if c.validation is not None]
    best = min(ok, key=lambda c: c.validation.scores["log_loss"])
    info = {"best": {"k": best.k, "features": best.features}}
    for c in ok:
        diff = c.validation.customer_loss - best.validation.customer_loss
        se = float(np.sqrt(len(diff)) * diff.std()) / max(n_exposures, 1e-12)
        c.extra = {"log_loss_minus_best": float(diff.sum() / max(n_exposures, 1e-12)), "se": se}
        c.within_one_se = c.extra["log_loss_minus_best"] <= se
    order = sorted((c for c in ok if c.within_one_se), key=lambda c: (c.k, FEATURE_SETS.index(c.features)
                                                                       if c.features in FEATURE_SETS else 0))
    return order[0], info

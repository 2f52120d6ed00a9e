"""Held-out quality of the fitted purchase model, from counts, against no-price baselines.

Scores are on exposures the model did not train on: log-loss (lower is better) and
ROC AUC (higher is better) of ``P(purchased)``, computed from the sufficient statistics
(exposures ``n`` and purchases ``k`` per segment, offer and price) — identical to the
scores of the expanded exposure rows, since rows of one cell share one prediction.
Two baselines ignore the price: ``offer_rate`` — each offer's training purchase rate;
``segment_offer_rate`` — each (segment, offer)'s, i.e. the same segments as the model,
only without the price effect. Beating the second shows the price sensitivity is real.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

_EPS = 1e-6


def scores(n: np.ndarray, k: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    """Log-loss per exposure and AUC of predictions ``p`` for cells of ``n`` exposures, ``k`` purchases."""
    n, k = np.asarray(n, float), np.asarray(k, float)
    p = np.clip(np.nan_to_num(np.asarray(p, float), nan=_EPS), _EPS, 1 - _EPS)
    total = n.sum()
    ll = float(-(k * np.log(p) + (n - k) * np.log1p(-p)).sum() / total) if total > 0 else None
    return {"log_loss": ll, "auc": auc(n, k, p)}


def auc(n: np.ndarray, k: np.ndarray, p: np.ndarray) -> float | None:
    """ROC AUC from counts: ties (equal p) count one half, as with row-level data."""
    uniq, inv = np.unique(p, return_inverse=True)
    pos = np.bincount(inv, k, len(uniq))
    neg = np.bincount(inv, n - k, len(uniq))
    if pos.sum() <= 0 or neg.sum() <= 0:
        return None
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def calibration(n: np.ndarray, k: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Predicted vs observed purchase rate per decile of predicted probability (exposure-weighted)."""
    n, k, p = np.asarray(n, float), np.asarray(k, float), np.nan_to_num(np.asarray(p, float), nan=_EPS)
    order = np.argsort(p, kind="stable")
    n, k, p = n[order], k[order], p[order]
    mid = np.cumsum(n) - n / 2
    dec = np.minimum((mid / max(n.sum(), 1e-12) * bins).astype(int), bins - 1)
    out = []
    for d in range(bins):
        m = dec == d
        tot = n[m].sum()
        if tot <= 0:
            continue
        out.append({"decile": d + 1, "predicted": float((n[m] * p[m]).sum() / tot),
                    "observed": float(k[m].sum() / tot), "n": int(round(tot))})
    return out


def _rate(train: pd.DataFrame, test: pd.DataFrame, keys: list[str], prior: float) -> np.ndarray:
    # Rates with one pseudo-observation at the overall rate so an empty cell is not 0 or 1.
    g = train.groupby(keys)[["k", "n"]].sum()
    r = (g["k"] + prior) / (g["n"] + 1.0)
    idx = pd.MultiIndex.from_frame(test[keys]) if len(keys) > 1 else pd.Index(test[keys[0]])
    return r.reindex(idx).fillna(prior).to_numpy(float)


def holdout_scores(train: pd.DataFrame, test: pd.DataFrame, model_prob: np.ndarray) -> dict:
    """Model and baseline scores on ``test`` (rows ``segment_id, offer_id, n, k``), with the
    model's calibration. Offers the model has no WTP for (NaN) are predicted at the floor."""
    n, k = test["n"].to_numpy(float), test["k"].to_numpy(float)
    prior = float(train["k"].sum() / max(train["n"].sum(), 1e-12))
    return {
        "n_exposures": int(round(n.sum())),
        "n_purchases": int(round(k.sum())),
        "model": scores(n, k, model_prob),
        "baselines": {
            "offer_rate": scores(n, k, _rate(train, test, ["offer_id"], prior)),
            "segment_offer_rate": scores(n, k, _rate(train, test, ["segment_id", "offer_id"], prior)),
        },
        "calibration": calibration(n, k, model_prob),
    }

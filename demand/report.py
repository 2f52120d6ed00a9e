"""Held-out quality of the fitted purchase model, against no-price baselines.

Scores are on exposures the model did not train on: log-loss (lower is better) and
ROC AUC (higher is better) of ``P(purchased)``. Two baselines ignore the price:
``offer_rate`` — each offer's training purchase rate; ``segment_offer_rate`` — each
(segment, offer)'s training purchase rate, i.e. the same segments as the model, only
without the price effect. Beating the second shows the price sensitivity is real.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

_EPS = 1e-6


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    p = np.clip(p, _EPS, 1 - _EPS)
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None
    return {"log_loss": float(log_loss(y, p, labels=[0, 1])), "auc": auc}


def _rate(train: pd.DataFrame, test: pd.DataFrame, keys: list[str], prior: float) -> np.ndarray:
    # Rates with one pseudo-observation at the overall rate so an empty cell is not 0 or 1.
    g = train.groupby(keys)["purchased"].agg(["sum", "count"])
    r = (g["sum"] + prior) / (g["count"] + 1.0)
    idx = pd.MultiIndex.from_frame(test[keys]) if len(keys) > 1 else pd.Index(test[keys[0]])
    return r.reindex(idx).fillna(prior).to_numpy(float)


def holdout_scores(train: pd.DataFrame, test: pd.DataFrame, model_prob: np.ndarray) -> dict:
    """Model and baseline scores on ``test`` (columns ``segment_id, offer_id, purchased``)."""
    y = test["purchased"].to_numpy()
    prior = float(train["purchased"].mean())
    # Offers the model has no WTP for (never bought in training) are predicted at the floor.
    model = np.where(np.isnan(model_prob), _EPS, model_prob)
    return {
        "n_exposures": int(len(test)),
        "n_purchases": int(y.sum()),
        "model": _scores(y, model),
        "calibration": calibration_deciles(y, model),
        "baselines": {
            "offer_rate": _scores(y, _rate(train, test, ["offer_id"], prior)),
            "segment_offer_rate": _scores(y, _rate(train, test, ["segment_id", "offer_id"], prior)),
        },
    }


def calibration_deciles(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict]:
    """Held-out exposures in ten equal-count groups by predicted probability (lowest first):
    each group's mean prediction against its observed purchase rate."""
    order = np.argsort(p, kind="stable")
    return [{"decile": i + 1, "predicted": float(p[g].mean()), "observed": float(y[g].mean()), "n": int(len(g))}
            for i, g in enumerate(np.array_split(order, bins)) if len(g)]

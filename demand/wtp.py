"""Willingness to pay and price sensitivity per (segment, offer), by maximum likelihood.

The model is docs/data.md's: a shopper of segment s shown offer b alone at price p buys
with probability ``σ(β_s (w_sb − p))``, where w_sb is the segment's median reservation
price and β_s its logit scale. For one segment this is a logistic regression of
``purchased`` on one indicator per offer (coefficient β_s w_sb) and the price
(coefficient −β_s): per-offer intercepts with one shared price slope, because docs/data.md
gives β per segment. :class:`PriceLogit` fits such regressions exactly (Newton's
method on the likelihood, with a negligible ridge so separable data stays finite).

:func:`estimate_wtp` runs it per segment and handles thin cells:

- a cell (segment, offer) is **estimated** when it has at least ``min_obs`` exposures
  and ``min_events`` purchases and non-purchases; β_s is fitted on those cells only;
- a segment whose slope is not identified (no estimated cell, β ≤ 0, or a standard
  error larger than β itself) takes the **pooled** β fitted on all segments together;
- a thin cell is **shrunk**: its w is the posterior mode under a normal prior centred
  on the offer's pooled estimate (all segments together), with a prior spread equal
  to the between-segment spread of that offer's estimated cells (at least 10 % of the
  pooled value; 25 % when fewer than two cells are estimated);
- a segment never shown an offer gets the offer's pooled w (**pooled**);
- an offer nobody ever bought gets no WTP at all (a missing pair in wtp.csv means
  "never buys").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data


class PriceLogit(ClassifierMixin, BaseEstimator):
    """Binary logistic regression by Newton's method, read as a price-response model.

    ``logit P(y=1) = intercept + Σ_j coef_j x_j``; the column ``price_column`` is the
    price, so ``price_sensitivity_ = −coef[price_column]`` (β) and, with one indicator
    column per offer and ``fit_intercept=False``, the WTP of offer j is
    ``coef_j / β`` (:meth:`wtp`).

    Parameters
    ----------
    price_column : int, default=0
        Position of the price among the columns of X.
    fit_intercept : bool, default=True
        Add a constant column (leave False with one indicator per offer).
    alpha : float, default=1e-8
        Ridge penalty on the (internally scaled) coefficients, only to keep separable
        data finite; small enough not to move well-identified estimates.
    max_iter : int, default=100
        Newton iterations at most.
    tol : float, default=1e-10
        Stop when the largest scaled Newton step is below this.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
    coef_ : ndarray of shape (1, n_features)
    intercept_ : ndarray of shape (1,)
    price_sensitivity_ : float
    covariance_ : ndarray
        Inverse Fisher information of ``[coef, intercept]`` (standard errors).
    n_iter_ : int
    """

    def __init__(self, price_column: int = 0, fit_intercept: bool = True, alpha: float = 1e-8,
                 max_iter: int = 100, tol: float = 1e-10) -> None:
        self.price_column = price_column
        self.fit_intercept = fit_intercept
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def _design(self, X: np.ndarray) -> np.ndarray:
        if self.fit_intercept:
            return np.hstack([X, np.ones((X.shape[0], 1))])
        return X

    def fit(self, X, y, sample_weight=None) -> "PriceLogit":
        """Maximise the (weighted) likelihood of ``y`` given ``X``."""
        if not (isinstance(self.alpha, (int, float)) and self.alpha >= 0):
            raise ValueError(f"alpha must be >= 0, got {self.alpha!r}")
        if not (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError("Only binary classification is supported. PriceLogit got y with "
                             f"{len(self.classes_)} class(es): {self.classes_.tolist()}")
        if not (0 <= self.price_column < X.shape[1]):
            raise ValueError(f"price_column={self.price_column} but X has {X.shape[1]} columns")
        w = _check_sample_weight(sample_weight, X, dtype=np.float64)
        t = (y == self.classes_[1]).astype(float)
        D = self._design(X)
        scale = np.sqrt(np.average(D ** 2, axis=0, weights=w) if w.sum() > 0 else np.mean(D ** 2, axis=0))
        scale[scale < 1e-12] = 1.0
        Ds = D / scale
        wsum = w.sum() if w.sum() > 0 else 1.0
        pen = np.full(D.shape[1], float(self.alpha))
        theta = np.zeros(D.shape[1])

        def objective(th: np.ndarray) -> float:
            z = Ds @ th
            # Elementwise sums, not BLAS dot: with busy cores, threaded ddot was 100x slower.
            return float((w * (np.logaddexp(0.0, z) - t * z)).sum() / wsum + 0.5 * (pen * th ** 2).sum())

        f = objective(theta)
        self.n_iter_ = 0
        for it in range(int(self.max_iter)):
            p = expit(Ds @ theta)
            g = Ds.T @ (w * (p - t)) / wsum + pen * theta
            H = (Ds * (w * p * (1 - p))[:, None]).T @ Ds / wsum + np.diag(pen)
            H[np.diag_indices_from(H)] += 1e-12
            try:
                step = np.linalg.solve(H, g)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(H, g, rcond=None)[0]
            size, dec = 1.0, float((g * step).sum())
            while True:   # backtracking keeps Newton monotone on badly scaled data
                cand = theta - size * step
                fc = objective(cand)
                if fc <= f - 1e-4 * size * dec or size < 1e-10:
                    break
                size *= 0.5
            theta, f = cand, fc
            self.n_iter_ = it + 1
            if np.max(np.abs(size * step)) < self.tol:
                break
        p = expit(Ds @ theta)
        info = (Ds * (w * p * (1 - p))[:, None]).T @ Ds
        try:
            cov_s = np.linalg.inv(info + 1e-12 * np.eye(len(theta)))
        except np.linalg.LinAlgError:
            cov_s = np.full((len(theta), len(theta)), np.nan)
        coef = theta / scale
        self.covariance_ = cov_s / np.outer(scale, scale)
        if self.fit_intercept:
            self.coef_, self.intercept_ = coef[None, :-1], np.array([coef[-1]])
        else:
            self.coef_, self.intercept_ = coef[None, :], np.array([0.0])
        self.price_sensitivity_ = float(-self.coef_[0, self.price_column])
        return self

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of the second class."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X) -> np.ndarray:
        z = self.decision_function(X)
        p = expit(z)
        return np.column_stack([1 - p, p])

    def predict(self, X) -> np.ndarray:
        z = self.decision_function(X)
        return self.classes_[(z > 0).astype(int)]

    def wtp(self) -> np.ndarray:
        """``coef_j / β`` for every column (meaningful for offer indicators)."""
        check_is_fitted(self)
        return self.coef_[0] / self.price_sensitivity_


@dataclass
class WTPEstimate:
    """Result of :func:`estimate_wtp`.

    ``cells``: ``segment_id, offer_id, n_obs, n_purchases, wtp, se, status,
    prior_weight`` (status ``estimated`` / ``shrunk`` / ``pooled``).
    ``segments``: index ``segment_id``; ``price_sensitivity``, ``se``, ``status``
    (``estimated`` / ``pooled``), ``n_obs``.
    ``pooled``: index ``offer_id``; ``wtp`` of all segments together; ``pooled_beta``.
    ``dropped``: offers never bought (no WTP).
    """

    cells: pd.DataFrame
    segments: pd.DataFrame
    pooled: pd.DataFrame
    pooled_beta: float
    dropped: list[str]

    def probability(self, segment_id, offer_id, price) -> np.ndarray:
        """Model purchase probability of exposures (unknown cells get NaN)."""
        key = pd.MultiIndex.from_arrays([np.asarray(segment_id), np.asarray(offer_id)])
        w = self.cells.set_index(["segment_id", "offer_id"])["wtp"].reindex(key).to_numpy(float)
        b = self.segments["price_sensitivity"].reindex(np.asarray(segment_id)).to_numpy(float)
        return expit(b * (w - np.asarray(price, dtype=float)))


def _aggregate(exp: pd.DataFrame) -> pd.DataFrame:
    """Collapse identical (segment, offer, price, purchased) rows into weights."""
    return (exp.groupby(["segment_id", "offer_id", "price", "purchased"], sort=True, observed=True)
            .size().rename("count").reset_index())


def _fit_slope(agg: pd.DataFrame) -> tuple[float, float, int]:
    """β and its standard error from per-offer intercepts + shared price slope."""
    codes, _ = pd.factorize(agg["offer_id"])
    X = np.zeros((len(agg), codes.max() + 2))
    X[:, 0] = agg["price"].to_numpy()
    X[np.arange(len(agg)), codes + 1] = 1.0
    y = agg["purchased"].to_numpy()
    if len(np.unique(y)) < 2:
        return np.nan, np.nan, 0
    m = PriceLogit(price_column=0, fit_intercept=False).fit(X, y, sample_weight=agg["count"].to_numpy())
    se = float(np.sqrt(m.covariance_[0, 0])) if np.isfinite(m.covariance_[0, 0]) else np.inf
    return m.price_sensitivity_, se, int(agg["count"].sum())


def _cell_wtp(agg: pd.DataFrame, cell: np.ndarray, n_cells: int, beta: np.ndarray,
              prior_mean: np.ndarray, prior_prec: np.ndarray, iters: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mode of w per cell given β (vectorised Newton); ``prior_prec`` 0 = MLE."""
    c = agg["count"].to_numpy(float)
    p = agg["price"].to_numpy(float)
    y = agg["purchased"].to_numpy(float)
    b = beta[cell]
    w = np.bincount(cell, c * p, n_cells) / np.maximum(np.bincount(cell, c, n_cells), 1e-12)
    w = np.where(prior_prec > 0, prior_mean, w)
    for _ in range(iters):
        s = expit(b * (w[cell] - p))
        g = np.bincount(cell, c * b * (s - y), n_cells) + prior_prec * (w - prior_mean)
        h = np.bincount(cell, c * b * b * s * (1 - s), n_cells) + prior_prec
        step = g / np.maximum(h, 1e-12)
        # Damped: a Newton step of more than a few logit units is not trusted.
        cap = 4.0 / np.maximum(beta, 1e-9)
        step = np.clip(step, -cap, cap)
        w = w - step
        if np.max(np.abs(step)) < 1e-10:
            break
    s = expit(b * (w[cell] - p))
    h = np.bincount(cell, c * b * b * s * (1 - s), n_cells) + prior_prec
    return w, 1.0 / np.sqrt(np.maximum(h, 1e-300))


def estimate_wtp(exposures: pd.DataFrame, *, min_obs: int = 30, min_events: int = 5) -> WTPEstimate:
    """WTP per (segment, offer) and β per segment from exposures (see module docstring).

    ``exposures`` needs ``segment_id, offer_id, price, purchased``.
    """
    agg = _aggregate(exposures)
    buys = agg["purchased"].to_numpy() * agg["count"].to_numpy()
    per_offer = pd.Series(buys).groupby(agg["offer_id"].to_numpy()).sum()
    dropped = sorted(per_offer.index[per_offer.to_numpy() == 0].astype(str))
    agg = agg[~agg["offer_id"].isin(dropped)].reset_index(drop=True)
    if agg.empty:
        raise ValueError("no offer was ever bought: nothing to estimate")

    cellkey = agg[["segment_id", "offer_id"]].drop_duplicates().reset_index(drop=True)
    ckey = pd.MultiIndex.from_frame(cellkey)
    cell = ckey.get_indexer(pd.MultiIndex.from_frame(agg[["segment_id", "offer_id"]]))
    n = np.bincount(cell, agg["count"].to_numpy(float), len(cellkey))
    k = np.bincount(cell, (agg["purchased"] * agg["count"]).to_numpy(float), len(cellkey))
    rich = (n >= min_obs) & (k >= min_events) & (n - k >= min_events)
    cellkey["n_obs"], cellkey["n_purchases"] = n.astype(int), k.astype(int)

    # Pooled model: all segments together, per-offer intercepts, one slope.
    pooled_beta, pooled_se, _ = _fit_slope(agg)
    if not (np.isfinite(pooled_beta) and pooled_beta > 0):
        raise ValueError("purchases do not fall as prices rise in these data, so no price "
                         f"sensitivity can be estimated (pooled slope β = {pooled_beta:.4g})")
    ocodes, offers = pd.factorize(agg["offer_id"])
    pw, _ = _cell_wtp(agg, ocodes, len(offers), np.full(len(offers), pooled_beta),
                      np.zeros(len(offers)), np.zeros(len(offers)))
    pooled = pd.DataFrame({"wtp": pw}, index=pd.Index(offers, name="offer_id"))

    # β per segment from its well-observed cells.
    seg_rows = []
    is_rich_row = rich[cell]
    for seg, part in agg[is_rich_row].groupby("segment_id", sort=False):
        beta, se, nobs = _fit_slope(part)
        seg_rows.append((seg, beta, se, nobs))
    segs = pd.DataFrame(seg_rows, columns=["segment_id", "price_sensitivity", "se", "n_obs"]).set_index("segment_id")
    all_segs = pd.Index(pd.unique(agg["segment_id"]), name="segment_id")
    segs = segs.reindex(all_segs)
    ok = (segs["price_sensitivity"] > 0) & (segs["se"] < segs["price_sensitivity"])
    segs["status"] = np.where(ok, "estimated", "pooled")
    segs.loc[~ok, "price_sensitivity"] = pooled_beta
    segs.loc[~ok, "se"] = pooled_se
    segs["n_obs"] = segs["n_obs"].fillna(0).astype(int)

    # Prior per offer: centred on the pooled w; spread from the estimated cells.
    beta_cell = segs["price_sensitivity"].reindex(cellkey["segment_id"]).to_numpy(float)
    w_mle, _ = _cell_wtp(agg, cell, len(cellkey), beta_cell, np.zeros(len(cellkey)), np.zeros(len(cellkey)))
    m = pooled["wtp"].reindex(cellkey["offer_id"]).to_numpy(float)
    spread = pd.Series(np.where(rich, w_mle, np.nan)).groupby(cellkey["offer_id"].to_numpy())
    sd, cnt = spread.std(), spread.count()
    floor = 0.10 * np.abs(pooled["wtp"])
    tau = np.where(cnt.reindex(pooled.index) >= 2,
                   np.maximum(sd.reindex(pooled.index).fillna(0).to_numpy(), floor.to_numpy()),
                   0.25 * np.abs(pooled["wtp"]).to_numpy())
    tau = np.maximum(tau, 1e-6)
    tau_cell = pd.Series(tau, index=pooled.index).reindex(cellkey["offer_id"]).to_numpy()
    prec = np.where(rich, 0.0, 1.0 / tau_cell ** 2)
    w_hat, se = _cell_wtp(agg, cell, len(cellkey), beta_cell, m, prec)
    # Weight of the prior in the posterior (0 = data only, 1 = pooled value only).
    cellkey["wtp"] = w_hat
    cellkey["se"] = se
    cellkey["prior_weight"] = np.where(rich, 0.0, prec * se ** 2)
    cellkey["status"] = np.where(rich, "estimated", "shrunk")

    # Segments never shown an offer: the pooled value.
    full = pd.MultiIndex.from_product([all_segs, pooled.index], names=["segment_id", "offer_id"])
    missing = full.difference(ckey)
    if len(missing):
        fill = missing.to_frame(index=False)
        fill["n_obs"] = 0
        fill["n_purchases"] = 0
        fill["wtp"] = pooled["wtp"].reindex(fill["offer_id"]).to_numpy()
        fill["se"] = np.nan
        fill["prior_weight"] = 1.0
        fill["status"] = "pooled"
        cellkey = pd.concat([cellkey, fill], ignore_index=True)
    cells = cellkey[["segment_id", "offer_id", "n_obs", "n_purchases", "wtp", "se", "status",
                     "prior_weight"]].sort_values(["segment_id", "offer_id"]).reset_index(drop=True)
    return WTPEstimate(cells=cells, segments=segs, pooled=pooled, pooled_beta=float(pooled_beta),
                       dropped=dropped)

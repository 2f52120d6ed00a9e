"""Customer segmentation: k-means on encoded customer features, K given or chosen.

When ``n_segments`` is None, K is chosen by the **silhouette criterion**: k-means is
fitted for each K in ``2..k_max`` and the K with the highest mean silhouette
(computed on a random subsample of at most ``silhouette_sample`` customers) wins.

Categorical columns are screened when there are numeric ones too: K is chosen on the
numbers alone, and a categorical column joins the final clustering only if it is
associated with that first clustering (Cramér's V >= ``min_association``). One-hot
columns are discrete, so a category unrelated to the segments (a sales channel, say)
would otherwise split tight segments into sub-segments that the silhouette rewards.
The numbers are then measured in units of their spread *within* the first
clustering's segments, so a kept category counts like one within-segment standard
deviation: it can settle customers between overlapping segments but cannot pull one
across a clear numeric gap. With categories only, k-means cannot choose K (every combination of categories is a
perfectly tight cluster), so a latent class model is fitted instead
(:mod:`demand.lca`, K by BIC; ``criterion_ = "bic"``).

Segments are numbered by size, largest first, so ids are stable across runs.
"""
from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context, clone
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from .features import CustomerFeatureEncoder, CustomerTableInput
from .lca import fit_mixture


class CustomerSegmenter(CustomerTableInput, ClusterMixin, BaseEstimator):
    """Cluster customers into segments from their features.

    Parameters
    ----------
    n_segments : int or None, default=None
        Number of segments; None chooses it by silhouette over ``2..k_max``.
    k_max : int, default=8
        Largest K tried when choosing.
    n_init : int, default=10
        k-means restarts per K (the best inertia is kept).
    encoder : transformer or None, default=None
        Turns raw features (a DataFrame with numbers and categories) into numbers;
        None uses :class:`~demand.features.CustomerFeatureEncoder`.
    min_association : float, default=0.3
        With numeric columns present, a categorical column is used only if its
        Cramér's V with a first clustering on the numbers alone reaches this.
    silhouette_sample : int, default=3000
        Subsample size for the silhouette score.
    random_state : int, default=0
        Seed of k-means and of the silhouette subsample.

    Attributes
    ----------
    labels_ : ndarray of int
        Segment of each training customer (0 = largest segment).
    n_segments_ : int
        The K used.
    criterion_ : str
        ``"given"``, ``"silhouette"`` or (categories only) ``"bic"``.
    scores_ : dict
        Silhouette (or BIC) per K tried (empty when K was given).
    cluster_centers_ : ndarray
        Centres in the encoded feature space, in label order.
    encoder_ : transformer
        The fitted encoder.
    category_association_ : list of float
        Cramér's V of each categorical column with the numeric-only clustering.
    columns_ : ndarray of int
        Encoded columns the final clustering used.
    column_scale_ : ndarray
        Their multipliers: numbers in units of within-segment spread when categories
        are kept (see the module docstring), else 1.
    """

    _parameter_constraints: dict = {
        "n_segments": [Interval(Integral, 1, None, closed="left"), None],
        "k_max": [Interval(Integral, 2, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "encoder": [HasMethods(["fit_transform", "transform"]), None],
        "min_association": [Interval(Real, None, None, closed="neither")],
        "silhouette_sample": [Interval(Integral, 1, None, closed="left")],
        # An int only: it also seeds the silhouette subsample and the restarts of demand.lca.
        "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both")],
    }

    def __init__(self, n_segments: int | None = None, k_max: int = 8, n_init: int = 10,
                 encoder=None, min_association: float = 0.3, silhouette_sample: int = 3000,
                 random_state: int = 0) -> None:
        self.n_segments = n_segments
        self.k_max = k_max
        self.n_init = n_init
        self.encoder = encoder
        self.min_association = min_association
        self.silhouette_sample = silhouette_sample
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> "CustomerSegmenter":
        """Encode ``X``, screen categorical columns, choose K if needed and fit k-means."""
        validate_data(self, X, skip_check_array=True, reset=True)
        self.encoder_ = clone(self.encoder) if self.encoder is not None else CustomerFeatureEncoder()
        Z = self.encoder_.fit_transform(X)
        n = Z.shape[0]
        if n < 2:
            raise ValueError(f"CustomerSegmenter needs at least 2 samples, got n_samples={n}")
        if self.n_segments is not None and self.n_segments > n:
            raise ValueError(f"n_samples={n} should be >= n_segments={self.n_segments}")
        num, cats = self._blocks(Z)
        self.scores_ = {}
        self.mixture_ = None
        if num.stop == num.start and cats:
            return self._fit_categorical(Z, cats)
        if num.stop > num.start and cats:
            # Numbers first: a one-hot column splits even a tight cluster perfectly, so
            # letting noise categories vote on K would cut real segments into pieces.
            Zn = Z[:, num]
            k = self._choose_k(Zn) if self.n_segments is None else int(self.n_segments)
            first = self._kmeans(k).fit(Zn).labels_ if k > 1 else np.zeros(n, dtype=int)
            self.category_association_ = [_cramers_v(Z[:, c], first) for c in cats]
            keep = [c for c, v in zip(cats, self.category_association_) if v >= self.min_association]
            # Numbers in units of their spread *within* the first clustering's segments, so
            # a category switch (about one unit) can decide between segments that overlap
            # in the numbers but cannot pull a customer across a clear numeric gap.
            within = np.sqrt(np.mean((Zn - _centres(Zn, first)[first]) ** 2, axis=0)) if keep else None
            num_scale = 1.0 / np.maximum(within, 0.05) if keep else np.ones(num.stop - num.start)
        else:
            self.category_association_ = []
            keep = cats
            k = None if self.n_segments is None else int(self.n_segments)
            num_scale = np.ones(num.stop - num.start)
        self.columns_ = np.r_[np.arange(num.start, num.stop), *[np.arange(c.start, c.stop) for c in keep]] \
            if (num.stop > num.start or keep) else np.arange(Z.shape[1])
        self.columns_ = self.columns_.astype(int)
        self.column_scale_ = np.r_[num_scale, np.ones(len(self.columns_) - len(num_scale))] \
            if (num.stop > num.start or keep) else np.ones(Z.shape[1])
        Zf = Z[:, self.columns_] * self.column_scale_
        if k is None:
            k = self._choose_k(Zf)
        self.criterion_ = "given" if self.n_segments is not None else "silhouette"
        km = self._kmeans(k, final=True).fit(Zf)
        # Relabel by size (largest first) so segment ids do not depend on k-means seeds.
        sizes = np.bincount(km.labels_, minlength=k)
        order = np.argsort(-sizes, kind="stable")
        remap = np.empty(k, dtype=int)
        remap[order] = np.arange(k)
        self.labels_ = remap[km.labels_]
        self.cluster_centers_ = km.cluster_centers_[order]
        self.n_segments_ = k
        self._remap = remap
        self.kmeans_ = km
        return self

    def _fit_categorical(self, Z: np.ndarray, cats: list[slice]) -> "CustomerSegmenter":
        """Only categories: latent class analysis, K by BIC (see :mod:`demand.lca`)."""
        self.category_association_ = []
        self.columns_ = np.r_[tuple(np.arange(c.start, c.stop) for c in cats)].astype(int)
        self.column_scale_ = np.ones(len(self.columns_))
        onehot = (Z[:, self.columns_] > 0).astype(float)
        blocks, start = [], 0
        for c in cats:
            blocks.append(slice(start, start + c.stop - c.start))
            start += c.stop - c.start
        self._lca_blocks = blocks
        n = onehot.shape[0]
        if self.n_segments is not None:
            k = int(self.n_segments)
            model = fit_mixture(onehot, blocks, k, random_state=self.random_state)
            self.criterion_ = "given"
        else:
            self.criterion_ = "bic"
            best = None
            for k in range(1, min(self.k_max, n) + 1):
                cand = fit_mixture(onehot, blocks, k, random_state=self.random_state)
                self.scores_[k] = float(cand.bic(n, blocks))
                if best is None or self.scores_[k] < best[0]:
                    best = (self.scores_[k], k, cand)
            _, k, model = best
        raw = model.log_posterior(onehot).argmax(axis=1)
        order = np.argsort(-np.bincount(raw, minlength=k), kind="stable")
        remap = np.empty(k, dtype=int)
        remap[order] = np.arange(k)
        self.labels_ = remap[raw]
        self.cluster_centers_ = np.exp(model.log_theta[order])
        self.n_segments_ = k
        self._remap = remap
        self.mixture_ = model
        return self

    def _blocks(self, Z: np.ndarray) -> tuple[slice, list[slice]]:
        if hasattr(self.encoder_, "output_blocks"):
            return self.encoder_.output_blocks()
        return slice(0, Z.shape[1]), []

    def _choose_k(self, Z: np.ndarray) -> int:
        """K in 2..k_max with the best silhouette (1 if the points cannot be split)."""
        n = Z.shape[0]
        distinct = len(np.unique(Z, axis=0))
        rng = np.random.RandomState(self.random_state)
        sample = rng.choice(n, min(n, self.silhouette_sample), replace=False)
        best = None
        for k in range(2, min(self.k_max, distinct - 1, n - 1) + 1):
            labels = self._kmeans(k).fit(Z).labels_[sample]
            if len(np.unique(labels)) < 2:
                continue
            score = float(silhouette_score(Z[sample], labels))
            self.scores_[k] = score
            if best is None or score > best[0] + 1e-12:
                best = (score, k)
        return 1 if best is None else best[1]

    def _kmeans(self, k: int, final: bool = False) -> KMeans:
        # The K search uses fewer restarts; the final fit uses all of them.
        n_init = self.n_init if final else max(1, min(self.n_init, 3))
        return KMeans(n_clusters=k, n_init=n_init, random_state=self.random_state)

    def predict(self, X) -> np.ndarray:
        """Segment (label) of each customer in ``X``: the nearest centre."""
        check_is_fitted(self)
        Z = self.encoder_.transform(X)[:, self.columns_] * self.column_scale_
        validate_data(self, X, skip_check_array=True, reset=False)
        if self.mixture_ is not None:
            raw = self.mixture_.log_posterior((Z > 0).astype(float)).argmax(axis=1)
            return self._remap[raw]
        return self._remap[self.kmeans_.predict(Z)]


def _centres(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean of each label's rows."""
    k = labels.max() + 1
    sums = np.zeros((k, Z.shape[1]))
    np.add.at(sums, labels, Z)
    return sums / np.maximum(np.bincount(labels, minlength=k), 1)[:, None]


def _cramers_v(onehot: np.ndarray, labels: np.ndarray) -> float:
    """Cramér's V between a one-hot coded category and cluster labels (0 = unrelated)."""
    cat = onehot.argmax(axis=1)
    table = np.zeros((onehot.shape[1], labels.max() + 1))
    np.add.at(table, (cat, labels), 1.0)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, c = table.shape
    if min(r, c) < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(axis=1, keepdims=True) @ table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (n * (min(r, c) - 1))))

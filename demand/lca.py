"""Latent class analysis: a mixture of independent categorical distributions, by EM.

Used by :class:`~demand.segmentation.CustomerSegmenter` when customers have only
categorical features. k-means on one-hot columns has no good way to choose K there:
every distinct combination of categories is a perfectly tight cluster, so the
silhouette keeps rising with K. The mixture instead asks how many classes explain the
co-occurrence of categories, with K chosen by BIC; a noisy category that is
independent of the rest is simply spread evenly within every class.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp
from sklearn.cluster import KMeans

_SMOOTH = 0.5     # Dirichlet pseudo-count per level, so an unseen level keeps some mass


@dataclass
class CategoricalMixture:
    """Fitted classes: ``weights`` (K,), ``log_theta`` (K, levels) per one-hot column."""

    weights: np.ndarray
    log_theta: np.ndarray
    log_likelihood: float

    def log_posterior(self, onehot: np.ndarray) -> np.ndarray:
        """log P(class | categories) for each row of a 0/1 one-hot matrix."""
        joint = np.log(self.weights)[None, :] + onehot @ self.log_theta.T
        return joint - logsumexp(joint, axis=1, keepdims=True)

    def bic(self, n: int, blocks: list[slice]) -> float:
        k = len(self.weights)
        free = (k - 1) + k * sum(b.stop - b.start - 1 for b in blocks)
        return -2.0 * self.log_likelihood + free * np.log(n)


def _m_step(onehot: np.ndarray, resp: np.ndarray, blocks: list[slice],
            w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    weights = np.maximum((resp * w[:, None]).sum(axis=0) / w.sum(), 1e-12)
    counts = (resp * w[:, None]).T @ onehot + _SMOOTH
    log_theta = np.empty_like(counts)
    for b in blocks:
        log_theta[:, b] = np.log(counts[:, b] / counts[:, b].sum(axis=1, keepdims=True))
    return weights / weights.sum(), log_theta


def fit_mixture(onehot: np.ndarray, blocks: list[slice], k: int, *, random_state: int = 0,
                n_init: int = 3, max_iter: int = 100, tol: float = 1e-7) -> CategoricalMixture:
    """EM from ``n_init`` k-means starts; the run with the highest likelihood wins.

    Customers with the same categories are one weighted row: a store's customers have
    a few hundred distinct combinations at most, so EM costs the same for any number.
    """
    onehot, w = np.unique(onehot, axis=0, return_counts=True)
    w = w.astype(float)
    n = onehot.shape[0]
    k_eff = min(k, n)
    best: CategoricalMixture | None = None
    for start in range(n_init if k > 1 else 1):
        if k == 1:
            resp = np.ones((n, 1))
        else:
            labels = KMeans(n_clusters=k_eff, n_init=1, random_state=random_state + start).fit(
                onehot, sample_weight=w).labels_
            resp = np.full((n, k), 0.2 / (k - 1))
            resp[np.arange(n), labels] = 0.8
        prev = -np.inf
        for _ in range(max_iter):
            weights, log_theta = _m_step(onehot, resp, blocks, w)
            joint = np.log(weights)[None, :] + onehot @ log_theta.T
            norm = logsumexp(joint, axis=1)
            resp = np.exp(joint - norm[:, None])
            ll = float((w * norm).sum())
            if ll - prev < tol * abs(ll):
                break
            prev = ll
        model = CategoricalMixture(weights, log_theta, ll)
        if best is None or model.log_likelihood > best.log_likelihood:
            best = model
    return best

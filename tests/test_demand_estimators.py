"""The scikit-learn estimators of demand/: their own checks, plus what they estimate."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.special import expit
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from demand.bundles import basket_evidence, mine_bundles
from demand.features import CustomerFeatureEncoder
from demand.segmentation import CustomerSegmenter
from demand.wtp import PriceLogit, estimate_wtp


@parametrize_with_checks([PriceLogit(), CustomerFeatureEncoder(), CustomerSegmenter(n_init=2, k_max=4)])
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


@pytest.mark.parametrize("estimator", [PriceLogit(), CustomerFeatureEncoder(), CustomerSegmenter(n_init=2, k_max=4)],
                         ids=lambda e: type(e).__name__)
def test_parameters_are_validated_by_their_constraints(estimator) -> None:
    # scikit-learn's own check (not among the public ones): every parameter has a
    # constraint, and a bad type or value fails in fit with sklearn's one-line message.
    check_param_validation(type(estimator).__name__, estimator)


def test_price_logit_recovers_wtp_and_sensitivity() -> None:
    rng = np.random.default_rng(3)
    n, true_w, beta = 40_000, np.array([12.0, 20.0]), 0.6
    offer = rng.integers(0, 2, n)
    price = true_w[offer] * rng.uniform(0.6, 1.4, n)
    y = (rng.random(n) < expit(beta * (true_w[offer] - price))).astype(int)
    X = np.column_stack([price, offer == 0, offer == 1]).astype(float)
    m = PriceLogit(price_column=0, fit_intercept=False).fit(X, y)
    assert m.price_sensitivity_ == pytest.approx(beta, rel=0.05)
    np.testing.assert_allclose(m.wtp()[1:], true_w, rtol=0.01)
    # The standard errors are honest: the truth is within 4 of them.
    se_beta = np.sqrt(m.covariance_[0, 0])
    assert abs(m.price_sensitivity_ - beta) < 4 * se_beta


def test_price_logit_sample_weights_equal_repeated_rows() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (rng.random(200) < expit(X[:, 0] - X[:, 1])).astype(int)
    w = rng.integers(1, 4, 200)
    a = PriceLogit().fit(X, y, sample_weight=w)
    b = PriceLogit().fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6)


def test_encoder_scales_numbers_and_one_hots_categories() -> None:
    X = pd.DataFrame({"age": [20.0, 40.0, np.nan, 60.0], "region": ["n", "s", "n", None]})
    enc = CustomerFeatureEncoder(categorical_weight=1.0).fit(X)
    Z = enc.transform(X)
    assert enc.numeric_columns_ == [0] and enc.categorical_columns_ == [1]
    assert Z[:, 0].mean() == pytest.approx(0.0) and Z[:, 0].std() == pytest.approx(1.0)
    assert Z[2, 0] == Z[1, 0]                            # blank age -> median (40)
    assert Z[:, 1:].sum(axis=1).tolist() == [1.0] * 4    # exactly one level per row
    unseen = enc.transform(pd.DataFrame({"age": [30.0], "region": ["west"]}))
    assert unseen[0, 1:].sum() == 1.0                   # an unseen level falls in "other"


def _blobs(rng: np.random.Generator, n: int = 900) -> tuple[pd.DataFrame, np.ndarray]:
    truth = rng.integers(0, 3, n)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    X = centres[truth] + rng.normal(0, 1, (n, 2))
    return pd.DataFrame({"a": X[:, 0], "b": X[:, 1],
                         "noise": rng.choice(["x", "y", "z", "w"], n),            # unrelated
                         "region": np.array(["r0", "r1", "r2"])[truth]}), truth


def test_segmenter_chooses_k_and_ignores_an_unrelated_category() -> None:
    X, truth = _blobs(np.random.default_rng(1))
    m = CustomerSegmenter(random_state=0).fit(X)
    assert m.criterion_ == "silhouette" and m.n_segments_ == 3
    assert max(m.scores_, key=m.scores_.get) == 3
    # Each found segment is one true segment.
    ct = pd.crosstab(m.labels_, truth)
    assert (ct.max(axis=1).sum() / len(truth)) > 0.99
    assoc = dict(zip(["noise", "region"], m.category_association_))
    assert assoc["noise"] < 0.3 <= assoc["region"]
    np.testing.assert_array_equal(m.predict(X), m.labels_)
    # Segment 0 is the largest.
    assert np.bincount(m.labels_).argmax() == 0


def test_segmenter_with_given_k() -> None:
    X, _ = _blobs(np.random.default_rng(2))
    m = CustomerSegmenter(n_segments=2).fit(X)
    assert m.criterion_ == "given" and m.n_segments_ == 2 and m.scores_ == {}


def test_segmenter_rejects_bad_parameters() -> None:
    X, _ = _blobs(np.random.default_rng(2), n=50)
    with pytest.raises(ValueError, match=r"^The 'n_segments' parameter of CustomerSegmenter must be "
                                         r"an int in the range \[1, inf\) or None\. Got 0 instead\.$"):
        CustomerSegmenter(n_segments=0).fit(X)
    with pytest.raises(ValueError, match="^The 'k_max' parameter of CustomerSegmenter must be"):
        CustomerSegmenter(k_max=1).fit(X)
    with pytest.raises(ValueError, match="^The 'alpha' parameter of PriceLogit must be .* Got -1 instead"):
        PriceLogit(alpha=-1).fit(X[["a", "b"]], np.arange(50) % 2)


def _exposures(rng: np.random.Generator, cells: dict[tuple[str, str], int], w: dict, beta: dict) -> pd.DataFrame:
    rows = []
    for (s, o), n in cells.items():
        price = np.round(w[s, o] * rng.uniform(0.5, 1.5, n), 2)
        y = (rng.random(n) < expit(beta[s] * (w[s, o] - price))).astype(int)
        rows.append(pd.DataFrame({"segment_id": s, "offer_id": o, "price": price, "purchased": y}))
    return pd.concat(rows, ignore_index=True)


def test_estimate_wtp_shares_slope_per_segment_and_shrinks_thin_cells() -> None:
    rng = np.random.default_rng(5)
    w = {("A", "x"): 10.0, ("A", "y"): 20.0, ("B", "x"): 14.0, ("B", "y"): 26.0}
    beta = {"A": 0.8, "B": 0.4}
    cells = {("A", "x"): 6000, ("A", "y"): 6000, ("B", "x"): 6000, ("B", "y"): 12}
    est = estimate_wtp(_exposures(rng, cells, w, beta), min_obs=30, min_events=5)
    seg = est.segments
    assert seg.loc["A", "price_sensitivity"] == pytest.approx(0.8, rel=0.1)
    assert seg.loc["B", "price_sensitivity"] == pytest.approx(0.4, rel=0.15)
    c = est.cells.set_index(["segment_id", "offer_id"])
    for key in [("A", "x"), ("A", "y"), ("B", "x")]:
        assert c.loc[key, "status"] == "estimated"
        assert c.loc[key, "wtp"] == pytest.approx(w[key], rel=0.03)
    thin = c.loc[("B", "y")]
    assert thin["status"] == "shrunk" and thin["n_obs"] == 12
    assert 0 < thin["prior_weight"] < 1


def test_estimate_wtp_pools_unseen_cells_and_drops_unbought_offers() -> None:
    rng = np.random.default_rng(6)
    w = {("A", "x"): 10.0, ("B", "x"): 10.0, ("A", "z"): 5.0}
    beta = {"A": 1.0, "B": 1.0}
    ex = _exposures(rng, {("A", "x"): 3000, ("B", "x"): 3000}, w, beta)
    never = pd.DataFrame({"segment_id": "A", "offer_id": "n", "price": rng.uniform(5, 9, 200), "purchased": 0})
    unseen = _exposures(rng, {("A", "z"): 3000}, w, beta)
    est = estimate_wtp(pd.concat([ex, never, unseen], ignore_index=True))
    assert est.dropped == ["n"]
    c = est.cells.set_index(["segment_id", "offer_id"])
    assert c.loc[("B", "z"), "status"] == "pooled" and c.loc[("B", "z"), "n_obs"] == 0
    assert c.loc[("B", "z"), "wtp"] == pytest.approx(est.pooled.loc["z", "wtp"])


def test_estimate_wtp_rejects_data_without_price_response() -> None:
    rng = np.random.default_rng(7)
    price = rng.uniform(5, 15, 2000)
    ex = pd.DataFrame({"segment_id": "A", "offer_id": "x", "price": price,
                       "purchased": (price + rng.normal(0, 1, 2000) > 10).astype(int)})
    with pytest.raises(ValueError, match="do not fall as prices rise"):
        estimate_wtp(ex)


def test_mining_finds_the_planted_pair() -> None:
    rng = np.random.default_rng(8)
    B = rng.random((4000, 5)) < 0.1
    together = rng.random(4000) < 0.08
    B[together, 0] = B[together, 3] = True
    out = mine_bundles(B, ["a", "b", "c", "d", "e"], min_support=0.02, min_lift=1.5, max_bundles=3)
    assert out.iloc[0]["products"] == ("a", "d")
    assert out.iloc[0]["bundle_id"] == "B:a+d"
    s = B[:, 0].mean(), B[:, 3].mean(), (B[:, 0] & B[:, 3]).mean()
    assert out.iloc[0]["lift"] == pytest.approx(s[2] / (s[0] * s[1]), rel=1e-5)
    assert len(out) <= 3 and (out["lift"] >= 1.5).all() and (out["support"] >= 0.02).all()
    assert mine_bundles(B, ["a", "b", "c", "d", "e"], max_bundles=0).empty


def test_basket_evidence_is_zero_under_independence_and_signed_otherwise() -> None:
    rng = np.random.default_rng(9)
    n = 20_000
    beta, wtp = 0.5, 10.0
    price = wtp - np.log(0.3 / 0.7) / beta          # each item bought with probability 0.3
    indep = rng.random((n, 2)) < 0.3
    shock = rng.random(n) < 0.15
    linked = indep.copy()
    linked[shock] = True
    cand = pd.DataFrame({"bundle_id": ["B:a+b"], "products": [("a", "b")]})

    def evidence(bought: np.ndarray) -> pd.Series:
        return basket_evidence(cand, ["a", "b"], sp.csr_matrix(bought.astype(float)),
                               np.array([[float(n)]]), np.full((1, 2), price),
                               np.full((1, 2), wtp), np.array([beta])).iloc[0]

    k0, k1 = evidence(indep), evidence(linked)
    assert k0["expected"] == pytest.approx(0.09 * n)
    assert abs(k0["wtp_uplift"]) < 0.2
    assert k1["wtp_uplift"] > 1.0
    # log-odds shift = log(adjusted lift): β δ = log L
    assert k1["wtp_uplift"] * beta == pytest.approx(np.log(k1["adjusted_lift"]))
    assert k1["observed"] == int((linked[:, 0] & linked[:, 1]).sum())


def test_segmenter_with_categories_only_chooses_k_by_bic() -> None:
    # k-means + silhouette would split every combination of categories; the latent
    # class model finds the 3 classes behind two noisy categories and ignores a third.
    rng = np.random.default_rng(4)
    n = 1500
    truth = rng.integers(0, 3, n)

    def noisy(prefix: str, keep: float) -> np.ndarray:
        levels = np.array([f"{prefix}{i}" for i in range(3)])
        return np.where(rng.random(n) < keep, levels[truth], rng.choice(levels, n))

    X = pd.DataFrame({"region": noisy("r", 0.9), "tier": noisy("t", 0.9),
                      "channel": rng.choice(["web", "app", "store"], n)})
    m = CustomerSegmenter().fit(X)
    assert m.criterion_ == "bic" and m.n_segments_ == 3
    assert min(m.scores_, key=m.scores_.get) == 3
    ct = pd.crosstab(m.labels_, truth)
    assert ct.max(axis=1).sum() / n > 0.9
    np.testing.assert_array_equal(m.predict(X), m.labels_)

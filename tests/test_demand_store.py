"""Store-scale code paths on small data: sufficient statistics, held-out choice of K,
bootstrap WTP intervals, bundle mining with a basket floor, the status-quo comparison.

The Ta-Feng test runs on a subset when the data is present (see examples/ta_feng/README.md).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from demand.bundles import mine_bundles
from demand.data import load_data
from demand.exposures import implied_exposures, visits
from demand.fit import FitOptions, fit_scenario
from demand.report import calibration, scores
from demand.simulate import simulate_data
from demand.stats import StatsBuilder
from demand.status_quo import compare, status_quo_plan
from formulations.evaluate import evaluate_plan
from formulations.loading import load_scenario

from test_demand_fit import match_segments

ROOT = Path(__file__).resolve().parents[1]


def test_statistics_equal_the_expanded_exposures(tmp_path: Path) -> None:
    # The per-customer statistics must hold exactly what the visits x products table held.
    simulate_data(tmp_path, kind="transactions", n_customers=300, n_segments=2, n_products=4, seed=3)
    data = load_data(tmp_path)
    tx = data.transactions
    vis = visits(tx)
    products = ["P1", "P2", "P3", "P4"]
    ids = pd.Index(pd.unique(tx["customer_id"]))
    b = StatsBuilder.from_transactions(tx, vis, products, ids)
    half = (vis["date"] < vis["date"].min() + pd.Timedelta(days=20)).to_numpy()
    st = b.period(half)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, len(ids))
    rows = st.rows(labels, ["A", "B", "C"])
    exp = implied_exposures(tx, vis, products)
    exp = exp[half[exp["visit"].to_numpy()]]
    exp["segment_id"] = np.array(["A", "B", "C"])[labels[ids.get_indexer(exp["customer_id"])]]
    exp["price"] = exp["price"].round(2)
    want = exp.groupby(["segment_id", "offer_id", "price"])["purchased"].agg(["size", "sum"])
    got = rows.set_index(["segment_id", "offer_id", "price"])[["n", "k"]].sort_index()
    assert len(got) == len(want)
    np.testing.assert_array_equal(got["n"].to_numpy(), want["size"].to_numpy())
    np.testing.assert_array_equal(got["k"].to_numpy(), want["sum"].to_numpy())
    assert st.occasions.sum() == half.sum()


def test_scores_from_counts_equal_row_level_scores() -> None:
    rng = np.random.default_rng(1)
    n = rng.integers(1, 40, 60).astype(float)
    p = np.round(rng.uniform(0.01, 0.6, 60), 2)           # ties across cells, as in real data
    k = rng.binomial(n.astype(int), p).astype(float)
    y = np.concatenate([np.r_[np.ones(int(kk)), np.zeros(int(nn - kk))] for nn, kk in zip(n, k)])
    q = np.repeat(p, n.astype(int))
    got = scores(n, k, p)
    assert got["log_loss"] == pytest.approx(log_loss(y, q), rel=1e-9)
    assert got["auc"] == pytest.approx(roc_auc_score(y, q), rel=1e-9)
    cal = calibration(n, k, p)
    assert sum(c["n"] for c in cal) == n.sum()
    assert all(a["predicted"] <= b["predicted"] for a, b in zip(cal, cal[1:]))


def test_mining_uses_a_basket_count_floor_that_scales_with_the_data() -> None:
    rng = np.random.default_rng(2)
    n = 60_000
    B = rng.random((n, 30)) < 0.01
    pair = rng.random(n) < 0.002                          # 120 baskets, support 0.2 %
    B[pair, 3] = B[pair, 7] = True
    out = mine_bundles(B, [f"p{i}" for i in range(30)], min_count=30, min_lift=1.2, max_bundles=50)
    assert "B:p3+p7" in set(out["bundle_id"])
    assert (out["count"] >= 30).all() and (out["lift"] >= 1.2).all()
    # A 1 % support floor would have found nothing.
    assert mine_bundles(B, [f"p{i}" for i in range(30)], min_support=0.01, min_lift=1.2).empty


@pytest.fixture(scope="module")
def exposure_fits(tmp_path_factory):
    """Four simulated price-test logs (3 segments, 8 products) fitted with the bootstrap."""
    out = []
    for seed in range(4):
        d = tmp_path_factory.mktemp(f"cov{seed}")
        _, truth = simulate_data(d / "data", n_customers=1200, n_segments=3, n_products=8, seed=100 + seed)
        res = fit_scenario(d / "data", d / "scenario", FitOptions(segments=3, bootstrap=200, seed=seed))
        out.append((d, truth, res))
    return out


def test_bootstrap_intervals_cover_the_true_wtp(exposure_fits) -> None:
    # 4 logs x 3 segments x 8 products = 96 cells. If the 90 % intervals were exact, the
    # covered share would be Binomial(96, 0.9) / 96, standard deviation 0.031; we accept
    # 3 standard deviations (cells of one segment share its β, so the share varies a bit
    # more than for independent cells), i.e. 0.81 .. 0.99. The data follow the model
    # exactly (a price-test log), so the intervals answer for sampling error alone.
    hits, widths = [], []
    for d, truth, res in exposure_fits:
        cs = res.customer_segments.set_index("customer_id")["segment_id"]
        mapping = match_segments(cs, truth.customer_segment)
        w = pd.read_csv(d / "scenario" / "wtp.csv", dtype={"segment_id": str, "bundle_id": str})
        w = w.set_index(["segment_id", "bundle_id"])
        assert (w["wtp_sd"] > 0).all()
        for (s, p), r in w.iterrows():
            true = truth.wtp[mapping[s]][p]
            hits.append(abs(r["wtp"] - true) <= 1.6449 * r["wtp_sd"])
            widths.append(r["wtp_sd"] / true)
    assert len(hits) == 96
    cover = float(np.mean(hits))
    assert 0.81 <= cover <= 0.99, cover
    assert 0.001 < np.median(widths) < 0.2          # intervals are informative, not vacuous


@pytest.fixture(scope="module")
def transactions_fit(tmp_path_factory):
    d = tmp_path_factory.mktemp("store")
    _, truth = simulate_data(d / "data", kind="transactions", n_customers=1500, n_segments=3, n_products=6,
                             complements=1, seed=100)
    res = fit_scenario(d / "data", d / "scenario",
                       FitOptions(segments=3, features="customers", bootstrap=50, max_bundles=30, min_lift=1.0))
    return d, truth, res


def test_store_scale_report_keys_and_scenario_solves(transactions_fit) -> None:
    d, truth, res = transactions_fit
    text = (d / "scenario" / "fit_report.json").read_text()
    rep = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in fit_report.json is not JSON"))
    ks = rep["k_search"]
    assert {c["k"] for c in ks} == {1, 3} and rep["chosen_k"] == 3
    for c in ks:
        assert set(c) >= {"k", "features", "validation", "test", "wtp_spread"}
        assert set(c["validation"]) == {"log_loss", "auc"} and set(c["test"]) == {"log_loss", "auc"}
    k1 = next(c for c in ks if c["k"] == 1)
    k3 = next(c for c in ks if c["k"] == 3)
    assert k1["wtp_spread"] == 0 and k3["wtp_spread"] > 0.5
    assert k3["test"]["log_loss"] < k1["test"]["log_loss"]
    ho = rep["holdout"]
    assert ho["model"]["log_loss"] < min(b["log_loss"] for b in ho["baselines"].values())
    assert ho["model"]["log_loss"] < ho["pooled_k1"]["log_loss"]
    cal = ho["calibration"]
    assert [c["decile"] for c in cal] == list(range(1, 11)) and sum(c["n"] for c in cal) == ho["n_exposures"]
    # A well-specified model is calibrated on held-out data, decile by decile.
    for c in cal:
        assert abs(c["predicted"] - c["observed"]) < 0.05 + 0.2 * c["observed"], c
    seg = rep["segments"][0]
    assert any(k.startswith("region=") for k in seg["profile"]) and "visits" in seg["profile"]
    assert rep["bundles"]
    for b in rep["bundles"]:
        assert set(b) >= {"products", "support", "lift", "complementarity", "holdout_evidence"}
        assert b["baskets"] >= 30
    planted = "B:" + "+".join(truth.complements[0])
    assert planted in {b["bundle_id"] for b in rep["bundles"]}
    # The written scenario loads as it is, wtp_sd included, and solves.
    s = load_scenario(d / "scenario")
    assert s.wtp["wtp_sd"].notna().all() and (s.wtp["wtp_sd"] > 0).all()
    from solver.api import solve
    # The products and the planted pair only: a small MNL solves to optimality quickly.
    s = s.with_constraints(exclude=[b for b in s.bundles.index if b.startswith("B:") and b != planted])
    result = solve(s, time_limit=60)
    # an MNL model that relaxes segments past e^20 proves a plan optimal only if its exact
    # value meets the bound (formulations.mnl, solver.api.RELAXED_MODEL)
    relaxed = any("shares are relaxed" in n for n in result.summary["notes"])
    assert result.status == "optimal" or (relaxed and result.status == "feasible"), result.status
    cmp = compare(s, result.plan, draws=30)
    assert "not a measured uplift" in cmp["label"]
    # The status quo (every product at list price, discount 0 is on the ladder) is a
    # feasible plan, so an optimal plan earns at least as much under the point estimate.
    assert cmp["uplift"]["profit"] >= -1e-6 * abs(cmp["status_quo"]["profit"])
    lo, hi = cmp["uplift"]["interval"]
    assert lo <= hi
    same = compare(s, status_quo_plan(s), draws=5)
    assert same["uplift"]["profit"] == pytest.approx(0.0, abs=1e-9) and same["uplift"]["interval"] == [0.0, 0.0]
    assert cmp["status_quo"]["profit"] == pytest.approx(evaluate_plan(s, status_quo_plan(s)).profit)


def test_segments_that_do_not_help_are_not_kept(tmp_path: Path) -> None:
    # One true segment: features still cluster into K > 1, but held-out purchases say
    # the extra segments predict nothing, so the fit keeps K = 1 (or says why not).
    simulate_data(tmp_path / "data", n_customers=800, n_segments=1, n_products=4, seed=9)
    res = fit_scenario(tmp_path / "data", tmp_path / "scenario", FitOptions(k_max=4, bootstrap=0))
    rep = res.report
    assert rep["chosen_k"] == 1 and len(res.scenario.segments) == 1
    assert [c["k"] for c in rep["k_search"]] == [1, 2, 3, 4]


TA_FENG = next((Path(p) for p in (os.environ.get("TA_FENG_ZIP"), ROOT.parent / "shared" / "data" / "ta_feng.csv.zip")
                if p and Path(p).is_file()), None)


@pytest.mark.skipif(TA_FENG is None, reason="Ta-Feng data not found: set TA_FENG_ZIP or put ta_feng.csv.zip in "
                    "../shared/data/ (how to get it: examples/ta_feng/README.md)")
def test_ta_feng_store_subset(tmp_path: Path) -> None:
    # Every line of a 10 % sample of customers: real baskets, many subclasses.
    sys.path.insert(0, str(ROOT / "examples" / "ta_feng"))
    from walkthrough import read_ta_feng, write_store_dir

    df = read_ta_feng(TA_FENG)
    keep = df["CUSTOMER_ID"].drop_duplicates().sample(frac=0.1, random_state=0)
    write_store_dir(df[df["CUSTOMER_ID"].isin(keep)], tmp_path / "data")
    res = fit_scenario(tmp_path / "data", tmp_path / "scenario",
                       FitOptions(holdout_from="2001-02-01", max_products=60, max_bundles=100, k_max=3,
                                  bootstrap=50))
    rep = res.report
    assert rep["split"]["validation_from"] == "2001-01-18" and rep["split"]["holdout_from"] == "2001-02-01"
    assert rep["k_search"][0]["k"] == 1 and rep["chosen_k"] >= 1
    ho = rep["holdout"]
    assert ho["model"]["log_loss"] < ho["baselines"]["segment_offer_rate"]["log_loss"]
    assert ho["model"]["auc"] > ho["baselines"]["segment_offer_rate"]["auc"]
    assert len(rep["bundles"]) > 0
    s = load_scenario(tmp_path / "scenario")
    assert len(s.products) == 60 and (s.wtp["wtp_sd"] > 0).all()

"""End to end: simulated data with a known truth -> ``bundleopt fit`` -> a scenario that loads.

The thresholds are the issue's: customers in the right segment >= 95 %, WTP within
3 % (median) / 10 % (worst) relative error, price sensitivity within 15 %, segment
shares within 3 points.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from bundleopt.cli.fit import fit as fit_cmd
from bundleopt.cli.fit import simulate_data as simulate_cmd
from demand.fit import FitOptions, fit_scenario
from demand.simulate import simulate_data
from formulations.errors import DataError, InputError, ParameterError

FAST = FitOptions(k_max=5)


def match_segments(found: pd.Series, truth: pd.Series) -> dict[str, str]:
    """Found segment -> the true segment most of its customers belong to (must be 1:1)."""
    j = pd.concat([found.rename("f"), truth.rename("t")], axis=1, join="inner")
    mapping = j.groupby("f")["t"].agg(lambda x: x.value_counts().index[0]).to_dict()
    assert len(set(mapping.values())) == len(mapping), f"two segments map to one truth: {mapping}"
    return mapping


def check_recovery(out: Path, truth, *, wtp_median: float = 0.03, wtp_worst: float = 0.10,
                   beta_tol: float = 0.15, share_tol: float | None = 0.03) -> dict:
    cs = pd.read_csv(out / "customer_segments.csv", dtype=str).set_index("customer_id")["segment_id"]
    mapping = match_segments(cs, truth.customer_segment)
    assert len(mapping) == len(truth.shares)
    accuracy = float((cs.map(mapping) == truth.customer_segment.reindex(cs.index)).mean())
    seg = pd.read_csv(out / "segments.csv", dtype={"segment_id": str}).set_index("segment_id")
    wtp = pd.read_csv(out / "wtp.csv", dtype={"segment_id": str, "bundle_id": str})
    wtp = wtp.set_index(["segment_id", "bundle_id"])["wtp"]
    share = seg["size"] / seg["size"].sum()
    rel, beta_err, share_err = [], [], []
    for f, t in mapping.items():
        beta_err.append(abs(seg.loc[f, "price_sensitivity"] / truth.price_sensitivity[t] - 1))
        share_err.append(abs(share[f] - truth.shares[t]))
        for p, w in truth.wtp[t].items():
            rel.append(abs(wtp[(f, p)] / w - 1))
    got = {"accuracy": accuracy, "wtp_median": float(np.median(rel)), "wtp_worst": float(np.max(rel)),
           "beta": float(max(beta_err)), "share": float(max(share_err))}
    assert got["accuracy"] >= 0.95, got
    assert got["wtp_median"] <= wtp_median and got["wtp_worst"] <= wtp_worst, got
    assert got["beta"] <= beta_tol, got
    if share_tol is not None:
        assert got["share"] <= share_tol, got
    return got


@pytest.fixture(scope="module")
def exposures_fit(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim_exp")
    _, truth = simulate_data(d / "data", n_customers=1500, n_segments=3, n_products=4, seed=11)
    result = fit_scenario(d / "data", d / "scenario", FAST)
    return d, truth, result


def test_fit_recovers_segments_wtp_sensitivity_and_shares(exposures_fit) -> None:
    d, truth, result = exposures_fit
    check_recovery(d / "scenario", truth)
    assert result.report["segmentation"]["criterion"].startswith("validation log-likelihood")
    assert result.report["segmentation"]["k"] == result.report["chosen_k"] == 3


@pytest.mark.parametrize("n_segments, n_products, seed", [(2, 3, 31), (4, 5, 22), (5, 4, 23)])
def test_fit_recovery_across_segment_counts(tmp_path: Path, n_segments: int, n_products: int, seed: int) -> None:
    _, truth = simulate_data(tmp_path / "data", n_customers=1200, n_segments=n_segments,
                             n_products=n_products, seed=seed)
    result = fit_scenario(tmp_path / "data", tmp_path / "scenario", FitOptions(k_max=6))
    assert result.report["segmentation"]["k"] == n_segments
    check_recovery(tmp_path / "scenario", truth)


def test_written_scenario_loads_and_is_logit(exposures_fit) -> None:
    loading = pytest.importorskip("formulations.loading")
    d, truth, result = exposures_fit
    s = loading.load_scenario(d / "scenario")
    assert s.choice_model == "mnl"
    assert set(s.segments.index) == set(result.scenario.segments.index)
    assert (s.segments["price_sensitivity"] > 0).all()
    assert sorted(s.bundles.index) == sorted(truth.wtp["T1"])      # one offer per product
    offer = s.offer_wtp()
    assert len(offer) == len(s.segments) * len(s.bundles)
    for name in ("customer_segments.csv", "fit_report.json"):
        assert (d / "scenario" / name).is_file()


def test_report_shows_held_out_quality_and_evidence(exposures_fit) -> None:
    d, _, _ = exposures_fit
    rep = json.loads((d / "scenario" / "fit_report.json").read_text())
    assert rep["split"]["method"] == "date" and rep["split"]["holdout_from"] > rep["split"]["train_to"]
    ho = rep["holdout"]
    assert ho["n_exposures"] > 0
    for base in ho["baselines"].values():
        assert ho["model"]["log_loss"] < base["log_loss"]
        assert ho["model"]["auc"] > base["auc"]
    assert all(e["n_obs"] > 0 and e["status"] == "estimated" for e in rep["estimates"])
    assert rep["pooled"]["cells_shrunk"] == 0
    assert sum(s["customers"] for s in rep["segments"]) == 1500


def test_fit_from_transactions_alone_checks_the_visit_assumption(tmp_path: Path) -> None:
    # The simulator buys at each visit with σ(β(w − day's price)) and records purchases
    # only (plus one unmodelled line per visit, as every real receipt has one).
    _, truth = simulate_data(tmp_path / "data", kind="transactions", n_customers=1200, n_segments=2,
                             n_products=4, seed=4)
    result = fit_scenario(tmp_path / "data", tmp_path / "scenario", FitOptions(k_max=4, max_bundles=0))
    check_recovery(tmp_path / "scenario", truth)
    assert "every visit" in result.report["data"]["exposure_assumption"]
    assert sorted(result.report["data"]["products_modelled"]) == sorted(truth.wtp["T1"])  # not OTHER


def test_invisible_visits_bias_transactions_only_wtp_upward(tmp_path: Path) -> None:
    # The documented limitation: when a visit that bought none of the modelled products
    # leaves no trace, the implied exposures over-represent buyers and WTP comes out high.
    _, truth = simulate_data(tmp_path / "data", kind="transactions", n_customers=1200, n_segments=2,
                             n_products=4, other_line=False, seed=5)
    fit_scenario(tmp_path / "data", tmp_path / "scenario", FitOptions(k_max=4, max_bundles=0))
    cs = pd.read_csv(tmp_path / "scenario" / "customer_segments.csv", dtype=str)
    mapping = match_segments(cs.set_index("customer_id")["segment_id"], truth.customer_segment)
    wtp = pd.read_csv(tmp_path / "scenario" / "wtp.csv", dtype=str)
    wtp["wtp"] = wtp["wtp"].astype(float)
    ratio = [row.wtp / truth.wtp[mapping[row.segment_id]][row.bundle_id] for row in wtp.itertuples()]
    assert np.mean(ratio) > 1.0


def test_complementary_pair_gets_positive_complementarity(tmp_path: Path) -> None:
    _, truth = simulate_data(tmp_path / "data", kind="transactions", n_customers=1500, n_segments=2,
                             n_products=4, complements=1, complement_strength=2.0, seed=5)
    result = fit_scenario(tmp_path / "data", tmp_path / "scenario",
                          FitOptions(k_max=4, min_lift=1.0, min_support=0.01, max_bundles=6))
    b = result.bundles.set_index("bundle_id")
    planted = "B:" + "+".join(truth.complements[0])
    assert planted in b.index
    assert b.loc[planted, "adjusted_lift"] > 1.02
    assert b.loc[planted, "complementarity"] > 0
    others = b.drop(index=planted)
    pairs = others[others["size"] == 2]
    assert (pairs["complementarity"] < b.loc[planted, "complementarity"]).all()
    # The bundle's WTP is its components' WTP plus the uplift δ = κ × list price, per segment.
    s = result.scenario
    w = s.wtp.set_index(["segment_id", "bundle_id"])["wtp"]
    ref = s.products["list_price"].reindex(list(truth.complements[0])).sum()
    assert s.bundles.at[planted, "complementarity"] * ref == pytest.approx(b.loc[planted, "wtp_uplift"], rel=1e-6)
    for seg in s.segments.index:
        parts = sum(w[(seg, p)] for p in truth.complements[0])
        assert w[(seg, planted)] == pytest.approx(parts + b.loc[planted, "wtp_uplift"], rel=1e-4, abs=2e-4)
    assert len(result.bundles) <= 6


def test_given_segments_and_data_without_dates(tmp_path: Path) -> None:
    files, truth = simulate_data(None, n_customers=600, n_segments=2, n_products=3, seed=3)
    data = tmp_path / "data"
    data.mkdir()
    cust = files["customers"].assign(segment_id=truth.customer_segment.to_numpy())
    cust.to_csv(data / "customers.csv", index=False)
    files["exposures"].drop(columns="date").to_csv(data / "exposures.csv", index=False)
    result = fit_scenario(data, tmp_path / "scenario")
    rep = result.report
    assert rep["segmentation"]["method"] == "given"
    assert rep["split"]["method"].startswith("random")
    assert "one shopping occasion per customer" in rep["size_method"]
    sizes = result.scenario.segments["size"]
    # Without dates, each customer is one occasion: sizes are (training) customer counts.
    counts = truth.customer_segment.value_counts()
    for seg, n in counts.items():
        assert sizes[seg] <= n and sizes[seg] >= 0.9 * n
    assert set(result.customer_segments["segment_id"]) == set(counts.index)


def test_given_segments_need_the_column(tmp_path: Path) -> None:
    simulate_data(tmp_path / "data", n_customers=200, n_segments=2, n_products=2, seed=1)
    with pytest.raises(DataError, match="segment_id"):
        fit_scenario(tmp_path / "data", None, FitOptions(segments="given"))
    # Called from Python (or the service), an option is named by its field, not by a flag.
    with pytest.raises(ParameterError, match=r"^The 'segments' option must be .*\. Got 0 instead\.$"):
        fit_scenario(tmp_path / "data", None, FitOptions(segments=0))


@pytest.mark.parametrize("field, value, words", [
    ("features", "nope", "one of 'auto', 'behaviour', 'both', 'customers', 'latent'"),
    ("k_max", 1, "an integer ≥ 2"), ("k_max", True, "an integer ≥ 2"),
    ("holdout_fraction", 1.0, "a number ≥ 0 and < 1"), ("min_support", 1.5, "a number ≥ 0 and ≤ 1"),
    ("horizon_days", float("nan"), "a number > 0"), ("holdout_from", "not a date", "a date (YYYY-MM-DD)"),
])
def test_a_bad_option_is_one_line_naming_its_field(field: str, value: object, words: str) -> None:
    with pytest.raises(ParameterError) as info:
        FitOptions(**{field: value}).check()
    assert str(info.value) == f"The '{field}' option must be {words}. Got {value!r} instead."
    assert "--" not in str(info.value)


def test_cli_takes_defaults_from_the_library_and_names_flags_in_errors(tmp_path: Path) -> None:
    import dataclasses
    import inspect

    from demand.simulate import simulate_data as simulate_fn

    params = {p.name: p for p in fit_cmd.params}
    for f in dataclasses.fields(FitOptions):
        if f.name in params:
            assert params[f.name].default == f.default, f.name
    assert {"segments", "k_max", "bootstrap", "holdout_from", "seed"} <= set(params)
    sim = inspect.signature(simulate_fn).parameters
    for p in simulate_cmd.params:
        if p.name != "out_dir":
            assert p.default == sim[p.name].default, p.name
    runner = CliRunner()
    r = runner.invoke(fit_cmd, [str(tmp_path), "--out", str(tmp_path / "s"), "--k-max", "1"])
    assert isinstance(r.exception, ParameterError)
    assert str(r.exception) == "--k-max must be an integer ≥ 2. Got 1 instead."
    r = runner.invoke(fit_cmd, [str(tmp_path), "--out", str(tmp_path / "s"), "--segments", "x"])
    assert str(r.exception).startswith("--segments must be one of 'auto', 'given' or an integer ≥ 1. Got 'x'")
    r = runner.invoke(simulate_cmd, ["--out", str(tmp_path / "d"), "--customers", "3"])
    assert str(r.exception) == "--customers must be an integer ≥ 10. Got 3 instead."
    assert not (tmp_path / "d").exists()


def test_fit_refuses_to_overwrite_a_foreign_directory(tmp_path: Path) -> None:
    simulate_data(tmp_path / "data", n_customers=300, n_segments=2, n_products=2, seed=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="refusing to overwrite"):
        fit_scenario(tmp_path / "data", out, FitOptions(segments=2))
    assert (out / "notes.txt").read_text() == "mine"


def test_cli_simulate_then_fit(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(simulate_cmd, ["--out", str(tmp_path / "d"), "--customers", "400", "--segments", "2",
                                     "--products", "3", "--seed", "2"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "d" / "truth.json").is_file()
    r = runner.invoke(fit_cmd, [str(tmp_path / "d"), "--out", str(tmp_path / "s"), "--segments", "2",
                                "--horizon-days", "14", "--bootstrap", "20"])
    assert r.exit_code == 0, r.output
    assert "held-out log-loss" in r.output
    rep = json.loads((tmp_path / "s" / "fit_report.json").read_text())
    assert rep["horizon_days"] == 14 and rep["segmentation"]["criterion"] == "given"
    assert rep["bootstrap"]["replicates"] == 20 and rep["chosen_k"] == 2
    wtp = pd.read_csv(tmp_path / "s" / "wtp.csv")
    assert (wtp["wtp_sd"] > 0).all()
    # Refitting into the same directory replaces it.
    r = runner.invoke(fit_cmd, [str(tmp_path / "d"), "--out", str(tmp_path / "s"), "--segments", "2", "--quiet",
                                "--bootstrap", "0"])
    assert r.exit_code == 0, r.output
    assert "wtp_sd" not in pd.read_csv(tmp_path / "s" / "wtp.csv").columns
    # A missing DATA_DIR is refused while the command line is read, before any work.
    r = runner.invoke(fit_cmd, [str(tmp_path / "nowhere"), "--out", str(tmp_path / "s2")])
    assert r.exit_code == 2 and "nowhere is not a folder" in r.output
    assert not (tmp_path / "s2").exists()


def test_segments_from_purchases_alone_when_customers_have_no_features(tmp_path: Path) -> None:
    # No feature columns: a latent-class logit on the price-test log finds the segments.
    files, truth = simulate_data(None, n_customers=600, n_segments=2, n_products=4, visits_per_week=3, seed=2)
    data = tmp_path / "data"
    data.mkdir()
    files["customers"][["customer_id"]].to_csv(data / "customers.csv", index=False)
    files["exposures"].to_csv(data / "exposures.csv", index=False)
    files["products"].to_csv(data / "products.csv", index=False)
    result = fit_scenario(data, tmp_path / "scenario", FitOptions(k_max=3))
    seg = result.report["segmentation"]
    assert seg["method"].startswith("latent-class") and seg["criterion"] == "bic" and seg["k"] == 2
    assert min(seg["bic"], key=seg["bic"].get) == "2"
    check_recovery(tmp_path / "scenario", truth)


def test_messy_data_still_fits(tmp_path: Path) -> None:
    files, truth = simulate_data(None, n_customers=900, n_segments=3, n_products=3, seed=21)
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    cust = files["customers"].copy().astype(object)
    cust.loc[rng.random(len(cust)) < 0.03, "region"] = ""           # missing categories
    cust = pd.concat([cust, cust.iloc[:5]], ignore_index=True)       # repeated customers
    cust.to_csv(data / "customers.csv", index=False)
    exp = files["exposures"].copy().astype(object)
    exp.loc[rng.random(len(exp)) < 0.01, "purchased"] = ""           # unreadable outcome
    exp.to_csv(data / "exposures.csv", index=False)
    files["products"].to_csv(data / "products.csv", index=False)
    result = fit_scenario(data, tmp_path / "scenario", FitOptions(segments=3))
    cleaning = result.report["data"]["cleaning"]
    assert cleaning["customers.csv: exact duplicate rows dropped"] == 5
    assert cleaning["exposures.csv: rows with a blank required field dropped"] > 0
    check_recovery(tmp_path / "scenario", truth)


def test_bundle_offers_in_exposures_are_estimated_directly(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 6000
    offers = np.array(["P1", "P2", "PACK"])
    true_w = {"P1": 10.0, "P2": 14.0, "PACK": 27.0}
    offer = offers[rng.integers(0, 3, n)]
    w = np.array([true_w[o] for o in offer])
    price = np.round(w * rng.uniform(0.6, 1.4, n), 2)
    bought = (rng.random(n) < 1 / (1 + np.exp(-0.7 * (w - price)))).astype(int)
    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({"customer_id": [f"c{i % 300}" for i in range(n)],
                  "product_id": np.where(offer == "PACK", "", offer),
                  "bundle_id": np.where(offer == "PACK", "PACK", ""),
                  "price": price, "purchased": bought}).to_csv(data / "exposures.csv", index=False)
    pd.DataFrame({"bundle_id": ["PACK", "PACK"], "product_id": ["P1", "P2"], "quantity": [1, 1]}).to_csv(
        data / "bundles.csv", index=False)
    pd.DataFrame({"product_id": ["P1", "P2"], "unit_cost": [4.0, 6.0], "list_price": [11.0, 15.0]}).to_csv(
        data / "products.csv", index=False)
    result = fit_scenario(data, tmp_path / "scenario", FitOptions(segments=1))
    s = result.scenario
    assert list(s.bundles.index) == ["P1", "P2", "PACK"]
    comp = s.components[s.components["bundle_id"] == "PACK"]
    assert sorted(comp["product_id"]) == ["P1", "P2"]
    w_fit = s.wtp.set_index("bundle_id")["wtp"]
    for o, v in true_w.items():
        assert w_fit[o] == pytest.approx(v, rel=0.03)
    assert s.segments["price_sensitivity"].iloc[0] == pytest.approx(0.7, rel=0.15)


def test_degenerate_data_gets_a_one_line_error(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    (d / "exposures.csv").write_text("customer_id,product_id,price,purchased\nc1,p1,10,1\nc2,p1,12,1\n")
    with pytest.raises(DataError, match="every exposure ends in a purchase") as info:
        fit_scenario(d, tmp_path / "out")
    assert info.value.field == "purchased"
    assert not (tmp_path / "out").exists()
    # Purchases that rise with the price: no sensitivity can be estimated.
    rows = "".join(f"c{i},p1,{p},{int(p > 10)}\n" for i, p in enumerate(range(5, 16)) for _ in range(3))
    (d / "exposures.csv").write_text("customer_id,product_id,price,purchased\n" + rows)
    with pytest.raises(DataError, match="do not fall as prices rise"):
        fit_scenario(d, tmp_path / "out", FitOptions(segments=1))

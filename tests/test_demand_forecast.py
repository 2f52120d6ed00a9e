"""Shoppers per period ahead (``bundleopt fit --periods``): the forecaster, its backtest,
the files it writes, bad input, and Ta-Feng's February (when the data is present).

The forecaster (demand/forecast.py) is checked against a plain recursion written here
and a brute-force choice of its parameters; the pipeline on simulated data whose visit
rate has a known day-of-week pattern and a known level shift.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from bundleopt.cli import main
from demand.fit import FitOptions, fit_scenario
from demand.forecast import ALPHAS, backtest, fit_ses, period_history, wape
from demand.simulate import simulate_data, write_simulation
from formulations.loading import settings_schema

ROOT = Path(__file__).resolve().parents[1]


def ses_reference(y: np.ndarray, alpha: float, l0: float) -> tuple[np.ndarray, float]:
    """One-step forecasts and the last level of SES, by its textbook recursion (one series)."""
    level, fc = l0, []
    for v in y:
        fc.append(level)
        level = alpha * v + (1 - alpha) * level
    return np.array(fc), level


def best_initial(y: np.ndarray, alpha: float) -> tuple[float, float]:
    """argmin over l0 >= 0 of the recursion's SSE (a parabola in l0: three points fix it), and the SSE."""
    sse = [float(np.sum((y - ses_reference(y, alpha, l0)[0]) ** 2)) for l0 in (0.0, 1.0, 2.0)]
    a2 = (sse[2] - 2 * sse[1] + sse[0]) / 2
    a1 = sse[1] - sse[0] - a2
    l0 = max(-a1 / (2 * a2), 0.0)
    return l0, float(np.sum((y - ses_reference(y, alpha, l0)[0]) ** 2))


# ---------------------------------------------------------------- the forecaster


def test_a_constant_level_is_recovered_exactly() -> None:
    y = np.tile([120.0, 35.0, 0.0], (9, 1))
    ses = fit_ses(y)
    np.testing.assert_allclose(ses.forecast(5), np.tile([120.0, 35.0, 0.0], (5, 1)), rtol=0, atol=1e-9)
    for alpha in (0.0, 0.3, 1.0):
        np.testing.assert_allclose(fit_ses(y, alpha).level, [120.0, 35.0, 0.0], rtol=0, atol=1e-9)


def test_ses_is_the_textbook_recursion_with_least_squares_parameters() -> None:
    rng = np.random.default_rng(5)
    y = rng.poisson(50, (14, 3)).astype(float) + np.linspace(0, 30, 14)[:, None]
    for alpha in (0.0, 0.25, 0.8, 1.0):
        ses = fit_ses(y, alpha)
        for k in range(3):
            l0, _ = best_initial(y[:, k], alpha)
            assert ses.initial[k] == pytest.approx(l0, rel=1e-7, abs=1e-7)
            assert ses.level[k] == pytest.approx(ses_reference(y[:, k], alpha, l0)[1], rel=1e-9)
    # alpha: the grid's best on the total, with each alpha's best initial level
    total = y.sum(axis=1)
    sse = np.array([best_initial(total, a)[1] for a in ALPHAS])
    assert fit_ses(y).alpha == pytest.approx(ALPHAS[int(np.argmin(sse))])


def test_segment_forecasts_add_up_to_the_total_forecast() -> None:
    rng = np.random.default_rng(8)
    y = rng.poisson([80, 40, 10], (12, 3)).astype(float)
    ses = fit_ses(y)
    assert (ses.initial > 0).all()                   # no clipping: the identity is exact
    assert ses.level.sum() == pytest.approx(fit_ses(y.sum(axis=1, keepdims=True)).level[0], rel=1e-12)


def test_wape_by_hand() -> None:
    actual = np.array([[10.0, 0.0], [20.0, 5.0]])
    forecast = np.array([[12.0, 1.0], [15.0, 5.0]])
    assert wape(actual, forecast) == pytest.approx((2 + 1 + 5 + 0) / 35)
    assert wape(np.zeros(3), np.ones(3)) is None


def test_backtest_holds_out_the_last_four_periods() -> None:
    y = np.arange(1.0, 9.0)[:, None]                  # 1 .. 8: the naive forecast of 5..8 is 4
    bt = backtest(y, ["A"])
    assert bt["fitted_on_periods"] == 4
    assert bt["segments"][0]["actual"] == [5.0, 6.0, 7.0, 8.0]
    assert bt["wape"]["naive_last_value"] == pytest.approx((1 + 2 + 3 + 4) / 26)
    f = fit_ses(y[:4]).level[0]
    assert bt["wape"]["ses"] == pytest.approx(np.abs(np.arange(5.0, 9.0) - f).sum() / 26)
    short = backtest(y[:4], ["A"])
    assert "wape" not in short and "at least 5" in short["skipped"]


def test_periods_are_whole_and_end_on_the_last_day() -> None:
    days = np.array(["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-05", "2025-01-07", "2025-01-07"],
                    dtype="datetime64[D]")
    seg = np.array([0, 1, 0, 1, 0, -1])
    y, starts = period_history(days, seg, 2, 3, np.datetime64("2025-01-07"))
    # 7 days: Jan 1 is left out (no whole period), then Jan 2-4 and Jan 5-7; segment -1 uncounted
    assert starts.tolist() == [np.datetime64("2025-01-02"), np.datetime64("2025-01-05")]
    assert y.tolist() == [[1.0, 1.0], [1.0, 1.0]]


# ---------------------------------------------------------------- fit --periods on simulated data


def seasonal_data(out: Path, seed: int = 2) -> tuple[float, pd.Series]:
    """A price-test log whose visits follow a known pattern: weekends at 50 % and 30 % of a
    weekday, and every day before day 28 at half the level after it (84 days = 12 whole weeks,
    Monday to Sunday). Returns the expected occasions per customer and week after the step,
    and the true segment of each customer."""
    files, truth = simulate_data(None, n_customers=3000, n_segments=3, n_products=4, n_days=84,
                                 visits_per_week=2.0, seed=seed)
    exp = files["exposures"]
    date = pd.to_datetime(exp["date"])
    day = (date - date.min()).dt.days.to_numpy()
    profile = np.array([1, 1, 1, 1, 1, 0.5, 0.3])          # 2025-01-06 is a Monday
    keep_p = profile[day % 7] * np.where(day < 28, 0.5, 1.0)
    # thin whole occasions (a customer's day), so a kept day keeps all its exposures
    occ = pd.factorize(pd.MultiIndex.from_arrays([exp["customer_id"], exp["date"]]))[0]
    u = np.random.default_rng(seed).random(occ.max() + 1)[occ]
    files["exposures"] = exp[u < keep_p].reset_index(drop=True)
    write_simulation(out, files, truth)
    # a day holds >= 1 visit with probability 1 - exp(-2/7) (Poisson visits, uniform days)
    return float((1 - np.exp(-2 / 7)) * profile.sum()), truth.customer_segment


@pytest.fixture(scope="module")
def season_fit(tmp_path_factory):
    d = tmp_path_factory.mktemp("season")
    per_customer, truth = seasonal_data(d / "data")
    res = CliRunner().invoke(main, ["fit", str(d / "data"), "--out", str(d / "sc"), "--periods", "6", "--k-max", "4",
                                       "--bootstrap", "0", "--quiet"])
    assert res.exit_code == 0, res.output
    return d, per_customer, res.output


def test_fit_periods_writes_consistent_files(season_fit) -> None:
    d, _, output = season_fit
    sc = d / "sc"
    segs = pd.read_csv(sc / "segments.csv", dtype={"segment_id": str})
    periods = pd.read_csv(sc / "periods.csv", dtype={"segment_id": str})
    assert list(periods.columns) == ["period", "segment_id", "size"]
    assert (periods["size"] >= 0).all() and periods["size"].notna().all()
    cells = set(zip(periods["period"], periods["segment_id"]))
    assert cells == {(t, s) for t in range(1, 7) for s in segs["segment_id"]} and len(periods) == len(cells)
    settings = yaml.safe_load((sc / "scenario.yaml").read_text())
    assert settings["horizon"] == {"periods": 6, "salvage": 0}
    rep = json.loads((sc / "fit_report.json").read_text())["season"]
    assert rep["periods"] == 6 and rep["period_days"] == 7
    assert rep["forecast"]["from"][0] == "2025-03-31"          # the day after the data's last (Sunday)
    assert sorted(rep["forecast"]["size"]) == sorted(segs["segment_id"])
    for v in rep["backtest"]["wape"].values():
        assert np.isfinite(v) and v >= 0
    assert "backtest WAPE" in output
    # segments.csv size is shoppers per period: the training window's occasions per 7 days,
    # of the same order as the forecast (the forecast also sees the held-out days)
    fc = periods.groupby("segment_id")["size"].first()
    ratio = fc.reindex(segs["segment_id"]).to_numpy() / segs["size"].to_numpy()
    assert ((ratio > 0.8) & (ratio < 1.5)).all(), ratio
    if "horizon" in settings_schema().get("properties", settings_schema()):
        from formulations.loading import load_scenario

        load_scenario(sc)                                        # the season reader takes it as written


def test_forecast_follows_the_known_level_not_the_weekday_pattern(season_fit) -> None:
    d, per_customer, _ = season_fit
    cs = pd.read_csv(d / "sc" / "customer_segments.csv", dtype=str)
    customers = cs["segment_id"].value_counts()
    truth = customers * per_customer                            # expected occasions per week after the step
    rep = json.loads((d / "sc" / "fit_report.json").read_text())["season"]
    hist = pd.DataFrame(rep["history"]["occasions"])
    assert len(hist) == 12                                      # 12 whole weeks: the weekday pattern cancels
    before, after = hist.iloc[:4].sum(axis=1).mean(), hist.iloc[4:].sum(axis=1).mean()
    assert 0.4 < before / after < 0.6                           # the step, as simulated
    fc = pd.Series(rep["forecast"]["size"])
    rel = (fc / truth.reindex(fc.index) - 1).abs()
    assert (rel < 0.08).all(), rel                              # the level after the step, per segment
    naive_before = hist.iloc[:4].mean()
    assert ((fc - truth).abs() < (naive_before - truth).abs()).all()


# ---------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    simulate_data(d / "data", n_customers=300, n_segments=2, n_products=3, n_days=35, seed=4)
    return d / "data"


@pytest.mark.parametrize("args, says", [
    (["--periods", "0"], "--periods must be an integer ≥ 1 and ≤ 104"),
    (["--periods", "105"], "--periods must be an integer ≥ 1 and ≤ 104"),
    (["--periods", "2.5"], "'2.5' is not a whole number"),
    (["--periods", "four"], "'four' is not a number"),
    (["--periods", "4", "--period-days", "0"], "--period-days must be an integer ≥ 1"),
    (["--periods", "4", "--period-days", "-7"], "--period-days must be an integer ≥ 1"),
    (["--periods", "4", "--period-days", "1.5"], "'1.5' is not a whole number"),
    (["--periods", "4", "--period-days", "14"], "--horizon-days must be equal to --period-days (14)"),
    (["--periods", "4", "--period-days", "40", "--horizon-days", "40"], "less than one period of 40 days"),
])
def test_bad_periods_are_one_line_exit_2_and_write_nothing(small_data, tmp_path: Path, args, says) -> None:
    out = tmp_path / "sc"
    res = CliRunner().invoke(main, ["fit", str(small_data), "--out", str(out), "--quiet", "--bootstrap", "0", *args])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], res.output
    assert not out.exists()


def test_periods_need_dates(tmp_path: Path) -> None:
    files, truth = simulate_data(None, n_customers=300, n_segments=2, n_products=3, seed=4)
    files["exposures"] = files["exposures"].drop(columns="date")
    write_simulation(tmp_path / "data", files, truth)
    res = CliRunner().invoke(main, ["fit", str(tmp_path / "data"), "--out", str(tmp_path / "sc"), "--quiet",
                                       "--bootstrap", "0", "--periods", "4"])
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert "--periods needs a date on every row of exposures.csv" in res.output
    assert not (tmp_path / "sc").exists()


def test_too_few_periods_for_the_backtest_skip_it_and_say_why(small_data, tmp_path: Path) -> None:
    # 35 days = 2 whole periods of 14: a forecast, but no 4 + 1 periods to backtest on
    res = fit_scenario(small_data, tmp_path / "sc", FitOptions(periods=3, period_days=14, horizon_days=14,
                                                               bootstrap=0, k_max=3))
    bt = res.report["season"]["backtest"]
    assert "wape" not in bt and "holds 2 whole period(s)" in bt["skipped"]
    assert len(pd.read_csv(tmp_path / "sc" / "periods.csv")) == 3 * len(res.scenario.segments)


def test_without_periods_nothing_changes(small_data, tmp_path: Path) -> None:
    res = fit_scenario(small_data, tmp_path / "sc", FitOptions(bootstrap=0, k_max=3))
    assert "season" not in res.report and res.periods is None
    assert not (tmp_path / "sc" / "periods.csv").exists()
    assert "horizon" not in yaml.safe_load((tmp_path / "sc" / "scenario.yaml").read_text())


# ---------------------------------------------------------------- Ta-Feng: February's weeks

TA_FENG = next((Path(p) for p in (os.environ.get("TA_FENG_ZIP"), ROOT.parent / "shared" / "data" / "ta_feng.csv.zip")
                if p and Path(p).is_file()), None)


@pytest.mark.skipif(TA_FENG is None, reason="Ta-Feng data not found: set TA_FENG_ZIP or put ta_feng.csv.zip in "
                    "../shared/data/ (how to get it: examples/ta_feng/README.md)")
def test_ta_feng_february_forecast(tmp_path: Path) -> None:
    # A 20 % sample of customers, every line of theirs; fit on November-January, forecast
    # February's four weeks, score them against February's actual shoppers (the whole
    # store's figures are in examples/ta_feng/README.md).
    sys.path.insert(0, str(ROOT / "examples" / "ta_feng"))
    from walkthrough import SEASON_START, february_check, read_ta_feng, write_store_dir

    df = read_ta_feng(TA_FENG)
    keep = df["CUSTOMER_ID"].drop_duplicates().sample(frac=0.2, random_state=0)
    df = df[df["CUSTOMER_ID"].isin(keep)]
    write_store_dir(df, tmp_path / "data", until=SEASON_START)
    res = fit_scenario(tmp_path / "data", tmp_path / "sc",
                       FitOptions(segments=3, features="customers", max_products=30, max_bundles=0, bootstrap=0,
                                  periods=4, period_days=7))
    season = res.report["season"]
    assert season["history"]["last_day"] == "2001-01-31"
    assert season["forecast"]["from"] == ["2001-02-01", "2001-02-08", "2001-02-15", "2001-02-22"]
    chk = february_check(df, tmp_path / "sc")
    assert chk["actual"].shape == (4, 3) and chk["without_segment"] == 0
    assert (chk["forecast"].to_numpy() >= 0).all()
    for v in (*chk["wape"].values(), *season["backtest"]["wape"].values()):
        assert v is not None and np.isfinite(v)
    print(f"\nTa-Feng 20 % sample, February: WAPE exponential smoothing {chk['wape']['ses']:.3f}, naive last "
          f"value {chk['wape']['naive_last_value']:.3f}; backtest on January {season['backtest']['wape']}")


@pytest.mark.skipif(TA_FENG is None, reason="Ta-Feng data not found: set TA_FENG_ZIP or put ta_feng.csv.zip in "
                    "../shared/data/ (how to get it: examples/ta_feng/README.md)")
def test_ta_feng_february_planned_with_limited_stock(tmp_path: Path) -> None:
    # The walkthrough's season plan on a 10 % sample and 12 products: stock = each
    # product's purchases (customer x date) in January's last 14 days, counted here on
    # their own; the plan never sells more than that, and its summary and report say how
    # it compares with holding list prices (a model estimate).
    import argparse
    import json

    sys.path.insert(0, str(ROOT / "examples" / "ta_feng"))
    from walkthrough import SEASON_START, STOCK_DAYS, plan_season, read_ta_feng, write_store_dir

    df = read_ta_feng(TA_FENG)
    keep = df["CUSTOMER_ID"].drop_duplicates().sample(frac=0.1, random_state=1)
    df = df[df["CUSTOMER_ID"].isin(keep)]
    write_store_dir(df, tmp_path / "data", until=SEASON_START)
    fit_scenario(tmp_path / "data", tmp_path / "scenario",
                 FitOptions(segments=2, features="customers", max_products=12, max_bundles=0, bootstrap=0,
                            periods=4, period_days=7))
    plan_season(argparse.Namespace(time_limit=5.0, mip_gap=None), df, tmp_path, 0.0)

    products = pd.read_csv(tmp_path / "season" / "products.csv", dtype={"product_id": str})
    window = df[(df["date"] >= pd.Timestamp(SEASON_START) - pd.Timedelta(days=STOCK_DAYS))
                & (df["date"] < SEASON_START)]
    counted = window.groupby("PRODUCT_ID").apply(lambda g: len(set(zip(g["CUSTOMER_ID"], g["date"]))))
    want = counted.reindex(products["product_id"]).fillna(0).to_numpy(float)
    assert products["inventory"].to_numpy(float) == pytest.approx(want)
    summary = json.loads((tmp_path / "season_plan" / "summary.json").read_text())
    assert summary["horizon"]["periods"] == ["1", "2", "3", "4"]
    assert summary["objective"] is not None          # the season's first plan at least
    assert min(r["left"] for r in summary["stock_by_period"]) >= -0.01
    assert summary["status_quo"]["label"] == "model estimate"
    assert (tmp_path / "season_plan" / "report.html").is_file()

"""Ta-Feng walkthrough: real grocery baskets -> segments and WTP -> bundles -> an optimal plan.

    python examples/ta_feng/walkthrough.py [--zip PATH] [--out DIR]            # one subclass, quick
    python examples/ta_feng/walkthrough.py --store [--zip PATH] [--out DIR]    # the whole store
    python examples/ta_feng/walkthrough.py --season [--zip PATH] [--out DIR]   # February's shoppers

Runs with whichever Python runs it (the project installed, or from a checkout). Needs the
public "Ta Feng Grocery Dataset" (four months of a Taiwanese supermarket, Nov 2000 - Feb
2001, 817,741 lines), looked for at ``--zip``, ``$TA_FENG_ZIP``,
``../shared/data/ta_feng.csv.zip`` from the project root, then next to this script; see
README.md for how to download it (e.g. from Kaggle).

Quick demo: keep one product subclass and its top products, write a data directory
(docs/data.md), ``fit`` on November-January with February held out, mine bundles, solve.
``--store``: every line of the store, the 300 products bought in most baskets, up to
1,000 mined bundles, segments chosen on held-out data, WTP standard errors by
bootstrap; solve with a time limit and compare the plan with the status quo
(``DIR/plan/vs_status_quo.json``). ``--season``: the whole store's lines of
November-January only, ``fit --periods 4`` (February's four weeks, ``periods.csv``), and
the forecast scored against February's actual shoppers per segment, next to the naive
forecast (every week = the last week of January); then February's weeks are planned
with limited stock (each product's purchases in the last two weeks of January), no
price increases, at most two changes per offer and a salvage value, the plan compared
with holding the list prices all February, and the report written
(``DIR/season_plan/report.html``). Everything printed here is in README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))   # run from a checkout without installing

from demand.fit import FitOptions, fit_scenario  # noqa: E402
from formulations.files import atomic_write_text, json_text  # noqa: E402

HOW_TO_GET = """The Ta-Feng file was not found. It is the public "Ta Feng Grocery Dataset":
  https://www.kaggle.com/datasets/chiranjivdas09/ta-feng-grocery-dataset
  (kaggle datasets download -d chiranjivdas09/ta-feng-grocery-dataset)
Pass --zip PATH (the zip or ta_feng_all_months_merged.csv), or set TA_FENG_ZIP, or put it at
../shared/data/ta_feng.csv.zip next to the project, or next to this script as ta_feng.csv.zip."""


def candidates(given: str | None) -> list[tuple[str, str]]:
    """Where the data is looked for, in order, with where each place comes from."""
    return [(given, "--zip"), (os.environ.get("TA_FENG_ZIP"), "$TA_FENG_ZIP"),
            (str(ROOT.parent / "shared" / "data" / "ta_feng.csv.zip"), "../shared/data from the project root"),
            (str(HERE / "ta_feng.csv.zip"), "next to the script"),
            (str(HERE / "ta_feng_all_months_merged.csv"), "next to the script")]


def find_file(given: str | None) -> Path:
    for c, where in candidates(given):
        if c and Path(c).is_file():
            print(f"data: {c} (found via {where})")
            return Path(c)
        if c and where == "--zip":
            print(f"--zip {c}: no such file", file=sys.stderr)
            break
    print(HOW_TO_GET, file=sys.stderr)
    raise SystemExit(2)


def read_ta_feng(path: Path) -> pd.DataFrame:
    """The raw file, typed: ids as text, dates parsed, money as numbers."""
    df = pd.read_csv(path, dtype=str)
    df.columns = [c.strip().strip('"').lstrip("\ufeff") for c in df.columns]
    df["date"] = pd.to_datetime(df["TRANSACTION_DT"], format="%m/%d/%Y")
    for c in ("AMOUNT", "ASSET", "SALES_PRICE"):
        df[c] = pd.to_numeric(df[c])
    return df


def write_data_dir(df: pd.DataFrame, subclass: str, n_products: int, train_end: str, out: Path) -> list[str]:
    """customers.csv, transactions.csv (the subclass's lines) and products.csv (its top products)."""
    out.mkdir(parents=True, exist_ok=True)
    cat = df[df["PRODUCT_SUBCLASS"] == subclass]
    train = cat[cat["date"] < train_end]
    # Top products = bought in the most baskets during the training months only.
    top = (train.drop_duplicates(["CUSTOMER_ID", "date", "PRODUCT_ID"])["PRODUCT_ID"]
           .value_counts().index[:n_products].tolist())
    write_lines_and_customers(cat, df, out)
    pd.DataFrame({"product_id": top, "category": subclass}).to_csv(out / "products.csv", index=False)
    return top


def write_lines_and_customers(lines: pd.DataFrame, df: pd.DataFrame, out: Path) -> None:
    """transactions.csv from ``lines`` (revenue = SALES_PRICE, cost = ASSET, both line totals);
    customers.csv (age group, area) for every customer of ``df``."""
    pd.DataFrame({"date": lines["date"].dt.strftime("%Y-%m-%d"), "customer_id": lines["CUSTOMER_ID"],
                  "product_id": lines["PRODUCT_ID"], "quantity": lines["AMOUNT"],
                  "revenue": lines["SALES_PRICE"], "cost": lines["ASSET"]}).to_csv(out / "transactions.csv",
                                                                              index=False)
    cust = df.drop_duplicates("CUSTOMER_ID")[["CUSTOMER_ID", "AGE_GROUP", "PIN_CODE"]]
    cust.columns = ["customer_id", "age_group", "pin_code"]
    cust.to_csv(out / "customers.csv", index=False)


def write_store_dir(df: pd.DataFrame, out: Path, until: str | None = None) -> None:
    """customers.csv, transactions.csv (every line, or every line before ``until``) and products.csv
    (every product, subclass as category). customers.csv keeps every customer either way."""
    out.mkdir(parents=True, exist_ok=True)
    write_lines_and_customers(df if until is None else df[df["date"] < until], df, out)
    prod = df.drop_duplicates("PRODUCT_ID")[["PRODUCT_ID", "PRODUCT_SUBCLASS"]]
    prod.columns = ["product_id", "category"]
    prod.to_csv(out / "products.csv", index=False)


SEASON_START = "2001-02-01"          # the fit sees November-January; February is forecast


def february_check(df: pd.DataFrame, scenario: Path, period_days: int = 7) -> dict:
    """The forecast in ``scenario`` (periods.csv, fit_report.json) against February's actual shoppers.

    A shopper is a shopping occasion, as in the fit: one customer on one date (Ta-Feng has
    no basket id). February's occasions are counted per segment of customer_segments.csv
    and per period of ``period_days`` from February 1; the naive forecast repeats the last
    period of the data (fit_report.json's history). WAPE = Σ|actual − forecast| / Σ actual.
    """
    from demand.forecast import wape

    rep = json.loads((scenario / "fit_report.json").read_text())["season"]
    periods = pd.read_csv(scenario / "periods.csv", dtype={"segment_id": str})
    fc = periods.pivot(index="period", columns="segment_id", values="size")
    seg = pd.read_csv(scenario / "customer_segments.csv", dtype=str).set_index("customer_id")["segment_id"]
    feb = df[df["date"] >= SEASON_START].drop_duplicates(["CUSTOMER_ID", "date"])
    period = (feb["date"] - pd.Timestamp(SEASON_START)).dt.days // period_days + 1
    occ = pd.DataFrame({"period": period.to_numpy(), "segment_id": seg.reindex(feb["CUSTOMER_ID"]).to_numpy()})
    actual = (occ.dropna().groupby(["period", "segment_id"]).size().unstack(fill_value=0)
              .reindex(index=fc.index, columns=fc.columns, fill_value=0).astype(float))
    last = pd.Series({s: v[-1] for s, v in rep["history"]["occasions"].items()}).reindex(fc.columns)
    naive = pd.DataFrame(np.tile(last.to_numpy(float), (len(fc), 1)), index=fc.index, columns=fc.columns)
    return {"actual": actual, "forecast": fc, "naive": naive,
            "wape": {"ses": wape(actual.to_numpy(), fc.to_numpy()),
                     "naive_last_value": wape(actual.to_numpy(), naive.to_numpy())},
            "segment_wape": {s: {"ses": wape(actual[s].to_numpy(), fc[s].to_numpy()),
                                 "naive_last_value": wape(actual[s].to_numpy(), naive[s].to_numpy())}
                             for s in fc.columns},
            "without_segment": int(occ["segment_id"].isna().sum())}


def season(args: argparse.Namespace, df: pd.DataFrame, t0: float) -> None:
    """Fit on November-January with February's four weeks forecast; score the forecast on February."""
    out = Path(args.out)
    write_store_dir(df, out / "data", until=SEASON_START)
    print(f"wrote {out / 'data'}: every line before {SEASON_START}, customers.csv (age group, area), "
          f"products.csv ({time.perf_counter() - t0:.1f}s)")
    # Fewer products and bundles than --store: a season plan decides every offer in every week.
    # Segments as the quick demo's (--segments 3 --features customers: demographics, which every
    # February shopper has).
    segments = args.segments if args.segments == "auto" else int(args.segments)
    opts = FitOptions(max_products=args.products or 60, max_bundles=args.max_bundles or 60,
                      bootstrap=args.bootstrap, k_max=args.k_max, segments=segments, features=args.features,
                      periods=4, period_days=7)
    res = fit_scenario(out / "data", out / "scenario", opts, progress=lambda m: print("  fit " + m, flush=True))
    s = res.report["season"]
    bt = s["backtest"]
    print(f"\nforecast: {s['method']}; alpha {s['alpha']:.2f}")
    hist = pd.DataFrame(s["history"]["occasions"], index=s["history"]["period_start"])
    print(f"history: {len(hist)} weeks from {hist.index[0]} to {s['history']['last_day']}; shoppers per week "
          f"(all segments): {', '.join(f'{v:,.0f}' for v in hist.sum(axis=1))}")
    print(f"backtest on the last {bt['holdout_periods']} weeks of January's data (fitted on the weeks before): "
          f"WAPE {bt['wape']['ses']:.1%}, naive last value {bt['wape']['naive_last_value']:.1%}")
    chk = february_check(df, out / "scenario")
    table = pd.concat({"actual": chk["actual"], "forecast": chk["forecast"].round(1),
                       "naive": chk["naive"]}, axis=1)
    table.index = [f"{f} .. {t}" for f, t in zip(s["forecast"]["from"], s["forecast"]["to"])]
    print("\nFebruary's weeks, shoppers (occasions) per segment:")
    print(table.to_string())
    print(f"February WAPE: forecast {chk['wape']['ses']:.1%}, naive last value "
          f"{chk['wape']['naive_last_value']:.1%}; per segment " + ", ".join(
              f"{k} {v['ses']:.1%} vs {v['naive_last_value']:.1%}" for k, v in chk["segment_wape"].items()))
    plan_season(args, df, out, t0)
    print(f"\ntotal {time.perf_counter() - t0:.1f}s; season scenario (horizon: 4 weeks) in {out / 'scenario'}, "
          f"with limited stock in {out / 'season'}, plan and report in {out / 'season_plan'}")


STOCK_DAYS = 14        # stock for February = the purchases of the last two weeks of January
SEASON_SALVAGE = 0.1   # what is left after February is worth 10 % of its unit cost (the median
#                        margin at list price is 18 %: at 30 % holding stock beat selling it)
SEASON_MARKDOWN = {"no_increase": True, "max_changes": 2}


def season_stock(df: pd.DataFrame, products: pd.Index, days: int = STOCK_DAYS) -> pd.Series:
    """Each product's stock at the start of February: its purchases in the last ``days`` days
    of the data before February (a purchase = one customer buying it on one date, the unit
    the fitted model sells), so about two weeks of January's sales for a four-week season."""
    end = pd.Timestamp(SEASON_START)
    recent = df[(df["date"] >= end - pd.Timedelta(days=days)) & (df["date"] < end)]
    bought = recent.drop_duplicates(["CUSTOMER_ID", "date", "PRODUCT_ID"])["PRODUCT_ID"].value_counts()
    return bought.reindex(products).fillna(0.0).astype(float)


def plan_season(args: argparse.Namespace, df: pd.DataFrame, out: Path, t0: float) -> None:
    """Plan February's four weeks with limited stock (``season_stock``), markdowns that only go
    down (at most two changes per offer), salvage for what is left; solve, write the plan and
    its report, and print the season against holding the single products' list prices."""
    import dataclasses

    from bundleopt.report import write_report
    from formulations.loading import load_scenario
    from formulations.writing import write_scenario
    from solver.api import solve

    sc = load_scenario(out / "scenario")
    stock = season_stock(df, sc.products.index)
    sc = dataclasses.replace(sc, products=sc.products.assign(inventory=stock.to_numpy()),
                             horizon=dataclasses.replace(sc.horizon, salvage=SEASON_SALVAGE))
    sc = sc.with_constraints(inventory=True, **SEASON_MARKDOWN)
    write_scenario(sc, out / "season")
    print(f"\nseason plan: {len(sc.products)} products with stock = their purchases of {STOCK_DAYS} days before "
          f"{SEASON_START} ({stock.sum():,.0f} units in all, median {stock.median():,.0f}), salvage "
          f"{SEASON_SALVAGE:g} x unit cost, markdown {SEASON_MARKDOWN}; {len(sc.bundles)} offers, "
          f"{len(sc.segments)} segments x {len(sc.horizon.labels)} weeks")
    ts = time.perf_counter()
    result = solve(sc, time_limit=args.time_limit, mip_gap=args.mip_gap)
    result.write(out / "season_plan")
    report = write_report(out / "season_plan", currency="NT$")
    sm = result.summary
    gap = "n/a" if result.gap is None else f"{result.gap:.2%}"
    print(f"solve: {result.status}, objective NT$ {result.objective or 0:,.0f} (profit + salvage), proven gap "
          f"{gap}, {result.solve_seconds:.1f}s solving, {time.perf_counter() - ts:.1f}s in all ({result.backend}, "
          f"time limit {args.time_limit:g}s)")
    if not result.has_plan:
        return
    sq = sm["status_quo"]
    per = pd.DataFrame(sm["periods"]).set_index("period")[["profit", "units", "offers_on_sale"]]
    per["status quo profit"] = [p["profit"] for p in sq["periods"]]
    per["status quo sold out"] = [p["sold_out"] for p in sq["periods"]]
    print(per.round(0).to_string())
    left = pd.DataFrame(sm["stock_left"])
    print(f"stock left: {left['left'].sum():,.0f} of {stock.sum():,.0f} units, salvage NT$ {sm['salvage_value']:,.0f}; "
          f"offers changing price: {_changes(result.plan)}")
    print(f"vs status quo ({sq['label']}: {sq['source']} held all February, sales stop when stock runs out): "
          f"NT$ {sq['objective']:,.0f} (salvage {sq['salvage_value']:,.0f}, {len({o['product_id'] for o in sq['stock_outs']})} "
          f"products run out): the plan {sq['plan_minus_status_quo']:+,.0f}")
    print(f"report: {report}")


def _changes(plan: pd.DataFrame) -> int:
    """Offers (and audiences) whose price differs between two weeks they are on sale."""
    p = plan.sort_values("period")
    return int(p.groupby(["bundle_id", "segment_id"])["price"].nunique().gt(1).sum())


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def store(args: argparse.Namespace, df: pd.DataFrame, t0: float) -> None:
    """The whole store: fit at scale, solve with a time limit, compare with the status quo."""
    out = Path(args.out)
    write_store_dir(df, out / "data")
    print(f"wrote {out / 'data'}: every line as transactions.csv, customers.csv (age group, area), "
          f"products.csv (subclass as category) ({time.perf_counter() - t0:.1f}s)")
    opts = FitOptions(holdout_from="2001-02-01", max_products=args.products or 300,
                      max_bundles=args.max_bundles or 1000, bootstrap=args.bootstrap, k_max=args.k_max)
    tf = time.perf_counter()
    res = fit_scenario(out / "data", out / "scenario", opts, progress=lambda m: print("  fit " + m, flush=True))
    fit_s = time.perf_counter() - tf
    rep = res.report
    sp_ = rep["split"]
    print(f"\nfit: {fit_s:.1f}s including the bootstrap; peak memory of this process {_peak_mb():,.0f} MB")
    print(f"train {sp_['train_from']} .. {sp_['train_to']} (segments chosen on {sp_.get('validation_from')} .. "
          f"{sp_.get('validation_to')}), held out {sp_['holdout_from']} .. {sp_['holdout_to']}")
    print(f"{len(res.scenario.products)} products, {len(res.scenario.bundles)} candidate offers "
          f"({len(rep['bundles'])} mined bundles), {len(res.scenario.wtp)} WTP rows "
          f"({rep['wtp_negative']} negative = rare buyers, kept: under mnl they buy with small probability)")
    print("\nK search (log-loss per exposure; validation = last two weeks of January, test = February):")
    for c in rep["k_search"]:
        if c["validation"] is None:
            print(f"  K={c['k']} {c['features']}: {c.get('note')}")
            continue
        print(f"  K={c['k']:<2} {c['features']:<10} validation {c['validation']['log_loss']:.5f} "
              f"AUC {c['validation']['auc']:.4f} | February {c['test']['log_loss']:.5f} AUC {c['test']['auc']:.4f}"
              f" | WTP spread NT$ {c['wtp_spread']:.2f}{'  (within 1 s.e. of best)' if c.get('within_one_se_of_best') else ''}")
    seg = rep["segmentation"]
    print(f"chosen: K={rep['chosen_k']} ({seg.get('criterion')}; features {seg.get('features')})")
    if seg.get("final_check"):
        print(f"final check on February: {json.dumps(seg['final_check'])}")
    ho = rep["holdout"]
    print(f"\nFebruary: {ho['n_exposures']:,} exposures (visits x products), {ho['n_purchases']:,} purchases")
    rows = [("model (segments + price)", ho["model"]), ("pooled K = 1 (+ price)", ho["pooled_k1"])] + [
        (f"baseline: {k} (no price)", v) for k, v in ho["baselines"].items()]
    for name, sc in rows:
        print(f"  {name:<40} log-loss {sc['log_loss']:.5f}   AUC {sc['auc']:.4f}")
    print("calibration (decile: predicted / observed): " + ", ".join(
        f"{c['decile']}: {c['predicted']:.4f}/{c['observed']:.4f}" for c in ho["calibration"]))
    for s_ in rep["segments"]:
        prof = s_["profile"]
        print(f"  {s_['segment_id']}: {s_['customers']:,} customers, size {s_['size']:,.0f}/week, "
              f"β {s_['price_sensitivity']:.4f} ± {s_['price_sensitivity_se']:.4f}, visits {prof.get('visits', 0):.1f}, "
              f"spend NT$ {prof.get('spend', 0):,.0f}")
    sd = res.scenario.wtp["wtp_sd"]
    print(f"wtp_sd: median NT$ {sd.median():.2f}, range {sd.min():.3g} .. {sd.max():.3g}")
    print(f"fit done ({time.perf_counter() - t0:.1f}s since start)")
    solve_and_compare(args, out, t0)


def solve_and_compare(args: argparse.Namespace, out: Path, t0: float) -> None:
    try:
        from formulations.loading import load_scenario
        from solver.api import solve

        from demand.status_quo import compare
    except ImportError as e:   # the solver is a separate part of the project
        print(f"solver not available ({e}); the scenario is in {out / 'scenario'}")
        return
    scenario = load_scenario(out / "scenario")
    ts = time.perf_counter()
    result = solve(scenario, time_limit=args.time_limit, mip_gap=args.mip_gap)
    result.write(out / "plan")
    gap = "n/a" if result.gap is None else f"{result.gap:.2%}"
    obj = "n/a" if result.objective is None else f"{result.objective:,.0f}"
    print(f"\nsolve: {result.status}, expected weekly profit NT$ {obj}, proven gap {gap} "
          f"(bound from the {result.summary.get('bound_source') or 'nothing'}), "
          f"{result.solve_seconds:.1f}s solving, {time.perf_counter() - ts:.1f}s in all ({result.backend}, "
          f"time limit {args.time_limit:g}s)")
    if result.has_plan:
        plan = result.plan
        n_b = int(plan["bundle_id"].astype(str).str.startswith("B:").sum())
        print(f"plan: {len(plan)} offers on sale ({n_b} bundles)")
        cmp = compare(scenario, plan, draws=args.draws)
        atomic_write_text(out / "plan" / "vs_status_quo.json", json_text(cmp))
        u = cmp["uplift"]
        print(f"vs status quo ({cmp['label']}):\n  plan NT$ {cmp['plan']['profit']:,.0f} vs status quo NT$ "
              f"{cmp['status_quo']['profit']:,.0f} per week: {u['profit']:+,.0f} "
              f"({u['relative']:+.1%}), {u['level']:.0%} interval [{u['interval'][0]:+,.0f}, {u['interval'][1]:+,.0f}]"
              f" -> {out / 'plan' / 'vs_status_quo.json'}")
        if u["profit"] < 0 and result.status != "optimal":
            print("  the solver stopped on a plan the status quo beats (the status quo is itself a feasible plan): "
                  f"its incumbent is weak at this size ({gap} gap); keep the status quo or give it more time")
    print(f"\ntotal {time.perf_counter() - t0:.1f}s; scenario in {out / 'scenario'}, plan in {out / 'plan'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", help="path of ta_feng.csv.zip (or the csv)")
    ap.add_argument("--store", action="store_true", help="the whole store (every line), not one subclass")
    ap.add_argument("--season", action="store_true",
                    help="the whole store's Nov-Jan lines; forecast February's weeks and score the forecast")
    ap.add_argument("--out", default=None, help="work directory (default examples/ta_feng/out, or out_store)")
    ap.add_argument("--subclass", default="110411", help="PRODUCT_SUBCLASS to model")
    ap.add_argument("--products", type=int, default=None, help="top products (default 6; --store 300)")
    ap.add_argument("--max-bundles", type=int, default=None, help="default 4; --store 1000")
    ap.add_argument("--bootstrap", type=int, default=200, help="--store: bootstrap replicates for wtp_sd")
    ap.add_argument("--k-max", type=int, default=8, help="--store: largest K tried")
    ap.add_argument("--draws", type=int, default=100, help="--store: WTP draws for the status-quo interval")
    ap.add_argument("--segments", default="3", help="K, or 'auto' (chosen by BIC: the features are categories)")
    ap.add_argument("--features", default="customers", choices=["customers", "behaviour", "both"],
                    help="clustering features (see README for why demographics are the default)")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="solver time limit, seconds (default 120; --store 300, keeping the run under 10 min)")
    ap.add_argument("--mip-gap", type=float, default=None,
                    help="--store: stop once the plan is proven within this fraction of the best "
                         "possible (default 0.01)")
    args = ap.parse_args()
    if args.store and args.mip_gap is None:
        args.mip_gap = 0.01
    t0 = time.perf_counter()
    args.out = args.out or str(HERE / ("out_season" if args.season else "out_store" if args.store else "out"))
    args.time_limit = args.time_limit or (300.0 if args.store else 120.0)
    out = Path(args.out)
    pd.set_option("display.width", 120)
    print(f"python: {sys.executable}")

    src = find_file(args.zip)
    df = read_ta_feng(src)
    print(f"read {len(df):,} lines, {df['CUSTOMER_ID'].nunique():,} customers, "
          f"{df['PRODUCT_ID'].nunique():,} products, {df['PRODUCT_SUBCLASS'].nunique():,} subclasses, "
          f"{df['date'].min():%Y-%m-%d} .. {df['date'].max():%Y-%m-%d} ({time.perf_counter() - t0:.1f}s)")
    if args.season:
        season(args, df, t0)
        return
    if args.store:
        store(args, df, t0)
        return
    args.products = args.products or 6
    args.max_bundles = args.max_bundles or 4
    top = write_data_dir(df, args.subclass, args.products, "2001-02-01", out / "data")
    print(f"subclass {args.subclass}: top {len(top)} products {', '.join(top)}")

    segments = args.segments if args.segments == "auto" else int(args.segments)
    opts = FitOptions(holdout_from="2001-02-01", features=args.features, segments=segments,
                      max_products=args.products,
                      max_bundles=args.max_bundles, min_support=0.01, min_lift=1.5)
    res = fit_scenario(out / "data", out / "scenario", opts,
                       progress=lambda m: print("  fit " + m, flush=True))
    rep = res.report
    sp = rep["split"]
    print(f"\ntrain {sp['train_from']} .. {sp['train_to']} ({sp['train_days']} days), "
          f"held out {sp['holdout_from']} .. {sp['holdout_to']}")
    print("assumption: " + rep["data"]["exposure_assumption"])
    seg = rep["segmentation"]
    how = "given" if seg["criterion"] == "given" else f"by {seg['criterion']}; k_search in fit_report.json"
    print(f"segments: K={seg['k']} ({how}), {seg['method']}; features {', '.join(seg['features'])}")
    segs = pd.DataFrame(rep["segments"]).set_index("segment_id")
    print(segs[["customers", "occasions", "size", "price_sensitivity", "price_sensitivity_se"]].round(4).to_string())

    est = res.estimate.cells
    print("\nWTP (median reservation price, NT$) per segment and product; list price and cost:")
    w = est.pivot(index="offer_id", columns="segment_id", values="wtp").round(2)
    w = w.join(res.scenario.products[["list_price", "unit_cost"]])
    print(w.to_string())
    print(f"cells: {(est['status'] == 'estimated').sum()} estimated, {(est['status'] == 'shrunk').sum()} shrunk, "
          f"{(est['status'] == 'pooled').sum()} pooled; negative WTPs (rare buyers, kept): {rep['wtp_negative']}")

    ho = rep["holdout"]
    print(f"\nheld-out February: {ho['n_exposures']:,} exposures, {ho['n_purchases']:,} purchases")
    rows = [("model (segments + price)", ho["model"])] + [
        (f"baseline: {k} (no price)", v) for k, v in ho["baselines"].items()]
    for name, s in rows:
        print(f"  {name:<40} log-loss {s['log_loss']:.4f}   AUC {s['auc']:.4f}")

    print("\nmined bundles:")
    for b in rep["bundles"]:
        print(f"  {b['bundle_id']}: baskets {b['baskets']}, support {b['support']:.3f}, lift {b['lift']:.2f}, "
              f"price-adjusted lift {b['adjusted_lift']:.2f}, WTP uplift {b['wtp_uplift']:.2f} "
              f"(complementarity {b['complementarity']:.3f})")
    print(f"fit done ({time.perf_counter() - t0:.1f}s)")

    try:
        from formulations.loading import load_scenario
        from solver.api import solve
    except ImportError as e:   # the solver is a separate part of the project
        print(f"solver not available ({e}); the scenario is in {out / 'scenario'}")
        return
    scenario = load_scenario(out / "scenario")
    result = solve(scenario, time_limit=args.time_limit)
    result.write(out / "plan")
    gap = "n/a" if result.gap is None else f"{result.gap:.2%}"
    print(f"\nsolve: {result.status}, expected weekly profit NT$ {result.objective:,.0f}, gap {gap}, "
          f"{result.solve_seconds:.1f}s ({result.backend})")
    if result.has_plan:
        plan = result.plan.copy()
        plan["list/reference price"] = scenario.reference_prices().reindex(plan["bundle_id"]).to_numpy()
        print(plan.round(2).to_string(index=False))
    print(f"\ntotal {time.perf_counter() - t0:.1f}s; scenario in {out / 'scenario'}, plan in {out / 'plan'}")


if __name__ == "__main__":
    main()

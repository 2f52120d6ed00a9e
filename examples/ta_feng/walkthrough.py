"""Ta-Feng walkthrough: real grocery baskets -> segments and WTP -> bundles -> an optimal plan.

    .venv/bin/python examples/ta_feng/walkthrough.py [--zip PATH] [--out DIR]

Needs the public "Ta Feng Grocery Dataset" (four months of a Taiwanese supermarket,
Nov 2000 - Feb 2001, 817,741 lines). It is looked for at ``--zip``, ``$TA_FENG_ZIP``,
``/work/shared/data/ta_feng.csv.zip`` and next to this script; see README.md for how
to download it (e.g. from Kaggle).

Steps: keep one product subclass (a category) and its top products, write a data
directory (docs/data.md), ``fit`` on November-January with February held out, mine bundles, and
solve the scenario with the Python API. Everything printed here is in README.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))   # run from a checkout without installing

from demand.fit import FitOptions, fit_scenario  # noqa: E402

CANDIDATES = [os.environ.get("TA_FENG_ZIP"), "/work/shared/data/ta_feng.csv.zip",
              str(HERE / "ta_feng.csv.zip"), str(HERE / "ta_feng_all_months_merged.csv")]
HOW_TO_GET = """The Ta-Feng file was not found. It is the public "Ta Feng Grocery Dataset":
  https://www.kaggle.com/datasets/chiranjivdas09/ta-feng-grocery-dataset
  (kaggle datasets download -d chiranjivdas09/ta-feng-grocery-dataset)
Put ta_feng_all_months_merged.csv (or the zip holding it) next to this script as
ta_feng.csv.zip, or pass --zip PATH, or set TA_FENG_ZIP."""


def find_file(given: str | None) -> Path:
    for c in [given] + CANDIDATES:
        if c and Path(c).is_file():
            return Path(c)
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
    pd.DataFrame({"date": cat["date"].dt.strftime("%Y-%m-%d"), "customer_id": cat["CUSTOMER_ID"],
                  "product_id": cat["PRODUCT_ID"], "quantity": cat["AMOUNT"],
                  "revenue": cat["SALES_PRICE"], "cost": cat["ASSET"]}).to_csv(out / "transactions.csv", index=False)
    cust = df.drop_duplicates("CUSTOMER_ID")[["CUSTOMER_ID", "AGE_GROUP", "PIN_CODE"]]
    cust.columns = ["customer_id", "age_group", "pin_code"]
    cust.to_csv(out / "customers.csv", index=False)
    pd.DataFrame({"product_id": top, "category": subclass}).to_csv(out / "products.csv", index=False)
    return top


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", help="path of ta_feng.csv.zip (or the csv)")
    ap.add_argument("--out", default=str(HERE / "out"), help="work directory (default examples/ta_feng/out)")
    ap.add_argument("--subclass", default="110411", help="PRODUCT_SUBCLASS to model")
    ap.add_argument("--products", type=int, default=6, help="top products of the subclass")
    ap.add_argument("--max-bundles", type=int, default=4)
    ap.add_argument("--segments", default="3", help="K, or 'auto' (chosen by BIC: the features are categories)")
    ap.add_argument("--features", default="customers", choices=["customers", "behaviour", "both"],
                    help="clustering features (see README for why demographics are the default)")
    ap.add_argument("--time-limit", type=float, default=120.0, help="solver time limit, seconds")
    args = ap.parse_args()
    t0 = time.perf_counter()
    out = Path(args.out)
    pd.set_option("display.width", 120)

    src = find_file(args.zip)
    df = read_ta_feng(src)
    print(f"read {len(df):,} lines, {df['CUSTOMER_ID'].nunique():,} customers, "
          f"{df['date'].min():%Y-%m-%d} .. {df['date'].max():%Y-%m-%d} ({time.perf_counter() - t0:.1f}s)")
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
    how = "given" if seg["criterion"] == "given" else f"by {seg['criterion']} {seg.get('scores')}"
    print(f"segments: K={seg['k']} ({how}), {seg['method']}; features {', '.join(seg['features'])}")
    segs = pd.DataFrame(rep["segments"]).set_index("segment_id")
    print(segs[["customers", "occasions", "size", "price_sensitivity", "price_sensitivity_se"]].round(4).to_string())

    est = res.estimate.cells
    print("\nWTP (median reservation price, NT$) per segment and product; list price and cost:")
    w = est.pivot(index="offer_id", columns="segment_id", values="wtp").round(2)
    w = w.join(res.scenario.products[["list_price", "unit_cost"]])
    print(w.to_string())
    print(f"cells: {(est['status'] == 'estimated').sum()} estimated, {(est['status'] == 'shrunk').sum()} shrunk, "
          f"{(est['status'] == 'pooled').sum()} pooled; negative WTP left out: {rep['wtp_negative_left_out']}")

    ho = rep["holdout"]
    print(f"\nheld-out February: {ho['n_exposures']:,} exposures, {ho['n_purchases']:,} purchases")
    rows = [("model (segments + price)", ho["model"])] + [
        (f"baseline: {k} (no price)", v) for k, v in ho["baselines"].items()]
    for name, s in rows:
        print(f"  {name:<40} log-loss {s['log_loss']:.4f}   AUC {s['auc']:.4f}")

    print("\nmined bundles:")
    for b in rep["bundles"]:
        print(f"  {b['bundle_id']}: baskets {b['baskets']}, support {b['support']:.3f}, lift {b['lift']:.2f}, "
              f"price-adjusted lift {b['adjusted_lift']:.2f}, complementarity {b['complementarity']:.3f}")
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

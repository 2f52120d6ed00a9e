"""The run folder a solve writes (``bundleopt solve --out``): its files' names, and
their content as a merchandiser reads it on their own — money in cents, each plan row
with its list price, discount, margin and the offer in words."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from formulations.files import atomic_write_text, json_text
from formulations.scenario import Scenario

PLAN_FILE = "plan.csv"
SUMMARY_FILE = "summary.json"
# The engine never writes a report; it only removes a stale one (bundleopt.report
# writes it, under this name, after the run folder is written).
REPORT_FILE = "report.html"

MONEY_PLAN_COLUMNS = ("price", "expected_revenue", "expected_profit", "list_price", "previous_price")
MONEY_SUMMARY_KEYS = ("objective", "bound", "solver_objective")
SHARE_DECIMALS = 4          # discount and margin: a fraction, 0.1235 = 12.35 %


def offer_labels(scenario: Scenario) -> pd.Series:
    """Each offer's components in words, e.g. ``Coffee 500g + 2 × Milk 1l``.

    Product names where products.csv has a ``name`` column, ids otherwise; indexed by
    ``bundle_id`` in bundles order.
    """
    comp = scenario.components
    names = scenario.products["name"] if "name" in scenario.products else pd.Series(dtype=str)
    label = names.reindex(comp["product_id"]).fillna("").astype(str).to_numpy()
    label = np.where(label == "", comp["product_id"].astype(str).to_numpy(), label)
    q = comp["quantity"].to_numpy()
    part = np.where(q > 1, pd.Series(q).astype(str).to_numpy() + " × " + label, label)
    # Joined per offer without a Python call per group: the parts, in order, grouped
    # together (a stable sort), each but a group's first prefixed with " + ", summed.
    code, offers = pd.factorize(comp["bundle_id"].to_numpy())
    order = np.argsort(code, kind="stable")
    c = code[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if len(c) else np.array([], int)
    parts = part.astype(object)[order]
    tail = np.ones(len(c), bool)
    tail[starts] = False
    parts[tail] = " + " + parts[tail]
    joined = np.add.reduceat(parts, starts) if len(c) else np.array([], object)
    return pd.Series(joined, index=offers[c[starts]] if len(c) else offers, dtype=object).reindex(
        scenario.bundles.index)


def previous_prices(scenario: Scenario, plan: pd.DataFrame) -> pd.Series:
    """The price each plan row had in ``previous_plan.csv`` (same shoppers, or ``*``); NaN if none."""
    prev = scenario.previous_plan
    rows = plan[["bundle_id", "segment_id"]].reset_index()
    exact = rows.merge(prev, on=["bundle_id", "segment_id"], how="inner")
    # as price_change.max_relative matches them: same segment, or either side is `*`
    loose = rows.merge(prev, on="bundle_id", how="inner", suffixes=("", "_old"))
    loose = loose[(loose["segment_id"] == "*") | (loose["segment_id_old"] == "*")]
    both = pd.concat([exact, loose[["index", "price"]]]).drop_duplicates("index")
    return both.set_index("index")["price"].reindex(rows["index"]).set_axis(plan.index)


def readable_plan(scenario: Scenario, plan: pd.DataFrame) -> pd.DataFrame:
    """plan.csv rows plus what a merchandiser reads them with (SCENARIO.md §7 columns first).

    Adds ``list_price`` (R_b), ``discount`` (1 − price / list price), ``margin``
    ((price − cost) / price), ``components`` (the offer in words) and, when the scenario
    has a previous plan, ``previous_price`` (None where the row is new).
    """
    out = plan.copy()
    ref = scenario.reference_prices()
    cost = scenario.offer_costs()
    price = out["price"].to_numpy(float)
    out["list_price"] = ref.reindex(out["bundle_id"]).to_numpy(float).round(2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["discount"] = np.where(out["list_price"] > 0, 1.0 - price / out["list_price"], np.nan)
        out["margin"] = np.where(price > 0, (price - cost.reindex(out["bundle_id"]).to_numpy(float)) / price, np.nan)
    out["components"] = offer_labels(scenario).reindex(out["bundle_id"]).to_numpy()
    if len(scenario.previous_plan):
        prev = previous_prices(scenario, out)
        # None, not NaN, where a row is new: plan rows also go to JSON (the service)
        out["previous_price"] = pd.Series([None if pd.isna(v) else round(float(v), 2) for v in prev],
                                          index=out.index, dtype=object)
    return out


def money_rounded_plan(plan: pd.DataFrame) -> pd.DataFrame:
    """plan.csv as written: money in cents, shares to 4 decimals, units to hundredths."""
    out = plan.copy()
    for col in MONEY_PLAN_COLUMNS + ("expected_units",):
        if col in out and out[col].dtype != object:
            out[col] = out[col].astype(float).round(2)
    for col in ("discount", "margin"):
        if col in out:
            out[col] = out[col].astype(float).round(SHARE_DECIMALS)
    return out


def money_rounded_summary(summary: dict) -> dict:
    """summary.json as written: money in cents (objective, bound, revenue, profit, surplus),
    units to hundredths, shares (margin, utilisation) to 4 decimals; the gap as computed."""
    def r(v, d):
        return v if not isinstance(v, (int, float)) or isinstance(v, bool) else round(float(v), d)

    def rows(records, digits):
        return [{k: r(v, digits[k]) if k in digits else v for k, v in rec.items()} for rec in records]

    out = dict(summary)
    for k in MONEY_SUMMARY_KEYS:
        if k in out:
            out[k] = r(out[k], 2)
    if isinstance(out.get("kpis"), dict):
        out["kpis"] = rows([out["kpis"]], {"revenue": 2, "profit": 2, "units": 2, "margin": SHARE_DECIMALS})[0]
    if isinstance(out.get("segments"), list):
        out["segments"] = rows(out["segments"], {"surplus": 2, "expected_purchases": 2})
    if isinstance(out.get("products"), list):
        out["products"] = rows(out["products"], {"units": 2, "utilisation": SHARE_DECIMALS,
                                                 "left": 2, "receipts": 2})
    if isinstance(out.get("periods"), list):      # a season's KPIs per period
        out["periods"] = rows(out["periods"], {"revenue": 2, "profit": 2, "units": 2,
                                               "objective": 2})
    if isinstance(out.get("stock_left"), list):
        out["stock_left"] = rows(out["stock_left"], {"left": 2, "salvage_value": 2})
    if isinstance(out.get("stock_by_period"), list):
        out["stock_by_period"] = rows(out["stock_by_period"], {"units": 2, "receipts": 2, "left": 2})
    if "salvage_value" in out:
        out["salvage_value"] = r(out["salvage_value"], 2)
    if isinstance(out.get("status_quo"), dict):     # the same money and units, held all season
        sq = {k: r(v, 2) if k in ("objective", "revenue", "profit", "units", "salvage_value",
                                  "plan_minus_status_quo") else v for k, v in out["status_quo"].items()}
        sq["periods"] = rows(sq.get("periods") or [], {"revenue": 2, "profit": 2, "units": 2, "objective": 2})
        sq["stock_left"] = rows(sq.get("stock_left") or [], {"left": 2})
        out["status_quo"] = sq
    return out


def named_products(scenario: Scenario, products: pd.DataFrame) -> pd.DataFrame:
    """Per-product figures with the product's name ("" when products.csv has none)."""
    names = scenario.products["name"] if "name" in scenario.products else pd.Series(dtype=str)
    return products.assign(name=names.reindex(products["product_id"]).fillna("").astype(str).to_numpy())


def write_run_folder(out_dir: str | Path, plan: pd.DataFrame | None, summary: dict) -> None:
    """Write summary.json and, if there is a ``plan``, plan.csv — each atomically.

    A stale plan.csv from an earlier run in the same folder is removed when this solve
    has no plan, so the folder never shows a plan the scenario does not have; a report
    of the folder's previous run is removed too (``--report`` writes a new one after).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if plan is not None:
        atomic_write_text(out / PLAN_FILE, money_rounded_plan(plan).to_csv(index=False))
    elif (out / PLAN_FILE).exists():
        (out / PLAN_FILE).unlink()
    if (out / REPORT_FILE).exists():
        (out / REPORT_FILE).unlink()
    atomic_write_text(out / SUMMARY_FILE, json_text(money_rounded_summary(summary)))

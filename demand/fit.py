"""The fit pipeline: data directory -> segments -> WTP -> bundles -> scenario directory.

Decisions the contract leaves open (the data contract is docs/data.md; these are the
module docstrings' part of it):

- **Split.** With dates, the last ``holdout_fraction`` of the distinct days (or every
  day from ``holdout_from``) is held out; without dates a seeded random
  ``holdout_fraction`` of the exposure rows. Everything written is fitted on the
  training part only, so the report's held-out scores describe the written numbers.
- **Segments.** ``segments="auto"`` keeps customers.csv's ``segment_id`` when the
  column exists and clusters otherwise (K by silhouette, or BIC); an integer clusters into
  that many; ``"given"`` requires the column. ``features`` says what segments are
  found from: ``customers`` — customers.csv's feature columns (k-means, see
  :mod:`demand.segmentation`); ``behaviour`` — recency, frequency, spend and category
  mix from transactions (or purchase rate per offer from exposures); ``both``;
  ``latent`` — a latent-class logit on the purchases themselves
  (:mod:`demand.latent`). ``auto`` uses customers.csv's columns when it has any, else
  ``latent``. With behaviour, the clustering is fitted on the customers active in the
  training part and every customer is then assigned (new customers by their other
  features, their behaviour imputed).
- **Size.** N_s = the segment's shopping occasions in the training window, divided
  by the window's length in days, times ``horizon_days``. An occasion is a visit
  (basket) for transactions, a distinct (customer, date) for dated exposures. Without
  dates, each customer counts as one occasion per horizon.
- **Offers.** Each modelled product is a single-item offer whose ``bundle_id`` is its
  ``product_id``; bundles named in exposures keep their ids; mined bundles are
  ``B:<id>+<id>[+<id>]``. Offers never bought in training are left out.
  A fitted WTP below 0 (a segment that rarely buys an offer even on promotion) is
  left out of wtp.csv — a missing pair means "never buys", which is closer to the
  fitted model (buying probability below σ(β w) < 1/2 at every price, typically a
  few per cent) than a WTP of 0 would be. The report counts these pairs.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from formulations.errors import BundleoptError, DataError, InputError, ParameterError
from formulations.files import atomic_write_text, json_text
from formulations.options import SolverOptions
from formulations.scenario import Scenario
from formulations.validate import validate_scenario

from .bundles import complementarity, mine_bundles
from .data import DemandData, load_data
from .exposures import catalogue, implied_exposures, top_products, visits
from .features import behavioural_features, exposure_features
from .latent import latent_class_segments
from .report import holdout_scores
from .segmentation import CustomerSegmenter
from .wtp import WTPEstimate, estimate_wtp

FEATURES = ("auto", "customers", "behaviour", "both", "latent")
EXTRA_FILES = ("customer_segments.csv", "fit_report.json", "report.html")
VISIT_ASSUMPTION = ("every visit (basket_id, or one customer on one date) is a chance to buy each "
                    "modelled product at that day's shelf price (median unit price of the day, "
                    "carried forward on days without sales); bought = the product is in the basket. "
                    "A visit with no line at all in transactions.csv is invisible, so with only some "
                    "products' lines the estimates are conditional on a visit buying one of them")


@dataclass
class FitOptions:
    """Options of ``bundleopt fit`` (see the module docstring for their meaning)."""

    segments: str | int = "auto"          # "auto" | "given" | K
    horizon_days: float = 7.0
    max_bundles: int = 10
    max_products: int = 30
    min_support: float = 0.01
    min_lift: float = 1.2
    features: str = "auto"                # one of FEATURES
    holdout_from: str | None = None
    holdout_fraction: float = 0.2
    min_obs: int = 30
    min_events: int = 5
    k_max: int = 8
    seed: int = 0

    def check(self) -> None:
        """Raise :class:`ParameterError` for an option out of range."""
        s = self.segments
        if not (s in ("auto", "given") or (isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1)):
            raise ParameterError(f"--segments must be 'auto', 'given' or a number >= 1, got {s!r}")
        if self.features not in FEATURES:
            raise ParameterError(f"--features must be one of {', '.join(FEATURES)}, got {self.features!r}")
        if not self.horizon_days > 0:
            raise ParameterError(f"--horizon-days must be > 0, got {self.horizon_days}")
        for name, v, lo in (("--max-bundles", self.max_bundles, 0),
                            ("--max-products", self.max_products, 1), ("--min-obs", self.min_obs, 1),
                            ("--min-events", self.min_events, 1), ("--k-max", self.k_max, 2)):
            if not v >= lo:
                raise ParameterError(f"{name} must be >= {lo:g}, got {v}")
        if not 0 <= self.holdout_fraction < 1:
            raise ParameterError(f"--holdout-fraction must be in [0, 1), got {self.holdout_fraction}")
        if not 0 < self.min_support <= 1:
            raise ParameterError(f"--min-support must be in (0, 1], got {self.min_support}")


@dataclass
class FitResult:
    """A fitted scenario and everything written next to it."""

    scenario: Scenario
    customer_segments: pd.DataFrame
    report: dict
    estimate: WTPEstimate
    bundles: pd.DataFrame = field(default_factory=pd.DataFrame)


Progress = Callable[[str], None]


def _quiet(msg: str) -> None:
    return None


def _source_name(data: DemandData) -> str:
    return "exposures.csv" if data.exposures is not None else "transactions.csv"


def _split(exp: pd.DataFrame, opt: FitOptions) -> tuple[np.ndarray, dict]:
    """Boolean train mask over exposures and a description of the split."""
    if exp["date"].notna().all() and len(exp):
        days = np.sort(exp["date"].unique())
        if opt.holdout_from is not None:
            try:
                cut = np.datetime64(pd.Timestamp(opt.holdout_from))
            except (ValueError, TypeError):
                raise ParameterError(f"--holdout-from must be a date (YYYY-MM-DD), got {opt.holdout_from!r}") from None
        elif opt.holdout_fraction > 0 and len(days) >= 2:
            # At least one day on each side of the cut.
            first_held = int(np.ceil(len(days) * (1 - opt.holdout_fraction)))
            cut = days[min(max(first_held, 1), len(days) - 1)]
        else:
            cut = days[-1] + np.timedelta64(1, "D")
        train = (exp["date"] < cut).to_numpy()
        if not train.any():
            raise ParameterError(f"--holdout-from {pd.Timestamp(cut).date()} leaves no training data "
                                 f"(data start {pd.Timestamp(days[0]).date()})")
        tr_days = exp["date"][train]
        info = {"method": "date", "train_from": str(pd.Timestamp(tr_days.min()).date()),
                "train_to": str(pd.Timestamp(tr_days.max()).date()),
                "train_days": int((tr_days.max() - tr_days.min()).days) + 1}
        if (~train).any():
            te = exp["date"][~train]
            info.update(holdout_from=str(pd.Timestamp(te.min()).date()), holdout_to=str(pd.Timestamp(te.max()).date()))
        return train, info
    rng = np.random.default_rng(opt.seed)
    train = rng.random(len(exp)) >= opt.holdout_fraction
    return train, {"method": "random rows (no dates)", "holdout_fraction": opt.holdout_fraction,
                   "seed": opt.seed}


def _segment(data: DemandData, exp_train: pd.DataFrame, tx_train: pd.DataFrame | None,
             all_ids: pd.Index, opt: FitOptions, progress: Progress) -> tuple[pd.Series, dict]:
    """Segment id per customer (index ``all_ids``) and a description of how."""
    cust = data.customers
    has_given = cust is not None and "segment_id" in cust.columns
    if opt.segments == "given" and not has_given:
        raise DataError("customers.csv", "--segments given needs a segment_id column", field="segment_id")
    if opt.segments == "given" or (opt.segments == "auto" and has_given):
        seg = cust.set_index("customer_id")["segment_id"].astype(str).reindex(all_ids)
        return seg, {"method": "given", "k": int(seg.nunique()),
                     "customers_without_segment": int(seg.isna().sum())}
    feat_cols = [] if cust is None else [c for c in cust.columns if c not in ("customer_id", "segment_id")]
    k = None if opt.segments == "auto" else int(opt.segments)
    if opt.features == "latent" or (opt.features == "auto" and not feat_cols):
        progress(f"latent-class logit on {exp_train['customer_id'].nunique()} customers' purchases "
                 f"({'K=' + str(k) if k else 'K chosen by BIC'})")
        labels, info = latent_class_segments(exp_train, n_segments=k, k_max=opt.k_max, random_state=opt.seed)
        # Customers without training purchases data cannot be placed: the largest segment.
        full = labels.reindex(all_ids).fillna(0).astype(int)
        info.update(features=["purchases at prices (exposures)"], behavioural=True,
                    customers_without_training_data=int(labels.reindex(all_ids).isna().sum()))
        return pd.Series([f"S{i + 1}" for i in full], index=all_ids), info
    use_behaviour = opt.features in ("behaviour", "both")
    X = pd.DataFrame(index=all_ids)
    if feat_cols and opt.features != "behaviour":
        X = X.join(cust.set_index("customer_id")[feat_cols])
    if use_behaviour:
        if tx_train is not None and len(tx_train):
            beh = behavioural_features(tx_train, data.products)
        else:
            beh = exposure_features(exp_train)
        X = X.join(beh)
    info: dict = {"features": [str(c) for c in X.columns], "behavioural": bool(use_behaviour)}
    if X.shape[1] == 0:
        info.update(method="single segment (no customer features)", k=1)
        return pd.Series("S1", index=all_ids), info
    active = pd.Index(exp_train["customer_id"].unique())
    fit_ids = all_ids[all_ids.isin(active)] if use_behaviour else all_ids
    if k is None and len(fit_ids) < 3:
        info.update(method=f"single segment (only {len(fit_ids)} customer(s) to cluster)", k=1)
        return pd.Series("S1", index=all_ids), info
    progress(f"clustering {len(fit_ids)} customers on {X.shape[1]} features "
             f"({'K=' + str(k) if k else 'K chosen by silhouette, or BIC for categories only'})")
    model = CustomerSegmenter(n_segments=k, k_max=opt.k_max, random_state=opt.seed)
    model.fit(X.loc[fit_ids])
    labels = model.predict(X)
    info.update(method="latent class (categories only)" if model.mixture_ is not None else "kmeans",
                criterion=model.criterion_, k=int(model.n_segments_),
                scores={str(kk): round(v, 4) for kk, v in model.scores_.items()},
                fitted_on_customers=int(len(fit_ids)))
    return pd.Series([f"S{i + 1}" for i in labels], index=all_ids), info


def fit_data(data: DemandData, options: FitOptions | None = None, progress: Progress = _quiet,
             started: float | None = None) -> FitResult:
    """Fit segments, WTP and bundles in memory and build the scenario (nothing written).

    ``progress`` receives one line per step, timed from ``started`` (a
    ``time.perf_counter()`` value; default now).
    """
    opt = options or FitOptions()
    opt.check()
    t0 = time.perf_counter() if started is None else started

    def step(msg: str) -> None:
        progress(f"[{time.perf_counter() - t0:6.1f}s] {msg}")

    src = _source_name(data)
    tx = data.transactions
    vis = None
    if tx is not None and len(tx):
        vis = visits(tx)
    # --- offers and exposures
    if data.exposures is not None:
        exp = data.exposures.drop(columns="row").copy()
        products = sorted(set(exp.loc[~exp["is_bundle"], "offer_id"]))
        if data.bundles is not None:
            used = data.bundles[data.bundles["bundle_id"].isin(exp["offer_id"])]
            products = sorted(set(products) | set(used["product_id"]))
        assumption = "exposures.csv as given"
    else:
        cand = tx if data.products is None else tx[tx["product_id"].isin(data.products.index)]
        if cand.empty:
            raise DataError("products.csv", "none of its products appears in transactions.csv",
                            field="product_id")
        products = top_products(cand, opt.max_products)
        step(f"building exposures: {len(vis)} visits x {len(products)} products")
        exp = implied_exposures(tx, vis, products)
        exp["is_bundle"] = False
        assumption = VISIT_ASSUMPTION
    if exp.empty:
        raise DataError(src, "no usable rows after cleaning")
    train, split = _split(exp, opt)
    exp_train, exp_test = exp[train], exp[~train]
    n_buy = int(exp_train["purchased"].sum())
    if n_buy == 0 or n_buy == len(exp_train):
        what = "no exposure" if n_buy == 0 else "every exposure"
        raise DataError(src, f"in the training part ({len(exp_train)} exposures) {what} ends in a purchase: "
                             "there is no price response to learn",
                        field="purchased" if data.exposures is not None else None)
    tx_train = None
    if tx is not None:
        tx_train = tx[tx["date"] <= exp_train["date"].max()] if split["method"] == "date" else tx

    # --- segments
    ids = [exp["customer_id"]]
    if data.customers is not None:
        ids.insert(0, data.customers["customer_id"])
    if tx is not None:
        ids.append(tx["customer_id"])
    all_ids = pd.Index(pd.unique(pd.concat(ids, ignore_index=True)), name="customer_id")
    step(f"segmenting {len(all_ids)} customers")
    try:
        seg_of, seg_info = _segment(data, exp_train, tx_train, all_ids, opt, step)
    except ValueError as e:
        if isinstance(e, BundleoptError):
            raise
        raise ParameterError(f"cannot segment these customers: {e}") from None
    exp = exp.assign(segment_id=seg_of.reindex(exp["customer_id"]).to_numpy())
    unassigned = int(exp["segment_id"].isna().sum())
    exp_train, exp_test = exp[train & exp["segment_id"].notna().to_numpy()], exp[~train & exp["segment_id"].notna().to_numpy()]

    # --- WTP and β
    step(f"estimating WTP from {len(exp_train)} training exposures")
    try:
        est = estimate_wtp(exp_train, min_obs=opt.min_obs, min_events=opt.min_events)
    except ValueError as e:
        raise DataError(src, str(e)) from None

    # --- sizes
    segs = est.segments.copy()
    if split["method"] == "date":
        occ_key = ["visit"] if "visit" in exp_train.columns else ["customer_id", "date"]
        occ = exp_train.drop_duplicates(occ_key).groupby("segment_id").size()
        sizes = occ / split["train_days"] * opt.horizon_days
        size_method = "shopping occasions per day in the training window x horizon_days"
    else:
        occ = exp_train.drop_duplicates("customer_id").groupby("segment_id").size()
        sizes = occ.astype(float)
        size_method = "no dates: one shopping occasion per customer per horizon"
    segs["occasions"] = occ.reindex(segs.index).fillna(0).astype(int)
    segs["size"] = sizes.reindex(segs.index).fillna(0.0)
    segs["customers"] = seg_of.value_counts().reindex(segs.index).fillna(0).astype(int)

    # --- held-out scores
    holdout = None
    if len(exp_test):
        step(f"scoring {len(exp_test)} held-out exposures")
        prob = est.probability(exp_test["segment_id"], exp_test["offer_id"], exp_test["price"])
        holdout = holdout_scores(exp_train, exp_test, prob)

    # --- bundles mined from baskets
    mined = pd.DataFrame()
    single = [p for p in products if p in set(est.pooled.index)]
    if vis is not None and opt.max_bundles > 0:
        bprods = [p for p in single if p in set(tx["product_id"])]
        if len(bprods) >= 2:
            step(f"mining bundles among {len(bprods)} products")
            imp = exp if (data.exposures is None) else implied_exposures(tx, vis, bprods).assign(
                segment_id=lambda d: seg_of.reindex(d["customer_id"]).to_numpy())
            imp = imp[imp["offer_id"].isin(bprods)]
            in_train = (imp["date"] <= exp_train["date"].max()).to_numpy() if split["method"] == "date" \
                else np.ones(len(imp), dtype=bool)
            imp = imp[in_train & imp["segment_id"].notna().to_numpy()]
            ordered = imp.sort_values(["visit", "offer_id"], kind="stable")
            order = sorted(bprods)
            bought = ordered["purchased"].to_numpy().reshape(-1, len(order))
            mined = mine_bundles(bought, order, min_support=opt.min_support, min_lift=opt.min_lift,
                                 max_bundles=opt.max_bundles)
            if not mined.empty:
                pr = est.probability(ordered["segment_id"], ordered["offer_id"], ordered["price"])
                prob = np.nan_to_num(pr).reshape(-1, len(order))
                vseg = ordered["segment_id"].to_numpy()[:: len(order)]
                W = est.cells.pivot(index="segment_id", columns="offer_id", values="wtp")
                mined = complementarity(mined, order, bought, prob, vseg, W,
                                        est.segments["price_sensitivity"])

    scenario, clamped, notes = _build_scenario(data, est, segs, single, mined)
    step(f"scenario: {len(scenario.products)} products, {len(scenario.bundles)} offers, "
         f"{len(scenario.segments)} segments")
    cells = est.cells
    report = {
        "data": {"source": src, "exposure_assumption": assumption, "cleaning": data.cleaning,
                 "customers": int(len(all_ids)), "exposures": int(len(exp)),
                 "exposures_without_segment": unassigned,
                 "products_modelled": list(map(str, products)),
                 "offers_never_bought": est.dropped},
        "split": split,
        "segmentation": seg_info,
        "horizon_days": opt.horizon_days,
        "size_method": size_method,
        "segments": [
            {"segment_id": str(s), "customers": int(r["customers"]), "occasions": int(r["occasions"]),
             "size": float(r["size"]), "price_sensitivity": float(r["price_sensitivity"]),
             "price_sensitivity_se": float(r["se"]), "price_sensitivity_status": str(r["status"]),
             "n_obs": int(r["n_obs"])} for s, r in segs.iterrows()],
        "holdout": holdout,
        "estimates": [
            {"segment_id": str(r.segment_id), "offer_id": str(r.offer_id), "n_obs": int(r.n_obs),
             "n_purchases": int(r.n_purchases), "wtp": float(r.wtp),
             "se": None if not np.isfinite(r.se) else float(r.se), "status": str(r.status),
             "prior_weight": float(r.prior_weight)} for r in cells.itertuples()],
        "pooled": {
            "price_sensitivity": est.pooled_beta,
            "segments_with_pooled_price_sensitivity": [str(s) for s in segs.index[segs["status"] == "pooled"]],
            "cells_shrunk": int((cells["status"] == "shrunk").sum()),
            "cells_pooled": int((cells["status"] == "pooled").sum()),
            "rule": f"cells with < {opt.min_obs} exposures or < {opt.min_events} purchases/non-purchases are "
                    "shrunk toward the offer's all-segment estimate; unseen cells take it",
        },
        "wtp_negative_left_out": clamped,
        "notes": notes,
        "bundles": [] if mined.empty else [
            {"bundle_id": r.bundle_id, "products": list(r.products), "baskets": int(r.count),
             "support": float(r.support), "lift": float(r.lift), "adjusted_lift": float(r.adjusted_lift),
             "complementarity": float(r.complementarity)} for r in mined.itertuples()],
    }
    cs = pd.DataFrame({"customer_id": all_ids.to_numpy(), "segment_id": seg_of.to_numpy()})
    step("done")
    return FitResult(scenario=scenario, customer_segments=cs, report=report, estimate=est, bundles=mined)


def _build_scenario(data: DemandData, est: WTPEstimate, segs: pd.DataFrame, single: list[str],
                    mined: pd.DataFrame) -> tuple[Scenario, int, list[str]]:
    """Scenario from the estimates; also the number of negative WTPs left out, and notes."""
    cells = est.cells
    known = set(est.pooled.index)
    comp_rows, bundle_rows = [], []
    data_bundles = [] if data.bundles is None else [b for b in pd.unique(data.bundles["bundle_id"]) if b in known]
    for p in single:
        if p in data_bundles:
            continue
        comp_rows.append((p, p, 1))
        bundle_rows.append((p, 0.0))
    for b in data_bundles:
        for r in data.bundles[data.bundles["bundle_id"] == b].itertuples():
            comp_rows.append((b, r.product_id, int(r.quantity)))
        bundle_rows.append((b, 0.0))
    offer_wtp = cells[cells["offer_id"].isin([b for b, _ in bundle_rows])][["segment_id", "offer_id", "wtp"]]
    frames = [offer_wtp.rename(columns={"offer_id": "bundle_id"})]
    if not mined.empty:
        W = cells.pivot(index="segment_id", columns="offer_id", values="wtp")
        for r in mined.itertuples():
            for p in r.products:
                comp_rows.append((r.bundle_id, p, 1))
            bundle_rows.append((r.bundle_id, float(r.complementarity)))
            w = (1.0 + r.complementarity) * W[list(r.products)].sum(axis=1)
            frames.append(pd.DataFrame({"segment_id": W.index, "bundle_id": r.bundle_id, "wtp": w.to_numpy()}))
    wtp = pd.concat(frames, ignore_index=True)
    negative = (wtp["wtp"] < 0).to_numpy()
    wtp = wtp[~negative].reset_index(drop=True)
    wtp["wtp"] = wtp["wtp"].round(4)
    wtp["segment_id"] = wtp["segment_id"].astype(str)
    wtp["bundle_id"] = wtp["bundle_id"].astype(str)
    wtp["price_sensitivity"] = np.nan
    components = pd.DataFrame(comp_rows, columns=["bundle_id", "product_id", "quantity"])
    components["quantity"] = components["quantity"].astype("int64")
    bundles = pd.DataFrame({"complementarity": [k for _, k in bundle_rows], "min_price": np.nan,
                            "max_price": np.nan}, index=pd.Index([b for b, _ in bundle_rows], name="bundle_id"))
    prod_ids = list(dict.fromkeys(components["product_id"]))
    cat, notes = catalogue(data, prod_ids)
    segments = pd.DataFrame({"size": segs["size"].to_numpy(float).round(6),
                             "price_sensitivity": segs["price_sensitivity"].to_numpy(float).round(8)},
                            index=pd.Index(segs.index.astype(str), name="segment_id"))
    scenario = Scenario(products=cat[["unit_cost", "list_price", "inventory"]], components=components,
                        bundles=bundles, segments=segments, wtp=wtp, wtp_level="bundle",
                        pricing="uniform", choice_model="mnl", objective="profit",
                        solver=SolverOptions(backend="highs", time_limit=60.0), name="fitted")
    return validate_scenario(scenario, source="fit"), int(negative.sum()), notes


def write_fit(result: FitResult, out_dir: str | Path) -> None:
    """Write the scenario plus customer_segments.csv and fit_report.json, all or nothing.

    An existing ``out_dir`` is replaced only if it holds nothing but files a fit
    writes; anything else is refused rather than deleted.
    """
    from formulations.loading import SCENARIO_FILES, write_scenario

    root = Path(out_dir)
    allowed = set(SCENARIO_FILES) | set(EXTRA_FILES)
    if root.exists() and (not root.is_dir() or any(p.name not in allowed for p in root.iterdir())):
        raise InputError(str(root), "exists and is not a scenario directory; refusing to overwrite it")
    parent = root.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{root.name}.fit-"))
    try:
        target = tmp / "scenario"
        write_scenario(result.scenario, target)
        result.customer_segments.to_csv(target / "customer_segments.csv", index=False)
        atomic_write_text(target / "fit_report.json", json_text(result.report))
        if root.exists():
            shutil.rmtree(root)
        os.replace(target, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fit_scenario(data_dir: str | Path, out_dir: str | Path | None = None, options: FitOptions | None = None,
                 progress: Progress = _quiet) -> FitResult:
    """Load ``data_dir``, fit, and (if ``out_dir``) write the scenario directory."""
    t0 = time.perf_counter()
    (options or FitOptions()).check()          # a bad option fails before any reading
    progress(f"[{0.0:6.1f}s] loading {data_dir}")
    data = load_data(data_dir)
    progress(f"[{time.perf_counter() - t0:6.1f}s] loaded: " + ", ".join(
        f"{len(getattr(data, k))} {k}" for k in ("customers", "exposures", "transactions", "products")
        if getattr(data, k) is not None))
    result = fit_data(data, options, progress, started=t0)
    if out_dir is not None:
        write_fit(result, out_dir)
    return result

"""The fit pipeline: data directory -> segments -> WTP -> bundles -> scenario directory.

Decisions the contract leaves open (the data contract is docs/data.md; also in
``demand/README.md``):

- **Statistics, not rows.** Exposures are never expanded: per customer, the counts of
  exposures and purchases per (offer, price level) are kept as sparse matrices
  (:mod:`demand.stats`); every fit, score and bootstrap replicate aggregates them.
- **Split.** With dates, the last ``holdout_fraction`` of the distinct days (or every
  day from ``holdout_from``) is held out; the last ``validation_days`` of the training
  days (at most a third of them) are the **validation** slice that chooses the
  segments, the days before it the *fit part*. Without dates, seeded random shares of
  the rows. Everything written is fitted on all training days, so the report's
  held-out scores describe the written numbers.
- **Segments.** ``segments="auto"`` keeps customers.csv's ``segment_id`` when the
  column exists; otherwise K and the feature set are chosen on the validation slice
  and checked against one pooled segment on the held-out period
  (:mod:`demand.selection`). An integer clusters into that many; ``"given"`` requires
  the column. ``features="latent"`` (or neither customer features nor transactions)
  uses a latent-class logit on the purchases themselves (:mod:`demand.latent`, K by BIC).
- **Size.** N_s = the segment's shopping occasions in the training window, divided
  by the window's length in days, times ``horizon_days``. An occasion is a visit
  (basket) for transactions, a distinct (customer, date) for dated exposures. Without
  dates, each customer counts as one occasion per horizon.
- **Offers.** Each modelled product is a single-item offer whose ``bundle_id`` is its
  ``product_id``; bundles named in exposures keep their ids; mined bundles are
  ``B:<id>+<id>[+<id>]``. Offers never bought in training are left out.
  A fitted WTP below 0 (a segment that rarely buys an offer even on promotion) is
  written as it is: under ``choice_model: mnl`` it still buys with the fitted
  probability (below σ(β w) < 1/2 at every price ≥ 0, typically a few per cent),
  whereas a missing pair would say "never buys". The report counts these pairs
  (``wtp_negative``).
- **Uncertainty.** ``bootstrap`` replicates reweight customers (Poisson(1) weights on
  each customer's aggregated counts, segments held fixed) and re-run the WTP
  estimator on all replicates at once; each (segment, offer) WTP's spread is written
  as ``wtp_sd`` in wtp.csv.
- **Season** (``periods``). The shoppers of each segment in each of the ``periods``
  periods of ``period_days`` after the data's last date, forecast by
  :mod:`demand.forecast` from every dated occasion (held-out days included: they are
  the latest level) and written as ``periods.csv`` with ``horizon: {periods, salvage: 0}``
  in scenario.yaml (SCENARIO.md §8). ``segments.csv`` ``size`` is then shoppers per
  period: the options require ``horizon_days == period_days``.
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
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from formulations.errors import BundleoptError, DataError, InputError, ParameterError
from formulations.files import atomic_write_text, json_text
from formulations.options import SolverOptions
from formulations.scenario import Horizon, Scenario
from formulations.validate import validate_scenario

from .bundles import basket_evidence, mine_bundles
from .data import DemandData, load_data
from .exposures import catalogue, implied_exposures, top_products, visits
from .forecast import season_forecast
from .latent import latent_class_segments
from .options import FitOptions
from .report import holdout_scores
from .selection import Candidate, Scored, feature_table, cluster, fit_and_score, one_se_choice, wtp_spread
from .stats import ExposureStats, StatsBuilder
from .wtp import WTPEstimate, bootstrap_wtp, robust_sd

EXTRA_FILES = ("customer_segments.csv", "fit_report.json", "report.html")
VISIT_ASSUMPTION = ("every visit (basket_id, or one customer on one date) is a chance to buy each "
                    "modelled product at that day's shelf price (median unit price of the day, "
                    "carried forward on days without sales); bought = the product is in the basket. "
                    "A visit with no line at all in transactions.csv is invisible, so with only some "
                    "products' lines the estimates are conditional on a visit buying one of them")
LATENT_MAX_EXPOSURES = 5_000_000


@dataclass
class FitResult:
    """A fitted scenario and everything written next to it."""

    scenario: Scenario
    customer_segments: pd.DataFrame
    report: dict
    estimate: WTPEstimate
    bundles: pd.DataFrame = field(default_factory=pd.DataFrame)
    wtp_draws: pd.DataFrame | None = None     # bootstrap WTP per (segment, offer) x replicate
    periods: pd.DataFrame | None = None       # periods.csv (``period, segment_id, size``) with ``periods``


Progress = Callable[[str], None]


def _quiet(msg: str) -> None:
    return None


def _source_name(data: DemandData) -> str:
    return "exposures.csv" if data.exposures is not None else "transactions.csv"


@dataclass
class Periods:
    """Row masks (visits or exposure rows) of the fit part, validation slice, training and held-out."""

    fit: np.ndarray
    val: np.ndarray
    train: np.ndarray
    test: np.ndarray
    info: dict
    train_days: int | None = None
    cut: np.datetime64 | None = None          # first held-out day
    val_from: np.datetime64 | None = None     # first validation day


def _periods(dates: np.ndarray, opt: FitOptions) -> Periods:
    """Split rows by date (or at random without dates): see the module docstring."""
    n = len(dates)
    if n and not pd.isna(dates).any():
        days = np.sort(pd.unique(dates))
        if opt.holdout_from is not None:
            cut = np.datetime64(pd.Timestamp(opt.holdout_from))     # a date: FitOptions.check
        elif opt.holdout_fraction > 0 and len(days) >= 2:
            # At least one day on each side of the cut.
            first_held = int(np.ceil(len(days) * (1 - opt.holdout_fraction)))
            cut = days[min(max(first_held, 1), len(days) - 1)]
        else:
            cut = days[-1] + np.timedelta64(1, "D")
        train = dates < cut
        if not train.any():
            raise ParameterError(f"The 'holdout_from' option {pd.Timestamp(cut).date()} leaves no training "
                                 f"data (data start {pd.Timestamp(days[0]).date()})")
        tr_days = days[days < cut]
        # The validation slice: the last validation_days, at most a third of the training days.
        n_val = min(opt.validation_days, len(tr_days) // 3)
        val_from = tr_days[-n_val] if n_val >= 1 else tr_days[-1] + np.timedelta64(1, "D")
        val = train & (dates >= val_from)
        fit = train & ~val
        first, last = pd.Timestamp(tr_days[0]), pd.Timestamp(tr_days[-1])
        info = {"method": "date", "train_from": str(first.date()), "train_to": str(last.date()),
                "train_days": int((last - first).days) + 1}
        if val.any():
            info.update(validation_from=str(pd.Timestamp(val_from).date()), validation_to=str(last.date()))
        if (~train).any():
            te = days[days >= cut]
            info.update(holdout_from=str(pd.Timestamp(te[0]).date()), holdout_to=str(pd.Timestamp(te[-1]).date()))
        return Periods(fit, val, train, ~train, info, info["train_days"], cut, val_from)
    rng = np.random.default_rng(opt.seed)
    u = rng.random(n)
    train = u >= opt.holdout_fraction
    val = train & (rng.random(n) < 0.2)
    return Periods(train & ~val, val, train, ~train,
                   {"method": "random rows (no dates)", "holdout_fraction": opt.holdout_fraction,
                    "validation_fraction_of_training": 0.2, "seed": opt.seed})


def _feature_sets(data: DemandData, opt: FitOptions) -> list[str]:
    cust = data.customers
    has_cols = cust is not None and any(c not in ("customer_id", "segment_id") for c in cust.columns)
    has_tx = data.transactions is not None and len(data.transactions) > 0
    if opt.features in ("customers", "behaviour", "both"):
        return [opt.features]
    out = (["customers"] if has_cols else []) + (["behaviour"] if has_tx else [])
    if has_cols and has_tx:
        out.append("both")
    return out


class _Fit:
    """One fit's shared state: the data, its periods and their statistics."""

    def __init__(self, data: DemandData, opt: FitOptions, step: Progress) -> None:
        self.data, self.opt, self.step = data, opt, step
        tx = data.transactions
        self.vis = visits(tx) if tx is not None and len(tx) else None
        ids = [] if data.customers is None else [data.customers["customer_id"]]
        if data.exposures is not None:
            ids.append(data.exposures["customer_id"])
        if tx is not None:
            ids.append(tx["customer_id"])
        self.ids = pd.Index(pd.unique(pd.concat(ids, ignore_index=True)), name="customer_id")
        src = _source_name(data)
        if data.exposures is not None:
            exp = data.exposures.drop(columns="row")
            self.exp = exp
            self.per = _periods(exp["date"].to_numpy(), opt)
            products = sorted(set(exp.loc[~exp["is_bundle"], "offer_id"]))
            if data.bundles is not None:
                used = data.bundles[data.bundles["bundle_id"].isin(exp["offer_id"])]
                products = sorted(set(products) | set(used["product_id"]))
            self.products = products
            self.assumption = "exposures.csv as given"
            self.builder = StatsBuilder.from_exposures(exp, self.ids)
        else:
            self.exp = None
            self.per = _periods(self.vis["date"].to_numpy(), opt)
            cand = tx if data.products is None else tx[tx["product_id"].isin(data.products.index)]
            if cand.empty:
                raise DataError("products.csv", "none of its products appears in transactions.csv",
                                field="product_id")
            if self.per.cut is not None:
                cand = cand[cand["date"] < self.per.cut]   # chosen on training days only
            self.products = top_products(cand, opt.max_products)
            step(f"sufficient statistics: {len(self.vis)} visits x {len(self.products)} products "
                 "(aggregated per customer, day and price level; never expanded)")
            self.builder = StatsBuilder.from_transactions(tx, self.vis, self.products, self.ids)
            self.assumption = VISIT_ASSUMPTION
        b, p = self.builder, self.per
        self.train = b.period(p.train)
        self.test = b.period(p.test) if p.test.any() else None
        self.has_val = bool(p.val.any()) and bool(p.fit.any())
        self.fit = b.period(p.fit) if self.has_val else self.train
        self.val = b.period(p.val) if self.has_val else self.train
        n_exp = float(np.asarray(self.train.U.sum(axis=0)).ravel() @ np.asarray(self.train.P.sum(axis=1)).ravel())
        n_buy = float(self.train.K.sum())
        self.n_exposures = n_exp
        if n_exp == 0 or n_buy == 0 or n_buy == n_exp:
            what = "no exposure" if n_buy == 0 else "every exposure"
            raise DataError(src, f"in the training part ({int(n_exp)} exposures) {what} ends in a purchase: "
                                 "there is no price response to learn",
                            field="purchased" if data.exposures is not None else None)

    def sellable(self, est: WTPEstimate) -> list[str]:
        """The fit's products (in its order) that got a WTP: those sold alone."""
        have = set(est.pooled.index)
        return [p for p in self.products if p in have]

    def rows_until(self, until: np.datetime64 | None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        """Transactions and exposure rows before ``until`` (behaviour features of a period)."""
        tx, exp = self.data.transactions, self.exp
        if until is None:
            return tx, exp
        return (None if tx is None else tx[tx["date"] < until],
                None if exp is None else exp[exp["date"] < until])


def _search(f: _Fit, sets: list[str], ks: list[int]) -> list[Candidate]:
    """Score every (feature set, K) on the validation slice, then refit on training and score held-out."""
    opt = f.opt
    tx_fit, exp_fit = f.rows_until(f.per.val_from if f.has_val else f.per.cut)
    tx_tr, exp_tr = f.rows_until(f.per.cut)
    cands = [Candidate("none", 1)] + [Candidate(s, k) for s in sets for k in ks if k > 1]
    tables: dict = {}
    for c in cands:
        try:
            if c.k == 1:
                lab_v = lab_t = np.zeros(len(f.ids), dtype=int)
            else:
                if c.features not in tables:
                    tables[c.features] = (feature_table(f.data, c.features, f.ids, tx_fit, exp_fit),
                                          feature_table(f.data, c.features, f.ids, tx_tr, exp_tr))
                (Xv, on_v), (Xt, on_t) = tables[c.features]
                lab_v = cluster(Xv, on_v, c.k, opt.seed)
                # customers.csv's columns do not change between periods: the same clustering.
                lab_t = lab_v if c.features == "customers" else cluster(Xt, on_t, c.k, opt.seed)
            c.validation = fit_and_score(lab_v, f.fit, f.val, opt.min_obs, opt.min_events)
            if f.test is not None:
                c.test = fit_and_score(lab_t, f.train, f.test, opt.min_obs, opt.min_events)
            else:
                c.test = fit_and_score(lab_t, f.train, f.train, opt.min_obs, opt.min_events)
                c.test.scores = {"log_loss": None, "auc": None}
        except ValueError as e:
            if isinstance(e, BundleoptError):
                raise
            c.note = str(e)
        f.step(f"  K={c.k} {c.features}: validation log-loss "
               + (f"{c.validation.scores['log_loss']:.5f}" if c.validation else f"n/a ({c.note})"))
    return cands


def _k_search_report(cands: list[Candidate]) -> list[dict]:
    out = []
    for c in cands:
        if c.validation is None:
            out.append({"k": c.k, "features": c.features, "validation": None, "test": None,
                        "wtp_spread": None, "note": c.note})
            continue
        out.append({"k": c.k, "features": c.features, "validation": c.validation.scores,
                    "test": c.test.scores if c.test else None,
                    "wtp_spread": wtp_spread(c.test.estimate if c.test else c.validation.estimate),
                    "within_one_se_of_best": c.within_one_se, **c.extra})
    return out


def _segment(f: _Fit) -> tuple[np.ndarray, list[str], dict, Scored]:
    """Segment code per customer (−1 = none), segment ids, a description, and the final fit."""
    data, opt, step = f.data, f.opt, f.step
    cust = data.customers
    has_given = cust is not None and "segment_id" in cust.columns
    if opt.segments == "given" and not has_given:
        raise DataError("customers.csv", "the 'segments' option 'given' needs a segment_id column",
                        field="segment_id")
    score_on = f.test if f.test is not None else f.train
    if opt.segments == "given" or (opt.segments == "auto" and has_given):
        given = cust.set_index("customer_id")["segment_id"].astype(str).reindex(f.ids)
        ids = sorted(given.dropna().unique())
        labels = pd.Index(ids).get_indexer(given.to_numpy())
        final = fit_and_score(labels, f.train, score_on, opt.min_obs, opt.min_events, ids=ids)
        return labels, ids, {"method": "given", "criterion": "given", "k": len(ids), "chosen_k": len(ids),
                             "customers_without_segment": int((labels < 0).sum())}, final
    sets = _feature_sets(data, opt)
    k_fixed = None if opt.segments == "auto" else int(opt.segments)
    if opt.features == "latent" or not sets:
        return _latent(f, k_fixed, score_on)
    ks = list(range(2, opt.k_max + 1)) if k_fixed is None else [k_fixed]
    step(f"choosing segments on the validation slice: K in {[1] + [k for k in ks if k > 1]}, "
         f"features {', '.join(sets)}")
    cands = _search(f, sets, ks)
    info: dict = {"features_tried": sets, "validation": f.per.info.get("validation_from", "in-sample"),
                  "k_search": None}
    scored = [c for c in cands if c.validation is not None]
    if not scored:
        raise ParameterError("cannot segment these customers: " + "; ".join(c.note for c in cands))
    one_se, best = one_se_choice(scored, float(scored[0].validation.score_rows["n"].sum()))
    if k_fixed is not None:
        chosen = next((c for c in scored if c.k == k_fixed), scored[0])
        info.update(criterion="given", method="kmeans / latent class (K given)")
    else:
        chosen = one_se
        info.update(criterion="validation log-likelihood (one-standard-error rule)",
                    method="kmeans / latent class per feature set", best=best["best"])
    k1 = next(c for c in cands if c.k == 1)
    check = None
    if f.test is not None and chosen.k > 1 and k1.test is not None:
        better = chosen.test.scores["log_loss"] < k1.test.scores["log_loss"]
        check = {"chosen": {"k": chosen.k, "features": chosen.features, **chosen.test.scores},
                 "pooled_k1": k1.test.scores, "chosen_beats_k1": bool(better)}
        if not better and k_fixed is None:
            check["note"] = (f"the chosen K={chosen.k} ({chosen.features}) does not predict the held-out "
                             "period better than one pooled segment: K = 1 is used")
            step(check["note"])
            chosen = k1
    info.update(k=chosen.k, chosen_k=chosen.k, features=[chosen.features] if chosen.k > 1 else [],
                final_check=check, k_search=_k_search_report(cands))
    final = chosen.test
    return final.labels, final.segment_ids, info, final


def _latent(f: _Fit, k: int | None, score_on: ExposureStats) -> tuple[np.ndarray, list[str], dict, Scored]:
    """Latent-class logit on the training purchases (needs exposure rows; small data only)."""
    opt = f.opt
    if f.exp is not None:
        exp_train = f.exp[f.per.train]
    else:
        if f.per.train.sum() * len(f.products) > LATENT_MAX_EXPOSURES:
            raise ParameterError("The 'features' option 'latent' needs every (visit, product) exposure in "
                                 f"memory: {int(f.per.train.sum())} visits x {len(f.products)} products is too "
                                 "many; use 'customers', 'behaviour' or 'both'")
        imp = implied_exposures(f.data.transactions, f.vis, f.products)
        exp_train = imp[f.per.train[imp["visit"].to_numpy()]]
    f.step(f"latent-class logit on {exp_train['customer_id'].nunique()} customers' purchases "
           f"({'K=' + str(k) if k else 'K chosen by BIC'})")
    labels, info = latent_class_segments(exp_train, n_segments=k, k_max=opt.k_max, random_state=opt.seed)
    full = labels.reindex(f.ids)
    codes = full.fillna(0).astype(int).to_numpy()
    info.update(features=["purchases at prices (exposures)"], behavioural=True, chosen_k=int(info["k"]),
                customers_without_training_data=int(full.isna().sum()))
    final = fit_and_score(codes, f.train, score_on, opt.min_obs, opt.min_events)
    return codes, final.segment_ids, info, final


def _profiles(f: _Fit, labels: np.ndarray, ids: list[str]) -> dict[str, dict]:
    """Per segment: shares of each customers.csv category, means of its numbers, visits and spend."""
    out: dict[str, dict] = {s: {} for s in ids}
    cust = f.data.customers
    cols = [] if cust is None else [c for c in cust.columns if c not in ("customer_id", "segment_id")]
    X = cust.set_index("customer_id")[cols].reindex(f.ids) if cols else pd.DataFrame(index=f.ids)
    tx, _ = f.rows_until(f.per.cut)
    if tx is not None and len(tx):
        g = tx.groupby("customer_id")
        X["visits"] = tx.drop_duplicates(["customer_id", "date", "basket_id"]).groupby("customer_id").size() \
            .reindex(f.ids).fillna(0.0)
        X["spend"] = g["revenue"].sum().reindex(f.ids).fillna(0.0)
    lab = pd.Series(labels, index=f.ids)
    for c in X.columns:
        col = X[c]
        if pd.api.types.is_numeric_dtype(col):
            m = col.groupby(lab.to_numpy()).mean()
            for code, v in m.items():
                if code >= 0:
                    out[ids[code]][f"mean_{c}" if c not in ("visits", "spend") else c] = float(v)
        else:
            top = col.value_counts().index[:8]
            sh = pd.crosstab(lab.to_numpy(), col.where(col.isin(top), "other").fillna("blank").to_numpy(),
                             normalize="index")
            for code, row in sh.iterrows():
                if code >= 0:
                    out[ids[code]].update({f"{c}={lev}": round(float(v), 4) for lev, v in row.items()})
    if "visits" in X.columns:
        for s in ids:
            if out[s].get("visits"):
                out[s]["spend_per_visit"] = out[s]["spend"] / out[s]["visits"]
    return out


def _bootstrap(f: _Fit, labels: np.ndarray, final: Scored) -> np.ndarray:
    """WTP per cell (``final.estimate.cells`` order) under each customer-bootstrap replicate."""
    rng = np.random.default_rng(f.opt.seed + 1)
    weights = rng.poisson(1.0, (f.opt.bootstrap, len(f.ids))).astype(float)
    n, k = f.train.bootstrap(labels, len(final.segment_ids), weights)
    r = final.rows
    return bootstrap_wtp(final.estimate, n[:, r["s"].to_numpy(), r["g"].to_numpy()],
                         k[:, r["s"].to_numpy(), r["g"].to_numpy()])


def _mine(f: _Fit, labels: np.ndarray, final: Scored) -> pd.DataFrame:
    """Bundles mined on the fit part's baskets; κ on the validation baskets; held-out evidence."""
    opt, est, b = f.opt, final.estimate, f.builder
    single = sorted(f.sellable(est))
    if b.baskets is None or opt.max_bundles <= 0 or len(single) < 2:
        return pd.DataFrame()
    cols = pd.Index(f.products).get_indexer(single)
    mining = f.per.fit if f.has_val else f.per.train
    f.step(f"mining bundles among {len(single)} products in {int(mining.sum())} baskets "
           f"(>= {opt.min_baskets} baskets, lift >= {opt.min_lift})")
    mined = mine_bundles(b.baskets[mining][:, cols], single, min_support=opt.min_support,
                         min_count=opt.min_baskets, min_lift=opt.min_lift, max_bundles=opt.max_bundles)
    if mined.empty:
        return mined
    ids = final.segment_ids
    W = est.cells.pivot(index="segment_id", columns="offer_id", values="wtp").reindex(index=ids, columns=single)
    beta = est.segments["price_sensitivity"].reindex(ids).to_numpy(float)
    prices = b.prices[single].to_numpy(float)
    Z = sp.csr_matrix((np.ones(int((labels >= 0).sum())), (labels[labels >= 0], np.flatnonzero(labels >= 0))),
                      shape=(len(ids), len(labels)))

    def evidence(mask: np.ndarray, st: ExposureStats) -> pd.DataFrame:
        """``st``: the fit's statistics of the period ``mask`` selects."""
        return basket_evidence(mined, single, b.baskets[mask][:, cols], np.asarray((Z @ st.U).todense()),
                               prices, W.to_numpy(float), beta)

    ev = evidence(f.per.val, f.val) if f.has_val else evidence(f.per.train, f.train)
    mined["adjusted_lift"] = ev["adjusted_lift"].to_numpy()
    mined["wtp_uplift"] = ev["wtp_uplift"].to_numpy()
    mined["complementarity_evidence"] = ev.drop(columns="wtp_uplift").to_dict("records")
    mined["holdout_evidence"] = evidence(f.per.test, f.test).drop(columns="wtp_uplift").to_dict(
        "records") if f.test is not None else None
    return mined


def fit_data(data: DemandData, options: FitOptions | None = None, progress: Progress = _quiet,
             started: float | None = None) -> FitResult:
    """Fit segments, WTP and bundles in memory and build the scenario (nothing written).

    ``progress`` receives one line per step, timed from ``started`` (a
    ``time.perf_counter()`` value; default now).
    """
    # One thread: on shared, busy cores k-means' OpenMP threads made it ~15x slower.
    with threadpool_limits(limits=1):
        return _fit_data(data, options, progress, started)


@dataclass
class _Segmented:
    """The chosen segments: a code per customer (−1 = none), their ids, how they were chosen, the final fit."""

    labels: np.ndarray
    ids: list[str]
    info: dict
    final: Scored


def _fit_data(data: DemandData, options: FitOptions | None, progress: Progress,
              started: float | None) -> FitResult:
    """The steps of :func:`fit_data`, in order; each step's rules are in the module docstring."""
    opt = options or FitOptions()
    opt.check()
    t0 = time.perf_counter() if started is None else started

    def step(msg: str) -> None:
        progress(f"[{time.perf_counter() - t0:6.1f}s] {msg}")

    f = _Fit(data, opt, step)
    if opt.periods is not None and f.per.train_days is None:
        raise ParameterError(f"The 'periods' option needs a date on every row of {_source_name(data)}: "
                             "the forecast counts shoppers per period of days")
    step(f"segmenting {len(f.ids)} customers")
    seg = _segmented(f)
    est = seg.final.estimate
    step(f"segments: K={len(seg.ids)}; WTP from {int(seg.final.rows['n'].sum())} training exposures "
         f"({len(seg.final.rows)} segment x offer x price cells)")
    segs, size_method = _sizes(f, seg)
    periods, season = _season(f, seg)
    holdout = _holdout(f, seg)
    mined = _mine(f, seg.labels, seg.final)
    single = f.sellable(est)
    draws = _uncertainty(f, seg)
    scenario, negative, notes = _build_scenario(data, est, segs, single, mined, draws)
    if seg.info.get("final_check") and seg.info["final_check"].get("note"):
        notes.append(seg.info["final_check"]["note"])
    step(f"scenario: {len(scenario.products)} products, {len(scenario.bundles)} offers, "
         f"{len(scenario.segments)} segments")
    report = _fit_report(f, seg, segs, size_method, holdout, mined, negative, notes)
    if season is not None:
        report["season"] = season
    step("done")
    return FitResult(scenario=scenario, customer_segments=_customer_segments(f, seg), report=report,
                     estimate=est, bundles=mined, wtp_draws=draws, periods=periods)


def _segmented(f: _Fit) -> _Segmented:
    """:func:`_segment`; a plain ValueError on the way (too little data) is the data's problem."""
    try:
        return _Segmented(*_segment(f))
    except ValueError as e:
        if isinstance(e, BundleoptError):
            raise
        raise DataError(_source_name(f.data), str(e)) from None


def _sizes(f: _Fit, seg: _Segmented) -> tuple[pd.DataFrame, str]:
    """The segments' table with occasions, size N_s and customers; and how N_s was computed."""
    labels, k = seg.labels, len(seg.ids)
    segs = seg.final.estimate.segments.copy()
    occ = pd.Series(np.bincount(labels[labels >= 0], f.train.occasions[labels >= 0], k), index=seg.ids)
    if f.per.train_days:
        sizes = occ / f.per.train_days * f.opt.horizon_days
        size_method = "shopping occasions per day in the training window x horizon_days"
        if f.opt.periods is not None:
            size_method += " (= period_days: shoppers per period)"
    else:
        sizes = occ.astype(float)
        size_method = "no dates: one shopping occasion per customer per horizon"
    segs["occasions"] = occ.reindex(segs.index).fillna(0).astype(int)
    segs["size"] = sizes.reindex(segs.index).fillna(0.0)
    segs["customers"] = pd.Series(np.bincount(labels[labels >= 0], minlength=k),
                                  index=seg.ids).reindex(segs.index).fillna(0).astype(int)
    return segs, size_method


def _season(f: _Fit, seg: _Segmented) -> tuple[pd.DataFrame | None, dict | None]:
    """periods.csv and the report's ``season`` (None, None without ``periods``): see :mod:`demand.forecast`."""
    opt, b = f.opt, f.builder
    if opt.periods is None:
        return None, None
    cust, days = b.row_customer, np.asarray(b.row_dates).astype("datetime64[D]")
    if not b.rows_are_occasions:
        # An occasion is a distinct (customer, date), as for the sizes (demand/stats.py).
        key = pd.DataFrame({"c": cust, "d": days}).drop_duplicates()
        cust, days = key["c"].to_numpy(), key["d"].to_numpy()
    f.step(f"forecasting shoppers per segment for {opt.periods} periods of {opt.period_days} days "
           "(simple exponential smoothing; backtest on the last 4 periods)")
    try:
        table, season = season_forecast(days, seg.labels[cust], [str(s) for s in seg.ids], opt.periods,
                                        opt.period_days, days.max())
    except ValueError as e:
        raise DataError(_source_name(f.data), str(e), field="date") from None
    bt = season["backtest"]
    if "wape" in bt:
        f.step(f"backtest WAPE over the last {bt['holdout_periods']} periods: exponential smoothing "
               f"{_pct(bt['wape']['ses'])}, naive last value {_pct(bt['wape']['naive_last_value'])}")
    else:
        f.step(f"backtest skipped: {bt['skipped']}")
    return table, season


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def _holdout(f: _Fit, seg: _Segmented) -> dict | None:
    """Held-out scores of the chosen segments and of K = 1 on the same exposures (None: no held-out part)."""
    if f.test is None:
        return None
    f.step("scoring the held-out period")
    final, opt = seg.final, f.opt
    holdout = holdout_scores(final.rows, final.score_rows, final.score_rows["prob"].to_numpy())
    # K = 1's held-out scores from the K search when it ran; else scored here.
    k1 = next((c for c in (seg.info.get("k_search") or []) if c["k"] == 1), None)
    holdout["pooled_k1"] = k1["test"] if k1 else fit_and_score(
        np.zeros(len(f.ids), dtype=int), f.train, f.test, opt.min_obs, opt.min_events).scores
    return holdout


def _uncertainty(f: _Fit, seg: _Segmented) -> pd.DataFrame | None:
    """Bootstrap WTP per cell x replicate (None without --bootstrap); sets the cells' ``wtp_sd``."""
    cells = seg.final.estimate.cells
    cells["wtp_sd"] = np.nan
    if f.opt.bootstrap <= 0:
        return None
    tb = time.perf_counter()
    f.step(f"bootstrap: {f.opt.bootstrap} customer-reweighted replicates of the WTP estimator")
    reps = _bootstrap(f, seg.labels, seg.final)
    cells["wtp_sd"] = robust_sd(reps, axis=0)
    draws = pd.DataFrame(reps.T, index=pd.MultiIndex.from_frame(cells[["segment_id", "offer_id"]]))
    f.step(f"bootstrap done in {time.perf_counter() - tb:.1f}s")
    return draws


def _customer_segments(f: _Fit, seg: _Segmented) -> pd.DataFrame:
    """customer_segments.csv: every customer's segment id (blank: none)."""
    labels = seg.labels
    return pd.DataFrame({"customer_id": f.ids.to_numpy(),
                         "segment_id": np.where(labels >= 0,
                                                np.asarray(seg.ids, dtype=object)[np.maximum(labels, 0)], None)})


def _fit_report(f: _Fit, seg: _Segmented, segs: pd.DataFrame, size_method: str, holdout: dict | None,
                mined: pd.DataFrame, negative: int, notes: list[str]) -> dict:
    """fit_report.json: what was fitted from what, how well it predicts, and every estimate."""
    opt, est = f.opt, seg.final.estimate
    return {
        "data": _data_report(f, seg),
        "split": f.per.info,
        "segmentation": {k: v for k, v in seg.info.items() if k != "k_search"},
        "k_search": seg.info.get("k_search") or [],
        "chosen_k": int(len(seg.ids)),
        "horizon_days": opt.horizon_days,
        "size_method": size_method,
        "segments": _segments_report(segs, _profiles(f, seg.labels, seg.ids)),
        "holdout": holdout,
        "estimates": _estimates_report(est.cells),
        "bootstrap": {"replicates": opt.bootstrap,
                      "method": "Poisson(1) weights per customer on the aggregated counts; segments held "
                                "fixed; wtp_sd = (95th - 5th percentile) / 3.29"} if opt.bootstrap else None,
        "pooled": _pooled_report(est, segs, opt),
        "wtp_negative": negative,
        "notes": notes,
        "bundles": _bundles_report(mined),
    }


def _data_report(f: _Fit, seg: _Segmented) -> dict:
    est, labels = seg.final.estimate, seg.labels
    return {"source": _source_name(f.data), "exposure_assumption": f.assumption, "cleaning": f.data.cleaning,
            "customers": int(len(f.ids)), "exposures": int(round(f.n_exposures)),
            "exposures_represented_as": "sufficient statistics per (customer, offer, price level)",
            "cells": int(len(seg.final.rows)),
            "exposures_without_segment": int(round((f.train.U[labels < 0] @ f.train.P).sum())),
            "products_modelled": list(map(str, f.products)),
            "offers_never_bought": est.dropped}


def _segments_report(segs: pd.DataFrame, profiles: dict[str, dict]) -> list[dict]:
    return [{"segment_id": str(s), "customers": int(r["customers"]), "occasions": int(r["occasions"]),
             "size": float(r["size"]), "price_sensitivity": float(r["price_sensitivity"]),
             "price_sensitivity_se": float(r["se"]), "price_sensitivity_status": str(r["status"]),
             "n_obs": int(r["n_obs"]), "profile": profiles.get(str(s), {})} for s, r in segs.iterrows()]


def _estimates_report(cells: pd.DataFrame) -> list[dict]:
    return [{"segment_id": str(r.segment_id), "offer_id": str(r.offer_id), "n_obs": int(r.n_obs),
             "n_purchases": int(r.n_purchases), "wtp": float(r.wtp),
             "se": None if not np.isfinite(r.se) else float(r.se),
             "wtp_sd": None if not np.isfinite(r.wtp_sd) else float(r.wtp_sd), "status": str(r.status),
             "prior_weight": float(r.prior_weight)} for r in cells.itertuples()]


def _pooled_report(est: WTPEstimate, segs: pd.DataFrame, opt: FitOptions) -> dict:
    cells = est.cells
    return {
        "price_sensitivity": est.pooled_beta,
        "segments_with_pooled_price_sensitivity": [str(s) for s in segs.index[segs["status"] == "pooled"]],
        "cells_shrunk": int((cells["status"] == "shrunk").sum()),
        "cells_pooled": int((cells["status"] == "pooled").sum()),
        "rule": f"cells with < {opt.min_obs} exposures or < {opt.min_events} purchases/non-purchases are "
                "shrunk toward the offer's all-segment estimate; unseen cells take it",
    }


def _bundles_report(mined: pd.DataFrame) -> list[dict]:
    return [] if mined.empty else [
        {"bundle_id": r.bundle_id, "products": list(r.products), "baskets": int(r.count),
         "support": float(r.support), "lift": float(r.lift), "adjusted_lift": float(r.adjusted_lift),
         "wtp_uplift": float(r.wtp_uplift), "complementarity": float(r.complementarity),
         "complementarity_evidence": r.complementarity_evidence,
         "holdout_evidence": r.holdout_evidence} for r in mined.itertuples()]


def _build_scenario(data: DemandData, est: WTPEstimate, segs: pd.DataFrame, single: list[str],
                    mined: pd.DataFrame, draws: pd.DataFrame | None = None) -> tuple[Scenario, int, list[str]]:
    """Scenario from the estimates; also the number of negative WTPs written, and notes.

    A negative WTP (a rare buyer: median reservation price below 0) is written as it is —
    under ``mnl`` it still buys with probability ``exp(β(w − p)) / (1 + …)``; leaving it out
    would say "never buys". Mined bundles get ``w = Σ w_i + δ`` (demand/bundles.py) and
    ``mined["complementarity"] = δ / R_b`` (R_b: the bundle's list price) is set here.
    """
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
    offer_wtp = cells[cells["offer_id"].isin([b for b, _ in bundle_rows])][
        ["segment_id", "offer_id", "wtp", "wtp_sd"]]
    frames = [offer_wtp.rename(columns={"offer_id": "bundle_id"})]
    if not mined.empty:
        W = cells.pivot(index="segment_id", columns="offer_id", values="wtp")
        # Replicates as segments x offers x B, in W's order (cells are sorted the same way).
        rep = None if draws is None else draws.to_numpy().reshape(len(W.index), len(W.columns), -1)
        for r in mined.itertuples():
            for p in r.products:
                comp_rows.append((r.bundle_id, p, 1))
            bundle_rows.append((r.bundle_id, np.nan))          # κ once list prices are known
            w = W[list(r.products)].sum(axis=1) + r.wtp_uplift
            sd = np.full(len(W), np.nan)
            if rep is not None:
                # The bundle's WTP in each replicate: its components' replicate WTPs + δ (fixed).
                sd = robust_sd(rep[:, W.columns.get_indexer(list(r.products))].sum(axis=1), axis=1)
            frames.append(pd.DataFrame({"segment_id": W.index, "bundle_id": r.bundle_id, "wtp": w.to_numpy(),
                                        "wtp_sd": sd}))
    wtp = pd.concat(frames, ignore_index=True)
    negative = (wtp["wtp"] < 0).to_numpy()
    wtp["wtp"] = wtp["wtp"].round(4)
    # Significant digits, not decimals: a small standard error must not print as 0.
    wtp["wtp_sd"] = [float(f"{v:.6g}") if np.isfinite(v) else np.nan for v in wtp["wtp_sd"].to_numpy(float)]
    wtp["segment_id"] = wtp["segment_id"].astype(str)
    wtp["bundle_id"] = wtp["bundle_id"].astype(str)
    wtp["price_sensitivity"] = np.nan
    components = pd.DataFrame(comp_rows, columns=["bundle_id", "product_id", "quantity"])
    components["quantity"] = components["quantity"].astype("int64")
    prod_ids = list(dict.fromkeys(components["product_id"]))
    cat, notes = catalogue(data, prod_ids)
    bundles = pd.DataFrame({"complementarity": [k for _, k in bundle_rows], "min_price": np.nan,
                            "max_price": np.nan}, index=pd.Index([b for b, _ in bundle_rows], name="bundle_id"))
    if not mined.empty:
        ref = np.array([cat["list_price"].reindex(list(p)).sum() for p in mined["products"]])
        mined["complementarity"] = np.round(mined["wtp_uplift"].to_numpy(float) / ref, 8)
        bundles.loc[mined["bundle_id"].to_numpy(), "complementarity"] = mined["complementarity"].to_numpy()
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
        write_scenario(_with_season(result.scenario, result.periods), target)
        result.customer_segments.to_csv(target / "customer_segments.csv", index=False)
        atomic_write_text(target / "fit_report.json", json_text(result.report))
        if root.exists():
            shutil.rmtree(root)
        os.replace(target, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _with_season(scenario: Scenario, periods: pd.DataFrame | None) -> Scenario:
    """The fitted scenario with ``horizon: {periods: N, salvage: 0}`` and periods.csv
    (SCENARIO.md §8) when the fit forecast ``periods``; unchanged otherwise."""
    if periods is None:
        return scenario
    labels = tuple(str(t) for t in range(1, int(periods["period"].max()) + 1))
    rows = periods.assign(period=periods["period"].astype(str))
    return scenario.replace(horizon=Horizon(labels), periods=rows)


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

"""Synthetic demand data with a known truth (``bundleopt simulate-data``).

Customers belong to well-separated segments that show in their features (two
numbers and a region category; a second category is pure noise). Each customer
visits on random days (Poisson, the same rate in every segment so a segment's share
of visits equals its share of customers in expectation). Purchases follow exactly the
model ``fit`` assumes: a shopper of segment s buys product j at price p with
probability ``σ(β_s (w_sj − p))``.

- ``kind="exposures"``: each visit shows ``offers_per_visit`` random products at
  randomised prices (uniform between 60 % and 130 % of list) — a price test log.
- ``kind="transactions"``: every product is on the shelf at a price drawn per day
  (125 % of the reference price on regular days, 110/95/80 % on promotion days), and only purchases are recorded (the visit assumption of
  :mod:`demand.exposures` holds by construction). ``complements`` pairs get a shared
  per-visit utility shock, so they are bought together more often than independence
  predicts. With ``other_line`` (default) every visit also buys one unmodelled item
  (``OTHER``, not in products.csv), as in a real store where nobody leaves a visit
  without a receipt line; without it, visits that bought none of the modelled
  products leave no trace at all, which biases any transactions-only estimate (the
  report's caveat; see demand/README.md).

The truth goes to ``truth.json`` and ``truth_segments.csv`` next to the data; ``fit``
ignores both.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from formulations.files import atomic_write_text

from formulations.errors import option_error

from .options import SIMULATION_RANGES, check_options


@dataclass
class SimulationTruth:
    """The generating parameters: shares, β and WTP per segment, segment per customer."""

    shares: dict[str, float]
    price_sensitivity: dict[str, float]
    wtp: dict[str, dict[str, float]]          # segment -> product -> w
    customer_segment: pd.Series               # customer_id -> segment_id
    visits_per_week: float
    complements: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"shares": self.shares, "price_sensitivity": self.price_sensitivity, "wtp": self.wtp,
                "visits_per_week": self.visits_per_week, "complements": self.complements}


@dataclass
class _World:
    """The drawn truth every simulated row follows (code k = segment ``T{k+1}``, j = product ``P{j+1}``)."""

    shares: np.ndarray
    beta: np.ndarray
    list_price: np.ndarray
    unit_cost: np.ndarray
    w: np.ndarray                 # segments x products

    @property
    def segments(self) -> list[str]:
        return [f"T{k + 1}" for k in range(len(self.beta))]

    @property
    def products(self) -> list[str]:
        return [f"P{j + 1}" for j in range(len(self.list_price))]


@dataclass
class _Visits:
    """One entry per visit: the customer's code, the day's number and date, and the segment."""

    customer: np.ndarray
    day: np.ndarray
    date: np.ndarray
    segment: np.ndarray


def simulate_data(out_dir: str | Path | None = None, *, n_customers: int = 2000, n_segments: int = 3,
                  n_products: int = 5, n_days: int = 56, visits_per_week: float = 1.0,
                  offers_per_visit: int = 3, kind: str = "exposures",
                  complements: int = 0, complement_strength: float = 1.5,
                  other_line: bool = True, seed: int = 0) -> tuple[dict[str, pd.DataFrame], SimulationTruth]:
    """Generate a data directory (written to ``out_dir`` if given) and its truth.

    The draws come in a fixed order from one generator (the same seed gives the same data).
    """
    check_options(SIMULATION_RANGES, locals())        # the keywords, before anything else is named
    if complements > n_products // 2:
        raise option_error("complements", f"at most half the number of products ({n_products // 2})",
                           complements)
    rng = np.random.default_rng(seed)
    world = _world(rng, n_segments, n_products)
    seg_of = rng.choice(n_segments, n_customers, p=world.shares)
    customers = _customers(rng, seg_of, n_segments)
    cust_ids = customers["customer_id"].to_numpy()
    vis = _visits(rng, seg_of, n_days, visits_per_week)
    files: dict[str, pd.DataFrame] = {"customers": customers, "products": pd.DataFrame({
        "product_id": world.products, "unit_cost": world.unit_cost, "list_price": world.list_price,
        "category": [f"cat{j % 2 + 1}" for j in range(n_products)]})}
    pairs: list[tuple[int, int]] = []
    if kind == "exposures":
        files["exposures"] = _price_test(rng, world, vis, cust_ids, offers_per_visit)
    else:
        pairs = [(2 * c, 2 * c + 1) for c in range(complements)]
        files["transactions"] = _transactions(rng, world, vis, cust_ids, n_days, pairs, complement_strength,
                                              other_line)
    segs, prods = world.segments, world.products
    truth = SimulationTruth(
        shares={s: float(np.mean(seg_of == k)) for k, s in enumerate(segs)},
        price_sensitivity={s: float(world.beta[k]) for k, s in enumerate(segs)},
        wtp={s: {p: float(world.w[k, j]) for j, p in enumerate(prods)} for k, s in enumerate(segs)},
        customer_segment=pd.Series(np.array(segs)[seg_of], index=pd.Index(cust_ids, name="customer_id"),
                                   name="segment_id"),
        visits_per_week=visits_per_week,
        complements=[(prods[a], prods[b]) for a, b in pairs])
    if out_dir is not None:
        write_simulation(out_dir, files, truth)
    return files, truth


def _world(rng: np.random.Generator, n_segments: int, n_products: int) -> _World:
    """Shares, β, prices, costs and WTP of every segment and product."""
    shares = rng.dirichlet(np.full(n_segments, 8.0))
    beta = rng.uniform(0.25, 1.0, n_segments)
    list_price = np.round(rng.uniform(10, 30, n_products), 2)
    unit_cost = np.round(list_price * rng.uniform(0.4, 0.7, n_products), 2)
    # Segments differ in level (budget vs premium) and in taste for each product.
    level = rng.uniform(0.7, 1.3, n_segments)
    taste = rng.uniform(0.85, 1.15, (n_segments, n_products))
    w = np.round(list_price[None, :] * level[:, None] * taste, 2)
    return _World(shares, beta, list_price, unit_cost, w)


def _customers(rng: np.random.Generator, seg_of: np.ndarray, n_segments: int) -> pd.DataFrame:
    """customers.csv: two numbers and a region that show the segment, a channel that does not."""
    n_customers = len(seg_of)
    # Feature centres 6 and 3 within-segment standard deviations apart: well separated.
    centres = np.column_stack([np.linspace(-1, 1, n_segments) * 3.6 * (n_segments - 1),
                               rng.permutation(n_segments) * 1.8])
    feats = centres[seg_of] + rng.normal(0, 0.6, (n_customers, 2))
    regions = np.array([f"R{k + 1}" for k in range(n_segments)])
    region = np.where(rng.random(n_customers) < 0.9, regions[seg_of], regions[rng.integers(0, n_segments, n_customers)])
    cust_ids = np.array([f"C{i:05d}" for i in range(n_customers)])
    return pd.DataFrame({"customer_id": cust_ids, "age": np.round(30 + 5 * feats[:, 0], 1),
                         "income": np.round(50 + 8 * feats[:, 1], 1), "region": region,
                         "channel": rng.choice(["web", "store", "app"], n_customers)})


def _visits(rng: np.random.Generator, seg_of: np.ndarray, n_days: int, visits_per_week: float) -> _Visits:
    """A Poisson number of visits per customer, on uniform random days."""
    n_vis = rng.poisson(visits_per_week * n_days / 7.0, len(seg_of))
    v_cust = np.repeat(np.arange(len(seg_of)), n_vis)
    v_day = rng.integers(0, n_days, len(v_cust))
    v_date = np.datetime64("2025-01-06") + v_day.astype("timedelta64[D]")
    return _Visits(v_cust, v_day, v_date, seg_of[v_cust])


def _price_test(rng: np.random.Generator, world: _World, vis: _Visits, cust_ids: np.ndarray,
                offers_per_visit: int) -> pd.DataFrame:
    """exposures.csv: each visit shows k random products at randomised prices."""
    n_products = len(world.list_price)
    k = min(offers_per_visit, n_products)
    # k distinct random products per visit: argsort of random keys.
    pick = np.argsort(rng.random((len(vis.customer), n_products)), axis=1)[:, :k]
    rows_v = np.repeat(np.arange(len(vis.customer)), k)
    prod = pick.ravel()
    price = np.round(world.list_price[prod] * rng.uniform(0.6, 1.3, len(prod)), 2)
    s = vis.segment[rows_v]
    bought = rng.random(len(prod)) < expit(world.beta[s] * (world.w[s, prod] - price))
    return pd.DataFrame({
        "customer_id": cust_ids[vis.customer[rows_v]], "product_id": np.array(world.products)[prod],
        "price": price, "purchased": bought.astype(int),
        "date": pd.to_datetime(vis.date[rows_v]).strftime("%Y-%m-%d")})


def _transactions(rng: np.random.Generator, world: _World, vis: _Visits, cust_ids: np.ndarray, n_days: int,
                  pairs: list[tuple[int, int]], complement_strength: float, other_line: bool) -> pd.DataFrame:
    """transactions.csv: every product on the shelf at the day's price; only purchases recorded."""
    n_products, n_visits = len(world.list_price), len(vis.customer)
    # Shelf prices above most WTPs on regular days, so buying is not a given.
    day_price = np.round(world.list_price[None, :] * rng.choice([1.25, 1.1, 0.95, 0.8], (n_days, n_products),
                                                                p=[0.4, 0.2, 0.2, 0.2]), 2)
    price = day_price[vis.day]                                            # visits x products
    util = world.beta[vis.segment][:, None] * (world.w[vis.segment] - price)
    for a, b in pairs:
        shock = rng.normal(0, complement_strength, n_visits)
        util[:, a] += shock
        util[:, b] += shock
    bought = rng.random(util.shape) < expit(util)
    vi, pj = np.nonzero(bought)
    qty = rng.choice([1, 1, 1, 2], len(vi))
    lines = pd.DataFrame({
        "visit": vi, "product_id": np.array(world.products)[pj], "quantity": qty,
        "revenue": np.round(qty * price[vi, pj], 2), "cost": np.round(qty * world.unit_cost[pj], 2)})
    if other_line:
        # Every visit also buys something outside the modelled products (not in
        # products.csv), so no visit is invisible in the transactions.
        lines = pd.concat([lines, pd.DataFrame({
            "visit": np.arange(n_visits), "product_id": "OTHER", "quantity": 1, "revenue": 5.0, "cost": 3.0})],
            ignore_index=True).sort_values("visit", kind="stable")
    v = lines["visit"].to_numpy()
    return pd.DataFrame({
        "date": pd.to_datetime(vis.date[v]).strftime("%Y-%m-%d"), "customer_id": cust_ids[vis.customer[v]],
        "product_id": lines["product_id"].to_numpy(), "quantity": lines["quantity"].to_numpy(),
        "revenue": lines["revenue"].to_numpy(), "cost": lines["cost"].to_numpy(),
        "basket_id": [f"V{i}" for i in v]})


def write_simulation(out_dir: str | Path, files: dict[str, pd.DataFrame], truth: SimulationTruth) -> None:
    """Write the data files plus ``truth.json`` and ``truth_segments.csv``, each atomically."""
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    for name, df in files.items():
        atomic_write_text(d / f"{name}.csv", df.to_csv(index=False))
    atomic_write_text(d / "truth.json", json.dumps(truth.to_json(), indent=2))
    atomic_write_text(d / "truth_segments.csv", truth.customer_segment.reset_index().to_csv(index=False))

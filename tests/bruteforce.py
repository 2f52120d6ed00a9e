"""An independent checker: evaluate any plan of a scenario and enumerate them all.

Written only from ``SCENARIO.md`` and ``docs/semantics.md``. It deliberately imports
nothing from ``formulations``/``solver`` except the :class:`Scenario` data holder, and
reads its raw tables itself (ladders, offer WTP from product WTP with
complementarity, costs, pruning, choice, constraints), so that a shared bug in the
optimiser's helpers cannot hide here. Plain Python on purpose: clarity over speed;
it is meant for scenarios with at most a few thousand plans.

A *plan* is a dict: ``uniform`` → ``{bundle_id: price}``; ``personalized`` →
``{(segment_id, bundle_id): price}``. Offers absent from the dict are not on sale.
"""
from __future__ import annotations

import itertools
import math
from decimal import ROUND_HALF_UP, Decimal
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import pandas as pd

from formulations.scenario import Scenario

TOL = 1e-9            # value ties, price-rule slack (docs/semantics.md)
SURPLUS_DECIMALS = 6  # first-choice surpluses tie when equal to 6 decimals
INV_TOL = 1e-6        # inventory slack (docs/semantics.md)
PRICE_MATCH = 1e-6    # a plan's price "is" a ladder point when this close


# --------------------------------------------------------------------- offers
@dataclass(frozen=True)
class Offer:
    """One candidate offer with the numbers SCENARIO.md §2 derives from its components."""

    bundle_id: str
    position: int                      # order in bundles.csv (last tie-break)
    components: dict[str, int]         # product_id -> quantity
    reference_price: float             # R_b = Σ q L
    cost: float                        # C_b = Σ q c

    @property
    def total_quantity(self) -> int:
        return sum(self.components.values())

    @property
    def component_of(self) -> str | None:
        """The product this offer is the *component offer* of (one product, quantity 1)."""
        if len(self.components) == 1:
            (pid, q), = self.components.items()
            if q == 1:
                return pid
        return None


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def offers(scenario: Scenario) -> dict[str, Offer]:
    """Every candidate offer in bundles.csv order."""
    comps: dict[str, dict[str, int]] = {b: {} for b in scenario.bundles.index}
    for row in scenario.components.itertuples(index=False):
        comps[str(row.bundle_id)][str(row.product_id)] = (
            comps[str(row.bundle_id)].get(str(row.product_id), 0) + int(row.quantity))
    prods = scenario.products
    out = {}
    for pos, b in enumerate(scenario.bundles.index):
        c = comps[b]
        out[b] = Offer(
            bundle_id=b, position=pos, components=c,
            reference_price=sum(q * float(prods.at[p, "list_price"]) for p, q in c.items()),
            cost=sum(q * float(prods.at[p, "unit_cost"]) for p, q in c.items()))
    return out


def offer_wtp(scenario: Scenario) -> dict[tuple[str, str], tuple[float, float]]:
    """(segment_id, bundle_id) -> (w_sb, β_sb); a missing pair never buys (§2, §4)."""
    seg_beta = {s: scenario.segments.at[s, "price_sensitivity"] for s in scenario.segments.index}
    has_beta = "price_sensitivity" in scenario.wtp.columns
    out: dict[tuple[str, str], tuple[float, float]] = {}
    if scenario.wtp_level == "bundle":
        for row in scenario.wtp.to_dict("records"):
            beta = row.get("price_sensitivity") if has_beta else None
            if _nan(beta):
                beta = seg_beta[row["segment_id"]]
            out[(row["segment_id"], row["bundle_id"])] = (float(row["wtp"]), float(beta))
        return out
    # per-product WTP: w_sb = (1 + κ_b) Σ q w_si, only if every component has a WTP
    per_product: dict[tuple[str, str], float] = {}
    for row in scenario.wtp.to_dict("records"):
        per_product[(row["segment_id"], row["product_id"])] = float(row["wtp"])
    for b, offer in offers(scenario).items():
        kappa = scenario.bundles.at[b, "complementarity"]
        kappa = 0.0 if _nan(kappa) else float(kappa)
        for s in scenario.segments.index:
            if all((s, p) in per_product for p in offer.components):
                total = sum(q * per_product[(s, p)] for p, q in offer.components.items())
                out[(s, b)] = ((1.0 + kappa) * total, float(seg_beta[s]))
    return out


# --------------------------------------------------------------------- prices
def cents(x: float) -> float:
    """A price rounded to the nearest cent, halves up, as docs/semantics.md writes it
    (via Decimal of the 10-digit repr, so 32.14 * 0.75 = 24.105 gives 24.11)."""
    return float(Decimal(f"{x:.10f}").quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def base_ladder(scenario: Scenario, offer: Offer) -> list[float]:
    """The ladder before bounds/margin: prices.csv if it names the offer, else discounts."""
    named = scenario.prices[scenario.prices["bundle_id"] == offer.bundle_id]
    if len(named):
        raw = [cents(float(p)) for p in named["price"]]
    else:
        raw = [cents(offer.reference_price * (1.0 - d)) for d in scenario.discounts]
    seen: list[float] = []
    for p in raw:
        if p not in seen:
            seen.append(p)
    return seen


def price_problems(scenario: Scenario, offer: Offer, price: float,
                   segment: str | None) -> list[str]:
    """Which rule (§3, §6) forbids ``price`` for ``offer`` (shown to ``segment``; None =
    everyone, uniform mode). Empty list = allowed."""
    problems = []
    if not any(abs(price - p) <= PRICE_MATCH for p in base_ladder(scenario, offer)):
        problems.append("ladder")
    lo = scenario.bundles.at[offer.bundle_id, "min_price"]
    hi = scenario.bundles.at[offer.bundle_id, "max_price"]
    if not _nan(lo) and price < float(lo) - TOL:
        problems.append("min_price")
    if not _nan(hi) and price > float(hi) + TOL:
        problems.append("max_price")
    m = scenario.constraints.min_margin
    if m is not None and not (price > 0 and (price - offer.cost) / price >= m - TOL):
        problems.append("min_margin")
    eps = scenario.constraints.max_price_change
    if eps is not None:
        prev = scenario.previous_plan
        for row in prev[prev["bundle_id"] == offer.bundle_id].to_dict("records"):
            applies = segment is None or row["segment_id"] in (segment, "*")
            old = float(row["price"])
            if applies and abs(price - old) > eps * old + TOL:
                problems.append("price_change")
                break
    return problems


def allowed_prices(scenario: Scenario) -> dict[Hashable, list[float]]:
    """Allowed prices keyed like a plan: uniform ``bundle_id``; personalized
    ``(segment_id, bundle_id)`` (price_change can make them segment-specific).
    Excluded offers get an empty list."""
    out: dict[Hashable, list[float]] = {}
    for b, offer in offers(scenario).items():
        ladder = [] if b in scenario.constraints.exclude else base_ladder(scenario, offer)
        if scenario.pricing == "uniform":
            out[b] = [p for p in ladder if not price_problems(scenario, offer, p, None)]
        else:
            for s in scenario.segments.index:
                out[(s, b)] = [p for p in ladder if not price_problems(scenario, offer, p, s)]
    return out


# ----------------------------------------------------------------- evaluation
@dataclass
class Evaluation:
    """What :func:`evaluate` found; ``demand`` is expected offers sold per (segment, offer)."""

    feasible: bool
    objective: float
    violations: list[str] = field(default_factory=list)
    demand: dict[tuple[str, str], float] = field(default_factory=dict)
    product_units: dict[str, float] = field(default_factory=dict)


class _Context:
    """Scenario-derived numbers computed once, reused for every plan of an enumeration."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.offers = offers(scenario)
        self.wtp = offer_wtp(scenario)
        self.segments = list(scenario.segments.index)
        self.size = {s: float(scenario.segments.at[s, "size"]) for s in self.segments}
        self.inventory = {p: float(scenario.products.at[p, "inventory"])
                          for p in scenario.products.index}
        # seller's value per unit is p - deduct[b]: p - C_b for profit, p for revenue
        self.deduct = {b: (o.cost if scenario.objective == "profit" else 0.0)
                       for b, o in self.offers.items()}
        # product -> its component offers (no_arbitrage)
        self.component_offers: dict[str, list[str]] = {}
        for b, o in self.offers.items():
            if o.component_of is not None:
                self.component_offers.setdefault(o.component_of, []).append(b)


def _seen(ctx: _Context, plan: dict) -> dict[str, dict[str, float]]:
    """segment -> {bundle_id: price} of the offers that segment sees."""
    if ctx.scenario.pricing == "uniform":
        return {s: dict(plan) for s in ctx.segments}
    out: dict[str, dict[str, float]] = {s: {} for s in ctx.segments}
    for (s, b), p in plan.items():
        out[s][b] = p
    return out


def _demand_first_choice(ctx: _Context, s: str, menu: dict[str, float]) -> dict[str, float]:
    cands = []
    for b, p in menu.items():
        if (s, b) in ctx.wtp:
            # surpluses are compared as money to 6 decimals (semantics.md: ties)
            surplus = round(ctx.wtp[(s, b)][0] - p, SURPLUS_DECIMALS)
            if surplus >= 0:                      # a surplus of exactly 0 buys
                cands.append((surplus, p - ctx.deduct[b], ctx.offers[b].position, b))
    if not cands:
        return {}
    best_surplus = max(c[0] for c in cands)
    tied = [c for c in cands if c[0] == best_surplus]
    best_value = max(c[1] for c in tied)
    tied = [c for c in tied if c[1] >= best_value - TOL]
    chosen = min(tied, key=lambda c: c[2])       # listed first in bundles.csv
    return {chosen[3]: ctx.size[s]}


def _demand_mnl(ctx: _Context, s: str, menu: dict[str, float]) -> dict[str, float]:
    attraction = {}
    for b, p in menu.items():
        if (s, b) in ctx.wtp:
            w, beta = ctx.wtp[(s, b)]
            attraction[b] = math.exp(beta * (w - p))
    denom = 1.0 + sum(attraction.values())
    return {b: ctx.size[s] * a / denom for b, a in attraction.items()}


def _evaluate(ctx: _Context, plan: dict, check_prices: bool = True) -> Evaluation:
    sc, con = ctx.scenario, ctx.scenario.constraints
    violations: list[str] = []
    seen = _seen(ctx, plan)
    on_sale = {b for b in ctx.offers if any(b in seen[s] for s in ctx.segments)} \
        if sc.pricing == "personalized" else set(plan)

    if check_prices:
        for key, p in plan.items():
            s, b = key if sc.pricing == "personalized" else (None, key)
            for why in price_problems(sc, ctx.offers[b], float(p), s):
                violations.append(f"{why}: {key} at {p}")

    # demand and objective (§4, §5)
    demand: dict[tuple[str, str], float] = {}
    objective = 0.0
    for s in ctx.segments:
        menu = seen[s]
        d = (_demand_first_choice if sc.choice_model == "first_choice" else _demand_mnl)(
            ctx, s, menu)
        for b, units in d.items():
            demand[(s, b)] = units
            objective += units * (menu[b] - ctx.deduct[b])

    product_units: dict[str, float] = {p: 0.0 for p in ctx.inventory}
    for (s, b), units in demand.items():
        for p, q in ctx.offers[b].components.items():
            product_units[p] += units * q

    # constraints (§6 as refined in docs/semantics.md)
    if con.max_offers is not None and len(on_sale) > con.max_offers:
        violations.append(f"max_offers: {len(on_sale)} on sale > {con.max_offers}")
    if con.max_offers_per_segment is not None:
        for s in ctx.segments:
            if len(seen[s]) > con.max_offers_per_segment:
                violations.append(f"max_offers_per_segment: {s} sees {len(seen[s])}")
    if con.inventory:
        for p, units in product_units.items():
            cap = ctx.inventory[p]
            if not math.isnan(cap) and units > cap + INV_TOL:
                violations.append(f"inventory: {p} {units} > {cap}")
    for b in con.must_offer:
        if b not in on_sale:
            violations.append(f"must_offer: {b} not on sale")
    for b in con.exclude:
        if b in on_sale:
            violations.append(f"exclude: {b} on sale")
    if con.no_arbitrage:
        for s in ctx.segments:
            menu = seen[s]
            for b, p in menu.items():
                offer = ctx.offers[b]
                if offer.total_quantity < 2:
                    continue
                cheapest = {}
                for pid in offer.components:
                    prices = [menu[c] for c in ctx.component_offers.get(pid, []) if c in menu]
                    if not prices:
                        break
                    cheapest[pid] = min(prices)
                else:
                    bound = sum(q * cheapest[pid] for pid, q in offer.components.items())
                    if p > bound + TOL:
                        violations.append(f"no_arbitrage: {b} for {s} {p} > {bound}")
    if con.max_price_spread is not None and sc.pricing == "personalized":
        for b in on_sale:
            prices = [seen[s][b] for s in ctx.segments if b in seen[s]]
            if max(prices) > (1.0 + con.max_price_spread) * min(prices) + TOL:
                violations.append(f"fairness.max_price_spread: {b} {min(prices)}..{max(prices)}")
    for s in con.coverage:
        covered = any((s, b) in ctx.wtp
                      and round(ctx.wtp[(s, b)][0] - p, SURPLUS_DECIMALS) >= 0
                      for b, p in seen[s].items())
        if not covered:
            violations.append(f"fairness.coverage: {s} not covered")

    return Evaluation(not violations, objective, violations, demand, product_units)


def _check_keys(ctx: _Context, plan: dict) -> None:
    for key in plan:
        if ctx.scenario.pricing == "personalized":
            if not (isinstance(key, tuple) and len(key) == 2 and key[0] in ctx.size
                    and key[1] in ctx.offers):
                raise ValueError(f"bad personalized plan key {key!r}")
        elif key not in ctx.offers:
            raise ValueError(f"bad uniform plan key {key!r}")


def evaluate(scenario: Scenario, plan: dict) -> tuple[bool, float, Evaluation]:
    """Check a plan against every rule and compute its objective.

    Returns ``(feasible, objective, details)``; ``details.violations`` says what fails.
    """
    ctx = _Context(scenario)
    _check_keys(ctx, plan)
    ev = _evaluate(ctx, {k: float(v) for k, v in plan.items()})
    return ev.feasible, ev.objective, ev


def plan_from_frame(scenario: Scenario, plan_df: pd.DataFrame) -> dict:
    """plan.csv rows (``bundle_id, segment_id, price``) → a plan dict."""
    plan: dict = {}
    for row in plan_df.to_dict("records"):
        b, s, p = str(row["bundle_id"]), str(row["segment_id"]), float(row["price"])
        if scenario.pricing == "uniform":
            if s != "*":
                raise ValueError(f"uniform plan row with segment_id {s!r}")
            key: Any = b
        else:
            key = (s, b)
        if key in plan:
            raise ValueError(f"duplicate plan row {key!r}")
        plan[key] = p
    return plan


def evaluate_plan_frame(scenario: Scenario,
                        plan_df: pd.DataFrame) -> tuple[bool, float, Evaluation]:
    """Evaluate a plan.csv-like DataFrame (see :func:`evaluate`)."""
    return evaluate(scenario, plan_from_frame(scenario, plan_df))


def expected_rows(scenario: Scenario, plan: dict, ev: Evaluation) -> dict[tuple[str, str], dict]:
    """(bundle_id, segment_id or '*') -> expected_units / revenue / profit of that plan row."""
    ctx = _Context(scenario)
    out: dict[tuple[str, str], dict] = {}
    for key, p in plan.items():
        s, b = key if scenario.pricing == "personalized" else ("*", key)
        segs = [s] if s != "*" else ctx.segments
        units = sum(ev.demand.get((t, b), 0.0) for t in segs)
        out[(b, s)] = {"expected_units": units, "expected_revenue": units * p,
                       "expected_profit": units * (p - ctx.offers[b].cost)}
    return out


# ---------------------------------------------------------------- enumeration
def plan_count(scenario: Scenario) -> int:
    """How many plans :func:`brute_force` would enumerate."""
    n = 1
    for prices in allowed_prices(scenario).values():
        n *= 1 + len(prices)
    return n


def brute_force(scenario: Scenario, *, allowed: dict | None = None,
                accept: Callable[[dict, Evaluation], bool] | None = None,
                ) -> tuple[float | None, dict | None]:
    """Enumerate every plan (each offer/(segment, offer): off or one allowed price).

    Returns ``(best objective, best plan)``, or ``(None, None)`` if no plan is feasible.
    ``allowed`` replaces :func:`allowed_prices` and ``accept(plan, evaluation)`` is one
    more feasibility test: both for rules this checker does not know (a test's own).
    """
    ctx = _Context(scenario)
    allowed = allowed_prices(scenario) if allowed is None else allowed
    keys = list(allowed)
    best_obj: float | None = None
    best_plan: dict | None = None
    for choice in itertools.product(*[[None] + allowed[k] for k in keys]):
        plan = {k: p for k, p in zip(keys, choice) if p is not None}
        ev = _evaluate(ctx, plan, check_prices=False)
        if ev.feasible and accept is not None and not accept(plan, ev):
            continue
        if ev.feasible and (best_obj is None or ev.objective > best_obj):
            best_obj, best_plan = ev.objective, plan
    return best_obj, best_plan

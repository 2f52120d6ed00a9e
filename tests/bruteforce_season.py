"""An independent checker of season plans: evaluate any one and enumerate them all.

Written from SCENARIO.md §8 ("Seasons and competitors") and docs/scenario.md alone, like
``bruteforce.py`` whose data derivations (offers, WTP, ladders) it reuses — those are
themselves written from the spec. It imports nothing else from ``formulations`` or
``solver``: demand with competitors, the stock carried over, the markdown rules and
``price_change`` on the last price on sale are all worked out here, plainly.

A *season plan* is a tuple of per-period plans (dicts as in ``bruteforce.py``: uniform
``{bundle_id: price}``, personalized ``{(segment_id, bundle_id): price}``).
Per-period rules checked here: ``min_margin``, ``min_price``/``max_price``, ``exclude``
(through the allowed prices), ``max_offers``, ``max_offers_per_segment``,
``must_offer``, ``fairness.coverage``; across periods: ``inventory``, ``markdown.*`` and
``price_change.max_relative``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Hashable

from bruteforce import SURPLUS_DECIMALS, TOL, base_ladder, offer_wtp, offers

from formulations.scenario import Scenario

INV_TOL = 1e-6


def _blank(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x)) or x == ""


class Season:
    """Everything derived from the scenario once."""

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.labels = list(sc.horizon.labels)
        self.offers = offers(sc)
        self.wtp = offer_wtp(sc)
        self.segments = list(sc.segments.index)
        self.size = {t: {s: float(sc.segments.at[s, "size"]) for s in self.segments}
                     for t in self.labels}
        for r in sc.periods.to_dict("records"):
            self.size[r["period"]][r["segment_id"]] = float(r["size"])
        self.stock = {p: float(sc.products.at[p, "inventory"]) for p in sc.products.index}
        self.receipts = {t: {p: 0.0 for p in self.stock} for t in self.labels}
        for r in sc.receipts.to_dict("records"):
            self.receipts[r["period"]][r["product_id"]] += float(r["units"])
        self.deduct = {b: (o.cost if sc.objective == "profit" else 0.0) for b, o in self.offers.items()}
        self.outside = {t: self._outside(t) for t in self.labels}
        self._history: dict = {}

    # ------------------------------------------------------------ competitors
    def _competitor_terms(self, t: str) -> dict[str, list[tuple[float, float]]]:
        """segment -> [(w − q − λ, β)] over the competitor rows of period t."""
        sc = self.sc
        per_product = {}
        if sc.wtp_level == "product":
            for r in sc.wtp.to_dict("records"):
                beta = sc.segments.at[r["segment_id"], "price_sensitivity"]
                per_product[(r["segment_id"], r["product_id"])] = (float(r["wtp"]), float(beta))
        else:
            for b, o in self.offers.items():            # single-item offers, file order
                pid = o.component_of
                if pid is None:
                    continue
                for s in self.segments:
                    if (s, pid) not in per_product and (s, b) in self.wtp:
                        per_product[(s, pid)] = self.wtp[(s, b)]
        out: dict[str, list] = {s: [] for s in self.segments}
        for r in sc.competitors.to_dict("records"):
            if not (_blank(r["period"]) or r["period"] == t):
                continue
            for s in self.segments:
                lam = sc.segments.at[s, "switching_cost"] if "switching_cost" in sc.segments else 0.0
                lam = 0.0 if _blank(lam) else float(lam)
                if not _blank(r["bundle_id"]):
                    # any offer, even one the plan may not sell (an excluded one)
                    w = self._offer_wtp_any(s, r["bundle_id"])
                else:
                    w = per_product.get((s, r["product_id"]))
                if w is not None:
                    out[s].append((w[0] - float(r["price"]) - lam, w[1]))
        return out

    def _offer_wtp_any(self, s, b):
        return self.wtp.get((s, b))

    def _outside(self, t: str) -> dict[str, tuple[float, float]]:
        """segment -> (o_st first choice, Σ exp(β(w − q − λ)) for MNL)."""
        terms = self._competitor_terms(t)
        return {s: (round(max([0.0] + [x for x, _ in terms[s]]), SURPLUS_DECIMALS),
                    sum(math.exp(b * x) for x, b in terms[s])) for s in self.segments}

    # ------------------------------------------------------------ one period
    def seen(self, plan: dict) -> dict[str, dict[str, float]]:
        if self.sc.pricing == "uniform":
            return {s: dict(plan) for s in self.segments}
        out = {s: {} for s in self.segments}
        for (s, b), p in plan.items():
            out[s][b] = p
        return out

    def period(self, t: str, plan: dict) -> tuple[bool, float, dict[str, float], list[str]]:
        """(per-period rules hold, value, units per product, what breaks) of one period."""
        sc, con = self.sc, self.sc.constraints
        seen = self.seen(plan)
        value, units, bad = 0.0, {p: 0.0 for p in self.stock}, []
        for s in self.segments:
            menu = seen[s]
            o_fc, o_mnl = self.outside[t][s]
            n = self.size[t][s]
            demand = {}
            if sc.choice_model == "first_choice":
                cands = []
                for b, p in menu.items():
                    if (s, b) in self.wtp:
                        sur = round(self.wtp[(s, b)][0] - p, SURPLUS_DECIMALS)
                        if sur >= 0 and sur >= o_fc:
                            cands.append((-sur, -(p - self.deduct[b]), self.offers[b].position, b))
                if cands:
                    demand[min(cands)[3]] = n
            else:
                att = {b: math.exp(self.wtp[(s, b)][1] * (self.wtp[(s, b)][0] - p))
                       for b, p in menu.items() if (s, b) in self.wtp}
                den = 1.0 + o_mnl + sum(att.values())
                demand = {b: n * a / den for b, a in att.items()}
            for b, d in demand.items():
                value += d * (menu[b] - self.deduct[b])
                for pid, q in self.offers[b].components.items():
                    units[pid] += d * q
        on_sale = {k if sc.pricing == "uniform" else k[1] for k in plan}
        if con.max_offers is not None and len(on_sale) > con.max_offers:
            bad.append("max_offers")
        if con.max_offers_per_segment is not None and any(
                len(seen[s]) > con.max_offers_per_segment for s in self.segments):
            bad.append("max_offers_per_segment")
        for b in con.must_offer:
            if b not in on_sale:
                bad.append(f"must_offer {b}")
        for s in con.coverage:
            if not any((s, b) in self.wtp and round(self.wtp[(s, b)][0] - p, SURPLUS_DECIMALS) >= 0
                       for b, p in seen[s].items()):
                bad.append(f"coverage {s}")
        return not bad, value, units, bad

    # ------------------------------------------------------------ across periods
    def history(self, key) -> list[float]:
        """previous_plan prices of a plan key (same segment, or `*` on either side)."""
        if key not in self._history:
            sc = self.sc
            s, b = key if sc.pricing == "personalized" else ("*", key)
            self._history[key] = [float(r["price"]) for r in sc.previous_plan.to_dict("records")
                                  if r["bundle_id"] == b and (s == "*" or r["segment_id"] in ("*", s))]
        return self._history[key]

    def across(self, plans: tuple, units: list[dict]) -> tuple[list[str], float]:
        """What the season breaks across periods, and the salvage value."""
        sc, con = self.sc, self.sc.constraints
        bad = []
        if con.inventory:
            for pid, q in self.stock.items():
                if math.isnan(q):
                    continue
                sold = have = 0.0
                have = q
                for t, u in zip(self.labels, units):
                    sold += u[pid]
                    have += self.receipts[t][pid]
                    if sold > have + INV_TOL * max(1.0, have):
                        bad.append(f"inventory {pid}@{t}")
        nochange = con.get("no_increase")
        kmax = con.get("max_changes")
        gap = con.get("min_gap")
        eps = con.max_price_change
        keys = set().union(*[set(p) for p in plans])
        for key in keys:
            last = self.history(key)
            changes = []
            for i, plan in enumerate(plans):
                if key not in plan:
                    continue
                p = plan[key]
                if nochange and any(p > h + TOL for h in last):
                    bad.append(f"no_increase {key}")
                if eps is not None and any(abs(p - h) > eps * h + TOL for h in last):
                    bad.append(f"price_change {key}")
                if last and not all(abs(p - h) <= TOL for h in last):
                    changes.append(i)
                last = [p]
            if kmax is not None and len(changes) > kmax:
                bad.append(f"max_changes {key}")
            if gap is not None and any(b - a < gap for a, b in zip(changes, changes[1:])):
                bad.append(f"min_gap {key}")
        salvage = 0.0
        sigma = sc.horizon.salvage
        if sigma:
            for pid, q in self.stock.items():
                if not math.isnan(q):
                    left = q + sum(self.receipts[t][pid] for t in self.labels) - sum(u[pid] for u in units)
                    salvage += sigma * float(sc.products.at[pid, "unit_cost"]) * left
        return bad, salvage

    # ------------------------------------------------------------ enumeration
    def allowed(self) -> dict[Hashable, list[float]]:
        """Per plan key, the prices of its ladder within bounds and min_margin (not excluded)."""
        sc = self.sc
        m = sc.constraints.min_margin
        out = {}
        for b, o in self.offers.items():
            prices = [] if b in sc.constraints.exclude else base_ladder(sc, o)
            lo, hi = sc.bundles.at[b, "min_price"], sc.bundles.at[b, "max_price"]
            prices = [p for p in prices
                      if (_blank(lo) or p >= float(lo) - TOL) and (_blank(hi) or p <= float(hi) + TOL)
                      and (m is None or (p > 0 and (p - o.cost) / p >= m - TOL))]
            if sc.pricing == "uniform":
                out[b] = prices
            else:
                for s in self.segments:
                    out[(s, b)] = prices
        return out

    def period_plans(self) -> list[dict]:
        allowed = self.allowed()
        keys = list(allowed)
        return [{k: p for k, p in zip(keys, c) if p is not None}
                for c in itertools.product(*[[None] + allowed[k] for k in keys])]


@dataclass
class SeasonEvaluation:
    feasible: bool
    objective: float
    violations: list[str] = field(default_factory=list)


def evaluate_season(sc: Scenario, plans: tuple) -> SeasonEvaluation:
    """Check a season plan (one plan dict per period) and compute its objective."""
    se = Season(sc)
    allowed = se.allowed()
    bad, value, units = [], 0.0, []
    for t, plan in zip(se.labels, plans):
        for k, p in plan.items():
            if not any(abs(p - q) <= 1e-6 for q in allowed.get(k, [])):
                bad.append(f"price {k} {p} not allowed")
        ok, v, u, why = se.period(t, plan)
        bad += [f"{t}: {w}" for w in why]
        value += v
        units.append(u)
    more, salvage = se.across(plans, units)
    bad += more
    return SeasonEvaluation(not bad, value + salvage, bad)


def season_plan_count(sc: Scenario) -> int:
    return len(Season(sc).period_plans()) ** sc.horizon.periods


def season_brute_force(sc: Scenario) -> tuple[float | None, tuple | None]:
    """Enumerate every season plan: ``(best objective, best plan)`` or ``(None, None)``."""
    se = Season(sc)
    plans = se.period_plans()
    scored = {t: [se.period(t, p) for p in plans] for t in se.labels}
    # only plans that keep the per-period rules can be part of a feasible season
    ok = {t: [i for i, r in enumerate(scored[t]) if r[0]] for t in se.labels}
    best, best_plan = None, None
    for combo in itertools.product(*[ok[t] for t in se.labels]):
        per = [scored[t][i] for t, i in zip(se.labels, combo)]
        chosen = tuple(plans[i] for i in combo)
        bad, salvage = se.across(chosen, [u for _, _, u, _ in per])
        if bad:
            continue
        obj = sum(v for _, v, _, _ in per) + salvage
        if best is None or obj > best + 1e-12:
            best, best_plan = obj, chosen
    return best, best_plan


def plans_from_frame(sc: Scenario, frame) -> tuple:
    """A season's plan.csv rows (``period, bundle_id, segment_id, price``) → plan dicts."""
    out = []
    for t in sc.horizon.labels:
        plan = {}
        for r in frame[frame["period"].astype(str) == t].to_dict("records"):
            key = r["bundle_id"] if sc.pricing == "uniform" else (r["segment_id"], r["bundle_id"])
            plan[key] = float(r["price"])
        out.append(plan)
    return tuple(out)

"""A proven upper bound from each segment's own problem: the segment relaxation.

Drop everything that links the segments — uniform prices (one price per offer for
everyone), inventory, ``max_offers``, fairness, ``no_arbitrage``, ``must_offer``,
coverage — and the plan decomposes: each segment s gets its own assortment and prices
from its candidate points (the offer space after pruning). Dropping constraints of a
maximisation can only raise its optimum, so

    U = Σ_s N_s · z_s*  ≥  the scenario's optimum,

where z_s* is the best value per shopper of segment s on its own:

- first choice (Hanson & Martin 1990's reservation-price model): a shopper buys at most
  one offer, the one it prefers; showing it only the point of highest value among those
  it would buy (surplus ≥ 0) earns exactly that value, so z_s* = max(0, max_j v_j);
- MNL: with attractions a_j = exp(β(w − p_j)) and values v_j per sale, the best
  assortment (at most one price per offer) earns R(S) = Σ_S a_j v_j / (1 + Σ_S a_j), and
  R(S) ≥ z ⟺ Σ_S a_j (v_j − z) ≥ z. So z_s* is the fixed point of the decreasing map
  z ↦ Σ_offers max(0, max_price a_j (v_j − z)) (the classic MNL assortment argument,
  e.g. Talluri & van Ryzin 2004; Gallego & Topaloglu 2019, ch. 4). Bisection on that map
  keeps its upper end, a z with f(z) ≤ z, hence ≥ z_s*: the bound stays proven.

Under first choice the inventory rule can be kept, as a Lagrangian term: with prices
λ_i ≥ 0 on the units of each limited product, any plan's value is at most

    L(λ) = Σ_s N_s · max(0, max_a (v_a − Σ_i λ_i q_{i b(a)}))  +  Σ_i λ_i Q_i,

since a plan's units stay within the (evaluator's slack on the) inventories Q_i. The
inventory rule's module gives q (units per sale) and that slack
(:func:`~formulations.rules.inventory.units_per_sale`, ``allowed_units``), as it does for
the first plan's search; nothing of the rule is re-derived here. Every
λ ≥ 0 gives a proven bound (λ = 0 is U); the λ used are the duals of the inventory rows
of the LP max Σ N_s v_a z_a, Σ_{a ∋ s} z_a ≤ 1, Σ_a N_s q_{i b(a)} z_a ≤ Q_i, z ≥ 0 —
its own optimum, since each segment's problem alone picks one arc (scipy's HiGHS solves it). Where inventory is
what links the segments (``personalized`` first choice), this is the decomposition by
segment the issue asked for, with the shared rule priced.

The attractions are capped exactly as :mod:`formulations.evaluate` caps them, so U
bounds what the plan evaluator says a plan earns. For ``personalized`` pricing with no
linking rule, U is the optimum itself; under uniform pricing it is as tight as the
segments' willingness to pay is alike — on the Ta-Feng store (2 segments, 840 offers,
7 prices) it was within 0.3 % of the heuristic's plan while the MIP's own bound after
120 s was 26 % away (docs/scale.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from formulations.evaluate import capped_attraction
from formulations.offers import OfferSpace
from formulations.rules.inventory import allowed_units, units_per_sale

_BISECTIONS = 80


@dataclass
class Relaxation:
    """The segment relaxation of an offer space: its proven bound (``None`` without
    arcs) and, under first choice with inventory, the points a plan read off the LP's
    whole purchases puts on sale (each such segment offered its point; ``None`` if
    there is no LP) — a start for the first plan's search, nothing proven."""

    bound: float | None
    points: np.ndarray | None = None


def segment_relaxation_bound(space: OfferSpace) -> float | None:
    """``U`` above for a maximisation over ``space``, or ``None`` when there is no arc."""
    return segment_relaxation(space).bound


def segment_relaxation(space: OfferSpace) -> Relaxation:
    """The bound above (with inventory priced in under first choice) and the LP's plan."""
    arcs = space.arcs
    if not len(arcs):
        return Relaxation(None)
    s = arcs["s"].to_numpy()
    value = arcs["value"].to_numpy(float)
    if space.scenario.choice_model == "first_choice":
        best = np.zeros(len(space.size))
        np.maximum.at(best, s, value)
        bound = float((space.size * best).sum())
        limited = units_per_sale(space)
        points = None
        if limited is not None:
            per_sale, inventory = limited
            lp = _inventory_lp(space, per_sale, inventory)
            if lp is not None:
                prices, points = lp
                bound = min(bound, inventory_lagrangian(space, per_sale, inventory, prices))
        return Relaxation(bound, points)
    a = capped_attraction(arcs["beta"].to_numpy(float), arcs["wtp"].to_numpy(float),
                          arcs["price"].to_numpy(float))
    best = mnl_best_values(s, arcs["b"].to_numpy(), a, value, len(space.size))
    # float round-off in the sums above is far below this margin
    return Relaxation(float((space.size * best).sum() * (1 + 1e-9)))


def mnl_best_values(s: np.ndarray, b: np.ndarray, a: np.ndarray, value: np.ndarray, n_seg: int,
                    outside: np.ndarray | None = None, bisections: int = _BISECTIONS) -> np.ndarray:
    """Per segment, an upper end of ``z*``: the most one shopper of it can earn under MNL
    from any assortment (at most one price per offer) of its arcs ``(s, b)`` with
    attractions ``a`` and values ``v``. A segment with outside attraction ``O_s``
    (competitors) earns ``R(S) = Σ_S a v / (1 + O_s + Σ_S a)``, and ``R(S) ≥ z ⟺
    Σ_S a (v − z) ≥ z (1 + O_s)``; bisection on that keeps ``f(z) ≤ z (1 + O_s)`` at its
    upper end, so any number of ``bisections`` leaves a proven value."""
    outside = np.zeros(n_seg) if outside is None else outside
    # (segment, offer) groups: an offer is on sale to a segment at one price at most
    order = np.lexsort((b, s))
    s, b, a, value = s[order], b[order], a[order], value[order]
    starts = np.flatnonzero(np.r_[True, (s[1:] != s[:-1]) | (b[1:] != b[:-1])])
    group_seg = s[starts]
    lo = np.zeros(n_seg)
    hi = np.zeros(n_seg)
    np.maximum.at(hi, s, value)            # f(max value) = 0 ≤ max value
    hi = np.maximum(hi, 0.0)
    for _ in range(bisections):
        z = 0.5 * (lo + hi)
        gain = np.maximum.reduceat(np.maximum(a * (value - z[s]), 0.0), starts)
        f = np.bincount(group_seg, weights=gain, minlength=n_seg)
        above = f <= z * (1.0 + outside)    # z ≥ z*: keep as the upper end
        hi = np.where(above, z, hi)
        lo = np.where(above, lo, z)
    return hi


def inventory_lagrangian(space: OfferSpace, per_sale: sp.csr_matrix, inventory: np.ndarray,
                         prices: np.ndarray) -> float:
    """``L(λ)`` above (first choice) for unit prices ``prices`` ≥ 0 of the limited
    products; ``per_sale`` and ``inventory`` as the inventory rule gives them
    (:func:`formulations.rules.inventory.units_per_sale`: offers × limited products)."""
    arcs = space.arcs
    s = arcs["s"].to_numpy()
    charge = per_sale @ np.maximum(prices, 0.0)           # per sale of each offer
    net = arcs["value"].to_numpy(float) - charge[arcs["b"].to_numpy()]
    best = np.zeros(len(space.size))
    np.maximum.at(best, s, net)
    total = (space.size * best).sum() + np.maximum(prices, 0.0) @ allowed_units(inventory)
    return float(total * (1 + 1e-9))                      # float round-off, as above


def _inventory_lp(space: OfferSpace, per_sale: sp.csr_matrix,
                  inventory: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The LP above, with one column per segment and offer (its best-valued point, as
    every price of an offer takes the same units): the duals of its inventory rows, and
    the points of the columns it takes whole; ``None`` if HiGHS does not solve it to
    optimality."""
    arcs = space.arcs
    value = arcs["value"].to_numpy(float)
    keep = np.flatnonzero(value > 0)
    if not len(keep):
        return None
    s, b, j, value = (arcs["s"].to_numpy()[keep], arcs["b"].to_numpy()[keep],
                      arcs["j"].to_numpy()[keep], value[keep])
    n_seg, n_off = len(space.size), per_sale.shape[0]
    key = s * n_off + b
    order = np.lexsort((-value, key))                 # best-valued point first per column
    first = order[np.r_[True, key[order][1:] != key[order][:-1]]]
    cs, cb, cj, best = s[first], b[first], j[first], value[first]
    size = space.size.astype(float)
    # rows: one per segment (Σ z ≤ 1), then one per limited product (units ≤ inventory)
    use = per_sale[cb].T.multiply(size[cs]).tocsc()               # products × columns
    one = sp.csc_matrix((np.ones(len(cs)), (cs, np.arange(len(cs)))), shape=(n_seg, len(cs)))
    A = sp.vstack([one, use]).tocsr()
    # scipy's own copy of HiGHS: highspy's thread scheduler is global to the process, and
    # an LP run here would fix its size before a solve that asks for other ``threads``
    lp = linprog(-(size[cs] * best), A_ub=A, b_ub=np.r_[np.ones(n_seg), inventory],
                 bounds=(0, 1), method="highs-ds")
    if lp.status != 0:
        return None
    # a ≤ row of a minimisation has a marginal ≤ 0; its price in the maximisation is −that
    prices = np.maximum(-np.asarray(lp.ineqlin.marginals)[n_seg:], 0.0)
    # A basic solution has at most as many fractional columns as limited products (the
    # measured LPs: 2 of 51, 4 of 32); in personalized mode dropping those segments keeps
    # every inventory (under uniform prices other segments may buy the points too: the
    # search checks every start)
    whole = np.asarray(lp.x) > 1 - 1e-6
    return prices, np.sort(cj[whole])

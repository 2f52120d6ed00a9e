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

The attractions are capped exactly as :mod:`formulations.evaluate` caps them, so U
bounds what the plan evaluator says a plan earns. For ``personalized`` pricing with no
linking rule, U is the optimum itself; under uniform pricing it is as tight as the
segments' willingness to pay is alike — on the Ta-Feng store (2 segments, 840 offers,
7 prices) it was within 0.3 % of the heuristic's plan while the MIP's own bound after
120 s was 26 % away (docs/scale.md).
"""
from __future__ import annotations

import numpy as np

from formulations.evaluate import capped_attraction
from formulations.offers import OfferSpace

_BISECTIONS = 80


def segment_relaxation_bound(space: OfferSpace) -> float | None:
    """``U`` above for a maximisation over ``space``, or ``None`` when there is no arc."""
    arcs = space.arcs
    if not len(arcs):
        return None
    s = arcs["s"].to_numpy()
    value = arcs["value"].to_numpy(float)
    if space.scenario.choice_model == "first_choice":
        best = np.zeros(len(space.size))
        np.maximum.at(best, s, value)
        return float((space.size * best).sum())
    a = capped_attraction(arcs["beta"].to_numpy(float), arcs["wtp"].to_numpy(float),
                          arcs["price"].to_numpy(float))
    # (segment, offer) groups: an offer is on sale to a segment at one price at most
    order = np.lexsort((arcs["b"].to_numpy(), s))
    s, b, a, value = s[order], arcs["b"].to_numpy()[order], a[order], value[order]
    starts = np.flatnonzero(np.r_[True, (s[1:] != s[:-1]) | (b[1:] != b[:-1])])
    group_seg = s[starts]
    n_seg = len(space.size)
    lo = np.zeros(n_seg)
    hi = np.zeros(n_seg)
    np.maximum.at(hi, s, value)            # f(max value) = 0 ≤ max value
    hi = np.maximum(hi, 0.0)
    for _ in range(_BISECTIONS):
        z = 0.5 * (lo + hi)
        gain = np.maximum.reduceat(np.maximum(a * (value - z[s]), 0.0), starts)
        f = np.bincount(group_seg, weights=gain, minlength=n_seg)
        above = f <= z                      # z ≥ z*: keep as the upper end
        hi = np.where(above, z, hi)
        lo = np.where(above, lo, z)
    # float round-off in the sums above is far below this margin
    return float((space.size * hi).sum() * (1 + 1e-9))

r"""First-choice (reservation-price) bundle offer and pricing model.

Shoppers of segment ``s`` buy, among the offers they see at a price ``p ≤ w_sb``, the one
with the largest surplus ``w_sb − p`` — a surplus of 0 still buys — and break ties in
the seller's favour (docs/semantics.md). This is the reservation-price model of Hanson &
Martin ("Optimal bundle pricing", Management Science 36(2), 1990), on a discrete price
ladder so that the surplus is linear in binary price choices and the model is exact.

Sets: points ``j ∈ J`` (offer ``b(j)`` at price ``p_j`` for audience ``g(j)``: everyone in
``uniform`` mode, one segment in ``personalized``); arcs ``a = (s, j) ∈ A`` where
``σ_a = w_{s b(j)} − p_j ≥ 0``; ``A_s^0`` the arcs of ``s`` with ``σ_a = 0``; ``T`` the
groups of arcs of one segment with equal surplus, each listed in the segment's
tie-break order (seller value ``v_j``, then file order).

.. math::

    \max \; & \textstyle\sum_{a=(s,j) \in A} N_s \, v_j \, y_a
        \qquad v_j = p_j - C_{b(j)} \text{ (profit) or } p_j \text{ (revenue)} \\
    \text{s.t.}\; & \textstyle\sum_{j \in J_{gb}} x_j \le 1      && \forall (g, b)
        \quad\text{one price per offer and audience} \\
    & y_a \le x_j,\quad \textstyle\sum_{a \ni s} y_a = B_s \le 1  && \forall a, s \\
    & u_s = \textstyle\sum_{a \ni s} σ_a \, y_a                    && \forall s
        \quad\text{surplus the segment gets} \\
    & u_s \ge \textstyle\sum_{j \in J_{g b}} σ_{sj} \, x_j          && \forall (s, b)
        \quad\text{no better offer on sale (Hanson–Martin)} \\
    & B_s \ge x_j                                                    && \forall (s, j) \in A_s^0
        \quad\text{a surplus of 0 still buys} \\
    & x_j + \textstyle\sum_{a' \in t,\, a' \text{ after } a} y_{a'} \le 1 && \forall t \in T, a = (s, j) \in t
        \quad\text{ties go to the seller} \\
    & x \in \{0,1\}^J,\; y \in \{0,1\}^A

The surplus constraints need no big-M: at most one price of each offer is chosen, so
``Σ_k σ x`` is the surplus of the offer on sale (or 0). For integral ``x`` the rows force
``y`` onto the segment's unique preferred point on sale, so ``y`` would be integral anyway;
it is declared binary because HiGHS branches better on it.
The tie rows are written with suffix sums (``O(|t|)`` non-zeros per group). Side
constraints (inventory, fairness, …) come from the rule catalogue, :mod:`formulations.rules`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .linear import LinearModel, Terms, group_rows
from .offers import OfferSpace
from .rules import add_rule_rows
from .side_constraints import add_offer_variables


def build_first_choice(space: OfferSpace) -> LinearModel:
    model = LinearModel(f"first_choice_{space.scenario.pricing}", sense="max")
    # Under uniform pricing HiGHS's presolve removes almost nothing (60/250/30: 3 rows,
    # 32 columns) and takes long (9.7 s there, of a 60 s limit); without it, on the
    # benchmark's instances, 40/150/20 seeds 0-2 were optimal in 0.8, 3.6 and 23.8 s
    # instead of 8.9, 14.2 and 27.9 s, and 60/250/30 ended at a 4.3 % gap instead of 5.3 %.
    # Personalized models it does shrink (60/250/30: optimal in 9.3 s with it, not in
    # 57 s without). benchmarks/results_scale.md
    model.presolve = space.personalized
    arcs = space.arcs
    n = len(arcs)
    n_seg = len(space.segment_ids)
    offer = add_offer_variables(model, space)
    s, j = arcs["s"].to_numpy(), arcs["j"].to_numpy()
    surplus = arcs["surplus"].to_numpy()
    rows, ones = np.arange(n), np.ones(n)

    keys = pd.DataFrame({"segment": space.segment_ids[s],
                         "bundle": space.bundle_ids[arcs["b"].to_numpy()],
                         "price": arcs["price"].to_numpy()})
    seg_keys = pd.DataFrame({"segment": space.segment_ids})
    # y is integral whenever x is, but declaring it binary lets HiGHS branch on purchases,
    # which measured 2-3x faster on mid-size scenarios (benchmarks/).
    buy = model.add_vars("buy", keys, lb=0.0, ub=1.0, integer=True)
    buys = model.add_vars("segment_buys", seg_keys, lb=0.0, ub=1.0)
    best = np.zeros(n_seg)
    np.maximum.at(best, s, surplus)
    # surpluses are money to 6 decimals (offers.MONEY_DECIMALS): exact in micro-units
    gets = model.add_vars("segment_surplus", seg_keys, lb=0.0, ub=best, unit=1e-6)
    seg_rows = np.arange(n_seg)

    model.add_constraints("buy_only_on_sale", keys, [
        Terms(buy, rows, rows, ones), Terms(offer, rows, j, -ones)], hi=0.0)
    model.add_constraints("segment_buys_def", seg_keys, [
        Terms(buy, s, rows, ones), Terms(buys, seg_rows, seg_rows, -np.ones(n_seg))], lo=0.0, hi=0.0)
    model.add_constraints("segment_surplus_def", seg_keys, [
        Terms(gets, seg_rows, seg_rows, np.ones(n_seg)), Terms(buy, s, rows, -surplus)], lo=0.0, hi=0.0)

    pair, first = group_rows(arcs, ["s", "b"])
    m = len(first)
    model.add_constraints("best_offer_chosen", pd.DataFrame({
        "segment": space.segment_ids[first["s"].to_numpy()],
        "bundle": space.bundle_ids[first["b"].to_numpy()]}), [
        Terms(gets, np.arange(m), first["s"].to_numpy(), np.ones(m)),
        Terms(offer, pair, j, -surplus)], lo=0.0)

    zero = np.flatnonzero(surplus == 0)
    if len(zero):
        z = len(zero)
        model.add_constraints("zero_surplus_buys", keys.iloc[zero], [
            Terms(buys, np.arange(z), s[zero], np.ones(z)),
            Terms(offer, np.arange(z), j[zero], -np.ones(z))], lo=0.0)

    _tie_rows(model, space, offer, buy, keys)

    demand = space.size[s]                      # N_s shoppers on an arc if it is bought
    model.add_objective(buy, rows, demand * arcs["value"].to_numpy())
    add_rule_rows(model, space, offer, buy, demand)
    return model


def _tie_rows(model: LinearModel, space: OfferSpace, offer, buy, keys: pd.DataFrame) -> None:
    """``x_j + Σ_{later tied} y ≤ 1`` for arcs sharing a segment and a surplus."""
    arcs = space.arcs
    grp = arcs.groupby(["s", "surplus"], sort=False).ngroup().to_numpy()
    size = np.bincount(grp)
    tied = np.flatnonzero(size[grp] > 1)           # arcs are already in preference order
    if not len(tied):
        return
    g = grp[tied]
    # after[a] = Σ_{a' tied with a, ranked after a} y_a', as a suffix-sum variable
    after = model.add_vars("bought_after_in_tie", keys.iloc[tied], lb=0.0, ub=1.0)
    k = len(tied)
    local = np.arange(k)
    nxt = local[:-1][g[1:] == g[:-1]]                # members whose successor is in the same group
    model.add_constraints("tie_suffix_def", keys.iloc[tied], [
        Terms(after, local, local, np.ones(k)),
        Terms(after, nxt, nxt + 1, -np.ones(len(nxt))),
        Terms(buy, nxt, tied[nxt + 1], -np.ones(len(nxt)))], lo=0.0, hi=0.0)
    model.add_constraints("ties_to_seller", keys.iloc[tied], [
        Terms(offer, local, arcs["j"].to_numpy()[tied], np.ones(k)),
        Terms(after, local, local, np.ones(k))], hi=1.0)

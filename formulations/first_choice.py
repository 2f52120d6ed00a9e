r"""First-choice (reservation-price) bundle offer and pricing model.

Shoppers of segment ``s`` buy, among the offers they see at a price ``p ≤ w_sb``, the one
with the largest surplus ``w_sb − p`` (ties to the seller, docs/semantics.md). This is the
deterministic reservation-price model of the bundle-pricing literature (Hanson & Martin,
"Optimal bundle pricing", Management Science 36(2), 1990), here on a discrete price
ladder so that it is an exact MILP, written with the customer-ranking constraints of
Bertsimas & Mišić ("Exact first-choice product line optimization", Operations Research
67(3), 2019) which need no big-M at all.

Sets: points ``j ∈ J`` (offer ``b(j)`` at price ``p_j`` to audience ``g(j)``: everyone in
``uniform`` mode, one segment in ``personalized`` mode); arcs ``a = (s, j) ∈ A`` with
``p_j ≤ w_{s b(j)}``, listed per segment in its strict preference order
``a_1 ≻ a_2 ≻ …`` (surplus, then seller value ``v_j``, then file order).

.. math::

    \max \; & \textstyle\sum_{a=(s,j) \in A} N_s \, v_j \, y_a
        \qquad v_j = p_j - C_{b(j)} \text{ (profit) or } p_j \text{ (revenue)} \\
    \text{s.t.}\; & \textstyle\sum_{j \in J_{gb}} x_j \le 1          && \forall (g, b)
        \quad\text{(one price per offer and audience)} \\
    & y_a \le x_j                                                     && \forall a = (s, j) \\
    & Y_{a_r} = Y_{a_{r-1}} + y_{a_r}, \quad Y_{a_0} = 0             && \forall s, r \\
    & Y_a \ge x_j                                                     && \forall a = (s, j)
        \quad\text{(if } j \text{ is on sale, } s \text{ buys it or something it prefers)} \\
    & x \in \{0,1\}^J,\; 0 \le y, Y \le 1

``Y`` is the prefix sum of ``y`` along the segment's ranking, so each ranking constraint
has two non-zeros instead of one per better arc (``O(|A|)`` instead of ``O(|A|²)``).
``Y ≤ 1`` is ``Σ_a y_a ≤ 1``. For integral ``x`` the constraints force ``y`` onto the
segment's most preferred point on sale, so ``y`` and ``Y`` are integral without being
declared so. Side constraints (margin, inventory, fairness, …) are added by
:mod:`formulations.side_constraints`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .linear import LinearModel, Terms
from .offers import OfferSpace
from .side_constraints import add_offer_variables, add_side_constraints


def build_first_choice(space: OfferSpace) -> LinearModel:
    model = LinearModel(f"first_choice_{space.scenario.pricing}", sense="max")
    arcs = space.arcs
    n_arcs = len(arcs)
    offer = add_offer_variables(model, space)

    keys = pd.DataFrame({"segment": space.segment_ids[arcs["s"].to_numpy()],
                         "bundle": space.bundle_ids[arcs["b"].to_numpy()],
                         "price": arcs["price"].to_numpy()})
    buy = model.add_vars("buy", keys, lb=0.0, ub=1.0)
    cum = model.add_vars("bought_by_rank", keys, lb=0.0, ub=1.0)

    rows = np.arange(n_arcs)
    j = arcs["j"].to_numpy()
    model.add_constraints("buy_only_on_sale", keys, [
        Terms(buy, rows, rows, np.ones(n_arcs)),
        Terms(offer, rows, j, -np.ones(n_arcs))], hi=0.0)

    # Y_a − Y_prev(a) − y_a = 0, where prev is the arc ranked just above in the same segment.
    first = arcs["rank"].to_numpy() == 0
    later = np.flatnonzero(~first)
    model.add_constraints("rank_prefix_sum", keys, [
        Terms(cum, rows, rows, np.ones(n_arcs)),
        Terms(cum, later, later - 1, -np.ones(len(later))),
        Terms(buy, rows, rows, -np.ones(n_arcs))], lo=0.0, hi=0.0)
    model.add_constraints("first_choice", keys, [
        Terms(cum, rows, rows, np.ones(n_arcs)),
        Terms(offer, rows, j, -np.ones(n_arcs))], lo=0.0)

    demand = space.size[arcs["s"].to_numpy()]          # N_s: shoppers per arc if bought
    model.add_objective(buy, rows, demand * arcs["value"].to_numpy())
    add_side_constraints(model, space, offer, buy, demand)
    return model

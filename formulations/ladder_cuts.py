r"""Ladder-lifted ranking rows: valid inequalities for the first-choice model on a ladder.

In the spirit of the ranking formulation of Bertsimas & Mišić ("Exact first-choice
product line optimization", Operations Research 67(3), 2019), where a customer who is
offered product ``i`` must buy ``i`` or something it ranks above ``i``, with every
(offer, price) point a product: if offer ``b`` is on sale to segment ``s`` at a price
``p ≤ p_k`` (any cheaper point of its ladder), then ``s`` buys an arc it ranks at least
as high as ``(s, k)``. Summing over the cheaper points of the same ladder lifts the
row, since at most one of them is on sale (``one_price``):

.. math::

    \textstyle\sum_{j \in J_{gb},\ p_j \le p_k} x_j \;\le\;
    \sum_{a' \in A_s,\ \mathrm{rank}(a') \le \mathrm{rank}(s,k)} y_{a'}
    \qquad \forall\, a = (s, k) \in A

Valid because arcs are numbered in each segment's strict preference order (surplus,
then seller's value, then file order: docs/semantics.md) and a cheaper point of the
same offer has a larger surplus, so it ranks higher. Both sides are prefix sums, held
in two auxiliary families so each row has three non-zeros:
``ladder_prefix`` ``X_{gb,k} = x_k + X_{gb,k-1}`` and ``rank_prefix``
``Z_{s,r} = y_{s,r} + Z_{s,r-1}``; then ``X_{gb,k(a)} ≤ Z_{s,rank(a)}``.
"""
from __future__ import annotations

import numpy as np

from .first_choice import build_first_choice
from .linear import LinearModel, Terms
from .offers import OfferSpace

LADDER_FAMILY = "ladder_prefix"         # the variables only a model with these rows has


def build_first_choice_ladder(space: OfferSpace) -> LinearModel:
    """The first-choice model of :mod:`formulations.first_choice` plus the rows above."""
    model = build_first_choice(space)
    model.name = f"first_choice_ladder_{space.scenario.pricing}"
    # HiGHS's presolve spent minutes on the prefix-sum chains (40/150/20: > 118 s and no
    # plan; written as inequalities, 17 s of presolve; without presolve the root LP is
    # integral and optimal in 5 s), so this model is solved whole
    model.presolve = False
    offer, buy = model.vars["on_sale"], model.vars["buy"]
    pts, arcs = space.points, space.arcs
    n_pts, n_arcs = len(pts), len(arcs)
    if not n_arcs:
        return model

    # X: prefix sums of x along each (audience, offer) ladder, cheapest first
    order = np.lexsort((pts["price"].to_numpy(), pts["b"].to_numpy(), pts["seg"].to_numpy()))
    g = pts.groupby(["seg", "b"], sort=False).ngroup().to_numpy()[order]
    prev = np.concatenate([[False], g[1:] == g[:-1]])             # has a cheaper neighbour
    pos = np.empty(n_pts, np.int64)
    pos[order] = np.arange(n_pts)                                   # X index of point j
    xkeys = offer.keys.iloc[order]
    X = model.add_vars(LADDER_FAMILY, xkeys, lb=0.0, ub=1.0)
    r = np.arange(n_pts)
    model.add_constraints("ladder_prefix_def", xkeys, [
        Terms(X, r, r, np.ones(n_pts)),
        Terms(offer, r, order, -np.ones(n_pts)),
        Terms(X, r[prev], r[prev] - 1, -np.ones(int(prev.sum())))], lo=0.0, hi=0.0)

    # Z: prefix sums of y along each segment's preference order (arcs are in that order)
    s = arcs["s"].to_numpy()
    same = np.concatenate([[False], s[1:] == s[:-1]])
    a = np.arange(n_arcs)
    keys = buy.keys
    Z = model.add_vars("rank_prefix", keys, lb=0.0, ub=1.0)
    model.add_constraints("rank_prefix_def", keys, [
        Terms(Z, a, a, np.ones(n_arcs)),
        Terms(buy, a, a, -np.ones(n_arcs)),
        Terms(Z, a[same], a[same] - 1, -np.ones(int(same.sum())))], lo=0.0, hi=0.0)

    model.add_constraints("ladder_ranking", keys, [
        Terms(X, a, pos[arcs["j"].to_numpy()], np.ones(n_arcs)),
        Terms(Z, a, a, -np.ones(n_arcs))], hi=0.0)
    return model


# Measured (docs/scale.md, "Ladder rows up to 80,000 arcs"; 2 cores, HiGHS 1.16, one run
# per cell, the plain model beside it in the same run): with the first plan as start, the
# ladder model's root LP (dual simplex, no presolve) now takes 8 s at 60/250/30 uniform
# (36k arcs) and its bound beats the plain model's cut loop — final gaps at 60 s 3.46 /
# 6.23 / 1.39 % against 4.75 / 8.48 / 1.65 % (seeds 0-2); 40/150/20 (15k arcs) optimal in
# 7.5 / 16.0 s against 12.5 / 10.1 s (seeds 0-1), seed 2 at 1.13 % against 2.95 %; 75k arcs
# 5.66 % against 7.30 % (90 s), 134k arcs 2.36 % against 4.09 % (120 s). At 239k and 302k
# arcs (200/1000/50, 7 and 20 ladder points, 120 s) its root LP did not finish: 2.90 %
# against 1.65 % and 1.78 %. (An earlier measurement, on a box under load 6-9, had the
# root LP unfinished at 60/250/30 and set the limit at 5,000 arcs.) Personalized models
# stay plain: at 20/60/8 the plain model was optimal in 1 s and this one not in 10 s.
LADDER_MAX_ARCS = 80_000


def ladder_rows_pay(space: OfferSpace, backend: str = "highs") -> bool:
    """Whether the ladder rows are the default for this offer space and solver (see
    above). Not for CP-SAT: measured side by side on the same box it did better without
    them at every size — 20/60/8 uniform optimal in 17.9 s against 0.61 % after 60 s,
    40/150/20 3.90 % against 4.12 %, 60/250/30 6.44 % against 6.84 %."""
    return (backend == "highs" and not space.personalized
            and len(space.arcs) <= LADDER_MAX_ARCS)

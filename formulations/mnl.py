r"""Latent-class MNL assortment-and-price model, exact on the price ladder.

Segment ``s`` buys point ``j`` (offer ``b`` at price ``p_j``) among those it sees with the
logit probability ``v_sj / (1 + Σ_{j' seen} v_sj')``, ``v_sj = exp(β_sb (w_sb − p_j))``
(docs/scenario.md §4). Treating every (offer, price) pair as a product turns joint assortment
and pricing on a ladder into latent-class MNL assortment optimisation (Bront, Méndez-Díaz
& Vulcano, "A column generation algorithm for choice-based network revenue management",
Operations Research 57(3), 2009), made exact by the linearisation of Méndez-Díaz,
Miranda-Bront, Vulcano & Zabala ("A branch-and-cut algorithm for the latent-class logit
assortment problem", Discrete Applied Mathematics 164, 2014):

.. math::

    \max \; & \textstyle\sum_{a=(s,j)} N_s \, v_j \, \pi_a \\
    \text{s.t.}\; & \textstyle\sum_{j \in J_{gb}} x_j \le 1                  && \forall (g,b) \\
    & \pi^0_s + \textstyle\sum_{a \ni s} \pi_a = 1                            && \forall s \\
    & \pi_a \le v_a \, \pi^0_s                                                 && \forall a \\
    & \pi_a \le \tfrac{v_a}{1 + v_a} \, x_j                                   && \forall a \\
    & \pi_a \ge v_a \, \pi^0_s - v_a (1 - x_j)                                && \forall a \\
    & x \in \{0,1\}^J,\; \pi, \pi^0 \ge 0

With ``x`` integral, ``π_a = v_a π⁰_s`` on offered points and ``0`` elsewhere, so
``π⁰_s = 1 / (1 + Σ v)`` exactly: the MNL shares. The constants are per arc (``v_a`` and
``v_a/(1+v_a)``, the largest share point ``j`` can have, reached when it is shown
alone) — there is no global big-M. Here ``v_j`` in the objective is the seller's value
per sale (price less cost for ``profit``, price for ``revenue``) and ``v_a`` the
attraction; the code names them ``value`` and ``attraction``.

**Attractions past e^20.** The no-purchase share of a segment that sees a point with
``v ≥ e^20`` is below what a floating-point MIP solver can tell from 0 (the brute-force
tests caught HiGHS returning wrong optima at exponents 22–46). Such a segment's model is
scaled by ``M_s = max_a log v_a − 20``: ``ρ_s = e^{M_s} π⁰_s`` replaces ``π⁰_s``, so
``π_a ≤ v_a e^{−M_s} ρ_s`` and ``(1 + O_s) e^{−M_s} ρ_s + Σ π = 1`` hold every
coefficient at most ``e^20`` (the smallest raised to ``1e-9``). Its "at least" rows,
which would need a big-M of ``v_a`` itself, are dropped. The exact logit shares still
satisfy every row, so the model is a **relaxation** for that segment: its bound is a
bound of the scenario, while its optimum may let the segment buy less than its logit
share of some offer. The solve therefore calls a plan optimal only when its exact value
(:mod:`formulations.evaluate`) is within the gap of that bound (``LinearModel.relaxed``).
Capping the attractions instead, as before, split such a segment evenly between its
capped offers: with B required, it preferred {A, B, C} where {A, B} earns more, and
proved a bound below what {A, B} earns (``tests/test_api.py``).

Competitors add ``O_s = Σ_c exp(β (w_sc − q_c − λ_s))`` to the no-purchase term
(:mod:`formulations.competitors`): ``π⁰_s`` is then the share of one unit of
attraction, ``(1 + O_s) π⁰_s + Σ π = 1``, and a point's largest share is
``v_a / (1 + O_s + v_a)``; everything else is unchanged.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .competitors import outside_attraction
from .evaluate import EXP_CAP
from .linear import LinearModel, Terms
from .offers import OfferSpace
from .rules import add_rule_rows
from .side_constraints import add_offer_variables

MAX_EXPONENT = 20.0      # e^20 ≈ 4.9e8: the largest coefficient the model holds
MIN_COEFFICIENT = 1e-9   # a relaxed segment's attractions are raised to at least this


def exponent(arcs: pd.DataFrame) -> np.ndarray:
    """``β (w − p)`` of each arc: its attraction is ``e`` to this."""
    return arcs["beta"].to_numpy(float) * (arcs["wtp"].to_numpy(float) - arcs["price"].to_numpy(float))


def attraction(arcs: pd.DataFrame) -> np.ndarray:
    """``v = exp(β (w − p))``, the exponent capped at ``MAX_EXPONENT`` (for tools that
    want attractions of a size a solver can hold; :func:`build_mnl` scales instead)."""
    return np.exp(np.minimum(exponent(arcs), MAX_EXPONENT))


def build_mnl(space: OfferSpace) -> LinearModel:
    model = LinearModel(f"mnl_{space.scenario.pricing}", sense="max")
    # HiGHS's presolve was seen to cut off the optimum of these models, with attractions
    # of ordinary size too (tests/test_bruteforce.py, seeds kept there); solve them whole.
    model.presolve = False
    arcs = space.arcs
    n_arcs, n_seg = len(arcs), len(space.segment_ids)
    offer = add_offer_variables(model, space)

    keys = pd.DataFrame({"segment": space.segment_ids[arcs["s"].to_numpy()],
                         "bundle": space.bundle_ids[arcs["b"].to_numpy()],
                         "price": arcs["price"].to_numpy()})
    share = model.add_vars("share", keys, lb=0.0, ub=1.0, unit=None)
    seg_keys = pd.DataFrame({"segment": space.segment_ids})
    outside = 1.0 + outside_attraction(space.scenario, MAX_EXPONENT)      # 1 + O_s
    s = arcs["s"].to_numpy()
    j = arcs["j"].to_numpy()
    z = exponent(arcs)
    # A segment with an exponent above the cap has its no-purchase share scaled by its
    # largest attraction (``ρ_s = e^{M_s} π⁰_s``) and loses its "at least" rows: a
    # relaxation (see module docstring), every coefficient at most e^MAX_EXPONENT.
    top = np.full(n_seg, -np.inf)
    np.maximum.at(top, s, z)
    shift = np.maximum(0.0, top - MAX_EXPONENT)
    relaxed = shift > 0
    v = np.exp(np.minimum(z - shift[s], MAX_EXPONENT))
    scaled = relaxed[s]
    v[scaled] = np.maximum(v[scaled], MIN_COEFFICIENT)     # raised: still a relaxation
    none_coef = outside * np.exp(-shift)
    none = model.add_vars("no_purchase_share", seg_keys, lb=0.0,
                          ub=np.where(relaxed, np.inf, 1.0 / outside), unit=None)
    if relaxed.any():
        model.relaxed = True
        model.notes.append(
            f"{int(relaxed.sum())} segments see an offer priced more than {MAX_EXPONENT:g}/β "
            "below their WTP: their shares are relaxed (at most the logit share), so the "
            "bound holds and a plan is optimal only when its exact value meets it")
    rows = np.arange(n_arcs)
    model.add_constraints("shares_sum_to_one", seg_keys, [
        Terms(none, np.arange(n_seg), np.arange(n_seg), none_coef),
        Terms(share, s, rows, np.ones(n_arcs))], lo=1.0, hi=1.0)
    model.add_constraints("share_at_most_logit", keys, [
        Terms(share, rows, rows, np.ones(n_arcs)),
        Terms(none, rows, s, -v)], hi=0.0)
    # a point's largest share, shown alone: v / (1 + O + v), written so that it cannot
    # overflow, with the evaluator's exponent cap
    alone = 1.0 / (1.0 + outside[s] * np.exp(-np.minimum(z, EXP_CAP)))
    model.add_constraints("share_only_on_sale", keys, [
        Terms(share, rows, rows, np.ones(n_arcs)),
        Terms(offer, rows, j, -alone)], hi=0.0)
    exact = np.flatnonzero(~scaled)
    model.add_constraints("share_at_least_logit", keys.iloc[exact], [
        Terms(share, np.arange(len(exact)), exact, np.ones(len(exact))),
        Terms(none, np.arange(len(exact)), s[exact], -v[exact]),
        Terms(offer, np.arange(len(exact)), j[exact], -v[exact])], lo=-v[exact])

    demand = space.size[s]
    model.add_objective(share, rows, demand * arcs["value"].to_numpy())
    add_rule_rows(model, space, offer, share, demand)
    return model

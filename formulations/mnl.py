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

Competitors add ``O_s = Σ_c exp(β (w_sc − q_c − λ_s))`` to the no-purchase term
(:mod:`formulations.competitors`): ``π⁰_s`` is then the share of one unit of
attraction, ``(1 + O_s) π⁰_s + Σ π = 1``, and a point's largest share is
``v_a / (1 + O_s + v_a)``; everything else is unchanged.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .competitors import outside_attraction
from .linear import LinearModel, Terms
from .offers import OfferSpace
from .rules import add_rule_rows
from .side_constraints import add_offer_variables

MAX_EXPONENT = 20.0  # e^20 ≈ 4.9e8; see attraction()


def attraction(arcs: pd.DataFrame) -> np.ndarray:
    """``v = exp(β (w − p))``, with the exponent capped at ``MAX_EXPONENT``.

    Why the cap: the model relates shares of order 1 to a no-purchase share of order
    ``1/v``; past ``v ≈ e^20`` floating-point MIP solvers cannot tell that share from 0,
    and the brute-force tests caught HiGHS returning wrong optima (exponents 22–46). An
    offer priced more than ``20/β`` below a segment's WTP is modelled as if it were
    exactly ``20/β`` below: shown alone its share changes by < 2e-9; two such offers
    seen by one segment split it evenly rather than by their exact ratio. The plan's
    reported numbers are always re-computed with the exact attractions.
    """
    z = arcs["beta"].to_numpy(float) * (arcs["wtp"].to_numpy(float) - arcs["price"].to_numpy(float))
    return np.exp(np.minimum(z, MAX_EXPONENT))


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
    none = model.add_vars("no_purchase_share", seg_keys, lb=0.0, ub=1.0 / outside, unit=None)

    s = arcs["s"].to_numpy()
    j = arcs["j"].to_numpy()
    v = attraction(arcs)
    capped = int((v >= np.exp(MAX_EXPONENT)).sum())
    if capped:
        model.approximate = True
        model.notes.append(f"{capped} MNL attractions capped at e^{MAX_EXPONENT:g} "
                           "(price more than 20/β below WTP); the plan is re-priced exactly")
    rows = np.arange(n_arcs)
    model.add_constraints("shares_sum_to_one", seg_keys, [
        Terms(none, np.arange(n_seg), np.arange(n_seg), outside),
        Terms(share, s, rows, np.ones(n_arcs))], lo=1.0, hi=1.0)
    model.add_constraints("share_at_most_logit", keys, [
        Terms(share, rows, rows, np.ones(n_arcs)),
        Terms(none, rows, s, -v)], hi=0.0)
    model.add_constraints("share_only_on_sale", keys, [
        Terms(share, rows, rows, np.ones(n_arcs)),
        Terms(offer, rows, j, -v / (outside[s] + v))], hi=0.0)
    model.add_constraints("share_at_least_logit", keys, [
        Terms(share, rows, rows, np.ones(n_arcs)),
        Terms(none, rows, s, -v),
        Terms(offer, rows, j, -v)], lo=-v)

    demand = space.size[s]
    model.add_objective(share, rows, demand * arcs["value"].to_numpy())
    add_rule_rows(model, space, offer, share, demand)
    return model

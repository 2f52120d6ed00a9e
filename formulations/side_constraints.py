"""What every choice model shares: the offer variables (the rules' rows are in
:func:`formulations.rules.add_rule_rows`).

``x_j`` is 1 when price point ``j`` (offer ``b`` at price ``p`` for audience ``g``) is on
sale, with at most one price per (audience, offer). The merchandiser's rules
(docs/scenario.md §6) each write their own rows in :mod:`formulations.rules`, on ``x``
and the demand variables ``d_a`` of the choice model (``y_a`` first-choice purchase,
``π_a`` MNL share), with ``D_a = N_s`` so that ``D_a d_a`` is the expected number of
sales on arc ``a``. Every constant is per row — there is no global big-M.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .linear import LinearModel, Terms, VarFamily, group_rows
from .offers import OfferSpace, audience_labels


def add_offer_variables(model: LinearModel, space: OfferSpace) -> VarFamily:
    """``x_j`` for every price point, and one price per (audience, offer)."""
    pts = space.points
    seg = pts["seg"].to_numpy()
    keys = pd.DataFrame({
        "bundle": space.bundle_ids[pts["b"].to_numpy()],
        "segment": audience_labels(space.segment_ids, seg),
        "price": pts["price"].to_numpy()})
    offer = model.add_vars("on_sale", keys, lb=0.0, ub=1.0, integer=True)
    groups, first = group_rows(pts, ["seg", "b"])
    gkeys = pd.DataFrame({"bundle": space.bundle_ids[first["b"].to_numpy()],
                          "segment": keys["segment"].to_numpy()[first.index.to_numpy()]})
    n = len(pts)
    model.add_constraints("one_price", gkeys, [Terms(offer, groups, np.arange(n), np.ones(n))], hi=1.0)
    return offer


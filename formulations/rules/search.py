"""A plan as the first plan's search holds it, for the rules' vectorised checks.

The search (:mod:`solver.heuristic`) visits thousands of plans a second, too many to
check each one with the plan evaluator's tables. Instead every rule module may give a
check on plain arrays (:meth:`Rule.search_check <formulations.rules.base.Rule.search_check>`),
and the search asks each active rule before it accepts a plan. The arrays live here,
in ``formulations``, because the rules must not import the solver.

What the codes mean (:class:`SearchLayout`, fixed for one offer space):

* offer ``b`` — a row of ``space.bundle_ids``; segment ``s`` — of ``space.segment_ids``;
* audience — ``-1`` for everyone (uniform pricing) or a segment code (personalized);
* point ``j`` — a row of ``space.points``: an offer at a price for an audience;
* group — an (audience, offer) pair; at most one of its points is on sale;
* arc ``a`` — a row of ``space.arcs``: a segment that sees a point.

Periods: today a plan has one period. A season plan takes the *same decisions* in every
period, so :attr:`SearchState.group_point` (the decisions) has no period axis, while
what the demand model derives from them has a leading period axis
(:attr:`SearchState.sales`, of length 1 today); a rule summing over the season (inventory)
sums that axis, a rule on decisions (caps, prices) never reads it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:      # annotations only: the offer space imports the rule catalogue
    from ..offers import OfferSpace


@dataclass(frozen=True)
class SearchLayout:
    """What the search's arrays index (module docstring), built once per offer space."""

    space: "OfferSpace"
    personalized: bool
    n_segments: int
    n_offers: int
    n_points: int
    n_groups: int
    point_offer: np.ndarray       # offer of each point
    point_audience: np.ndarray    # audience of each point (-1 = everyone)
    point_price: np.ndarray       # price of each point
    point_group: np.ndarray       # group of each point
    group_offer: np.ndarray       # offer of each group
    group_audience: np.ndarray    # audience of each group (-1 = everyone)
    arc_segment: np.ndarray       # segment of each arc
    arc_point: np.ndarray         # point of each arc
    arc_offer: np.ndarray         # offer of each arc
    arc_surplus: np.ndarray       # the segment's WTP minus the price, in money decimals

    @classmethod
    def of(cls, space: "OfferSpace") -> "SearchLayout":
        pts, arcs = space.points, space.arcs
        n_points = len(pts)
        point_offer, point_audience = pts["b"].to_numpy(), pts["seg"].to_numpy()
        group = pts.groupby(["seg", "b"], sort=False).ngroup().to_numpy()
        n_groups = int(group.max()) + 1 if n_points else 0
        first = np.zeros(n_groups, np.int64)          # the first point of each group
        first[group[::-1]] = np.arange(n_points)[::-1]
        return cls(space, space.personalized, len(space.segment_ids), len(space.bundle_ids),
                   n_points, n_groups, point_offer, point_audience,
                   pts["price"].to_numpy(float), group, point_offer[first], point_audience[first],
                   arcs["s"].to_numpy(), arcs["j"].to_numpy(), arcs["b"].to_numpy(),
                   arcs["surplus"].to_numpy(float))

    def offer_codes(self, ids) -> np.ndarray:
        """Codes of the offers ``ids`` names that are in the offer space, in that order."""
        code = {b: i for i, b in enumerate(self.space.bundle_ids)}
        return np.array([code[b] for b in ids if b in code], np.int64)

    def segment_codes(self, ids) -> np.ndarray:
        """Codes of the segments ``ids`` names that are in the offer space, in that order."""
        code = {s: i for i, s in enumerate(self.space.segment_ids)}
        return np.array([code[s] for s in ids if s in code], np.int64)


@dataclass
class SearchState:
    """One plan the search holds: its decisions and what the demand model makes of them.

    The derived views (``groups_on``, ``offers_on``, …) are computed on first use and
    shared by every rule that reads them.
    """

    layout: SearchLayout
    group_point: np.ndarray       # per group: the point on sale, -1 = none (the decisions)
    arcs_on: np.ndarray           # the arcs whose point is on sale
    sales: np.ndarray             # periods × offers: expected sales of each offer

    @cached_property
    def groups_on(self) -> np.ndarray:
        """Which groups have a point on sale (bool per group)."""
        return self.group_point >= 0

    @cached_property
    def offers_on(self) -> np.ndarray:
        """Which offers are on sale to someone (bool per offer)."""
        on = np.zeros(self.layout.n_offers, bool)
        on[self.layout.group_offer[self.groups_on]] = True
        return on

    @cached_property
    def prices_on(self) -> np.ndarray:
        """The price of each group on sale, in group order (aligned with ``groups_on``)."""
        return self.layout.point_price[self.group_point[self.groups_on]]

    @cached_property
    def audience_prices(self) -> np.ndarray:
        """(1 + segments) × offers: what each audience pays for each offer, ``inf`` where
        it is not on sale to it; row 0 is everyone, row ``s + 1`` segment ``s``."""
        lay = self.layout
        prices = np.full((lay.n_segments + 1, lay.n_offers), np.inf)
        on = self.groups_on
        prices[lay.group_audience[on] + 1, lay.group_offer[on]] = self.prices_on
        return prices


#: A rule's check of a search state: does the rule hold?
SearchCheck = Callable[[SearchState], bool]

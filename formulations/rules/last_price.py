r"""The last price on sale: what the markdown rules and ``price_change`` compare with.

"The last price on sale" of an offer and audience in period ``t`` is its price in the
latest earlier period in which it was on sale, else its price in ``previous_plan.csv``
(its *history*), else there is none (docs/scenario.md, "Markdown rules"). The history
of an (audience, offer) is every previous-plan row of the offer for the same shoppers
— the same segment, or ``*`` on either side, as ``price_change`` has always matched
them; with several, a price must keep the rule against each of them.

**State variables** (a season model; one family ``last_price`` shared by every rule
that needs it). Every period has the same points, so point ``j`` (audience ``g``,
offer ``b``, price ``p_j``) has ``x_{tj}`` in each period ``t``. ``S_{tj} = 1`` when the
last price on sale up to and including period ``t`` is ``p_j``:

.. math::

    S_{tj} = x_{tj} + S_{t-1,j}\,(1 - \textstyle\sum_{j' \in g b} x_{tj'})

written linearly as the four rows

.. math::

    S_{tj} \ge x_{tj},\quad
    S_{tj} \ge S_{t-1,j} - \textstyle\sum_{j' \in gb} x_{tj'},\quad
    S_{tj} \le x_{tj} + S_{t-1,j},\quad
    S_{tj} + \textstyle\sum_{j' \in gb,\, j' \ne j} x_{tj'} \le 1 .

With ``x`` integral they force ``S`` exactly (on sale at ``j*``: ``S = 1`` at ``j*``
and ``0`` elsewhere; off sale: ``S_t = S_{t-1}``), so ``S`` is continuous in [0, 1].
``S_{-1,j}`` is a constant: 1 where every history price of the group is ``p_j``.

**Changes.** ``c_{tg} ≥ 1`` when the offer is on sale in ``t`` at a price other than
its last price on sale — for a group with history (there always is a last price):

.. math:: c_{tg} \ge x_{tj} - S_{t-1,j} \qquad \forall j \in g

and without history (the first period on sale is no change; ``1 − Σ S`` says "none
yet"): ``c_{tg} ≥ x_{tj} − S_{t−1,j} − (1 − Σ_{j'∈g} S_{t−1,j'})``. Rules only bound
``c`` from above (``max_changes``, ``min_gap``), so at an optimum it is the change
indicator itself; continuous in [0, 1].

**Under ``no_increase``: the ceiling state** (family ``last_price_at_most``). Prices
only go down, so the last price on sale only goes down too, and a staircase of
cumulative indicators describes it (the monotone "level reached by ``t``" variables of
lot-sizing's extended formulations, e.g. Pochet and Wolsey, *Production Planning by
Mixed Integer Programming*, 2006). Number the points of a group
cheapest first, ``k = 1 … K_g``, and let ``X_{tk} = Σ_{k' ≤ k} x_{tk'}`` (on sale in
``t`` at ``p_k`` or cheaper). ``C_{tk} = 1`` when there is a last price on sale up to
and including ``t`` and it is at most ``p_k``. With no price increase,
``C_{tk} = max(C_{t-1,k}, X_{tk})`` — a sale at ``p_{k*}`` puts the last price at
``p_{k*}``, which is at most the one before — written as

.. math::

    C_{tk} \ge C_{t-1,k},\quad C_{tk} \ge C_{t,k-1},\quad
    C_{tk} \ge X_{tk},\quad C_{tk} \le C_{t-1,k} + X_{tk},

exact for integral ``x`` (both bounds meet once ``C_{t-1}`` is integral; the second
row is implied then and only tightens the relaxation), so ``C`` is continuous in
[0, 1]. ``C_{-1,k}`` is a constant: 1 where the group has a history and every history
price is at most ``p_k``. ``no_increase`` is then ``Σ_{k' ≥ k} x_{tk'} + C_{t-1,k-1}
≤ 1`` (:mod:`.no_increase`): not on sale at ``p_k`` or above once the last price is
below ``p_k``. A sale in ``t`` at ``p_{k*}`` is no change exactly when the last price
before it is ``p_{k*}``, i.e. when ``C_{t-1}`` is already the step ``C_t`` is (``C``
only grows), so the changes are

.. math::

    c_{tg} \ge C_{tk} - C_{t-1,k} \quad \forall k \in g
    \qquad (- (1 - C_{t-1,K_g}) \text{ on the right without history})

— valid (off sale ``C_t = C_{t-1}``; a sale at the last price leaves ``C`` as it
was; without a last price yet ``1 − C_{t-1,K_g} = 1``) and exact (a change to
``p_{k*}`` below the last price lifts ``C_{tk*}`` from 0 to 1). Measured
(``benchmarks/study_markdown_rows.py``, docs/model.md "Seasons"): the same LP bound as
``S`` — its LP optimum already lies in the hull of the allowed price paths — a slightly
lower bound after the root node, a smaller model. Without
``no_increase`` the last price can go up again and ``S`` stays.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..checks import ALL_SEGMENTS
from ..linear import Terms
from .base import PRICE_TOL

if TYPE_CHECKING:
    from ..linear import VarFamily
    from ..scenario import Scenario
    from .base import SeasonContext

STATE = "last_price"
CEILING = "last_price_at_most"
CHANGED = "price_changed"


def monotone(scenario: "Scenario") -> bool:
    """Whether prices only go down (``markdown.no_increase``): the ceiling state holds."""
    # read as Rule.value reads it (the rule module imports this one, not the reverse)
    return bool(scenario.constraints.get("no_increase"))


def history(scenario: "Scenario", frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest history price of each row of ``frame`` (``bundle_id,
    segment_id``; ``*`` = everyone), NaN where it has none."""
    prev = scenario.previous_plan
    rows = frame[["bundle_id", "segment_id"]].reset_index(drop=True).assign(row=lambda f: np.arange(len(f)))
    lo = np.full(len(rows), np.nan)
    hi = np.full(len(rows), np.nan)
    if not len(prev) or not len(rows):
        return lo, hi
    pairs = rows.merge(prev[["bundle_id", "segment_id", "price"]].rename(
        columns={"segment_id": "old_segment"}), on="bundle_id")
    seg, old = pairs["segment_id"].to_numpy(), pairs["old_segment"].to_numpy()
    pairs = pairs[(seg == ALL_SEGMENTS) | (old == ALL_SEGMENTS) | (seg == old)]
    g = pairs.groupby("row")["price"].agg(["min", "max"])
    lo[g.index.to_numpy()] = g["min"].to_numpy(float)
    hi[g.index.to_numpy()] = g["max"].to_numpy(float)
    return lo, hi


class Layout:
    """Codes of a season model's points: group of each point, pairs within a group."""

    def __init__(self, ctx: "SeasonContext") -> None:
        space = ctx.space
        pts = space.points
        self.n_points, self.n_periods = len(pts), ctx.n_periods
        self.group = pts.groupby(["seg", "b"], sort=False).ngroup().to_numpy()
        self.n_groups = int(self.group.max()) + 1 if self.n_points else 0
        self.price = pts["price"].to_numpy(float)
        frame = pd.DataFrame({"bundle_id": space.bundle_ids[pts["b"].to_numpy()],
                              "segment_id": _audiences(space.segment_ids, pts["seg"].to_numpy())})
        self.point_keys = frame.rename(columns={"bundle_id": "bundle", "segment_id": "segment"}).assign(
            price=self.price)
        lo, hi = history(ctx.scenario, frame)
        self.history_lo, self.history_hi = lo, hi
        first = np.zeros(self.n_groups, np.int64)
        first[self.group[::-1]] = np.arange(self.n_points)[::-1]
        self.group_keys = frame.iloc[first].rename(
            columns={"bundle_id": "bundle", "segment_id": "segment"}).reset_index(drop=True)
        self.group_history = ~np.isnan(lo[first]) if self.n_points else np.zeros(0, bool)
        # S_{-1,j}: every history price of the group is p_j
        self.start = (~np.isnan(lo) & (lo == self.price) & (hi == self.price)).astype(float)
        j = np.arange(self.n_points)
        pairs = pd.DataFrame({"j": j, "g": self.group}).merge(
            pd.DataFrame({"k": j, "g": self.group}), on="g")
        self.pair_j, self.pair_k = pairs["j"].to_numpy(), pairs["k"].to_numpy()
        # the ladder of each group, cheapest first (a group's prices are distinct)
        order = np.lexsort((self.price, self.group))
        same = self.group[order][1:] == self.group[order][:-1]
        self.below = np.full(self.n_points, -1)          # the next cheaper point, −1: none
        self.below[order[1:][same]] = order[:-1][same]
        self.top = np.zeros(self.n_groups, np.int64)     # each group's dearest point
        self.top[self.group[order]] = order
        # C_{-1,k}: a history, all of it at most p_k
        self.ceiling_start = (~np.isnan(hi) & (hi <= self.price + PRICE_TOL)).astype(float)

    def period_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One row per (period t, point j), numbered ``t n + j``: the row numbers, ``t``,
        ``j``, whether ``t`` has a period before it, and ones."""
        r = np.arange(self.n_points * self.n_periods)
        t_of, j_of = r // self.n_points, r % self.n_points
        return r, t_of, j_of, t_of > 0, np.ones(len(r))

    def x(self, t: np.ndarray | int, j: np.ndarray) -> np.ndarray:
        """Member index of point ``j`` of period ``t`` in the offer family."""
        return np.asarray(t) * self.n_points + np.asarray(j)

    def keys(self, periods: tuple, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` repeated for every period, with a leading ``period`` column."""
        n = len(frame)
        rep = frame.iloc[np.tile(np.arange(n), len(periods))].reset_index(drop=True)
        rep.insert(0, "period", np.repeat(np.asarray(periods, dtype=object), n))
        return rep


def _audiences(segment_ids: np.ndarray, seg: np.ndarray) -> np.ndarray:
    # as offers.audience_labels (the offer space imports this package, so not from there)
    return np.where(seg < 0, ALL_SEGMENTS, segment_ids[np.maximum(seg, 0)])


def layout(ctx: "SeasonContext") -> Layout:
    """The season's :class:`Layout`, made once per model."""
    cached = getattr(ctx, "_last_price_layout", None)
    if cached is None:
        cached = Layout(ctx)
        ctx._last_price_layout = cached
    return cached


def state(ctx: "SeasonContext") -> "VarFamily":
    """``S_{tj}`` (module docstring), added once per model with its four rows."""
    model = ctx.model
    if STATE in model.vars:
        return model.vars[STATE]
    lay = layout(ctx)
    n, P = lay.n_points, lay.n_periods
    S = model.add_vars(STATE, lay.keys(ctx.labels, lay.point_keys), lb=0.0, ub=1.0)
    x = ctx.offer
    r, t_of, j_of, prev, ones = lay.period_rows()    # prev: rows whose S_{t-1} is a variable
    start = lay.start[j_of]
    # pair terms: per row (t, j), the points j' of its group in the same period
    pt = np.repeat(np.arange(P), len(lay.pair_j))
    pj = np.tile(lay.pair_j, P)
    pk = np.tile(lay.pair_k, P)
    prow = pt * n + pj
    model.add_constraints("last_price_from_sale", S.keys, [
        Terms(S, r, r, ones), Terms(x, r, lay.x(t_of, j_of), -ones)], lo=0.0)
    model.add_constraints("last_price_kept", S.keys, [
        Terms(S, r, r, ones), Terms(S, r[prev], r[prev] - n, -ones[prev]),
        Terms(x, prow, lay.x(pt, pk), np.ones(len(prow)))], lo=np.where(prev, 0.0, start))
    model.add_constraints("last_price_only_if", S.keys, [
        Terms(S, r, r, ones), Terms(x, r, lay.x(t_of, j_of), -ones),
        Terms(S, r[prev], r[prev] - n, -ones[prev])], hi=np.where(prev, 0.0, start))
    other = pj != pk
    model.add_constraints("last_price_replaced", S.keys, [
        Terms(S, r, r, ones),
        Terms(x, prow[other], lay.x(pt[other], pk[other]), np.ones(int(other.sum())))], hi=1.0)
    return S


def ceiling(ctx: "SeasonContext") -> "VarFamily":
    """``C_{tk}`` (module docstring, under ``no_increase``), added once per model with
    its rows."""
    model = ctx.model
    if CEILING in model.vars:
        return model.vars[CEILING]
    lay = layout(ctx)
    n, P = lay.n_points, lay.n_periods
    C = model.add_vars(CEILING, lay.keys(ctx.labels, lay.point_keys), lb=0.0, ub=1.0)
    x = ctx.offer
    keys = C.keys
    r, t_of, j_of, prev, ones = lay.period_rows()
    start = lay.ceiling_start[j_of]
    model.add_constraints("last_price_at_most_kept", keys, [
        Terms(C, r, r, ones), Terms(C, r[prev], r[prev] - n, -ones[prev])],
        lo=np.where(prev, 0.0, start))
    up = np.flatnonzero(lay.below[j_of] >= 0)
    model.add_constraints("last_price_at_most_ladder", keys.iloc[up], [
        Terms(C, np.arange(len(up)), up, np.ones(len(up))),
        Terms(C, np.arange(len(up)), t_of[up] * n + lay.below[j_of[up]], -np.ones(len(up)))], lo=0.0)
    # X_{tk}: per row (t, k), the points k' of its group with p_k' ≤ p_k in period t
    cheaper = lay.price[lay.pair_k] <= lay.price[lay.pair_j]
    pj, pk = lay.pair_j[cheaper], lay.pair_k[cheaper]
    pt = np.repeat(np.arange(P), len(pj))
    prow, pcol = pt * n + np.tile(pj, P), lay.x(pt, np.tile(pk, P))
    model.add_constraints("last_price_at_most_from_sale", keys, [
        Terms(C, r, r, ones), Terms(x, prow, pcol, -np.ones(len(prow)))], lo=0.0)
    model.add_constraints("last_price_at_most_only_if", keys, [
        Terms(C, r, r, ones), Terms(C, r[prev], r[prev] - n, -ones[prev]),
        Terms(x, prow, pcol, -np.ones(len(prow)))], hi=np.where(prev, 0.0, start))
    return C


def changes(ctx: "SeasonContext") -> "VarFamily":
    """``c_{tg}`` (module docstring), added once per model with its rows."""
    model = ctx.model
    if CHANGED in model.vars:
        return model.vars[CHANGED]
    if monotone(ctx.scenario):
        return _ceiling_changes(ctx)
    S = state(ctx)
    lay = layout(ctx)
    n, P, G = lay.n_points, lay.n_periods, lay.n_groups
    c = model.add_vars(CHANGED, lay.keys(ctx.labels, lay.group_keys), lb=0.0, ub=1.0)
    r, t_of, j_of, prev, ones = lay.period_rows()
    g_of = lay.group[j_of]
    hist = lay.group_history[g_of]
    terms = [Terms(c, r, t_of * G + g_of, ones), Terms(ctx.offer, r, lay.x(t_of, j_of), -ones)]
    # with history: c − x_tj + S_{t-1,j} ≥ 0 (t = 0: ≥ −S_{-1,j})
    h = prev & hist
    terms.append(Terms(S, r[h], r[h] - n, np.ones(int(h.sum()))))
    # without: c − x_tj − Σ_{j' ≠ j} S_{t-1,j'} ≥ −1 (t = 0: nothing is a change)
    pt = np.repeat(np.arange(1, P), len(lay.pair_j))
    pj = np.tile(lay.pair_j, max(P - 1, 0))
    pk = np.tile(lay.pair_k, max(P - 1, 0))
    keep = (pj != pk) & ~lay.group_history[lay.group[pj]]
    terms.append(Terms(S, (pt * n + pj)[keep], ((pt - 1) * n + pk)[keep], -np.ones(int(keep.sum()))))
    lo = np.where(hist, np.where(prev, 0.0, -lay.start[j_of]), -1.0)
    model.add_constraints("price_change_counted", lay.keys(ctx.labels, lay.point_keys), terms, lo=lo)
    return c


def _ceiling_changes(ctx: "SeasonContext") -> "VarFamily":
    """``c_{tg} ≥ C_{tk} − C_{t-1,k} (− 1 + C_{t-1,K_g})`` (module docstring)."""
    C = ceiling(ctx)
    lay = layout(ctx)
    n, P, G = lay.n_points, lay.n_periods, lay.n_groups
    c = ctx.model.add_vars(CHANGED, lay.keys(ctx.labels, lay.group_keys), lb=0.0, ub=1.0)
    r = np.arange(n * P)
    t_of, j_of = r // n, r % n
    g_of = lay.group[j_of]
    hist = lay.group_history[g_of]
    # without history nothing is a change in period 1, nor at the dearest point (its
    # two C_{t-1} terms cancel)
    keep = np.flatnonzero(hist | ((t_of > 0) & (j_of != lay.top[g_of])))
    t_k, j_k, g_k, h_k = t_of[keep], j_of[keep], g_of[keep], hist[keep]
    m = len(keep)
    row = np.arange(m)
    prev = t_k > 0
    fresh = ~h_k                                     # rows with the "no last price yet" term
    terms = [Terms(c, row, t_k * G + g_k, np.ones(m)), Terms(C, row, keep, -np.ones(m)),
             Terms(C, row[prev], keep[prev] - n, np.ones(int(prev.sum()))),
             Terms(C, row[fresh], (t_k[fresh] - 1) * n + lay.top[g_k[fresh]], -np.ones(int(fresh.sum())))]
    lo = np.where(h_k, np.where(prev, 0.0, -lay.ceiling_start[j_k]), -1.0)
    ctx.model.add_constraints("price_change_counted", lay.keys(ctx.labels, lay.point_keys).iloc[keep],
                              terms, lo=lo)
    return c


def season_history(plan: pd.DataFrame, labels: tuple, scenario: "Scenario") -> pd.DataFrame:
    """A season plan's rows (``period, bundle_id, segment_id, price``) in period order
    per audience and offer, each with ``last`` — its last price on sale (NaN: none) —
    and, where that is the history, ``last_lo`` / ``last_hi`` (its lowest and highest
    price; else both ``last``). For the rules' plan checks."""
    order = {t: i for i, t in enumerate(labels)}
    p = plan[["period", "bundle_id", "segment_id", "price"]].copy()
    p["t"] = p["period"].map(order)
    p = p.sort_values(["bundle_id", "segment_id", "t"], kind="stable").reset_index(drop=True)
    last = p.groupby(["bundle_id", "segment_id"], sort=False)["price"].shift(1).to_numpy(float)
    lo, hi = history(scenario, p)
    first = np.isnan(last)
    p["last_lo"] = np.where(first, lo, last)
    p["last_hi"] = np.where(first, hi, last)
    p["first"] = first
    return p

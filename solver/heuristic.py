"""A first plan in seconds: greedy construction and local search over the offer space.

The exact MIP can take minutes to find a good plan on retail-size scenarios; this module
finds one directly on the pruned offer space of :func:`formulations.offers.build_offer_space`
(which already applies ``min_margin``, price bounds, ``price_change`` and ``exclude``).

A *state* chooses, for every audience–offer group (an offer in ``uniform`` mode, a
(segment, offer) pair in ``personalized`` mode), one of its price points or "off". A
*move* sets one group to another option: put an offer on sale at a ladder point, move
its price, take it off sale. When no single move improves, *swaps* (one group off,
another on) are tried. Every move of every group is scored at once by a vectorised
re-evaluation of the demand model over segments × offers:

* first choice — each segment buys its preferred arc on sale, and arcs are already
  numbered in each segment's strict preference order (surplus, seller's value, file
  order: docs/semantics.md), so "preferred" is "smallest arc number". Keeping each
  segment's best and second-best arc tells what the segment buys without any one
  offer, hence the value of every move in one pass over the arcs;
* MNL — each segment's expected value is ``N_s W_s / (1 + A_s)`` with ``A_s`` the sum
  of attractions seen and ``W_s`` their value-weighted sum, so a move changes two sums.

Before the descents' *kicks* (iterated local search), *restarts* build further plans
greedily from the start, each step taking one of the few best feasible additions at
random (GRASP), and descend from each: one greedy start leads every descent into the
same basin.

Moves are taken best-first, and each one is re-checked against *every* rule the
scenario imposes on the full new state before it is accepted: only feasible states are
ever visited. The search knows no rule itself: each rule module of the catalogue checks
a :class:`formulations.rules.SearchState` (``Rule.search_check``; ``max_offers``,
``max_offers_per_segment``, ``must_offer``, ``inventory``, ``no_arbitrage``, fairness
spread and coverage have one, the rules that only prune the offer space need none). The
final plan is re-evaluated by :func:`formulations.evaluate.evaluate_plan`; if that finds
a violation, no plan is returned. The result is a *feasible* plan and nothing more —
never proven optimal.
"""
from __future__ import annotations

import threading
import time
from typing import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from formulations.evaluate import capped_attraction, evaluate_plan
from formulations.offers import OfferSpace, audience_labels
from formulations.rules import SearchLayout, SearchState, search_checks, search_start

# Every improving candidate may be re-checked, best-first, until one keeps every rule:
# with stock on every product the best-valued moves sell more than the stock, and a cap
# of 200 checks ended the first descent on the empty plan (200/1000/50/20, stock
# everywhere: 64,277 after 1 s and 1,982,471 after 5 s, against 2,005,747 after 0.1 s
# and 2,016,590 with the full scan). Where the cap never bound (the midsize and per-offer
# WTP families) plans are identical; the search's clock bounds a step's cost.
SWAP_ADDS = 25           # best "on" moves tried with every "off" move in a swap
KICKS = 30               # iterated local search ends after max(KICKS, price points / 2)
                         # fruitless kicks in a row, or at its time limit
RESTART_SHARE = 0.5      # randomized restarts take up to this share of the time,
RESTARTS = 20            # and end after this many fruitless restarts in a row;
RESTART_CHOICES = 4      # each greedy step takes one of this many best moves at random


@dataclass
class HeuristicResult:
    plan: pd.DataFrame           # bundle_id, segment_id, price
    objective: float             # what evaluate_plan says the plan earns
    points: np.ndarray           # indices of the price points on sale (OfferSpace.points)
    seconds: float
    moves: int
    evaluation: object = None    # the formulations.evaluate.Evaluation of the plan
    eval_seconds: float = 0.0    # what that evaluation took (a solve reserves it)


class _Search:
    """Arrays of one offer space, and the value and feasibility of a state.

    A *state* (``sel``) holds, per group, the point on sale or -1. The codes — offers,
    segments, audiences, points, groups, arcs — are those of
    :class:`formulations.rules.SearchLayout` (``self.layout``), whose arrays are copied
    here under the same names; the rules check states on its
    :class:`~formulations.rules.SearchState`.
    """

    def __init__(self, space: OfferSpace) -> None:
        lay = SearchLayout.of(space)
        self.space, self.layout = space, lay
        self.first_choice = space.scenario.choice_model == "first_choice"
        self.personalized = space.personalized
        self.n_segments, self.n_offers = lay.n_segments, lay.n_offers
        self.n_points, self.n_groups = lay.n_points, lay.n_groups
        self.point_offer, self.point_audience = lay.point_offer, lay.point_audience
        self.point_price, self.point_group = lay.point_price, lay.point_group
        self.group_offer, self.group_audience = lay.group_offer, lay.group_audience
        self.segment_size = space.size.astype(float)

        arcs = space.arcs
        self.arc_segment, self.arc_point, self.arc_offer = lay.arc_segment, lay.arc_point, lay.arc_offer
        self.arc_group = lay.point_group[self.arc_point] if len(arcs) else np.zeros(0, np.int64)
        self.arc_surplus = lay.arc_surplus
        value = arcs["value"].to_numpy(float)
        if self.first_choice:
            # arcs are sorted by segment, then preference: arc number = preference, and
            # the number one past the last arc stands for "buys nothing"
            self.no_arc = len(arcs)
            self.arc_worth = np.append(self.segment_size[self.arc_segment] * value, 0.0)
        else:
            self.arc_attraction = capped_attraction(
                arcs["beta"].to_numpy(float), arcs["wtp"].to_numpy(float), arcs["price"].to_numpy(float))
            self.arc_attraction_value = self.arc_attraction * value
        # arcs of each point, as ranges of a point-sorted order
        self.arc_by_point = np.argsort(self.arc_point, kind="stable")
        self.arc_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.arc_point, minlength=self.n_points))])

        # the rules (formulations.rules): each active rule's own check, and what the
        # forced start must sell (offers) and to whom (segments to cover)
        self.checks = search_checks(lay)
        self.start_offers, self.start_segments = search_start(lay)

    # ------------------------------------------------------------ one state
    def arcs_on(self, sel: np.ndarray) -> np.ndarray:
        """Arc numbers of the points on sale in ``sel`` (point per group, -1 off)."""
        on = sel[sel >= 0]
        if not len(on):
            return np.zeros(0, np.int64)
        lo, hi = self.arc_ptr[on], self.arc_ptr[on + 1]
        n = hi - lo
        idx = np.repeat(lo - np.cumsum(np.concatenate([[0], n[:-1]])), n) + np.arange(n.sum())
        return self.arc_by_point[idx]

    def columns(self, sel: np.ndarray, a: np.ndarray | None = None):
        """What each segment sees of each offer, segments × offers: the arc number under
        first choice (``no_arc`` if nothing), or the attraction and value-weighted
        attraction under MNL. ``a``: the arcs on sale in ``sel``, when the caller has them."""
        a = self.arcs_on(sel) if a is None else a
        if self.first_choice:
            seen = np.full((self.n_segments, self.n_offers), self.no_arc, np.int64)
            seen[self.arc_segment[a], self.arc_offer[a]] = a
            return seen
        att = np.zeros((self.n_segments, self.n_offers))
        attv = np.zeros((self.n_segments, self.n_offers))
        att[self.arc_segment[a], self.arc_offer[a]] = self.arc_attraction[a]
        attv[self.arc_segment[a], self.arc_offer[a]] = self.arc_attraction_value[a]
        return att, attv

    def state(self, points: np.ndarray) -> np.ndarray:
        """The state with exactly ``points`` (price point indices, one per group) on sale."""
        sel = np.full(self.n_groups, -1, np.int64)
        sel[self.point_group[points]] = points
        return sel

    def evaluate(self, sel: np.ndarray) -> tuple[float, bool]:
        """Objective of a state and whether every rule holds."""
        a = self.arcs_on(sel)
        cols = self.columns(sel, a)
        size = self.segment_size
        if self.first_choice:
            best = cols.min(axis=1)
            obj = float(self.arc_worth[best].sum())
            bought = best < self.no_arc
            sales = np.bincount(self.arc_offer[best[bought]], weights=size[bought],
                                minlength=self.n_offers)
        else:
            att, attv = cols
            denom = 1.0 + att.sum(axis=1)
            obj = float((size * attv.sum(axis=1) / denom).sum())
            sales = (att * (size / denom)[:, None]).sum(axis=0)
        return obj, self.feasible(sel, sales, a)

    def feasible(self, sel: np.ndarray, sales: np.ndarray, a: np.ndarray) -> bool:
        """Whether every rule holds for ``sel`` selling ``sales`` (per offer); ``a`` its
        arcs on sale. Each rule checks in its own module (``Rule.search_check``)."""
        if not self.checks:
            return True
        state = SearchState(self.layout, sel, a, sales[None, :])    # one period
        return all(check(state) for check in self.checks)

    # ------------------------------------------------------- all moves at once
    def move_values(self, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Change of objective for setting each point's group to that point (per
        point) and for switching each group off (per group)."""
        cols = self.columns(sel)
        gs = np.maximum(self.group_audience, 0)
        seg, offer = self.arc_segment, self.arc_offer
        if self.first_choice:
            seen = cols
            rows = np.arange(self.n_segments)
            col1 = seen.argmin(axis=1)
            best1 = seen[rows, col1]
            seen[rows, col1] = self.no_arc
            best2 = seen.min(axis=1)
            base = self.arc_worth[best1]
            drop = self.arc_worth[best2] - base           # segment's change if its choice goes
            if self.personalized:
                off = np.where(col1[gs] == self.group_offer, drop[gs], 0.0)
            else:
                off = np.bincount(col1, weights=drop, minlength=self.n_offers)[self.group_offer]
            e = np.where(col1[seg] == offer, best2[seg], best1[seg])
            term = self.arc_worth[np.minimum(e, np.arange(len(seg)))] - self.arc_worth[e]
        else:
            att, attv = cols
            A = 1.0 + att.sum(axis=1)
            W = attv.sum(axis=1)
            # without each offer; ≥ 1 exactly (the no-purchase option), but A − att
            # cancels to 0 in floating point next to a huge attraction (up to e^50)
            eA, eW = np.maximum(A[:, None] - att, 1.0), W[:, None] - attv
            d = self.segment_size[:, None] * (eW / eA - (W / A)[:, None])
            off = d[gs, self.group_offer] if self.personalized else d.sum(axis=0)[self.group_offer]
            ea, ew = eA[seg, offer], eW[seg, offer]
            term = self.segment_size[seg] * ((ew + self.arc_attraction_value) / (ea + self.arc_attraction)
                                             - ew / ea)
        on_point = off[self.point_group] + np.bincount(self.arc_point, weights=term,
                                                       minlength=self.n_points)
        return on_point, off


def _tol(obj: float) -> float:
    """How much a move must gain on a plan worth ``obj`` to count as an improvement."""
    return 1e-9 * max(1.0, abs(obj))


def _plan(space: OfferSpace, points: np.ndarray) -> pd.DataFrame:
    pts = space.points.iloc[np.sort(points)]
    return pd.DataFrame({
        "bundle_id": space.bundle_ids[pts["b"].to_numpy()].astype(object),
        "segment_id": audience_labels(space.segment_ids, pts["seg"].to_numpy()).astype(object),
        "price": pts["price"].to_numpy(float)})


def heuristic_plan(space: OfferSpace, time_limit: float = 5.0,
                   cancel: threading.Event | None = None,
                   initial: pd.DataFrame | None = None,
                   proven: Callable[[float], bool] | None = None,
                   start_points: np.ndarray | None = None,
                   improved: Callable[[float], None] | None = None) -> HeuristicResult | None:
    """A feasible plan found by greedy construction and local search within
    ``time_limit`` seconds (or until ``cancel`` is set), or ``None`` if none was
    found. Never claimed optimal. ``initial`` (plan rows ``bundle_id, segment_id,
    price``: a neighbouring variant's plan) is a second start: the search begins from
    whichever of it and the constructed start earns more and keeps every rule.
    ``proven(objective)``: whether a plan earning that is already proven good enough
    (by a bound the caller holds); the search stops there. ``start_points`` (indices
    of the offer space's points, e.g. the plan of :mod:`solver.relaxation`'s LP) is one
    more start, used the same way. ``improved(objective)`` is told each time the search's
    best plan gets better, so a caller can show progress before the search ends."""
    t0 = time.perf_counter()
    stop = t0 + max(0.0, time_limit)
    if space.no_price:
        return None
    h = _Search(space)
    starts, forced_start = _starts(h, initial, start_points)
    if not starts:
        return None
    obj, sel = max(starts, key=lambda t: t[0])
    stopped = (lambda: time.perf_counter() > stop or (cancel is not None and cancel.is_set()))
    done = (lambda o: proven is not None and proven(o))
    best = _Best(*_local_search(h, sel, obj, stopped),
                 tell=improved if improved is not None else (lambda o: None))
    best.tell(best.obj)
    rng = np.random.default_rng(0)
    # Personalized first choice: one descent and no more. HiGHS proves these optima
    # quickly, and the first plan is its start. Kicks improved a plan in 1 of 9 benchmark
    # runs (20/60/8 to 60/250/30, seeds 0-2); 30 fruitless kicks left every first plan
    # the same in 8 more (20/60/8 to 1000x50x20, seeds 0-1) and made the solves slower
    # (20/60/8 0.60 s against 0.29 s, 60/250/30 11.4 and 7.6 s against 10.2 and 5.7 s).
    # Restarts doubled the first plan's time for -0.2 % to +0.5 % (results_restarts.md).
    if not (space.personalized and space.scenario.choice_model == "first_choice"):
        half = t0 + RESTART_SHARE * max(0.0, time_limit)
        if forced_start is not None:
            _restarts(h, best, forced_start, lambda: stopped() or time.perf_counter() > half,
                      done, rng)
        _kicks(h, best, stopped, done, rng)
    return _result(space, best, t0)


@dataclass
class _Best:
    """The best plan the search has found (a state and its objective), the moves made so
    far, and ``tell``, told the objective of each better plan."""

    sel: np.ndarray
    obj: float
    moves: int
    tell: Callable[[float], None]

    def offer(self, sel: np.ndarray, obj: float) -> bool:
        """Keep ``sel`` (worth ``obj``) if it beats the best plan; whether it did."""
        if obj > self.obj + _tol(self.obj):
            self.sel, self.obj = sel, obj
            self.tell(obj)
            return True
        return False


def _starts(h: _Search, initial: pd.DataFrame | None, start_points: np.ndarray | None
            ) -> tuple[list[tuple[float, np.ndarray]], tuple[np.ndarray, float] | None]:
    """The starts that keep every rule, as ``(objective, state)``: the forced start, the
    given plan and the given points (:func:`heuristic_plan`); and the forced start as
    ``(state, objective)`` if it is among them (restarts build from it), else ``None``."""
    forced = _forced_start(h, np.full(h.n_groups, -1, np.int64))
    given = h.state(start_points) if start_points is not None and len(start_points) else None
    starts = []
    for sel in (forced, _given_start(h, initial), given):
        if sel is not None:
            o, ok = h.evaluate(sel)
            if ok:
                starts.append((o, sel))
    return starts, next(((sel, o) for o, sel in starts if sel is forced), None)


def _restarts(h: _Search, best: _Best, forced_start: tuple[np.ndarray, float],
              restarting: Callable[[], bool], done: Callable[[float], bool],
              rng: np.random.Generator) -> None:
    """Randomized restarts (GRASP) until ``restarting()`` says stop (half the time) or
    ``RESTARTS`` in a row found nothing better. Every descent from the one greedy start
    ends in the same basin, which kicks, ruin-and-recreate and MIP neighbourhoods did not
    leave (benchmarks/study_primal.py); restarts from randomized greedy plans reach others
    (+0.09 % to +4.66 % on 10 of 21 benchmark runs, never worse:
    benchmarks/results_restarts.md)."""
    fruitless = 0
    while fruitless < RESTARTS and not restarting() and not done(best.obj):
        new = _randomized_greedy(h, *forced_start, restarting, rng)
        new, o, m = _local_search(h, *new, restarting)
        best.moves += m
        fruitless = 0 if best.offer(new, o) else fruitless + 1


def _kicks(h: _Search, best: _Best, stopped: Callable[[], bool],
           done: Callable[[float], bool], rng: np.random.Generator) -> None:
    """Iterated local search: kick the best plan (force one or two points on, or groups
    off) and descend again, until enough kicks in a row found nothing better. A fixed 30
    stopped the 40/150/20 uniform benchmark after 0.6 s of a 6 s budget, 6 % below the
    best plan known; the time limit bounds the search on large scenarios anyway. (Not
    measured under MNL: unchanged.)"""
    fruitless = 0
    patience = max(KICKS, h.n_points // 2)
    while h.n_points and fruitless < patience and not stopped() and not done(best.obj):
        new = best.sel.copy()
        for _ in range(int(rng.integers(1, 3))):
            on = np.flatnonzero(new >= 0)
            if len(on) and rng.random() < 0.3:
                new[rng.choice(on)] = -1
            else:
                j = int(rng.integers(h.n_points))
                new[h.point_group[j]] = j
        o, ok = h.evaluate(new)
        if not ok:
            fruitless += 1
            continue
        new, o, m = _local_search(h, new, o, stopped)
        best.moves += m + 1
        fruitless = 0 if best.offer(new, o) else fruitless + 1


def _result(space: OfferSpace, best: _Best, t0: float) -> HeuristicResult | None:
    """The best plan, re-evaluated by the plan evaluator (``None`` if it breaks a rule:
    one with no search check of its own, see ``Rule.search_check``)."""
    points = best.sel[best.sel >= 0]
    plan = _plan(space, points)
    t_eval = time.perf_counter()
    ev = evaluate_plan(space.given if space.given is not None else space.scenario, plan)
    if ev.violations:
        return None
    end = time.perf_counter()
    return HeuristicResult(plan, ev.objective, points, end - t0, best.moves, ev, end - t_eval)


def _local_search(h: _Search, sel: np.ndarray, obj: float, stopped) -> tuple[np.ndarray, float, int]:
    """Best-improvement descent over single moves, then swaps, to a local optimum."""
    moves = 0
    while not stopped():
        gain_on, gain_off = h.move_values(sel)
        tol = _tol(obj)
        cand_on = np.flatnonzero(gain_on > tol)
        cand_on = cand_on[sel[h.point_group[cand_on]] != cand_on]
        cand_off = np.flatnonzero((gain_off > tol) & (sel >= 0))
        gains = np.concatenate([gain_on[cand_on], gain_off[cand_off]])
        what = np.concatenate([cand_on, -1 - cand_off])      # ≥ 0 point, < 0 group off
        order = np.argsort(-gains, kind="stable")
        found = _improving(h, sel, obj, what[order], 1, stopped)
        if found:
            sel, obj = found[0]
        else:
            # swaps: one group off and another on (caps and inventory block single moves)
            moved_to = _swap(h, sel, obj, gain_on, stopped)
            if moved_to is None:
                break
            sel, obj = moved_to
        moves += 1
    return sel, obj, moves


def _improving(h: _Search, sel: np.ndarray, obj: float, moves: np.ndarray, k: int,
               stopped) -> list[tuple[np.ndarray, float]]:
    """The first ``k`` of ``moves`` (≥ 0: put that point on sale; < 0: take group
    −1 − m off), tried in order, that keep every rule and improve on ``obj``, as new
    states and their objectives."""
    found = []
    for m in moves:
        new = sel.copy()
        if m >= 0:
            new[h.point_group[m]] = m
        else:
            new[-1 - m] = -1
        o, ok = h.evaluate(new)
        if ok and o > obj + _tol(obj):
            found.append((new, o))
            if len(found) == k:
                break
        if stopped():
            break
    return found


def _randomized_greedy(h: _Search, sel: np.ndarray, obj: float, stopped,
                       rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A greedy plan from the state ``sel`` (worth ``obj``, every rule kept) that adds,
    at each step, one of the ``RESTART_CHOICES`` best feasible improving points at random
    (a GRASP construction)."""
    while not stopped():
        gain_on, _ = h.move_values(sel)
        cand = np.flatnonzero(gain_on > _tol(obj))
        cand = cand[sel[h.point_group[cand]] != cand]
        cand = cand[np.argsort(-gain_on[cand], kind="stable")]
        good = _improving(h, sel, obj, cand, RESTART_CHOICES, stopped)
        if not good:
            break
        sel, obj = good[int(rng.integers(len(good)))]
    return sel, obj


def _forced_start(h: _Search, sel: np.ndarray) -> np.ndarray | None:
    """The empty plan, plus the best-valued point of every offer the rules need on sale
    (``must_offer``) and of a covering offer for every segment they need covered
    (``fairness.coverage``): ``Rule.start_offers`` / ``start_segments``."""
    if len(h.start_offers):
        gain_on, _ = h.move_values(sel)
        for b in h.start_offers:
            pts = np.flatnonzero(h.point_offer == b)
            if not len(pts):
                return None
            j = pts[np.argmax(gain_on[pts])]
            sel[h.point_group[j]] = j
    for s in h.start_segments:
        a = h.arcs_on(sel)
        if (h.arc_segment[a[h.arc_surplus[a] >= 0]] == s).any():
            continue
        gain_on, _ = h.move_values(sel)
        arcs = np.flatnonzero((h.arc_segment == s) & (h.arc_surplus >= 0) & (sel[h.arc_group] < 0))
        if not len(arcs):
            return None
        # prefer a point that covers the most named segments still uncovered, so a
        # per-segment cap is not spent on one segment at a time
        covered = np.isin(h.start_segments, h.arc_segment[a[h.arc_surplus[a] >= 0]])
        need = np.isin(h.arc_segment, h.start_segments[~covered]) & (h.arc_surplus >= 0)
        reach = np.bincount(h.arc_point[need], minlength=h.n_points)
        js = h.arc_point[arcs]
        j = js[np.lexsort((-gain_on[js], -reach[js]))[0]]
        sel[h.point_group[j]] = j
    return sel


def _swap(h: _Search, sel: np.ndarray, obj: float, gain_on: np.ndarray,
          stopped) -> tuple[np.ndarray, float] | None:
    """The first improving feasible (off, on) pair, trying the best "on" moves first."""
    tol = _tol(obj)
    on_groups = np.flatnonzero(sel >= 0)
    if not len(on_groups):
        return None
    cand = np.flatnonzero(sel[h.point_group] < 0)
    cand = cand[np.argsort(-gain_on[cand], kind="stable")[:SWAP_ADDS]]
    best = None
    for j in cand:
        for g in on_groups:
            if stopped():
                return best
            new = sel.copy()
            new[g] = -1
            new[h.point_group[j]] = j
            o, ok = h.evaluate(new)
            if ok and o > obj + tol and (best is None or o > best[1]):
                best = (new, o)
        if best is not None:
            return best
    return best


# ------------------------------------------------------------ hand-over to a solver
def _given_start(h: _Search, plan: pd.DataFrame | None) -> np.ndarray | None:
    """The state of ``plan``: its rows matched to the offer space's points by offer,
    audience and price in cents (rows whose point was pruned are left out)."""
    if plan is None or not len(plan) or not h.n_points:
        return None
    space = h.space
    bcode = pd.Series(np.arange(len(space.bundle_ids)), index=space.bundle_ids)
    scode = pd.Series(np.arange(len(space.segment_ids)), index=space.segment_ids)
    rows = pd.DataFrame({
        "b": plan["bundle_id"].astype(str).map(bcode),
        "seg": plan["segment_id"].astype(str).map(scode).fillna(-1) if h.personalized else -1,
        "cents": np.round(plan["price"].to_numpy(float) * 100)}).dropna()
    pts = pd.DataFrame({"b": h.point_offer, "seg": h.point_audience, "cents": np.round(h.point_price * 100),
                        "j": np.arange(h.n_points)})
    hit = rows.astype({"b": np.int64, "seg": np.int64}).merge(pts, on=["b", "seg", "cents"])
    if not len(hit):
        return None
    sel = h.state(hit["j"].to_numpy())
    return sel


def start_vector(model, space: OfferSpace, points: np.ndarray) -> np.ndarray:
    """A MIP start for ``model`` (a :class:`formulations.linear.LinearModel` built on
    ``space``): the plan's integer choices — ``on_sale``, first-choice ``buy`` and
    ``offer_used`` — and NaN for every other column, which the solver completes."""
    x = np.full(model.num_cols, np.nan)
    on = np.zeros(len(space.points), bool)
    on[points] = True
    fam = model.vars.get("on_sale")
    if fam is None or fam.size != len(on):
        return x
    x[fam.cols()] = on
    arcs = space.arcs
    buy = model.vars.get("buy")
    if buy is not None and buy.size == len(arcs):
        # arcs are in each segment's preference order: it buys its first arc on sale
        a_on = np.flatnonzero(on[arcs["j"].to_numpy()])
        _, first = np.unique(arcs["s"].to_numpy()[a_on], return_index=True)
        y = np.zeros(len(arcs))
        y[a_on[first]] = 1.0
        x[buy.cols()] = y
    used = model.vars.get("offer_used")
    if used is not None:
        on_b = set(space.points["b"].to_numpy()[points].tolist())
        code = {bid: i for i, bid in enumerate(space.bundle_ids)}
        x[used.cols()] = [float(code[b] in on_b) for b in used.keys["bundle"]]
    return x


#: The first plan's search time grows with the model it stands in for: 0.5 s plus 1 s
#: per 10,000 arcs. Measured on benchmarks/bench_scale.py (20/60/8 to 200/1000/50/20):
#: the search kept improving up to 5.4 s at 60/250/30 uniform (36k arcs), while at
#: 20/60/8 personalized (2.2k arcs) nothing improved after 0.5 s and a flat 6 s budget
#: made the solve 20x slower than HiGHS alone.
HEURISTIC_BASE_SECONDS, ARCS_PER_SECOND = 0.5, 10_000


def heuristic_budget(remaining: float | None, arcs: int = 0) -> float:
    """Seconds the first plan may take: a tenth of what is left, at most 8 s, and at
    most what the model's size calls for (above)."""
    size = HEURISTIC_BASE_SECONDS + arcs / ARCS_PER_SECOND
    share = 8.0 if remaining is None else max(0.05, 0.1 * remaining)
    return min(8.0, share, size)
